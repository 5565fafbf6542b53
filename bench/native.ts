// The native reference: bench/native/rmsprop.c built with the machine's C compiler into a temp
// directory and run as a child process, which times itself (see the C source) and prints ns/step.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('native/rmsprop.c', import.meta.url));

// -fno-math-errno: wasm's f32x4.sqrt sets no errno either; with errno, gcc keeps a scalar sqrtf
// call per element (about 4x slower here) and the reference would be unfairly weak.
export const NATIVE_BUILDS = [
  { key: 'c-sse', label: 'C -O3 -msse4.2', flags: ['-O3', '-msse4.2', '-fno-math-errno'] },
  { key: 'c-native', label: 'C -O3 -march=native', flags: ['-O3', '-march=native', '-fno-math-errno'] },
] as const;

export interface NativeBuild {
  key: string;
  label: string;
  /** Runs the child for about `ms` milliseconds over n elements; returns ns per step. */
  run: (n: number, ms: number) => number;
}

/** The builds, or the reason there are none (no compiler, or it failed). */
export function buildNative(): { builds: NativeBuild[]; compiler?: string; skipped?: string } {
  const cc = process.env.CC ?? 'gcc';
  let compiler: string;
  try {
    compiler = execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return { builds: [], skipped: `no C compiler ('${cc}' not found; set CC to use another)` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'rmsprop-bench-'));
  const builds: NativeBuild[] = [];
  for (const { key, label, flags } of NATIVE_BUILDS) {
    const exe = join(dir, key);
    try {
      execFileSync(cc, [...flags, '-o', exe, SOURCE, '-lm'], { stdio: 'pipe' });
    } catch (e) {
      return { builds, compiler, skipped: `${cc} ${flags.join(' ')} failed: ${(e as Error).message}` };
    }
    builds.push({
      key,
      label,
      run: (n, ms) =>
        Number(execFileSync(exe, [String(n), String(ms)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
    });
  }
  return { builds, compiler: `${compiler} (${NATIVE_BUILDS.map((b) => b.flags.join(' ')).join('; ')})` };
}

// Helpers for the tests that use the package as a user gets it: packed by npm, installed into a
// fresh project outside this repository.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The environment for child commands: the Node running this test first on PATH (so npm and its
 * scripts use the Node version under test), and none of the npm_* variables that `npm test` sets,
 * which a child npm would read as its own configuration.
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
}

/** Runs a command; rejects with its output when it exits non-zero. */
export function run(
  command: string,
  args: string[],
  cwd: string,
  timeout = 120_000,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: childEnv(), timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error)
        reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export interface Packed {
  tarball: string;
  /** bytes of the .tgz, and of the files in it */
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

/**
 * `npm pack` of the work tree into `dir`. Scripts are skipped: `npm test` has just built dist/ with
 * tsc, and rebuilding it here would rewrite files that other test files are reading.
 */
export async function pack(dir: string): Promise<Packed> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
  const [info] = JSON.parse(stdout) as Array<{
    filename: string;
    size: number;
    unpackedSize: number;
    files: Packed['files'];
  }>;
  return { tarball: join(dir, info.filename), size: info.size, unpackedSize: info.unpackedSize, files: info.files };
}

/** A temporary folder; `remove()` deletes it (set KEEP_TMP=1 to look at it after the test). */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `rmsprop-wasm-${prefix}-`));
  return {
    path,
    remove: () => void (process.env.KEEP_TMP ? undefined : rmSync(path, { recursive: true, force: true })),
  };
}

/** A fresh npm project in `dir` (an ES module package), with `spec` installed from the given tarball, folder or URL. */
export async function freshProject(dir: string, spec: string): Promise<void> {
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }, null, 2),
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', spec], dir, 300_000);
}

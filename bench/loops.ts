// The wasm loops of bench/assembly/loops.ts (the streaming limit and diagnostics), compiled at
// bench time with the asc API by bench/assembly/compile.mjs, run in this process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { regionGap } from '../src/layout.js';
import { SEED } from './plain.js';

function compileStream(): Promise<WebAssembly.Module> {
  const compiler = fileURLToPath(new URL('assembly/compile.mjs', import.meta.url));
  const wasm = execFileSync(process.execPath, [compiler], { maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
  return WebAssembly.compile(wasm);
}

let module: Promise<WebAssembly.Module> | undefined;

type Loop = 'stream' | 'seedOnly' | 'seedLibraryOps';

/**
 * One loop over n elements of w, g, s in a fresh wasm memory, laid out like the optimizer's (regions
 * apart by its gap: exactly 64 MiB apart, at 16 M elements, they cost up to 2×).
 */
export async function wasmLoop(n: number, loop: Loop): Promise<() => void> {
  const bytes = Math.ceil(n / 8) * 32; // the loop moves 8 floats at a time
  const region = bytes + regionGap(bytes);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((3 * region) / 65536) });
  const instance = await WebAssembly.instantiate(await (module ??= compileStream()), { env: { memory } });
  const f32 = new Float32Array(memory.buffer);
  f32.fill(0.5, 0, region / 4);
  for (let i = 0; i < n; i++) f32[region / 4 + i] = Math.sin(i) * 1e-2;
  const run = instance.exports[loop] as (n: number, w: number, g: number, s: number, ...constants: number[]) => void;
  return loop === 'stream'
    ? () => run(n, 0, region, 2 * region)
    : () => run(n, 0, region, 2 * region, SEED.lr, SEED.decay, 1 - SEED.decay, SEED.eps);
}

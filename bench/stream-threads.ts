// The streaming limit on one and on two threads: bench/assembly/loops.ts `stream` (reads w, g, S and
// writes w, S: exactly a seed step's bytes, one add per vector) over a shared memory laid out like
// the optimizer's, the upper half streamed by a worker that spins between steps as the library's
// do. What two threads of the step are measured against (bench/threads.ts).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { regionGap } from '../src/layout.js';

type Stream = (n: number, w: number, g: number, s: number) => void;

let module: WebAssembly.Module | undefined;

function compileShared(): WebAssembly.Module {
  const compiler = fileURLToPath(new URL('assembly/compile.mjs', import.meta.url));
  const wasm = execFileSync(process.execPath, [compiler, '--shared'], {
    maxBuffer: 1 << 24,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new WebAssembly.Module(wasm);
}

// ctl[0]: generation (bumped to start a half), ctl[1]: generations done, ctl[2]: stop.
const WORKER = `import { workerData, parentPort } from 'node:worker_threads';
const { module, memory, half, pointers } = workerData;
const stream = new WebAssembly.Instance(module, { env: { memory } }).exports.stream;
const ctl = new Int32Array(memory.buffer, 0, 4);
let seen = 0;
parentPort.postMessage('ready');
for (;;) {
  const until = performance.now() + 1;
  for (let spin = 1; Atomics.load(ctl, 0) === seen; spin++) if ((spin & 1023) === 0 && performance.now() > until) break;
  while (Atomics.load(ctl, 0) === seen) Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  if (Atomics.load(ctl, 2)) break;
  stream(half, ...pointers);
  Atomics.store(ctl, 1, seen);
}`;

export interface StreamLoops {
  /** Streams all n elements on the calling thread. */
  one: () => void;
  /** Streams the lower half on the calling thread and the upper half on the worker. */
  two: () => void;
  dispose: () => void;
}

/** The streaming loops over n elements (a multiple of 16). */
export async function streamLoops(n: number): Promise<StreamLoops> {
  const bytes = n * 4;
  const gap = regionGap(bytes);
  const w = 64;
  const g = w + bytes + gap;
  const s = g + bytes + gap;
  const pages = Math.ceil((s + bytes) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  module ??= compileShared();
  const stream = new WebAssembly.Instance(module, { env: { memory } }).exports.stream as Stream;
  const f32 = new Float32Array(memory.buffer);
  f32.fill(0.5, w / 4, w / 4 + n);
  for (let i = 0; i < n; i++) f32[g / 4 + i] = Math.sin(i) * 1e-2;
  const ctl = new Int32Array(memory.buffer, 0, 4);
  const half = n / 2;
  const upper = half * 4;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER)}`), {
    workerData: { module, memory, half, pointers: [w + upper, g + upper, s + upper] },
  });
  worker.unref();
  await new Promise((resolve) => worker.once('message', resolve));
  return {
    one: () => stream(n, w, g, s),
    two: () => {
      const generation = Atomics.add(ctl, 0, 1) + 1;
      Atomics.notify(ctl, 0);
      stream(half, w, g, s);
      while (Atomics.load(ctl, 1) !== generation);
    },
    dispose: () => {
      Atomics.store(ctl, 2, 1);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      void worker.terminate();
    },
  };
}

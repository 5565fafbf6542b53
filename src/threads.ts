// Multi-threaded steps: workers share the optimizer's wasm memory, and every thread (the caller
// included) takes chunks of the step's kernel calls from a shared counter until none are left, so a
// slower core simply takes fewer. Chunks only change which thread computes an element, never the
// operations on it, so the result is bit-identical to one thread.
//
// Synchronisation is a control block in the shared memory (no postMessage per step):
//   ctl[GENERATION]  bumped by the main thread to start a step; workers Atomics.wait on it
//   ctl[WORKING]     workers inside the current step; the last one out notifies
//   ctl[CALLS]       how many kernel calls the job table holds
//   ctl[STOP]        set on dispose
//   ctl[NEXT_CHUNK]  the next chunk to take; ctl[CHUNK] elements per chunk (a multiple of 4)
//   ctl[FOUND_NON_FINITE]  set by any thread whose chunk of a scan call holds a NaN or ±∞
//   ctl[OPEN]        1 while the step's chunks may be taken: set after the job table is written,
//                    cleared by the caller once it finds no chunk left
// A worker counts itself in WORKING before it looks at OPEN, and the caller clears OPEN before it
// waits for WORKING to reach 0 (all atomics are sequentially consistent), so the caller never
// waits for a worker that has not woken up yet: a late worker finds the step closed and sleeps on.
// The job table holds CALL_INTS int32 per call: mode, n, w, g, s, a, m, k. A call whose mode is
// SCAN_MODE scans the n gradients at g for NaN and ±∞ instead of updating.

import type { Kernel } from './kernel.js';

const GENERATION = 0;
const WORKING = 1;
const CALLS = 2;
const STOP = 3;
const NEXT_CHUNK = 4;
const CHUNK = 5;
const FOUND_NON_FINITE = 6;
const OPEN = 7;
export const SCAN_MODE = -1;
export const CONTROL_BYTES = 64;
const DEAD_AFTER_MS = 5000;
/** The smallest chunk, in elements: below it the atomic per chunk would start to show. */
const MIN_CHUNK = 4096;
export const CALL_INTS = 8;

type StepFn = Kernel['step'];
type ScanFn = Kernel['firstNonFinite'];

/**
 * Takes chunks (call c, elements [k·size, (k+1)·size)) from ctl[4] and runs them until every call
 * of the job table is done. Indices are spelled out: workers run this function's source on its own.
 */
export function runChunks(step: StepFn, scan: ScanFn, jobs: Int32Array, calls: number, ctl: Int32Array): void {
  const size = ctl[5]; // CHUNK
  for (;;) {
    let k = Atomics.add(ctl, 4, 1); // NEXT_CHUNK
    let c = 0;
    for (; c < calls; c++) {
      const chunks = Math.ceil(jobs[c * 8 + 1] / size); // CALL_INTS = 8
      if (k < chunks) break;
      k -= chunks;
    }
    if (c === calls) return;
    const j = c * 8;
    const start = k * size;
    const end = Math.min(jobs[j + 1], start + size);
    const at = start * 4;
    if (jobs[j] === -1) { // SCAN_MODE
      if (scan(end - start, jobs[j + 3] + at) >= 0) Atomics.store(ctl, 6, 1); // FOUND_NON_FINITE
    } else {
      step(jobs[j], end - start, jobs[j + 2] + at, jobs[j + 3] + at, jobs[j + 4] + at, jobs[j + 5] + at, jobs[j + 6] + at, jobs[j + 7]);
    }
  }
}

/**
 * The worker's program, run from source text (so no runtime or bundler needs a worker file). It
 * must not refer to anything outside itself; runChunks is passed in as source.
 */
function workerMain(onMessage: (handler: (data: WorkerInit) => void) => void, ready: () => void): void {
  onMessage((init) => {
    const { module, memory, controlAt, jobsAt, jobInts } = init;
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const step = instance.exports.step as StepFn;
    const scan = instance.exports.firstNonFinite as ScanFn;
    const ctl = new Int32Array(memory.buffer, controlAt, 16);
    const jobs = new Int32Array(memory.buffer, jobsAt, jobInts);
    let seen = Atomics.load(ctl, 0); // before ready(): the main thread may start a step right after it
    ready();
    for (;;) {
      // Spin a little before sleeping: training loops step back to back, and waking from
      // Atomics.wait costs tens of microseconds, as much as a 256 K-element step's slice.
      for (let spin = 0; spin < 100000 && Atomics.load(ctl, 0) === seen; spin++);
      while (Atomics.load(ctl, 0) === seen) Atomics.wait(ctl, 0, seen); // only a new generation is a step
      seen = Atomics.load(ctl, 0);
      if (Atomics.load(ctl, 3) !== 0) return; // STOP
      Atomics.add(ctl, 1, 1); // WORKING, before OPEN is read
      // runChunks: in the worker, the copy prepended to this source
      if (Atomics.load(ctl, 7) === 1) runChunks(step, scan, jobs, Atomics.load(ctl, 2), ctl); // OPEN, CALLS
      if (Atomics.sub(ctl, 1, 1) === 1) Atomics.notify(ctl, 1);
    }
  });
}

interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  controlAt: number;
  jobsAt: number;
  jobInts: number;
}

// An ES module given as a data: URL, so it runs the same whatever module type the host process uses.
const NODE_PRELUDE = `import { parentPort } from 'node:worker_threads';
const onMessage = (handler) => parentPort.once('message', handler);
const ready = () => parentPort.postMessage('ready');`;
const BROWSER_PRELUDE = `const onMessage = (handler) => { self.onmessage = (event) => handler(event.data); };
const ready = () => self.postMessage('ready');`;

const workerSource = (prelude: string) => `${prelude}\n${runChunks.toString()}\n(${workerMain.toString()})(onMessage, ready);`;

interface AnyWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

const isNode = () => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** The number of cores worth using, and why threads cannot be used here (or undefined). */
export async function threadSupport(): Promise<{ cores: number; unavailable?: string }> {
  if (typeof SharedArrayBuffer === 'undefined' || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) {
    return {
      cores: 1,
      unavailable: 'SharedArrayBuffer is unavailable: the page must be cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    };
  }
  if (isNode()) {
    const os = await import(/* @vite-ignore */ 'node:' + 'os');
    return { cores: os.availableParallelism?.() ?? os.cpus().length };
  }
  if (typeof Worker === 'undefined') return { cores: 1, unavailable: 'this runtime has no Web Workers' };
  return { cores: (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1 };
}

/** Worker threads that run kernel slices on a shared memory, driven synchronously from `run`. */
export class ThreadPool {
  readonly threads: number;
  #workers: AnyWorker[];
  #ctl: Int32Array;
  #jobs: Int32Array;
  #step: StepFn;
  #scan: ScanFn;
  #died: string | undefined;
  /** Browsers' main threads may not Atomics.wait: there the caller only spins. */
  readonly #canWait = isNode() || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

  private constructor(threads: number, workers: AnyWorker[], ctl: Int32Array, jobs: Int32Array, step: StepFn, scan: ScanFn) {
    this.threads = threads;
    this.#workers = workers;
    this.#ctl = ctl;
    this.#jobs = jobs;
    this.#step = step;
    this.#scan = scan;
  }

  /** Starts `threads − 1` workers (the calling thread is the other one) and waits until each is ready. */
  static async start(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, kernel: Pick<Kernel, 'step' | 'firstNonFinite'>, controlAt: number, jobsAt: number, jobInts: number): Promise<ThreadPool> {
    const ctl = new Int32Array(memory.buffer, controlAt, 16);
    const jobs = new Int32Array(memory.buffer, jobsAt, jobInts);
    const workers: AnyWorker[] = [];
    const pool = new ThreadPool(threads, workers, ctl, jobs, kernel.step, kernel.firstNonFinite);
    const readies: Array<Promise<void>> = [];
    const node = isNode();
    const NodeWorker = node ? (await import(/* @vite-ignore */ 'node:' + 'worker_threads')).Worker : undefined;
    const browserUrl = node ? '' : URL.createObjectURL(new Blob([workerSource(BROWSER_PRELUDE)], { type: 'text/javascript' }));
    try {
      for (let index = 1; index < threads; index++) {
        const init: WorkerInit = { module, memory, controlAt, jobsAt, jobInts };
        if (NodeWorker) {
          const worker = new NodeWorker(new URL(`data:text/javascript,${encodeURIComponent(workerSource(NODE_PRELUDE))}`));
          worker.unref(); // a forgotten optimizer must not keep the process alive
          readies.push(new Promise((resolve, reject) => {
            worker.once('message', () => resolve());
            worker.once('error', reject);
          }));
          worker.on('error', (error: Error) => pool.#markDead(`worker ${index} failed: ${error.message}`));
          worker.on('exit', (code: number) => pool.#markDead(`worker ${index} exited with code ${code}`));
          worker.postMessage(init);
          workers.push(worker);
        } else {
          const worker = new Worker(browserUrl);
          readies.push(new Promise((resolve, reject) => {
            worker.onmessage = () => resolve();
            worker.onerror = (event) => reject(new Error(event.message));
          }));
          worker.addEventListener('error', (event) => pool.#markDead(`worker ${index} failed: ${event.message}`));
          worker.postMessage(init);
          workers.push(worker);
        }
      }
      await Promise.all(readies);
    } catch (error) {
      pool.dispose();
      throw error;
    } finally {
      if (browserUrl) URL.revokeObjectURL(browserUrl);
    }
    return pool;
  }

  /** Throws if a worker has died; call before writing anything for a step. */
  check(): void {
    if (this.#died) throw new Error(`a worker thread of this optimizer is gone (${this.#died}); dispose it and create a new one`);
  }

  /** The job table, to be filled with `calls` kernel calls before `run(calls)`. */
  get jobs(): Int32Array {
    return this.#jobs;
  }

  /**
   * Runs the job table's calls on every thread and returns when all chunks are done: true unless
   * a scan call found a NaN or ±∞ (which one is then for the caller to find, on its own thread).
   */
  run(calls: number): boolean {
    const ctl = this.#ctl;
    let elements = 0;
    for (let c = 0; c < calls; c++) elements += this.#jobs[c * CALL_INTS + 1];
    // About eight chunks per thread: enough to even out unequal cores, few enough that taking one
    // (an atomic add) costs nothing next to computing it.
    Atomics.store(ctl, CHUNK, Math.max(MIN_CHUNK, Math.ceil(elements / (this.threads * 8 * 4)) * 4));
    Atomics.store(ctl, NEXT_CHUNK, 0);
    Atomics.store(ctl, FOUND_NON_FINITE, 0);
    Atomics.store(ctl, CALLS, calls);
    Atomics.store(ctl, OPEN, 1);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    runChunks(this.#step, this.#scan, this.#jobs, calls, ctl);
    Atomics.store(ctl, OPEN, 0);
    // Spin while the workers' last chunks finish (they take about as long as ours; sleeping and
    // waking would cost tens of microseconds), then sleep where this thread may; a worker that
    // stays inside one step for 5 s is taken for dead.
    let spins = 0;
    for (;;) {
      const working = Atomics.load(ctl, WORKING);
      if (working === 0) return Atomics.load(ctl, FOUND_NON_FINITE) === 0;
      if (this.#canWait && ++spins > 1_000_000) {
        if (Atomics.wait(ctl, WORKING, working, DEAD_AFTER_MS) === 'timed-out' && Atomics.load(ctl, WORKING) === working) {
          this.#markDead(`a worker did not finish its chunk within ${DEAD_AFTER_MS / 1000} s`);
          this.check();
        }
      }
    }
  }

  dispose(): void {
    Atomics.store(this.#ctl, STOP, 1);
    Atomics.add(this.#ctl, GENERATION, 1);
    Atomics.notify(this.#ctl, GENERATION);
    for (const worker of this.#workers) void worker.terminate();
    this.#workers = [];
    this.#died ??= 'disposed';
  }

  /** For tests: end worker `index − 1` as if it had crashed. */
  async killWorkerForTest(index: number): Promise<void> {
    await this.#workers[index - 1].terminate();
  }

  #markDead(reason: string): void {
    this.#died ??= reason;
  }
}

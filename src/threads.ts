// Multi-threaded steps: workers share the optimizer's wasm memory. A step's kernel calls are cut
// into chunks and every thread (the caller included) owns a contiguous share of them: it runs its
// own chunks first, then takes the chunks the others have not reached yet, so a slower core simply
// runs fewer. Owning the same share every step keeps each thread on the same elements, which are
// then still in its own cache (first come, first served mixed them up: slower). Chunks only change
// which thread computes an element, never the operations on it, so the result is bit-identical to
// one thread.
//
// Synchronisation is a control block in the shared memory (no postMessage per step):
//   ctl[GENERATION]  bumped by the main thread to start a step; workers Atomics.wait on it
//   ctl[WORKING]     workers inside the current step; the last one out notifies
//   ctl[CALLS]       how many kernel calls the job table holds
//   ctl[STOP]        set on dispose
//   ctl[CHUNKS]      how many chunks the step has; ctl[CHUNK] elements per chunk (a multiple of 4)
//   ctl[FOUND_NON_FINITE]  set by any thread whose chunk of a scan call holds a NaN or ±∞
//   ctl[OPEN]        1 while the step's chunks may be taken: set after the job table is written,
//                    cleared by the caller once it finds no chunk left
//   ctl[SLEEPING]    workers asleep in Atomics.wait (or about to be)
//   ctl[WORKER_CHUNKS]  chunks run by workers so far (for tests)
//   ctl[FAILED]      the index of a worker that threw inside a step (0: none)
//   ctl[STALL], ctl[STALL_MS]  for tests: the worker that sleeps STALL_MS inside its next chunk
//   ctl[STALL_WAIT]  for tests: the slot a stalled worker sleeps on (never notified)
//   ctl[NEXT + LINE·t] the next chunk of thread t's share, one cache line (LINE int32) per thread
// A worker counts itself in WORKING before it looks at OPEN, and the caller clears OPEN before it
// waits for WORKING to reach 0 (all atomics are sequentially consistent), so the caller never
// waits for a worker that has not woken up yet: a late worker finds the step closed and sleeps on.
// A worker that has taken a chunk is waited for as long as it takes: a chunk cannot be taken back
// once it may have been written, and a thread that is merely slow (a busy machine, a low priority)
// would otherwise write into a step that had already failed. A worker ends only by dispose (never
// during a step: step() is synchronous) or by an error, which it reports in FAILED before it
// leaves the step, so the caller never waits for a worker that is gone.
// Workers spin for SPIN_MS after a step, then sleep. A small step does not wake sleeping workers
// (see WAKE_MIN_ELEMENTS): with all of them asleep, the caller runs the calls alone, as one
// thread would, and publishes nothing.
// The job table holds CALL_INTS int32 per call: mode, n, w, g, s, a, m, k, then, for compressed
// state, sq, aq, mq, the scratch areas (one per thread) and the bytes of a state element, and start.
// A call whose mode is SCAN_MODE scans the n gradients at g for NaN and ±∞ instead of updating.
// run() writes `start`: where the call begins when the calls are laid end to end, each padded to a
// multiple of 4 (a compressed call starts on a STATE_BLOCK boundary, and then every chunk is whole
// blocks, as a call with 8-bit state needs: its blocks' scales are from its first element).

// Node's module; package.json's `browser` field swaps in ./platform/browser.js for bundlers that
// build for browsers (esbuild, webpack, Rollup, Vite and Parcel all read it with no configuration,
// which Parcel does not do for `imports` conditions).
import { platform } from './platform/node.js';
import type { Kernel } from './kernel.js';
import { MAX_THREADS } from './options.js';
import type { PlatformWorker } from './platform/types.js';
import type { Segment } from './layout.js';
import { MODE, STATE_BLOCK, STATE_ELEMENT_BYTES, STATE_SCRATCH_BYTES } from './kernel.js';
import { AutoThreads, clock } from './auto-threads.js';

/**
 * The control block's int32 slots (see above) and the job table's fields, named once. Workers run
 * runChunks and workerMain from source, where nothing of this module exists: they get this object
 * as data (in WorkerInit, and as runChunks' last argument) and read it into locals once.
 */
export const SLOTS = Object.freeze({
  GENERATION: 0,
  WORKING: 1,
  CALLS: 2,
  STOP: 3,
  CHUNKS: 4,
  CHUNK: 5,
  FOUND_NON_FINITE: 6,
  OPEN: 7,
  SLEEPING: 8,
  WORKER_CHUNKS: 9,
  FAILED: 10,
  STALL: 11,
  STALL_MS: 12,
  /** The slot a stalled worker sleeps on (never notified). */
  STALL_WAIT: 13,
  /** Thread t's next chunk is at NEXT + LINE·t: one cache line (LINE int32) per thread. */
  NEXT: 16,
  LINE: 16,
  /** A call's fields in the job table: the kernel's step arguments (see Kernel.step), then its start in the calls laid end to end. */
  CALL_MODE: 0,
  CALL_N: 1,
  CALL_W: 2,
  CALL_G: 3,
  CALL_S: 4,
  CALL_A: 5,
  CALL_M: 6,
  CALL_K: 7,
  CALL_SQ: 8,
  CALL_AQ: 9,
  CALL_MQ: 10,
  /** The first thread's scratch area for compressed state; thread t's is STATE_SCRATCH_BYTES·t further. */
  CALL_SCRATCH: 11,
  /** Bytes per element of s, a, m: 4 (float32), 2 (bfloat16) or 1 (8 bits). */
  CALL_STATE_BYTES: 12,
  CALL_START: 13,
  CALL_INTS: 14,
  /** Elements per 8-bit scale, and bytes of a thread's scratch area (src/generated/abi.ts). */
  STATE_BLOCK,
  STATE_SCRATCH_BYTES,
  /** CALL_MODE of a call that scans for NaN and ±∞ instead of updating. */
  SCAN_MODE: -1,
  /** How long a worker spins after a step before it sleeps (ms; see workerMain). */
  SPIN_MS: 1,
});
export type Slots = typeof SLOTS;
const { GENERATION, WORKING, CALLS, STOP, CHUNKS, CHUNK, FOUND_NON_FINITE, OPEN, SLEEPING } = SLOTS;
const { WORKER_CHUNKS, FAILED, STALL, STALL_MS, NEXT, LINE, SPIN_MS } = SLOTS;
const { CALL_MODE, CALL_N, CALL_W, CALL_G, CALL_S, CALL_A, CALL_M, CALL_K, CALL_START } = SLOTS;
const { CALL_SQ, CALL_AQ, CALL_MQ, CALL_SCRATCH, CALL_STATE_BYTES } = SLOTS;
export const { CALL_INTS, SCAN_MODE } = SLOTS;
export const CONTROL_BYTES = 4 * LINE * (1 + MAX_THREADS);
/** How long the caller sleeps at a time while it waits for a worker's last chunk (then it looks again). */
const WAIT_SLICE_MS = 1000;
/** How many times the caller reads WORKING before it sleeps. */
const SPINS_BEFORE_SLEEP = 1_000_000;
/**
 * Waking sleeping workers pays from this many elements in a step: waking one costs the caller tens
 * of microseconds, and the worker starts about a hundred later (BENCHMARKS.md has the figures).
 * Smaller steps wake no one unless the steps come back to back (less than SPIN_MS apart, so that a
 * woken worker is still spinning at the next one); spinning workers take part in every step.
 */
export const WAKE_MIN_ELEMENTS = 524288;
/** The smallest chunk, in elements: below it the atomic per chunk would start to show. */
const MIN_CHUNK = 4096;
const CHUNKS_PER_THREAD = 8;

type StepFn = Kernel['step'];
type ScanFn = Kernel['firstNonFinite'];

/**
 * Runs chunks of the job table until none is left: first thread `self`'s own share of the CHUNKS
 * chunks, then what is left of the others'. Chunk k covers positions [k·size, (k+1)·size) of the
 * calls laid end to end (each call's start, a multiple of 4, is in its CALL_START): a chunk may
 * hold the end of one call and many small calls after it, and finding its first call is a binary
 * search of the starts. Returns how many job-table calls it looked at (for tests: the bookkeeping
 * stays linear in the calls). Workers run this function's source on its own: it reads the slots
 * from `slots` (SLOTS), into locals once per run.
 */
export function runChunks(
  step: StepFn,
  scan: ScanFn,
  jobs: Int32Array,
  calls: number,
  ctl: Int32Array,
  self: number,
  threads: number,
  slots: Slots,
): number {
  const { CHUNK, CHUNKS, NEXT, LINE, STALL, STALL_MS, STALL_WAIT, WORKER_CHUNKS, FOUND_NON_FINITE } = slots;
  const { CALL_MODE, CALL_N, CALL_W, CALL_G, CALL_S, CALL_A, CALL_M, CALL_K, CALL_START, CALL_INTS } = slots;
  const { CALL_SQ, CALL_AQ, CALL_MQ, CALL_SCRATCH, CALL_STATE_BYTES, STATE_BLOCK, STATE_SCRATCH_BYTES } = slots;
  const scanMode = slots.SCAN_MODE;
  const size = ctl[CHUNK];
  const chunks = ctl[CHUNKS];
  let visits = 0;
  for (let i = 0; i < threads; i++) {
    const owner = (self + i) % threads;
    const end = Math.ceil(((owner + 1) * chunks) / threads);
    for (;;) {
      const k = Atomics.add(ctl, NEXT + LINE * owner, 1);
      if (k >= end) break;
      if (self !== 0 && Atomics.load(ctl, STALL) === self) {
        // a test's slow (or failing) worker, inside its chunk
        Atomics.store(ctl, STALL, 0);
        if (Atomics.load(ctl, STALL_MS) < 0) throw new Error('this worker was asked to fail by a test');
        Atomics.wait(ctl, STALL_WAIT, 0, Atomics.load(ctl, STALL_MS));
      }
      if (self !== 0) Atomics.add(ctl, WORKER_CHUNKS, 1);
      const from = k * size;
      const to = from + size;
      // The last call that starts at or before `from`.
      let low = 0;
      let high = calls - 1;
      while (low < high) {
        const middle = (low + high + 1) >> 1;
        visits++;
        if (jobs[middle * CALL_INTS + CALL_START] <= from) low = middle;
        else high = middle - 1;
      }
      for (let c = low; c < calls; c++) {
        const j = c * CALL_INTS;
        visits++;
        const callStart = jobs[j + CALL_START];
        if (callStart >= to) break;
        const start = Math.max(from - callStart, 0);
        const stop = Math.min(jobs[j + CALL_N], to - callStart);
        if (start >= stop) continue; // the chunk begins in this call's padding
        const at = start * 4;
        if (jobs[j + CALL_MODE] === scanMode) {
          if (scan(stop - start, jobs[j + CALL_G] + at) >= 0) Atomics.store(ctl, FOUND_NON_FINITE, 1);
        } else {
          // state codes at their own width; 8-bit scales one per block (start is a block boundary then)
          const stateAt = start * jobs[j + CALL_STATE_BYTES];
          const scaleAt = Math.floor(start / STATE_BLOCK) * 4;
          step(
            jobs[j + CALL_MODE],
            stop - start,
            jobs[j + CALL_W] + at,
            jobs[j + CALL_G] + at,
            jobs[j + CALL_S] + stateAt,
            jobs[j + CALL_A] + stateAt,
            jobs[j + CALL_M] + stateAt,
            jobs[j + CALL_K],
            jobs[j + CALL_SQ] + scaleAt,
            jobs[j + CALL_AQ] + scaleAt,
            jobs[j + CALL_MQ] + scaleAt,
            jobs[j + CALL_SCRATCH] + self * STATE_SCRATCH_BYTES,
          );
        }
      }
    }
  }
  return visits;
}

/**
 * Lays the job table's calls end to end (each call's start into its slot CALL_START) and cuts them
 * into chunks for `threads` threads (CHUNK, CHUNKS and each thread's NEXT). Linear in the calls.
 */
export function planChunks(jobs: Int32Array, calls: number, ctl: Int32Array, threads: number): void {
  let laidOut = 0;
  let compressed = false;
  for (let j = 0; j < calls * CALL_INTS; j += CALL_INTS) {
    // a compressed call (a stateFormat other than float32) starts on a block boundary
    const mode = jobs[j + CALL_MODE];
    if (mode !== SCAN_MODE && ((mode >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) !== 0) {
      compressed = true;
      laidOut = Math.ceil(laidOut / STATE_BLOCK) * STATE_BLOCK;
    }
    jobs[j + CALL_START] = laidOut;
    laidOut += Math.ceil(jobs[j + CALL_N] / 4) * 4;
  }
  // About CHUNKS_PER_THREAD chunks per thread: enough to even out unequal cores, few enough that
  // taking one (an atomic add) costs nothing next to computing it. With compressed calls, whole blocks.
  const unit = compressed ? STATE_BLOCK : 4;
  const size = Math.max(MIN_CHUNK, Math.ceil(laidOut / (threads * CHUNKS_PER_THREAD * unit)) * unit);
  const chunks = Math.ceil(laidOut / size);
  for (let t = 0; t < threads; t++) Atomics.store(ctl, NEXT + LINE * t, Math.ceil((t * chunks) / threads));
  Atomics.store(ctl, CHUNK, size);
  Atomics.store(ctl, CHUNKS, chunks);
}

/**
 * The worker's program, run from source text (so no runtime or bundler needs a worker file). It
 * must not refer to anything outside itself; runChunks is passed in as source, the slots as data.
 */
function workerMain(onMessage: (handler: (data: WorkerInit) => void) => void, ready: () => void): void {
  onMessage((init) => {
    const { module, memory, controlAt, jobsAt, jobInts, index, threads, slots } = init;
    const { GENERATION, WORKING, CALLS, STOP, OPEN, SLEEPING, FAILED, LINE, SPIN_MS } = slots;
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const step = instance.exports.step as StepFn;
    const scan = instance.exports.firstNonFinite as ScanFn;
    const ctl = new Int32Array(memory.buffer, controlAt, LINE * (1 + threads));
    const jobs = new Int32Array(memory.buffer, jobsAt, jobInts);
    let seen = Atomics.load(ctl, GENERATION); // before ready(): the main thread may start a step right after it
    ready();
    for (;;) {
      // Spin for SPIN_MS before sleeping: training loops may step back to back, and a sleeping
      // worker joins a step 60–150 µs after it is woken, as late as a 256 K-element step's slice.
      const spinUntil = performance.now() + SPIN_MS;
      for (let spin = 1; Atomics.load(ctl, GENERATION) === seen; spin++)
        if ((spin & 1023) === 0 && performance.now() > spinUntil) break;
      Atomics.add(ctl, SLEEPING, 1);
      while (Atomics.load(ctl, GENERATION) === seen) Atomics.wait(ctl, GENERATION, seen); // only a new generation is a step
      Atomics.sub(ctl, SLEEPING, 1);
      seen = Atomics.load(ctl, GENERATION);
      if (Atomics.load(ctl, STOP) !== 0) return;
      Atomics.add(ctl, WORKING, 1); // before OPEN is read
      try {
        // runChunks: in the worker, the copy prepended to this source
        if (Atomics.load(ctl, OPEN) === 1)
          runChunks(step, scan, jobs, Atomics.load(ctl, CALLS), ctl, index, threads, slots);
      } catch (error) {
        Atomics.store(ctl, FAILED, index); // the caller stops waiting for this worker
        throw error;
      } finally {
        if (Atomics.sub(ctl, WORKING, 1) === 1) Atomics.notify(ctl, WORKING);
      }
    }
  });
}

interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  controlAt: number;
  jobsAt: number;
  jobInts: number;
  /** This worker's thread number (the caller is 0) and the number of threads. */
  index: number;
  threads: number;
  /** SLOTS, which the worker's source cannot import. */
  slots: Slots;
}

/** The worker's program; the platform prepends how `onMessage` and `ready` talk to its host. */
const WORKER_PROGRAM = `${runChunks.toString()}\n(${workerMain.toString()})(onMessage, ready);`;

/**
 * V8 counts a non-shared wasm memory toward the external memory that makes it collect garbage, but
 * not a shared one: a program that created, disposed and dropped threaded optimizers grew by their
 * whole memory every time, while the same loop on one thread stayed flat. An ArrayBuffer of the same size,
 * which lives exactly as long as the memory's buffer (a WeakMap entry keyed by it), makes the
 * collector count it. It is never written, so the system gives it address space, not memory.
 */
const counted = new WeakMap<object, ArrayBuffer>();
/**
 * What a worker costs the process beyond the shared memory (its own engine instance and stack, about
 * 8–9 MB resident in Node 20–24), which no collector counts either: counted too, or a program that
 * dropped small optimizers of many threads kept hundreds of workers before a collection ran.
 */
const WORKER_BYTES = 8 * 2 ** 20;
function countAsExternal(memory: WebAssembly.Memory, workers: number): void {
  try {
    counted.set(memory.buffer, new ArrayBuffer(memory.buffer.byteLength + workers * WORKER_BYTES));
  } catch {
    // A runtime that refuses the address space simply collects as it would have.
  }
}

/**
 * Spins while the workers' last chunks finish (they take about as long as ours; sleeping and waking
 * would cost tens of microseconds), then sleeps where this thread may. A slow worker is waited for
 * however long it takes (see the top of this file); one that fails leaves the step.
 * Every operation here runs at every step (the wait for 0 ms once the workers are done): V8
 * compiles the step without a branch it has not seen run, and when a busy machine first took one,
 * it sent the step back to the interpreter, which allocated numbers for hundreds of steps.
 * A function of its own, so that compiling its loop on the stack (a long wait) never recompiles run().
 * Returns how many times it read WORKING before the workers were done or it slept (for 'auto').
 */
function waitForWorkers(ctl: Int32Array, canWait: boolean): number {
  let working = Atomics.load(ctl, WORKING);
  let spins = 0;
  for (; working !== 0 && (!canWait || spins < SPINS_BEFORE_SLEEP); spins++) working = Atomics.load(ctl, WORKING);
  if (!canWait) return spins;
  for (;;) {
    Atomics.wait(ctl, WORKING, working, working === 0 ? 0 : WAIT_SLICE_MS);
    if (working === 0) return spins;
    working = Atomics.load(ctl, WORKING);
  }
}

/**
 * Ends the workers of a pool whose owner (the optimizer) was collected without dispose(): a
 * dropped optimizer's workers would otherwise run, and keep its memory, as long as the process.
 * It holds the pool only, never the owner, which would keep the owner reachable.
 */
const dropped =
  typeof FinalizationRegistry === 'undefined'
    ? undefined
    : new FinalizationRegistry<ThreadPool>((pool) => pool.dispose());

/** Worker threads that run kernel slices on a shared memory, driven synchronously from `run`. */
export class ThreadPool {
  readonly threads: number;
  #workers: PlatformWorker[];
  #ctl: Int32Array;
  #jobs: Int32Array;
  #step: StepFn;
  #scan: ScanFn;
  #died: string | undefined;
  /** When the last step that found every worker asleep began (performance.now()). */
  #lastAlone = -Infinity;
  /** threads: 'auto' only: what times the runs and picks their threads. */
  #auto: AutoThreads | undefined;
  /** How many times this step's caller read WORKING while it waited for the workers. */
  #waitSpins = 0;
  /** Whether this step's runs wake sleeping workers (see beginStep). */
  #wake = false;
  /** For tests: threads every run takes with 'auto' (0: as #auto decides). */
  #forced = 0;
  /** Browsers' main threads may not Atomics.wait: there the caller only spins. */
  readonly #canWait = platform.canWait;

  private constructor(
    threads: number,
    workers: PlatformWorker[],
    ctl: Int32Array,
    jobs: Int32Array,
    step: StepFn,
    scan: ScanFn,
  ) {
    this.threads = threads;
    this.#workers = workers;
    this.#ctl = ctl;
    this.#jobs = jobs;
    this.#step = step;
    this.#scan = scan;
  }

  /**
   * Starts `threads − 1` workers (the calling thread is the other one). The pool can run steps at
   * once (a worker that has not started yet simply takes no chunk); `ready` settles when every
   * worker runs, or rejects with the reason one could not start, after ending them all.
   */
  static start(
    threads: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    kernel: Pick<Kernel, 'step' | 'firstNonFinite'>,
    controlAt: number,
    jobsAt: number,
    jobInts: number,
  ): { pool: ThreadPool; ready: Promise<void> } {
    countAsExternal(memory, threads - 1);
    const ctl = new Int32Array(memory.buffer, controlAt, LINE * (1 + threads));
    const jobs = new Int32Array(memory.buffer, jobsAt, jobInts);
    const workers: PlatformWorker[] = [];
    const pool = new ThreadPool(threads, workers, ctl, jobs, kernel.step, kernel.firstNonFinite);
    const readies: Array<Promise<void>> = [];
    try {
      for (let index = 1; index < threads; index++) {
        const init: WorkerInit = { module, memory, controlAt, jobsAt, jobInts, index, threads, slots: SLOTS };
        let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
        readies.push(new Promise((resolve, reject) => (settle = { resolve, reject })));
        // Started outside the promise, so that a worker refused at once (WebKit under a CSP without
        // worker-src blob:) throws here, as a memory that cannot be posted (WebKit, DataCloneError) does.
        const worker = platform.startWorker(WORKER_PROGRAM, {
          message: () => settle?.resolve(),
          failed: (reason) => {
            pool.#markDead(`worker ${index}: ${reason}`);
            settle?.reject(new Error(reason));
          },
        });
        workers.push(worker);
        worker.postMessage(init);
      }
    } catch (error) {
      pool.dispose();
      throw error;
    }
    const ready = Promise.all(readies).then(
      () => undefined,
      (error: unknown) => {
        pool.dispose();
        throw error;
      },
    );
    return { pool, ready };
  }

  /** Ends this pool once `owner` is collected, unless dispose() ends it first. */
  endWhenDropped(owner: object): void {
    dropped?.register(owner, this, this);
  }

  /** threads: 'auto': from now on each run takes 1 thread or all of them, whichever its timing finds faster. */
  decideByTiming(): void {
    // What one read of WORKING in waitForWorkers' loop costs, to put a time on a long wait without
    // a clock: the fastest of ten rounds, once the loop is compiled (the first rounds are interpreted,
    // several times slower, and would make every stall look longer than it is).
    const ctl = this.#ctl;
    const reads = 100_000;
    let fastest = Infinity;
    for (let round = 0; round < 10; round++) {
      const start = performance.now();
      for (let i = 0; i < reads; i++) Atomics.load(ctl, WORKING);
      fastest = Math.min(fastest, performance.now() - start);
    }
    const msPerSpin = fastest / reads;
    // The clock, called here until V8 compiles it: called one step in 32, it would stay interpreted,
    // where Node's performance.now() allocates several times what it does once compiled.
    for (let i = 0; i < 20_000; i++) clock();
    this.#auto = new AutoThreads(this.threads, clock, msPerSpin);
  }

  /** For tests: with 'auto', run every step on `threads` threads (1 or all of them; 0: decide again). */
  forceThreadsForTest(threads: number): void {
    this.#forced = threads;
  }

  /** For tests: the trials 'auto' has run. */
  get trialsForTest(): number {
    return this.#auto?.trials ?? 0;
  }

  /** Throws if a worker has died; call before writing anything for a step. */
  check(): void {
    if (this.#died)
      throw new Error(`a worker thread of this optimizer is gone (${this.#died}); dispose it and create a new one`);
  }

  /** Chunks of steps run by workers so far. */
  get workerChunks(): number {
    return this.#ctl.length === 0 ? 0 : Atomics.load(this.#ctl, WORKER_CHUNKS);
  }

  /** For tests: workers asleep (a step that does not wake them runs on the caller alone). */
  get sleepingForTest(): number {
    return this.#ctl.length === 0 ? 0 : Atomics.load(this.#ctl, SLEEPING);
  }

  /** The job table, to be filled with `calls` kernel calls before `run(calls)`. */
  get jobs(): Int32Array {
    return this.#jobs;
  }

  /**
   * Before a step's kernel calls (`elements` to update): the threads the step takes. 1: the caller
   * makes its calls at once on its own thread, as one thread would (no job table); more: it queues
   * them and `run`s the queue. Either way, `endStep` after the calls.
   * A step below WAKE_MIN_ELEMENTS that finds every worker asleep wakes them only if the steps come
   * back to back: less than SPIN_MS after the last such step (after a step they took part in, they
   * spin for SPIN_MS, so all asleep means at least that long has passed). The clock is read only
   * here: performance.now() returns a fresh heap number, 16 bytes a call.
   */
  beginStep(elements: number): number {
    const auto = this.#auto;
    let threads = this.threads;
    this.#waitSpins = 0;
    if (auto !== undefined) {
      auto.startRun(elements);
      threads = this.#forced > 0 ? this.#forced : auto.threads();
    }
    this.#wake = elements >= WAKE_MIN_ELEMENTS;
    if (threads > 1 && !this.#wake && Atomics.load(this.#ctl, SLEEPING) === this.threads - 1) {
      const now = performance.now();
      const backToBack = now - this.#lastAlone < SPIN_MS;
      this.#lastAlone = now;
      if (backToBack) this.#wake = true;
      else threads = 1;
    }
    return threads;
  }

  /** After a step's calls (see beginStep): 'auto' takes its time. */
  endStep(elements: number): void {
    this.#auto?.ran(elements, this.#waitSpins);
  }

  /**
   * Runs the job table's calls on every thread (in a step that beginStep gave threads) and returns
   * when all chunks are done: true unless a scan call found a NaN or ±∞ (which one is then for the
   * caller to find, on its own thread). Workers asleep are woken if the step is large enough or
   * its steps come back to back; otherwise only spinning workers take part.
   */
  run(calls: number, writes = true): boolean {
    planChunks(this.#jobs, calls, this.#ctl, this.threads);
    const ctl = this.#ctl;
    Atomics.store(ctl, FOUND_NON_FINITE, 0);
    Atomics.store(ctl, CALLS, calls);
    Atomics.store(ctl, OPEN, 1);
    Atomics.add(ctl, GENERATION, 1);
    if (this.#wake) Atomics.notify(ctl, GENERATION);
    runChunks(this.#step, this.#scan, this.#jobs, calls, ctl, 0, this.threads, SLOTS);
    Atomics.store(ctl, OPEN, 0);
    this.#waitSpins += waitForWorkers(ctl, this.#canWait);
    const failed = Atomics.load(ctl, FAILED);
    if (failed !== 0) {
      // Its chunk stopped part way, and cannot be redone (an update is not idempotent): the step is
      // not whole, which only a bug in the kernel can cause. Say so; every later step refuses. A
      // run of scans only (`writes` false) read the gradients: nothing is torn.
      this.#markDead(`worker ${failed} failed inside a step`);
      throw new Error(
        writes
          ? `worker thread ${failed} of this optimizer failed inside this step, which is therefore only partly written; dispose the optimizer and restore a saved state`
          : `worker thread ${failed} of this optimizer failed while the step scanned its gradients, before anything was written; its threads cannot step again: save its state, dispose it and load the state into a new one`,
      );
    }
    return Atomics.load(ctl, FOUND_NON_FINITE) === 0;
  }

  /** Ends the workers and drops every reference to the shared memory (its views, the kernel). */
  dispose(): void {
    if (this.#ctl.length === 0) return;
    dropped?.unregister(this);
    Atomics.store(this.#ctl, STOP, 1);
    Atomics.add(this.#ctl, GENERATION, 1);
    Atomics.notify(this.#ctl, GENERATION);
    for (const worker of this.#workers) void worker.terminate();
    this.#workers = [];
    this.#died ??= 'disposed';
    this.#ctl = this.#jobs = new Int32Array(0);
    this.#step = this.#scan = () => -1;
  }

  /** For tests: end worker `index` (1-based) as if it had crashed; steps refuse from now on. */
  async killWorkerForTest(index: number): Promise<void> {
    this.#markDead(`worker ${index} was ended`);
    await this.#workers[index - 1].terminate();
  }

  /**
   * For tests: worker `index` (1-based) sleeps `ms` inside the next chunk it takes, as a descheduled
   * thread would, or with `ms` < 0 throws there.
   */
  stallWorkerForTest(index: number, ms: number): void {
    Atomics.store(this.#ctl, STALL_MS, ms);
    Atomics.store(this.#ctl, STALL, index);
  }

  /** For tests: whether the stalled worker has taken its chunk (and so slept inside it). */
  get stalledForTest(): boolean {
    return Atomics.load(this.#ctl, STALL) === 0;
  }

  #markDead(reason: string): void {
    this.#died ??= reason;
  }
}

/**
 * Where a step sends its kernel calls: DirectCalls runs each at once on this thread; JobQueue
 * queues them in a pool's job table, for `run()` to share among the threads.
 */
export interface KernelCalls {
  /**
   * Updates (`mode`, its stateFormat the segment's) `length` elements from element `offset` of each
   * region of `segment`, with the constants at byte `constantsAt`.
   */
  update(mode: number, segment: Segment, offset: number, length: number, constantsAt: number): void;
}

/** Kernel calls run at once, on the calling thread (whose scratch area is the first, at `scratchAt`). */
export class DirectCalls implements KernelCalls {
  readonly #kernel: Pick<Kernel, 'step'>;
  readonly #scratchAt: number;

  constructor(kernel: Pick<Kernel, 'step'>, scratchAt: number) {
    this.#kernel = kernel;
    this.#scratchAt = scratchAt;
  }

  update(mode: number, segment: Segment, offset: number, length: number, constantsAt: number): void {
    const { base } = segment;
    const at = offset * 4;
    const stateAt = offset * STATE_ELEMENT_BYTES[segment.format];
    const scaleAt = Math.floor(offset / STATE_BLOCK) * 4;
    this.#kernel.step(
      mode,
      length,
      base.param + at,
      base.grad + at,
      base.squareAvg + stateAt,
      base.gradAvg + stateAt,
      base.momentum + stateAt,
      constantsAt,
      base.squareScales + scaleAt,
      base.gradAvgScales + scaleAt,
      base.momentumScales + scaleAt,
      this.#scratchAt,
    );
  }
}

/** Kernel calls queued in a pool's job table, one CALL_INTS row each, until `run()`. */
export class JobQueue implements KernelCalls {
  readonly #pool: ThreadPool;
  readonly #scratchAt: number;
  #count = 0;
  /** Whether the queue holds an update (else only scans, which write nothing). */
  #writes = false;

  constructor(pool: ThreadPool, scratchAt: number) {
    this.#pool = pool;
    this.#scratchAt = scratchAt;
  }

  update(mode: number, segment: Segment, offset: number, length: number, constantsAt: number): void {
    this.#writes = true;
    const { base } = segment;
    const at = offset * 4;
    const stateBytes = STATE_ELEMENT_BYTES[segment.format];
    const stateAt = offset * stateBytes;
    const scaleAt = Math.floor(offset / STATE_BLOCK) * 4;
    const jobs = this.#pool.jobs;
    const j = this.#count++ * CALL_INTS;
    jobs[j + CALL_MODE] = mode;
    jobs[j + CALL_N] = length;
    jobs[j + CALL_W] = base.param + at;
    jobs[j + CALL_G] = base.grad + at;
    jobs[j + CALL_S] = base.squareAvg + stateAt;
    jobs[j + CALL_A] = base.gradAvg + stateAt;
    jobs[j + CALL_M] = base.momentum + stateAt;
    jobs[j + CALL_K] = constantsAt;
    jobs[j + CALL_SQ] = base.squareScales + scaleAt;
    jobs[j + CALL_AQ] = base.gradAvgScales + scaleAt;
    jobs[j + CALL_MQ] = base.momentumScales + scaleAt;
    jobs[j + CALL_SCRATCH] = this.#scratchAt;
    jobs[j + CALL_STATE_BYTES] = stateBytes;
  }

  /** Queues a scan of the `n` gradients at byte `g` for NaN and ±∞ (as Kernel.firstNonFinite). */
  scan(n: number, g: number): void {
    const jobs = this.#pool.jobs;
    const j = this.#count++ * CALL_INTS;
    jobs[j + CALL_MODE] = SCAN_MODE;
    jobs[j + CALL_N] = n;
    jobs[j + CALL_G] = g;
  }

  /** Runs the queued calls on the pool's threads and empties the queue: false if a scan found NaN or ±∞. */
  run(): boolean {
    const calls = this.#count;
    const writes = this.#writes;
    this.#count = 0;
    this.#writes = false;
    return calls === 0 || this.#pool.run(calls, writes);
  }
}

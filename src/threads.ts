// Multi-threaded steps: workers share the optimizer's wasm memory. A step's kernel calls are cut
// into chunks and every thread (the caller included) owns a contiguous share of them: it runs its
// own chunks first, then takes the chunks the others have not reached yet, so a slower core simply
// runs fewer. Owning the same share every step keeps each thread on the same elements, which are
// then still in its own cache (first come, first served mixed them up: slower). Chunks only change
// which thread computes an element, never the operations on it, so the result is bit-identical to
// one thread. How the threads share a step is in chunks.ts.
// Workers spin for SPIN_MS after a step, then sleep. A small step does not wake sleeping workers
// (see WAKE_MIN_ELEMENTS): with all of them asleep, the caller runs the calls alone, as one
// thread would, and publishes nothing.

// Node's module, which hands over to ./platform/browser.js where there is no Node; package.json's
// `browser` field swaps that in outright for bundlers that build for browsers (Parcel reads the field
// with no configuration, but not `imports` conditions).
import { platform } from './platform/node.js';
import type { Kernel } from './kernel.js';
import { type AverageFn, type ScanFn, SLOTS, type Slots, type StepFn, runChunks, planChunks } from './chunks.js';
import type { PlatformWorker } from './platform/types.js';
import { AutoThreads, clock } from './auto-threads.js';

const { GENERATION, WORKING, CALLS, STOP, FOUND_NON_FINITE, OPEN, SLEEPING } = SLOTS;
const { WORKER_CHUNKS, FAILED, STALL, STALL_MS, LINE, SPIN_MS } = SLOTS;
/** How long the caller sleeps at a time while it waits for a worker's last chunk (then it looks again). */
const WAIT_SLICE_MS = 1000;
/** How many times the caller reads WORKING before it sleeps. */
const SPINS_BEFORE_SLEEP = 1_000_000;
/**
 * Waking sleeping workers pays from this many elements in a step: waking one costs the caller tens
 * of microseconds, and the worker starts about a hundred later (BENCHMARKS.md has the figures).
 * Smaller steps wake no one unless the steps come back to back (less than SPIN_MS apart, so that a
 * woken worker is still spinning at the next one); spinning workers take part in every step.
 * @internal
 */
export const WAKE_MIN_ELEMENTS = 524288;

/**
 * The worker's program, run from source text (so no runtime or bundler needs a worker file). It
 * must not refer to anything outside itself: runChunks and workerLoop come in as arguments (a name
 * imported from another module is rewritten by bundlers and test runners), the slots as data. Nor
 * may it name a function of its own: esbuild's keepNames wraps one in a call to a helper (`__name`,
 * minified to any letter) that the source text carries and the worker lacks.
 */
function workerMain(
  onMessage: (handler: (data: WorkerInit) => void) => void,
  ready: () => void,
  run: typeof runChunks,
  loop: typeof workerLoop,
): void {
  onMessage((init) => {
    const { module, memory, controlAt, jobsAt, jobInts, index, threads, slots } = init;
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const ctl = new Int32Array(memory.buffer, controlAt, slots.LINE * (1 + threads));
    const worker: WorkerState = {
      step: instance.exports.step as StepFn,
      scan: instance.exports.firstNonFinite as ScanFn,
      average: instance.exports.average as AverageFn,
      jobs: new Int32Array(memory.buffer, jobsAt, jobInts),
      ctl,
      index,
      threads,
      slots,
      run,
      seen: Atomics.load(ctl, slots.GENERATION), // before ready(): the main thread may start a step right after it
    };
    ready();
    // Disposed before this worker started (createSync, then dispose): the generation it just read is
    // dispose's, and no other comes. (Deno's terminate does not end a thread asleep in Atomics.wait.)
    if (Atomics.load(ctl, slots.STOP) !== 0) return;
    loop(worker, false, loop);
  });
}

/** What a worker's loop keeps between its passes through the event loop. */
interface WorkerState {
  step: StepFn;
  scan: ScanFn;
  average: AverageFn;
  jobs: Int32Array;
  ctl: Int32Array;
  index: number;
  threads: number;
  slots: Slots;
  run: typeof runChunks;
  /** The last generation (step) this worker saw. */
  seen: number;
}

/**
 * A worker's life after its start: spin, sleep, take part in each step. `asleep`: back from the event
 * loop (below), still counted in SLEEPING; `self`: this function, for setTimeout (see workerMain).
 */
function workerLoop(worker: WorkerState, asleep: boolean, self: typeof workerLoop): void {
  const { ctl, jobs, step, scan, average, index, threads, slots, run } = worker;
  const { GENERATION, WORKING, CALLS, STOP, OPEN, SLEEPING, FAILED, SPIN_MS, YIELD_MS } = slots;
  let seen = worker.seen;
  for (;;) {
    if (!asleep) {
      // Spin for SPIN_MS before sleeping: training loops may step back to back, and a sleeping
      // worker joins a step 60–150 µs after it is woken, as late as a 256 K-element step's slice.
      const spinUntil = performance.now() + SPIN_MS;
      for (let spin = 1; Atomics.load(ctl, GENERATION) === seen; spin++)
        if ((spin & 1023) === 0 && performance.now() > spinUntil) break;
      Atomics.add(ctl, SLEEPING, 1);
    }
    asleep = false;
    // Only a new generation is a step. Asleep, the worker passes through its event loop now and
    // then (a step meanwhile runs without it), the only place where Deno can end it, as it does
    // when the worker of yours that made the optimizer ends.
    while (Atomics.load(ctl, GENERATION) === seen)
      if (Atomics.wait(ctl, GENERATION, seen, YIELD_MS) === 'timed-out') {
        worker.seen = seen;
        return void setTimeout(self, 0, worker, true, self);
      }
    Atomics.sub(ctl, SLEEPING, 1);
    seen = Atomics.load(ctl, GENERATION);
    if (Atomics.load(ctl, STOP) !== 0) return;
    Atomics.add(ctl, WORKING, 1); // before OPEN is read
    try {
      if (Atomics.load(ctl, OPEN) === 1)
        run(step, scan, average, jobs, Atomics.load(ctl, CALLS), ctl, index, threads, slots);
    } catch (error) {
      Atomics.store(ctl, FAILED, index); // the caller stops waiting for this worker
      throw error;
    } finally {
      if (Atomics.sub(ctl, WORKING, 1) === 1) Atomics.notify(ctl, WORKING);
    }
  }
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
const WORKER_PROGRAM = `(${workerMain})(onMessage, ready, ${runChunks}, ${workerLoop});`;

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
 * however long it takes (see the top of chunks.ts); one that fails leaves the step.
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

/** What the calling thread runs of its chunks. @internal */
export type PoolKernel = Pick<Kernel, 'step' | 'average' | 'firstNonFinite'>;
const DISPOSED_KERNEL: PoolKernel = { step() {}, average() {}, firstNonFinite: () => -1 };

/** Worker threads that run kernel slices on a shared memory, driven synchronously from `run`. @internal */
export class ThreadPool {
  readonly threads: number;
  #workers: PlatformWorker[];
  #ctl: Int32Array;
  #jobs: Int32Array;
  #kernel: PoolKernel;
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
    kernel: PoolKernel,
  ) {
    this.threads = threads;
    this.#workers = workers;
    this.#ctl = ctl;
    this.#jobs = jobs;
    this.#kernel = kernel;
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
    kernel: PoolKernel,
    controlAt: number,
    jobsAt: number,
    jobInts: number,
  ): { pool: ThreadPool; ready: Promise<void> } {
    countAsExternal(memory, threads - 1);
    const ctl = new Int32Array(memory.buffer, controlAt, LINE * (1 + threads));
    const jobs = new Int32Array(memory.buffer, jobsAt, jobInts);
    const workers: PlatformWorker[] = [];
    const pool = new ThreadPool(threads, workers, ctl, jobs, kernel);
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
  get workerChunksForTest(): number {
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
    planChunks(this.#jobs, calls, this.#ctl, this.threads, writes ? 0 : 1);
    const ctl = this.#ctl;
    Atomics.store(ctl, FOUND_NON_FINITE, 0);
    Atomics.store(ctl, CALLS, calls);
    Atomics.store(ctl, OPEN, 1);
    Atomics.add(ctl, GENERATION, 1);
    if (this.#wake) Atomics.notify(ctl, GENERATION);
    const { step, firstNonFinite, average } = this.#kernel;
    runChunks(step, firstNonFinite, average, this.#jobs, calls, ctl, 0, this.threads, SLOTS);
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
    this.#kernel = DISPOSED_KERNEL;
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

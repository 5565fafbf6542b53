// The shared-memory protocol of a threaded step (src/threads.ts runs it): the control block, the
// job table, and how a step's calls are laid end to end, cut into chunks and run by each thread.
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
//   ctl[FIRST + p + LINE·t], ctl[PLANS + PLAN_INTS·p …]  plan p's cut, kept by the main thread (planChunks)
// A worker counts itself in WORKING before it looks at OPEN, and the caller clears OPEN before it
// waits for WORKING to reach 0 (all atomics are sequentially consistent), so the caller never
// waits for a worker that has not woken up yet: a late worker finds the step closed and sleeps on.
// A worker that has taken a chunk is waited for as long as it takes: a chunk cannot be taken back
// once it may have been written, and a thread that is merely slow (a busy machine, a low priority)
// would otherwise write into a step that had already failed. A worker ends only by dispose (never
// during a step: step() is synchronous) or by an error, which it reports in FAILED before it
// leaves the step, so the caller never waits for a worker that is gone.
// The job table holds CALL_INTS int32 per call: mode, n, w, g, s, a, m, k, then, for compressed
// state, sq, mq, the scratch areas (one per thread) and the bytes of an element of S and m and
// of ḡ, then the parameters' average (0: none), and start.
// A call whose mode is SCAN_MODE scans the n gradients at g for NaN and ±∞ instead of updating; one
// whose mode is AVERAGE_MODE only moves the average at e toward the n parameters at w.
// run() writes `start`: where the call begins when the calls are laid end to end, each padded to a
// multiple of 4 (a compressed call starts on a STATE_BLOCK boundary, and then every chunk is whole
// blocks, as a call with 8-bit state needs: its blocks' scales are from its first element).
import type { Kernel } from './kernel.js';
import { MODE, STATE_BLOCK, STATE_BLOCK_SHIFT, STATE_SCRATCH_BYTES } from './kernel.js';
import { MAX_THREADS } from './options.js';

/**
 * The control block's int32 slots (see above) and the job table's fields, named once. Workers run
 * runChunks and workerMain from source, where nothing of this module exists: they get this object
 * as data (in WorkerInit, and as runChunks' last argument) and read it into locals once.
 * @internal
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
  /** Plan p's first chunk of thread t's share (p: 0, 1), and its length, kind, chunk size and count (in thread 0's line). */
  FIRST: 17,
  PLANS: 20,
  PLAN_INTS: 4,
  /**
   * A call's fields in the job table: the kernel's step arguments (see Kernel.step), the element
   * bytes of its S and m and of its ḡ and its average's address, then its start in the calls laid end to end.
   */
  CALL_MODE: 0,
  CALL_N: 1,
  CALL_W: 2,
  CALL_G: 3,
  CALL_S: 4,
  CALL_A: 5,
  CALL_M: 6,
  CALL_K: 7,
  CALL_SQ: 8,
  CALL_MQ: 9,
  /** The first thread's scratch area for compressed state; thread t's is STATE_SCRATCH_BYTES·t further. */
  CALL_SCRATCH: 10,
  /** Bytes per element of s and m: 4 (float32), 2 (bfloat16) or 1 (8 bits). */
  CALL_STATE_BYTES: 11,
  /** Bytes per element of a (ḡ): 4 (float32) or 2 (bfloat16, and with 8 bits: layout.ts' arrayFormat). */
  CALL_GRAD_AVG_BYTES: 12,
  /** The parameters' average (the ema option), updated after them over the same elements; 0: none. */
  CALL_E: 13,
  CALL_START: 14,
  CALL_INTS: 15,
  /** log2 of the elements per 8-bit scale, and bytes of a thread's scratch area (src/generated/abi.ts). */
  STATE_BLOCK_SHIFT,
  STATE_SCRATCH_BYTES,
  /** CALL_MODE of a call that scans for NaN and ±∞ instead of updating. */
  SCAN_MODE: -1,
  /** CALL_MODE of a call that only averages parameters (a tensor without a gradient this step). */
  AVERAGE_MODE: -2,
  /** How long a worker spins after a step before it sleeps (ms; see workerMain in threads.ts). */
  SPIN_MS: 1,
  /** How long a sleeping worker waits before it passes through its event loop (ms; see workerMain). */
  YIELD_MS: 1000,
});
/** @internal */
export type Slots = typeof SLOTS;
const { CHUNKS, CHUNK, NEXT, FIRST, PLANS, PLAN_INTS, LINE, CALL_MODE, CALL_N, CALL_START } = SLOTS;
/** @internal */
export const { CALL_INTS, SCAN_MODE, AVERAGE_MODE } = SLOTS;
/** @internal */
export const CONTROL_BYTES = 4 * LINE * (1 + MAX_THREADS);
/** @internal The smallest chunk, in elements: below it the atomic per chunk would start to show. */
export const MIN_CHUNK = 4096;
const CHUNKS_PER_THREAD = 8;

/** @internal */
export type StepFn = Kernel['step'];
/** @internal */
export type ScanFn = Kernel['firstNonFinite'];
/** @internal */
export type AverageFn = Kernel['average'];

/**
 * Runs chunks of the job table until none is left: first thread `self`'s own share of the CHUNKS
 * chunks, then what is left of the others'. Chunk k covers positions [k·size, (k+1)·size) of the
 * calls laid end to end (each call's start, a multiple of 4, is in its CALL_START): a chunk may
 * hold the end of one call and many small calls after it, and finding its first call is a binary
 * search of the starts. Returns how many job-table calls it looked at (for tests: the bookkeeping
 * stays linear in the calls). Workers run this function's source on its own: it reads the slots
 * from `slots` (SLOTS), into locals once per run.
 * @internal
 */
export function runChunks(
  step: StepFn,
  scan: ScanFn,
  average: AverageFn,
  jobs: Int32Array,
  calls: number,
  ctl: Int32Array,
  self: number,
  threads: number,
  slots: Slots,
): number {
  const { CHUNK, CHUNKS, NEXT, LINE, STALL, STALL_MS, STALL_WAIT, WORKER_CHUNKS, FOUND_NON_FINITE } = slots;
  const { CALL_MODE, CALL_N, CALL_W, CALL_G, CALL_S, CALL_A, CALL_M, CALL_K, CALL_START, CALL_INTS } = slots;
  const { CALL_SQ, CALL_MQ, CALL_SCRATCH, CALL_STATE_BYTES, CALL_GRAD_AVG_BYTES, CALL_E } = slots;
  const { STATE_BLOCK_SHIFT, STATE_SCRATCH_BYTES } = slots;
  const scanMode = slots.SCAN_MODE;
  const averageMode = slots.AVERAGE_MODE;
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
        } else if (jobs[j + CALL_MODE] === averageMode) {
          average(stop - start, jobs[j + CALL_W] + at, jobs[j + CALL_E] + at, jobs[j + CALL_K]);
        } else {
          // state codes at their own width; 8-bit scales one per block (start is a block boundary then)
          const stateAt = start * jobs[j + CALL_STATE_BYTES];
          const scaleAt = (start >>> STATE_BLOCK_SHIFT) << 2; // as kernel.ts' scaleByteOffset
          step(
            jobs[j + CALL_MODE],
            stop - start,
            jobs[j + CALL_W] + at,
            jobs[j + CALL_G] + at,
            jobs[j + CALL_S] + stateAt,
            jobs[j + CALL_A] + start * jobs[j + CALL_GRAD_AVG_BYTES],
            jobs[j + CALL_M] + stateAt,
            jobs[j + CALL_K],
            jobs[j + CALL_SQ] + scaleAt,
            jobs[j + CALL_MQ] + scaleAt,
            jobs[j + CALL_SCRATCH] + self * STATE_SCRATCH_BYTES,
          );
          const e = jobs[j + CALL_E];
          if (e !== 0) average(stop - start, jobs[j + CALL_W] + at, e + at, jobs[j + CALL_K]);
        }
      }
    }
  }
  return visits;
}

/**
 * Lays the job table's calls end to end (each call's start into its slot CALL_START) and cuts them
 * into chunks for `threads` threads (CHUNK, CHUNKS and each thread's NEXT), as plan `plan` (0: a run
 * that updates, 1: one that only scans; a step may run both). Linear in the calls.
 * @internal
 */
export function planChunks(jobs: Int32Array, calls: number, ctl: Int32Array, threads: number, plan = 0): void {
  let laidOut = 0;
  let compressed = 0;
  for (let j = 0; j < calls * CALL_INTS; j += CALL_INTS) {
    // a compressed call (a stateFormat other than float32) starts on a block boundary
    const mode = jobs[j + CALL_MODE];
    if (mode >= 0 && ((mode >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) !== 0) {
      compressed = 1;
      laidOut = roundUp(laidOut, STATE_BLOCK);
    }
    jobs[j + CALL_START] = laidOut;
    laidOut += roundUp(jobs[j + CALL_N], 4);
  }
  // The plan is cut anew only for another length or kind: interpreted (a trial of threads: 'auto'),
  // a division makes a heap number.
  const at = PLANS + PLAN_INTS * plan;
  const kind = compressed + 2 * threads;
  if (ctl[at + PLAN_CHUNK] === 0 || ctl[at + PLAN_LENGTH] !== laidOut || ctl[at + PLAN_KIND] !== kind) {
    // About CHUNKS_PER_THREAD chunks per thread: enough to even out unequal cores, few enough that
    // taking one (an atomic add) costs nothing next to computing it. With compressed calls, whole blocks.
    const unit = compressed === 1 ? STATE_BLOCK : 4;
    const size = Math.max(MIN_CHUNK, Math.ceil(laidOut / (threads * CHUNKS_PER_THREAD * unit)) * unit);
    const chunks = Math.ceil(laidOut / size);
    for (let t = 0; t < threads; t++) ctl[FIRST + plan + LINE * t] = Math.ceil((t * chunks) / threads);
    ctl[at + PLAN_LENGTH] = laidOut;
    ctl[at + PLAN_KIND] = kind;
    ctl[at + PLAN_CHUNK] = size;
    ctl[at + PLAN_CHUNKS] = chunks;
  }
  Atomics.store(ctl, CHUNK, ctl[at + PLAN_CHUNK]);
  Atomics.store(ctl, CHUNKS, ctl[at + PLAN_CHUNKS]);
  for (let t = 0; t < threads; t++) Atomics.store(ctl, NEXT + LINE * t, ctl[FIRST + plan + LINE * t]);
}

/** A plan's fields, from PLANS + PLAN_INTS·plan. */
const PLAN_LENGTH = 0;
const PLAN_KIND = 1;
const PLAN_CHUNK = 2;
const PLAN_CHUNKS = 3;

/** `n` rounded up to a multiple of `unit`, a power of 2 (int32: a layout's elements are far below 2³¹). */
function roundUp(n: number, unit: number): number {
  return (n + unit - 1) & -unit;
}

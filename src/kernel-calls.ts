// A step's kernel calls: which calls a step makes (issueUpdates), and where they go: run at once on
// this thread (DirectCalls), or queued in a thread pool's job table (JobQueue, src/chunks.ts).
import { AVERAGE_MODE, CALL_INTS, SCAN_MODE, SLOTS } from './chunks.js';
import type { ClipKind } from './clipping.js';
import {
  K,
  type Kernel,
  SLOT_FLOATS,
  scaleByteOffset,
  STEP_CLIP_SCALE,
  STEP_LR,
  transformBit,
  writeClippedConstants,
  writeStepConstants,
} from './kernel.js';
import type { Segment } from './layout.js';
import type { Group, Tensor } from './tensors.js';
import type { ThreadPool } from './threads.js';

const { CALL_MODE, CALL_N, CALL_W, CALL_G, CALL_S, CALL_A, CALL_M, CALL_K } = SLOTS;
const { CALL_SQ, CALL_MQ, CALL_SCRATCH, CALL_STATE_BYTES, CALL_GRAD_AVG_BYTES, CALL_E } = SLOTS;

/**
 * Where a step sends its kernel calls: DirectCalls runs each at once on this thread; JobQueue
 * queues them in a pool's job table, for `run()` to share among the threads.
 * @internal
 */
export interface KernelCalls {
  /**
   * Updates (`mode`, its stateFormat the segment's) `length` elements from element `offset` of each
   * region of `segment`, with the constants at byte `constantsAt`, then their average (if kept).
   */
  update(mode: number, segment: Segment, offset: number, length: number, constantsAt: number): void;
  /** Moves the average of `length` parameters from element `offset` of `segment` toward them, without updating them. */
  average(segment: Segment, offset: number, length: number, constantsAt: number): void;
}

/** Kernel calls run at once, on the calling thread (whose scratch area is the first, at `scratchAt`). @internal */
export class DirectCalls implements KernelCalls {
  readonly #kernel: Pick<Kernel, 'step' | 'average'>;
  readonly #scratchAt: number;

  constructor(kernel: Pick<Kernel, 'step' | 'average'>, scratchAt: number) {
    this.#kernel = kernel;
    this.#scratchAt = scratchAt;
  }

  update(mode: number, segment: Segment, offset: number, length: number, constantsAt: number): void {
    const { base } = segment;
    const at = offset * 4;
    const stateAt = offset * segment.elementBytes.squareAvg;
    const scaleAt = scaleByteOffset(offset);
    this.#kernel.step(
      mode,
      length,
      base.param + at,
      base.grad + at,
      base.squareAvg + stateAt,
      base.gradAvg + offset * segment.elementBytes.gradAvg,
      base.momentum + stateAt,
      constantsAt,
      base.squareAvgScales + scaleAt,
      base.momentumScales + scaleAt,
      this.#scratchAt,
    );
    if (base.average !== 0) this.average(segment, offset, length, constantsAt);
  }

  average({ base }: Segment, offset: number, length: number, constantsAt: number): void {
    this.#kernel.average(length, base.param + offset * 4, base.average + offset * 4, constantsAt);
  }
}

/** Kernel calls queued in a pool's job table, one CALL_INTS row each, until `run()`. @internal */
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
    const stateBytes = segment.elementBytes.squareAvg;
    const gradAvgBytes = segment.elementBytes.gradAvg;
    const stateAt = offset * stateBytes;
    const scaleAt = scaleByteOffset(offset);
    const jobs = this.#pool.jobs;
    const j = this.#count++ * CALL_INTS;
    jobs[j + CALL_MODE] = mode;
    jobs[j + CALL_N] = length;
    jobs[j + CALL_W] = base.param + at;
    jobs[j + CALL_G] = base.grad + at;
    jobs[j + CALL_S] = base.squareAvg + stateAt;
    jobs[j + CALL_A] = base.gradAvg + offset * gradAvgBytes;
    jobs[j + CALL_M] = base.momentum + stateAt;
    jobs[j + CALL_K] = constantsAt;
    jobs[j + CALL_SQ] = base.squareAvgScales + scaleAt;
    jobs[j + CALL_MQ] = base.momentumScales + scaleAt;
    jobs[j + CALL_SCRATCH] = this.#scratchAt;
    jobs[j + CALL_STATE_BYTES] = stateBytes;
    jobs[j + CALL_GRAD_AVG_BYTES] = gradAvgBytes;
    jobs[j + CALL_E] = base.average === 0 ? 0 : base.average + at;
  }

  average({ base }: Segment, offset: number, length: number, constantsAt: number): void {
    this.#writes = true;
    const jobs = this.#pool.jobs;
    const j = this.#count++ * CALL_INTS;
    jobs[j + CALL_MODE] = AVERAGE_MODE;
    jobs[j + CALL_N] = length;
    jobs[j + CALL_W] = base.param + offset * 4;
    jobs[j + CALL_E] = base.average + offset * 4;
    jobs[j + CALL_K] = constantsAt;
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

/**
 * Writes step `stepNumber`'s constants and sends its update calls to `calls`: one call per group
 * segment (float32 state, compressed state) over all its tensors (back to back in each region), or, when the group has a skipped tensor or
 * clipping scales each tensor its own way, one per present tensor (with its own constants then), and
 * one that only averages each skipped tensor that keeps an average (Keras averages every variable).
 * `lrs` holds each group's learning rate, `clipScale` each tensor's scale; `scalars` is scratch;
 * `words` is the heap as Uint32 words (for the rounding keys).
 * @internal
 */
export function issueUpdates(
  calls: KernelCalls,
  heap: Float32Array,
  words: Uint32Array,
  groups: readonly Group[],
  tensors: readonly Tensor[],
  present: Uint8Array,
  lrs: Float64Array,
  clipping: ClipKind,
  clipScale: Float64Array,
  stepNumber: number,
  scalars: Float64Array,
): void {
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    scalars[STEP_LR] = lrs[g];
    scalars[STEP_CLIP_SCALE] = clipping === 'global' ? clipScale[group.first] : 1;
    writeStepConstants(heap, group.constantsAt / 4, group.options, stepNumber, scalars);
    if (group.roundingKeys) addRoundingKeys(words, group.constantsAt / 4, group.roundingKeys);
    let whole = clipping !== 'per tensor';
    for (let i = group.first; whole && i < group.first + group.count; i++) if (!present[i]) whole = false;
    const mode = group.mode | transformBit(group.options, scalars);
    if (whole) {
      for (let s = 0; s < group.segments.length; s++) {
        const segment = group.segments[s];
        calls.update(mode | segment.formatBits, segment, 0, segment.paddedLength, group.constantsAt);
      }
      continue;
    }
    for (let i = group.first; i < group.first + group.count; i++) {
      const tensor = tensors[i];
      const segment = group.segments[tensor.segment];
      if (!present[i]) {
        if (tensor.average) calls.average(segment, tensor.offset, tensor.length, group.constantsAt);
        continue;
      }
      let constantsAt = group.constantsAt;
      let tensorMode = mode;
      if (clipping === 'per tensor') {
        scalars[STEP_CLIP_SCALE] = clipScale[i];
        writeClippedConstants(heap, group.constantsAt / 4, tensor.constantsAt / 4, group.options, clipScale[i]);
        constantsAt = tensor.constantsAt;
        tensorMode = group.mode | transformBit(group.options, scalars);
      }
      calls.update(tensorMode | segment.formatBits, segment, tensor.offset, tensor.length, constantsAt);
    }
  }
}

const KEY_SLOTS = [K.squareAvgKey, K.gradAvgKey, K.momentumKey, K.blockKeysOffset];

/**
 * Adds a group's rounding keys (Group.roundingKeys: S's, ḡ's, m's, then the block keys' offset) to
 * what its constants block at word `at` holds: the step's key, and 0. (Read there, not passed: a
 * double argument would be boxed, an allocation per call.)
 */
function addRoundingKeys(words: Uint32Array, at: number, keys: Uint32Array): void {
  for (let r = 0; r < 4; r++) {
    const first = at + KEY_SLOTS[r] * SLOT_FLOATS;
    words[first] = words[first + 1] = words[first + 2] = words[first + 3] = words[first] + keys[r];
  }
}

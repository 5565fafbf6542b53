// The kernel ABI shared by every backend and the constants of a step (the js backend's kernel is in
// js-kernel.ts; the calls a step makes are in kernel-calls.ts).
//
// A kernel call updates `n` float32 elements; every pointer is a byte offset into one heap (the wasm
// instance's linear memory; the js backend's, a memory of its own or an ArrayBuffer). `mode` selects the operations
// (the wasm dispatches it to a loop specialised for it, as does the js backend); the float constants
// of the step are written to the heap at `k` once per step. JS computes every constant in float64
// and rounds it to float32 exactly once, so all backends see the same constants. The mode bits and
// constant slots are defined once, in scripts/abi.ts, and generated here and for assembly/.
import { MIN_NORMAL } from './float32.js';
import {
  K,
  MODE,
  REDUCTION_BLOCK,
  RESERVED_SLOTS,
  SLOT_FLOATS,
  STATE_BLOCK,
  STATE_SCRATCH_BYTES,
} from './generated/abi.js';
import type { ResolvedOptions, StateFormat } from './options.js';
import { fromBits, roundingKey } from './state-codecs.js';

/** @internal */
export { K, MODE, REDUCTION_BLOCK, SLOT_FLOATS, STATE_BLOCK, STATE_SCRATCH_BYTES };
/** log2(STATE_BLOCK), a power of 2. @internal */
export const STATE_BLOCK_SHIFT = 31 - Math.clz32(STATE_BLOCK);

/** Byte offset of the 8-bit scale of `element`'s block: a shift, as interpreted a division makes a heap number. @internal */
export function scaleByteOffset(element: number): number {
  return (element >>> STATE_BLOCK_SHIFT) << 2;
}
const { CENTERED, MOMENTUM_SHIFT, WEIGHT_DECAY_SHIFT, TRANSFORMED, EPS_OUTSIDE } = MODE;
const {
  MOMENTUM_NONE,
  MOMENTUM_HEAVY_BALL,
  MOMENTUM_NESTEROV,
  WEIGHT_DECAY_NONE,
  WEIGHT_DECAY_COUPLED,
  WEIGHT_DECAY_DECOUPLED,
} = MODE;

/**
 * Each state format: the bytes of an element of S, ḡ or m, the typed array that holds them (values,
 * or codes) and the format's field in the kernel's mode. A new format is a row here, and its kernels.
 * @internal
 */
export const STATE_FORMATS = {
  float32: { elementBytes: 4, array: 'Float32Array', modeBits: MODE.STATE_FORMAT_FLOAT32 << MODE.STATE_FORMAT_SHIFT },
  bfloat16: { elementBytes: 2, array: 'Uint16Array', modeBits: MODE.STATE_FORMAT_BFLOAT16 << MODE.STATE_FORMAT_SHIFT },
  '8bit': { elementBytes: 1, array: 'Uint8Array', modeBits: MODE.STATE_FORMAT_8BIT << MODE.STATE_FORMAT_SHIFT },
} as const satisfies Record<StateFormat, object>;
type FormatRow = (typeof STATE_FORMATS)[StateFormat];
const byFormat = <Column extends keyof FormatRow>(column: Column) =>
  Object.fromEntries(Object.entries(STATE_FORMATS).map(([format, row]) => [format, row[column]])) as {
    readonly [F in StateFormat]: (typeof STATE_FORMATS)[F][Column];
  };
/**
 * Bytes per element of an array stored in each state format (a record: one property read in the step);
 * which format each of S, ḡ, m takes in a segment is layout.ts' arrayFormat. @internal
 */
export const STATE_ELEMENT_BYTES = byFormat('elementBytes');
/** The typed array that holds an array of each state format (values or codes). @internal */
export const STATE_ARRAY = byFormat('array');
/** The state format's field of the kernel's mode. @internal */
export const FORMAT_BITS = byFormat('modeBits');
/** The state format of each element size, for a saved reference that gives the size. @internal */
export const FORMAT_OF_ELEMENT_BYTES: ReadonlyMap<number, StateFormat> = new Map(
  (Object.keys(STATE_FORMATS) as StateFormat[]).map((format) => [STATE_ELEMENT_BYTES[format], format]),
);

/** Bytes reserved for one constants block (16-byte aligned). @internal */
export const CONSTANTS_BYTES = RESERVED_SLOTS * SLOT_FLOATS * 4;

/** The exports of assembly/index.ts; pointers are byte offsets into the backend's heap. @internal */
export interface Kernel {
  /**
   * With bfloat16 or 8-bit state (the mode's stateFormat), s, a, m point to codes (2 or 1 bytes per
   * element; a's 2 in both: layout.ts' arrayFormat) and, for 8 bits, sq and mq to the float32 scales
   * of S's and m's blocks of STATE_BLOCK elements from element 0: a call starts at a block boundary.
   * `scratch` points to STATE_SCRATCH_BYTES of memory of the call's own (16-byte aligned; one per
   * thread). Float32 modes ignore sq, mq, scratch.
   */
  step(
    mode: number,
    n: number,
    w: number,
    g: number,
    s: number,
    a: number,
    m: number,
    k: number,
    sq?: number,
    mq?: number,
    scratch?: number,
  ): void;
  /** The parameters' moving average after their update: e = μ·e + (1 − μ)·w over `n` elements (constants at `k`). */
  average(n: number, w: number, e: number, k: number): void;
  /** Writes float64 sums of squares of clamp(g, ±clipValue), one per block, at `out`. */
  sumSquares(n: number, g: number, clipValue: number, out: number): void;
  /** Index of the first NaN or ±∞, or -1. */
  firstNonFinite(n: number, g: number): number;
}

/** Slots of the per-call scalars that writeStepConstants and transformBit read besides the options. @internal */
export const STEP_LR = 0;
/** @internal */
export const STEP_CLIP_SCALE = 1;
/** 1 if the compressed-state loops load ahead this step (src/loads-ahead.ts), else 0 (also when absent). @internal */
export const STEP_LOAD_AHEAD = 2;

/** @internal */
export function kernelMode(o: ResolvedOptions): number {
  const momentumKind = o.momentum === 0 ? MOMENTUM_NONE : o.nesterov ? MOMENTUM_NESTEROV : MOMENTUM_HEAVY_BALL;
  const weightDecayKind =
    o.weightDecay === 0 ? WEIGHT_DECAY_NONE : o.decoupledWeightDecay ? WEIGHT_DECAY_DECOUPLED : WEIGHT_DECAY_COUPLED;
  return (
    (o.centered ? CENTERED : 0) |
    (momentumKind << MOMENTUM_SHIFT) |
    (weightDecayKind << WEIGHT_DECAY_SHIFT) |
    (o.epsInSqrt ? 0 : EPS_OUTSIDE)
  );
}

/** The mode bit that turns on clamping, gradient scaling and bias correction, when this step needs them. @internal */
export function transformBit(o: ResolvedOptions, scalars: Float64Array): number {
  const needed =
    o.maximize || o.biasCorrection || o.clipValue !== Infinity || Math.fround(scalars[STEP_CLIP_SCALE]) !== 1;
  return needed ? TRANSFORMED : 0;
}

/**
 * Writes the constants of step `t` (1-based) into `heap` at float index `at`. `scalars` holds this
 * step's learning rate (a schedule's value), gradient clipping scale (1: not clipped by norm) and,
 * optionally, whether compressed state loads ahead (STEP_* slots):
 * a Float64Array, because double arguments to a call V8 does not inline are boxed, an allocation
 * per step. Every value is rounded to float32 once. `seed` keys the stochastic rounding of
 * compressed state (with t).
 * @internal
 */
export function writeStepConstants(
  heap: Float32Array,
  at: number,
  o: ResolvedOptions,
  t: number,
  scalars: Float64Array,
  seed = 0,
): void {
  const lr = scalars[STEP_LR];
  const clipScale = scalars[STEP_CLIP_SCALE];
  const lrOutside = o.momentum === 0 || !o.lrInMomentum;
  const v = slotValues;
  v[K.gradScale] = gradScale(o, clipScale);
  v[K.clipValue] = o.clipValue;
  v[K.minusClipValue] = -o.clipValue;
  v[K.weightDecay] = o.decoupledWeightDecay ? lr * o.weightDecay : o.weightDecay;
  v[K.decay] = o.decay;
  v[K.oneMinusDecay] = 1 - o.decay;
  // with the float32 decay the kernel's average steps with, as Optax computes it under JAX's float32
  v[K.biasScale] = o.biasCorrection ? 1 / Math.fround(1 - Math.fround(Math.fround(o.decay) ** t)) : 1;
  v[K.epsInSqrt] = o.epsInSqrt ? o.eps : 0;
  v[K.epsOutsideSqrt] = o.epsInSqrt ? 0 : o.eps;
  v[K.momentum] = o.momentum;
  v[K.incrementScale] = lrOutside ? 1 : lr;
  v[K.stepScale] = lrOutside ? lr : 1;
  v[K.minNormal] = MIN_NORMAL;
  v[K.zero] = 0;
  // the step's key in every array's slot (issueUpdates adds the group's own): bits,
  // carried by a float32 that is never NaN (roundingKey clears bit 30)
  v[K.squareAvgKey] = v[K.gradAvgKey] = v[K.momentumKey] = fromBits(roundingKey(t, seed));
  v[K.blockKeysOffset] = 0;
  // −0: the sign bit alone, which the lane loops clear for |x| (assembly/update.ts, flushVector)
  v[K.signBit] = -0;
  v[K.loadAhead] = scalars.length > STEP_LOAD_AHEAD ? scalars[STEP_LOAD_AHEAD] : 0;
  // Keras' use_ema: 1 − μ of the float32 μ, as Keras computes it (its first step is a copy: startAverages)
  const averageMomentum = Math.fround(o.ema);
  v[K.averageMomentum] = averageMomentum;
  v[K.averageOneMinus] = 1 - averageMomentum;
  for (let slot = 0; slot < CONSTANT_SLOTS; slot++) {
    const first = at + slot * SLOT_FLOATS;
    heap[first] = heap[first + 1] = heap[first + 2] = heap[first + 3] = v[slot];
  }
}

/**
 * Writes at float index `to` the constants block at `from` with the gradient scale of `clipScale`:
 * a tensor's constants under per-tensor clipping differ from its group's there alone (one copy
 * rather than a tensor's own writeStepConstants, on a path that runs once per tensor).
 * @internal
 */
export function writeClippedConstants(
  heap: Float32Array,
  from: number,
  to: number,
  o: ResolvedOptions,
  clipScale: number,
): void {
  heap.copyWithin(to, from, from + CONSTANT_SLOTS * SLOT_FLOATS);
  const first = to + K.gradScale * SLOT_FLOATS;
  heap[first] = heap[first + 1] = heap[first + 2] = heap[first + 3] = gradScale(o, clipScale);
}

/** What the kernel multiplies each gradient by: the clip scale, negated to maximize. */
const gradScale = (o: ResolvedOptions, clipScale: number) => (o.maximize ? -clipScale : clipScale);

/** Scratch for writeStepConstants: values stay unboxed doubles on their way to the heap. */
const CONSTANT_SLOTS = Object.keys(K).length;
const slotValues = new Float64Array(CONSTANT_SLOTS);

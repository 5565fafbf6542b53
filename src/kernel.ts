// The kernel ABI shared by every backend, and the JS kernel itself.
//
// A kernel call updates `n` float32 elements; every pointer is a byte offset into one heap (the wasm
// instance's linear memory, or an ArrayBuffer for the js backend). `mode` selects the operations
// (assembly/index.ts folds it into specialised loops); the float constants of the step are written
// to the heap at `k` once per step. JS computes every constant in float64 and rounds it to float32
// exactly once, so all backends see the same constants.
import type { ResolvedOptions } from './options.js';

const CENTERED = 1;
const MOMENTUM_SHIFT = 1;
const WEIGHT_DECAY_SHIFT = 3;
/** Clamp/scale the gradient and bias-correct the averages; off only where those are exact identities. */
const TRANSFORMED = 32;
/** ε outside the root: √var + ε (else √(var + ε)). */
const EPS_OUTSIDE = 64;
const MOMENTUM_HEAVY_BALL = 1;
const MOMENTUM_NESTEROV = 2;
const WEIGHT_DECAY_COUPLED = 1;
const WEIGHT_DECAY_DECOUPLED = 2;

/** The smallest normal float32: state values below it are flushed to zero. */
const MIN_NORMAL = 1.1754943508222875e-38;

/** Slots of the constants block at `k`: each holds one float32 four times (one per SIMD lane). */
const K = {
  gradScale: 0,
  clipValue: 1,
  minusClipValue: 2,
  weightDecay: 3,
  decay: 4,
  oneMinusDecay: 5,
  biasScale: 6,
  epsInSqrt: 7,
  epsOutsideSqrt: 8,
  momentum: 9,
  incrementScale: 10,
  stepScale: 11,
  minNormal: 12,
  zero: 13,
} as const;
const SLOT_FLOATS = 4;
/** Bytes reserved for one constants block (16-byte aligned). */
export const CONSTANTS_BYTES = 16 * SLOT_FLOATS * 4;

/** Elements per block of a gradient reduction (see `sumSquares` in assembly/index.ts). */
export const REDUCTION_BLOCK = 1024;

/** The exports of assembly/index.ts; pointers are byte offsets into the backend's heap. */
export interface Kernel {
  step(mode: number, n: number, w: number, g: number, s: number, a: number, m: number, k: number): void;
  /** Writes float64 sums of squares of clamp(g, ±clipValue), one per block, at `out`. */
  sumSquares(n: number, g: number, clipValue: number, out: number): void;
  /** Index of the first NaN or ±∞, or -1. */
  firstNonFinite(n: number, g: number): number;
}

/** Slots of the per-call scalars that writeStepConstants and transformBit read besides the options. */
export const STEP_LR = 0;
export const STEP_CLIP_SCALE = 1;

export function kernelMode(o: ResolvedOptions): number {
  const momentumKind = o.momentum === 0 ? 0 : o.nesterov ? MOMENTUM_NESTEROV : MOMENTUM_HEAVY_BALL;
  const weightDecayKind = o.weightDecay === 0 ? 0 : o.decoupledWeightDecay ? WEIGHT_DECAY_DECOUPLED : WEIGHT_DECAY_COUPLED;
  return (o.centered ? CENTERED : 0) | (momentumKind << MOMENTUM_SHIFT) | (weightDecayKind << WEIGHT_DECAY_SHIFT) |
    (o.epsInSqrt ? 0 : EPS_OUTSIDE);
}

/** The mode bit that turns on clamping, gradient scaling and bias correction, when this step needs them. */
export function transformBit(o: ResolvedOptions, scalars: Float64Array): number {
  const needed = o.maximize || o.biasCorrection || o.clipValue !== Infinity || Math.fround(scalars[STEP_CLIP_SCALE]) !== 1;
  return needed ? TRANSFORMED : 0;
}

/**
 * Writes the constants of step `t` (1-based) into `heap` at float index `at`. `scalars` holds this
 * step's learning rate (a schedule's value) and gradient clipping scale (1: not clipped by norm):
 * a Float64Array, because double arguments to a call V8 does not inline are boxed, an allocation
 * per step. Every value is rounded to float32 once.
 */
export function writeStepConstants(heap: Float32Array, at: number, o: ResolvedOptions, t: number, scalars: Float64Array): void {
  const lr = scalars[STEP_LR];
  const clipScale = scalars[STEP_CLIP_SCALE];
  const lrOutside = o.momentum === 0 || !o.lrInMomentum;
  const v = slotValues;
  v[K.gradScale] = o.maximize ? -clipScale : clipScale;
  v[K.clipValue] = o.clipValue;
  v[K.minusClipValue] = -o.clipValue;
  v[K.weightDecay] = o.decoupledWeightDecay ? lr * o.weightDecay : o.weightDecay;
  v[K.decay] = o.decay;
  v[K.oneMinusDecay] = 1 - o.decay;
  v[K.biasScale] = o.biasCorrection ? 1 / (1 - o.decay ** t) : 1;
  v[K.epsInSqrt] = o.epsInSqrt ? o.eps : 0;
  v[K.epsOutsideSqrt] = o.epsInSqrt ? 0 : o.eps;
  v[K.momentum] = o.momentum;
  v[K.incrementScale] = lrOutside ? 1 : lr;
  v[K.stepScale] = lrOutside ? lr : 1;
  v[K.minNormal] = MIN_NORMAL;
  v[K.zero] = 0;
  for (let slot = 0; slot < SLOTS; slot++) {
    const first = at + slot * SLOT_FLOATS;
    heap[first] = heap[first + 1] = heap[first + 2] = heap[first + 3] = v[slot];
  }
}

/** Scratch for writeStepConstants: values stay unboxed doubles on their way to the heap. */
const SLOTS = Object.keys(K).length;
const slotValues = new Float64Array(SLOTS);

const f = Math.fround;

// `x - x` rather than 0: a literal 0 would make V8 box every result (a Smi/double phi).
const flush = (x: number) => (Math.abs(x) < MIN_NORMAL ? x - x : x);
// S is never negative (loadState refuses negative values), so it needs no |x|, as in the kernels.
const flushSquare = (x: number) => (x < MIN_NORMAL ? x - x : x);
// wasm's pmax then pmin (`a < b ? b : a`, `b < a ? b : a`): NaN passes through, as in the kernels.
const clamp = (x: number, low: number, high: number) => {
  const atLeastLow = x < low ? low : x;
  return high < atLeastLow ? high : atLeastLow;
};
const square = (x: number) => x * x;

/**
 * The JS kernels: the same operations in the same order as assembly/index.ts, each rounded to
 * float32, so they agree with the wasm kernels bit for bit (NaN payloads aside).
 */
export function jsKernel(buffer: ArrayBuffer): Kernel {
  // V8 optimises indexing a typed array from 0 far better than indexing one big heap at an offset,
  // so each pointer gets a view that starts there; views are cached, so steps allocate nothing.
  const views = new Map<number, Float32Array>();
  const at = (pointer: number) => {
    let view = views.get(pointer);
    if (!view) views.set(pointer, (view = new Float32Array(buffer, pointer)));
    return view;
  };
  const float64 = new Float64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
  return {
    step(mode, n, wp, gp, sp, ap, mp, kp) {
      const w = at(wp), g = at(gp), s = at(sp), a = at(ap), m = at(mp), k = at(kp);
      const centered = (mode & CENTERED) !== 0;
      const momentumKind = (mode >> MOMENTUM_SHIFT) & 3;
      const weightDecayKind = (mode >> WEIGHT_DECAY_SHIFT) & 3;
      const gradScale = k[K.gradScale * SLOT_FLOATS];
      const clipValue = k[K.clipValue * SLOT_FLOATS];
      const minusClipValue = k[K.minusClipValue * SLOT_FLOATS];
      const transformed = (mode & TRANSFORMED) !== 0;
      const epsOutside = (mode & EPS_OUTSIDE) !== 0;
      const weightDecay = k[K.weightDecay * SLOT_FLOATS];
      const decay = k[K.decay * SLOT_FLOATS];
      const oneMinusDecay = k[K.oneMinusDecay * SLOT_FLOATS];
      const biasScale = k[K.biasScale * SLOT_FLOATS];
      const epsInSqrt = k[K.epsInSqrt * SLOT_FLOATS];
      const epsOutsideSqrt = k[K.epsOutsideSqrt * SLOT_FLOATS];
      const momentum = k[K.momentum * SLOT_FLOATS];
      const incrementScale = k[K.incrementScale * SLOT_FLOATS];
      const stepScale = k[K.stepScale * SLOT_FLOATS];
      for (let i = 0; i < n; i++) {
        let wi = w[i];
        let gi = g[i];
        if (transformed) gi = f(clamp(gi, minusClipValue, clipValue) * gradScale);
        if (weightDecayKind === WEIGHT_DECAY_COUPLED) gi = f(gi + f(weightDecay * wi));
        else if (weightDecayKind === WEIGHT_DECAY_DECOUPLED) wi = f(wi - f(weightDecay * wi));
        const si = flushSquare(f(f(decay * s[i]) + f(oneMinusDecay * f(gi * gi))));
        s[i] = si;
        let variance = transformed ? f(si * biasScale) : si;
        if (centered) {
          const ai = flush(f(f(decay * a[i]) + f(oneMinusDecay * gi)));
          a[i] = ai;
          const meanGrad = transformed ? f(ai * biasScale) : ai;
          const difference = f(variance - f(meanGrad * meanGrad));
          variance = Math.max(difference, 0); // = pmax(difference, 0): difference is never −0
        }
        const denom = epsOutside ? f(f(Math.sqrt(variance)) + epsOutsideSqrt) : f(Math.sqrt(f(variance + epsInSqrt)));
        const u = f(gi / denom);
        if (momentumKind === 0) {
          wi = f(wi - f(stepScale * u));
        } else {
          const increment = f(incrementScale * u);
          const mi = flush(f(f(momentum * m[i]) + increment));
          m[i] = mi;
          const direction = momentumKind === MOMENTUM_NESTEROV ? f(f(momentum * mi) + increment) : mi;
          wi = f(wi - f(stepScale * direction));
        }
        w[i] = wi;
      }
    },

    sumSquares(n, gp, clipValue, out) {
      const g = at(gp);
      const limit = f(clipValue);
      const minusLimit = -limit;
      for (let start = 0; start < n; start += REDUCTION_BLOCK) {
        const end = Math.min(start + REDUCTION_BLOCK, n);
        let p0 = 0, p1 = 0, p2 = 0, p3 = 0;
        let i = start;
        for (; i + 4 <= end; i += 4) {
          const x0 = clamp(g[i], minusLimit, limit), x1 = clamp(g[i + 1], minusLimit, limit);
          const x2 = clamp(g[i + 2], minusLimit, limit), x3 = clamp(g[i + 3], minusLimit, limit);
          p0 += x0 * x0;
          p1 += x1 * x1;
          p2 += x2 * x2;
          p3 += x3 * x3;
        }
        if (i < end) p0 += square(clamp(g[i], minusLimit, limit));
        if (i + 1 < end) p1 += square(clamp(g[i + 1], minusLimit, limit));
        if (i + 2 < end) p2 += square(clamp(g[i + 2], minusLimit, limit));
        float64[out / 8 + start / REDUCTION_BLOCK] = (p0 + p1) + (p2 + p3);
      }
    },

    firstNonFinite(n, gp) {
      const g = at(gp);
      for (let i = 0; i < n; i++) if (!(Math.abs(g[i]) < Infinity)) return i;
      return -1;
    },
  };
}

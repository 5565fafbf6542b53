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
const MOMENTUM_HEAVY_BALL = 1;
const MOMENTUM_NESTEROV = 2;
const WEIGHT_DECAY_COUPLED = 1;
const WEIGHT_DECAY_DECOUPLED = 2;

/** Float32 slots of the constants block at `k`. */
const K = {
  gradScale: 0,
  clipValue: 1,
  weightDecay: 2,
  decay: 3,
  oneMinusDecay: 4,
  biasScale: 5,
  epsInSqrt: 6,
  epsOutsideSqrt: 7,
  momentum: 8,
  incrementScale: 9,
  stepScale: 10,
} as const;
/** Bytes reserved for one constants block (16-byte aligned). */
export const CONSTANTS_BYTES = 48;

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

/** What one step of one tensor run needs besides the options. */
export interface StepScalars {
  /** 1-based step number (for bias correction). */
  t: number;
  /** This step's learning rate (a schedule is evaluated once per step). */
  lr: number;
  /** Clipping scale of the gradient (1 when not clipped by norm). */
  clipScale: number;
}

export function kernelMode(o: ResolvedOptions): number {
  const momentumKind = o.momentum === 0 ? 0 : o.nesterov ? MOMENTUM_NESTEROV : MOMENTUM_HEAVY_BALL;
  const weightDecayKind = o.weightDecay === 0 ? 0 : o.decoupledWeightDecay ? WEIGHT_DECAY_DECOUPLED : WEIGHT_DECAY_COUPLED;
  return (o.centered ? CENTERED : 0) | (momentumKind << MOMENTUM_SHIFT) | (weightDecayKind << WEIGHT_DECAY_SHIFT);
}

/** Writes the constants of one step into `heap` at float index `at`. Every value is rounded to float32 once. */
export function writeStepConstants(heap: Float32Array, at: number, o: ResolvedOptions, { t, lr, clipScale }: StepScalars): void {
  const lrOutside = o.momentum === 0 || !o.lrInMomentum;
  heap[at + K.gradScale] = o.maximize ? -clipScale : clipScale;
  heap[at + K.clipValue] = o.clipValue;
  heap[at + K.weightDecay] = o.decoupledWeightDecay ? lr * o.weightDecay : o.weightDecay;
  heap[at + K.decay] = o.decay;
  heap[at + K.oneMinusDecay] = 1 - o.decay;
  heap[at + K.biasScale] = o.biasCorrection ? 1 / (1 - o.decay ** t) : 1;
  heap[at + K.epsInSqrt] = o.epsInSqrt ? o.eps : 0;
  heap[at + K.epsOutsideSqrt] = o.epsInSqrt ? 0 : o.eps;
  heap[at + K.momentum] = o.momentum;
  heap[at + K.incrementScale] = lrOutside ? 1 : lr;
  heap[at + K.stepScale] = lrOutside ? lr : 1;
}

const f = Math.fround;

const MIN_NORMAL = 1.1754943508222875e-38;
const flush = (x: number) => (Math.abs(x) < MIN_NORMAL ? 0 : x);
const clamp = (x: number, limit: number) => Math.min(Math.max(x, -limit), limit);
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
  const float64 = new Float64Array(buffer, 0, buffer.byteLength >> 3);
  return {
    step(mode, n, wp, gp, sp, ap, mp, kp) {
      const w = at(wp), g = at(gp), s = at(sp), a = at(ap), m = at(mp), k = at(kp);
      const centered = (mode & CENTERED) !== 0;
      const momentumKind = (mode >> MOMENTUM_SHIFT) & 3;
      const weightDecayKind = (mode >> WEIGHT_DECAY_SHIFT) & 3;
      const gradScale = k[K.gradScale];
      const clipValue = k[K.clipValue];
      const weightDecay = k[K.weightDecay];
      const decay = k[K.decay];
      const oneMinusDecay = k[K.oneMinusDecay];
      const biasScale = k[K.biasScale];
      const epsInSqrt = k[K.epsInSqrt];
      const epsOutsideSqrt = k[K.epsOutsideSqrt];
      const momentum = k[K.momentum];
      const incrementScale = k[K.incrementScale];
      const stepScale = k[K.stepScale];
      for (let i = 0; i < n; i++) {
        let wi = w[i];
        let gi = f(clamp(g[i], clipValue) * gradScale);
        if (weightDecayKind === WEIGHT_DECAY_COUPLED) gi = f(gi + f(weightDecay * wi));
        else if (weightDecayKind === WEIGHT_DECAY_DECOUPLED) wi = f(wi - f(weightDecay * wi));
        const si = flush(f(f(decay * s[i]) + f(oneMinusDecay * f(gi * gi))));
        s[i] = si;
        let variance = f(si * biasScale);
        if (centered) {
          const ai = flush(f(f(decay * a[i]) + f(oneMinusDecay * gi)));
          a[i] = ai;
          const meanGrad = f(ai * biasScale);
          variance = Math.max(f(variance - f(meanGrad * meanGrad)), 0);
        }
        const denom = f(f(Math.sqrt(f(variance + epsInSqrt))) + epsOutsideSqrt);
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
      for (let start = 0; start < n; start += REDUCTION_BLOCK) {
        const end = Math.min(start + REDUCTION_BLOCK, n);
        let p0 = 0, p1 = 0, p2 = 0, p3 = 0;
        let i = start;
        for (; i + 4 <= end; i += 4) {
          const x0 = clamp(g[i], limit), x1 = clamp(g[i + 1], limit), x2 = clamp(g[i + 2], limit), x3 = clamp(g[i + 3], limit);
          p0 += x0 * x0;
          p1 += x1 * x1;
          p2 += x2 * x2;
          p3 += x3 * x3;
        }
        if (i < end) p0 += square(clamp(g[i], limit));
        if (i + 1 < end) p1 += square(clamp(g[i + 1], limit));
        if (i + 2 < end) p2 += square(clamp(g[i + 2], limit));
        float64[(out >> 3) + start / REDUCTION_BLOCK] = (p0 + p1) + (p2 + p3);
      }
    },

    firstNonFinite(n, gp) {
      const g = at(gp);
      for (let i = 0; i < n; i++) if (!(Math.abs(g[i]) < Infinity)) return i;
      return -1;
    },
  };
}

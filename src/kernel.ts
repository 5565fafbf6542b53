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
  gradSign: 0,
  weightDecay: 1,
  decay: 2,
  oneMinusDecay: 3,
  biasScale: 4,
  epsInSqrt: 5,
  epsOutsideSqrt: 6,
  momentum: 7,
  incrementScale: 8,
  stepScale: 9,
} as const;
/** Bytes reserved for one constants block (16-byte aligned). */
export const CONSTANTS_BYTES = 48;

export type Kernel = (mode: number, n: number, w: number, g: number, s: number, a: number, m: number, k: number) => void;

export function kernelMode(o: ResolvedOptions): number {
  const momentumKind = o.momentum === 0 ? 0 : o.nesterov ? MOMENTUM_NESTEROV : MOMENTUM_HEAVY_BALL;
  const weightDecayKind = o.weightDecay === 0 ? 0 : o.decoupledWeightDecay ? WEIGHT_DECAY_DECOUPLED : WEIGHT_DECAY_COUPLED;
  return (o.centered ? CENTERED : 0) | (momentumKind << MOMENTUM_SHIFT) | (weightDecayKind << WEIGHT_DECAY_SHIFT);
}

/** Writes the constants of step number `t` (1-based) into `heap` at float index `at`. */
export function writeStepConstants(heap: Float32Array, at: number, o: ResolvedOptions, t: number): void {
  const lrOutside = o.momentum === 0 || !o.lrInMomentum;
  heap[at + K.gradSign] = o.maximize ? -1 : 1;
  heap[at + K.weightDecay] = o.decoupledWeightDecay ? o.lr * o.weightDecay : o.weightDecay;
  heap[at + K.decay] = o.decay;
  heap[at + K.oneMinusDecay] = 1 - o.decay;
  heap[at + K.biasScale] = o.biasCorrection ? 1 / (1 - o.decay ** t) : 1;
  heap[at + K.epsInSqrt] = o.epsInSqrt ? o.eps : 0;
  heap[at + K.epsOutsideSqrt] = o.epsInSqrt ? 0 : o.eps;
  heap[at + K.momentum] = o.momentum;
  heap[at + K.incrementScale] = lrOutside ? 1 : o.lr;
  heap[at + K.stepScale] = lrOutside ? o.lr : 1;
}

const f = Math.fround;

/**
 * The JS kernel: the same operations in the same order as assembly/index.ts, each rounded to
 * float32, so it agrees with the wasm kernels bit for bit (NaN payloads aside).
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
  return (mode, n, wp, gp, sp, ap, mp, kp) => {
    const w = at(wp), g = at(gp), s = at(sp), a = at(ap), m = at(mp), k = at(kp);
    const centered = (mode & CENTERED) !== 0;
    const momentumKind = (mode >> MOMENTUM_SHIFT) & 3;
    const weightDecayKind = (mode >> WEIGHT_DECAY_SHIFT) & 3;
    const gradSign = k[K.gradSign];
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
      let gi = f(g[i] * gradSign);
      if (weightDecayKind === WEIGHT_DECAY_COUPLED) gi = f(gi + f(weightDecay * wi));
      else if (weightDecayKind === WEIGHT_DECAY_DECOUPLED) wi = f(wi - f(weightDecay * wi));
      const si = f(f(decay * s[i]) + f(oneMinusDecay * f(gi * gi)));
      s[i] = si;
      let variance = f(si * biasScale);
      if (centered) {
        const ai = f(f(decay * a[i]) + f(oneMinusDecay * gi));
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
        const mi = f(f(momentum * m[i]) + increment);
        m[i] = mi;
        const direction = momentumKind === MOMENTUM_NESTEROV ? f(f(momentum * mi) + increment) : mi;
        wi = f(wi - f(stepScale * direction));
      }
      w[i] = wi;
    }
  };
}

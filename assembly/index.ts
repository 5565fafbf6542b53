// RMSProp update kernels over raw linear memory.
//
// JS owns the memory layout: every pointer is a byte offset of a float32 array of `n` elements, and
// the kernel touches nothing else, so any slice of the arrays can be updated by any caller (one
// thread or several over a shared memory). There is no global state and no allocation.
//
// The same source builds twice: with `--enable simd` the main loop runs on f32x4 lanes, without it
// only the scalar loop is compiled. Both loops perform the same IEEE operations in the same order
// as the JS kernel in src/kernel.ts, so every backend yields the same bits. No FMA, no relaxed SIMD.

// `mode` packs the options that change which operations run. Keep in sync with src/kernel.ts.
const CENTERED: i32 = 1;
const MOMENTUM_SHIFT: i32 = 1; // 0 none, 1 heavy ball, 2 nesterov
const WEIGHT_DECAY_SHIFT: i32 = 3; // 0 none, 1 coupled (added to g), 2 decoupled (applied to w)

const MOMENTUM_NONE: i32 = 0;
const MOMENTUM_NESTEROV: i32 = 2;
const WEIGHT_DECAY_NONE: i32 = 0;
const WEIGHT_DECAY_COUPLED: i32 = 1;

/**
 * One RMSProp step over `n` elements.
 *
 * w, g, s: parameters, gradients, square averages (w and s are updated in place; g is only read).
 * a, m: gradient averages (centered) and momentum buffers; not touched when their option is off.
 * k: the step's float constants, written by JS once per step (layout in src/kernel.ts).
 * The gradient entering the update is clamp(g, ±clipValue)·gradScale (scale = clipping × ±1 for
 * maximize); S, ḡ and m are flushed to zero below the smallest normal float32.
 */
export function step(mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize): void {
  // Dispatch once per call to a loop specialised for these options (the option tests inside
  // `update` fold away once `mode` is a constant), so no element pays for them.
  switch (mode) {
    case 0: update(0, n, w, g, s, a, m, k); break;
    case 1: update(1, n, w, g, s, a, m, k); break;
    case 2: update(2, n, w, g, s, a, m, k); break;
    case 3: update(3, n, w, g, s, a, m, k); break;
    case 4: update(4, n, w, g, s, a, m, k); break;
    case 5: update(5, n, w, g, s, a, m, k); break;
    case 8: update(8, n, w, g, s, a, m, k); break;
    case 9: update(9, n, w, g, s, a, m, k); break;
    case 10: update(10, n, w, g, s, a, m, k); break;
    case 11: update(11, n, w, g, s, a, m, k); break;
    case 12: update(12, n, w, g, s, a, m, k); break;
    case 13: update(13, n, w, g, s, a, m, k); break;
    case 16: update(16, n, w, g, s, a, m, k); break;
    case 17: update(17, n, w, g, s, a, m, k); break;
    case 18: update(18, n, w, g, s, a, m, k); break;
    case 19: update(19, n, w, g, s, a, m, k); break;
    case 20: update(20, n, w, g, s, a, m, k); break;
    case 21: update(21, n, w, g, s, a, m, k); break;
    default: unreachable();
  }
}

// The formula, once. The lane loop and the scalar loop below must stay operation-for-operation
// identical to each other and to src/kernel.ts.
@inline
function update(mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize): void {
  const centered = (mode & CENTERED) != 0;
  const momentumKind = (mode >> MOMENTUM_SHIFT) & 3;
  const weightDecayKind = (mode >> WEIGHT_DECAY_SHIFT) & 3;
  const gradScale = load<f32>(k, 0);
  const clipValue = load<f32>(k, 4);
  const weightDecay = load<f32>(k, 8);
  const decay = load<f32>(k, 12);
  const oneMinusDecay = load<f32>(k, 16);
  const biasScale = load<f32>(k, 20);
  const epsInSqrt = load<f32>(k, 24);
  const epsOutsideSqrt = load<f32>(k, 28);
  const momentum = load<f32>(k, 32);
  const incrementScale = load<f32>(k, 36);
  const stepScale = load<f32>(k, 40);
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vGradScale = f32x4.splat(gradScale);
    const vClipValue = f32x4.splat(clipValue);
    const vMinusClipValue = f32x4.splat(-clipValue);
    const vMinNormal = f32x4.splat(MIN_NORMAL);
    const vWeightDecay = f32x4.splat(weightDecay);
    const vDecay = f32x4.splat(decay);
    const vOneMinusDecay = f32x4.splat(oneMinusDecay);
    const vBiasScale = f32x4.splat(biasScale);
    const vEpsIn = f32x4.splat(epsInSqrt);
    const vEpsOut = f32x4.splat(epsOutsideSqrt);
    const vMomentum = f32x4.splat(momentum);
    const vIncrementScale = f32x4.splat(incrementScale);
    const vStepScale = f32x4.splat(stepScale);
    const vZero = f32x4.splat(0);
    const laneEnd = n & ~(<usize>3);
    for (; i < laneEnd; i += 4) {
      const offset = i << 2;
      let wv = v128.load(w + offset);
      let gv = f32x4.mul(f32x4.min(f32x4.max(v128.load(g + offset), vMinusClipValue), vClipValue), vGradScale);
      if (weightDecayKind == WEIGHT_DECAY_COUPLED) gv = f32x4.add(gv, f32x4.mul(vWeightDecay, wv));
      else if (weightDecayKind != WEIGHT_DECAY_NONE) wv = f32x4.sub(wv, f32x4.mul(vWeightDecay, wv));
      const sv = flushVector(f32x4.add(f32x4.mul(vDecay, v128.load(s + offset)), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv))), vMinNormal);
      v128.store(s + offset, sv);
      let variance = f32x4.mul(sv, vBiasScale);
      if (centered) {
        const av = flushVector(f32x4.add(f32x4.mul(vDecay, v128.load(a + offset)), f32x4.mul(vOneMinusDecay, gv)), vMinNormal);
        v128.store(a + offset, av);
        const meanGrad = f32x4.mul(av, vBiasScale);
        variance = f32x4.max(f32x4.sub(variance, f32x4.mul(meanGrad, meanGrad)), vZero);
      }
      const denom = f32x4.add(f32x4.sqrt(f32x4.add(variance, vEpsIn)), vEpsOut);
      const u = f32x4.div(gv, denom);
      if (momentumKind == MOMENTUM_NONE) {
        wv = f32x4.sub(wv, f32x4.mul(vStepScale, u));
      } else {
        const increment = f32x4.mul(vIncrementScale, u);
        const mv = flushVector(f32x4.add(f32x4.mul(vMomentum, v128.load(m + offset)), increment), vMinNormal);
        v128.store(m + offset, mv);
        const direction = momentumKind == MOMENTUM_NESTEROV ? f32x4.add(f32x4.mul(vMomentum, mv), increment) : mv;
        wv = f32x4.sub(wv, f32x4.mul(vStepScale, direction));
      }
      v128.store(w + offset, wv);
    }
  }
  for (; i < n; i++) {
    const offset = i << 2;
    let wi = load<f32>(w + offset);
    let gi = min<f32>(max<f32>(load<f32>(g + offset), -clipValue), clipValue) * gradScale;
    if (weightDecayKind == WEIGHT_DECAY_COUPLED) gi = gi + weightDecay * wi;
    else if (weightDecayKind != WEIGHT_DECAY_NONE) wi = wi - weightDecay * wi;
    const si = flush(decay * load<f32>(s + offset) + oneMinusDecay * (gi * gi));
    store<f32>(s + offset, si);
    let variance = si * biasScale;
    if (centered) {
      const ai = flush(decay * load<f32>(a + offset) + oneMinusDecay * gi);
      store<f32>(a + offset, ai);
      const meanGrad = ai * biasScale;
      variance = max<f32>(variance - meanGrad * meanGrad, 0);
    }
    const denom = sqrt<f32>(variance + epsInSqrt) + epsOutsideSqrt;
    const u = gi / denom;
    if (momentumKind == MOMENTUM_NONE) {
      wi = wi - stepScale * u;
    } else {
      const increment = incrementScale * u;
      const mi = flush(momentum * load<f32>(m + offset) + increment);
      store<f32>(m + offset, mi);
      const direction = momentumKind == MOMENTUM_NESTEROV ? momentum * mi + increment : mi;
      wi = wi - stepScale * direction;
    }
    store<f32>(w + offset, wi);
  }
}

// State values below the smallest normal float32 become +0, so that a long run of zero gradients
// never leaves the state subnormal (x86 computes on subnormals several times slower).
const MIN_NORMAL: f32 = 1.17549435e-38;

@inline
function flush(x: f32): f32 {
  return abs<f32>(x) < MIN_NORMAL ? 0 : x;
}

@inline
function flushVector(x: v128, minNormal: v128): v128 {
  return v128.andnot(x, f32x4.lt(f32x4.abs(x), minNormal));
}

// Gradient reductions, in an order every backend and any split into slices reproduces: the
// gradients are cut into blocks of BLOCK elements; within a block, element i goes to float64
// partial sum i % 4 in index order, and the block's sum is (p0 + p1) + (p2 + p3). Callers add the
// block sums in order. Squares of float32 values are exact in float64.
const BLOCK: usize = 1024;

/**
 * Writes to `out` (float64) the sum of squares of each block of `clamp(g, ±clipValue)`, over `n`
 * elements starting at `g` (a block boundary).
 */
export function sumSquares(n: usize, g: usize, clipValue: f32, out: usize): void {
  for (let start: usize = 0; start < n; start += BLOCK) {
    const end = min<usize>(start + BLOCK, n);
    let p0: f64 = 0, p1: f64 = 0, p2: f64 = 0, p3: f64 = 0;
    let i = start;
    if (ASC_FEATURE_SIMD) {
      const vClip = f32x4.splat(clipValue);
      const vMinusClip = f32x4.splat(-clipValue);
      let low = f64x2.splat(0), high = f64x2.splat(0);
      for (; i + 4 <= end; i += 4) {
        const v = f32x4.min(f32x4.max(v128.load(g + (i << 2)), vMinusClip), vClip);
        const v01 = f64x2.promote_low_f32x4(v);
        const v23 = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
        low = f64x2.add(low, f64x2.mul(v01, v01));
        high = f64x2.add(high, f64x2.mul(v23, v23));
      }
      p0 = f64x2.extract_lane(low, 0);
      p1 = f64x2.extract_lane(low, 1);
      p2 = f64x2.extract_lane(high, 0);
      p3 = f64x2.extract_lane(high, 1);
    } else {
      for (; i + 4 <= end; i += 4) {
        const x0 = <f64>clampTo(load<f32>(g + (i << 2)), clipValue);
        const x1 = <f64>clampTo(load<f32>(g + (i << 2), 4), clipValue);
        const x2 = <f64>clampTo(load<f32>(g + (i << 2), 8), clipValue);
        const x3 = <f64>clampTo(load<f32>(g + (i << 2), 12), clipValue);
        p0 += x0 * x0;
        p1 += x1 * x1;
        p2 += x2 * x2;
        p3 += x3 * x3;
      }
    }
    // the tail of the last block: at most three elements, into lanes 0, 1, 2 in order
    if (i < end) { const x = <f64>clampTo(load<f32>(g + (i << 2)), clipValue); p0 += x * x; i++; }
    if (i < end) { const x = <f64>clampTo(load<f32>(g + (i << 2)), clipValue); p1 += x * x; i++; }
    if (i < end) { const x = <f64>clampTo(load<f32>(g + (i << 2)), clipValue); p2 += x * x; }
    store<f64>(out + ((start / BLOCK) << 3), (p0 + p1) + (p2 + p3));
  }
}

@inline
function clampTo(x: f32, limit: f32): f32 {
  return min<f32>(max<f32>(x, -limit), limit);
}

/** Index of the first NaN or ±∞ among `n` elements at `g`, or -1. */
export function firstNonFinite(n: usize, g: usize): isize {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const infinity = f32x4.splat(Infinity);
    // |x| < ∞ is false exactly for NaN and ±∞
    for (; i + 4 <= n; i += 4) {
      if (!i32x4.all_true(f32x4.lt(f32x4.abs(v128.load(g + (i << 2))), infinity))) break;
    }
  }
  for (; i < n; i++) {
    if (!(abs<f32>(load<f32>(g + (i << 2))) < Infinity)) return <isize>i;
  }
  return -1;
}

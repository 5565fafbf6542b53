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
// Clamp and scale the gradient, and scale the averages for bias correction. Without this bit those
// steps are skipped: JS leaves it off only when they would be exact identities (clamp to ∞, ×1),
// so the bit changes speed, never results.
const TRANSFORMED: i32 = 32;
// ε added outside the root (√var + ε, PyTorch) rather than inside (√(var + ε)).
const EPS_OUTSIDE: i32 = 64;

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
    case 32: update(32, n, w, g, s, a, m, k); break;
    case 33: update(33, n, w, g, s, a, m, k); break;
    case 34: update(34, n, w, g, s, a, m, k); break;
    case 35: update(35, n, w, g, s, a, m, k); break;
    case 36: update(36, n, w, g, s, a, m, k); break;
    case 37: update(37, n, w, g, s, a, m, k); break;
    case 40: update(40, n, w, g, s, a, m, k); break;
    case 41: update(41, n, w, g, s, a, m, k); break;
    case 42: update(42, n, w, g, s, a, m, k); break;
    case 43: update(43, n, w, g, s, a, m, k); break;
    case 44: update(44, n, w, g, s, a, m, k); break;
    case 45: update(45, n, w, g, s, a, m, k); break;
    case 48: update(48, n, w, g, s, a, m, k); break;
    case 49: update(49, n, w, g, s, a, m, k); break;
    case 50: update(50, n, w, g, s, a, m, k); break;
    case 51: update(51, n, w, g, s, a, m, k); break;
    case 52: update(52, n, w, g, s, a, m, k); break;
    case 53: update(53, n, w, g, s, a, m, k); break;
    case 64: update(64, n, w, g, s, a, m, k); break;
    case 65: update(65, n, w, g, s, a, m, k); break;
    case 66: update(66, n, w, g, s, a, m, k); break;
    case 67: update(67, n, w, g, s, a, m, k); break;
    case 68: update(68, n, w, g, s, a, m, k); break;
    case 69: update(69, n, w, g, s, a, m, k); break;
    case 72: update(72, n, w, g, s, a, m, k); break;
    case 73: update(73, n, w, g, s, a, m, k); break;
    case 74: update(74, n, w, g, s, a, m, k); break;
    case 75: update(75, n, w, g, s, a, m, k); break;
    case 76: update(76, n, w, g, s, a, m, k); break;
    case 77: update(77, n, w, g, s, a, m, k); break;
    case 80: update(80, n, w, g, s, a, m, k); break;
    case 81: update(81, n, w, g, s, a, m, k); break;
    case 82: update(82, n, w, g, s, a, m, k); break;
    case 83: update(83, n, w, g, s, a, m, k); break;
    case 84: update(84, n, w, g, s, a, m, k); break;
    case 85: update(85, n, w, g, s, a, m, k); break;
    case 96: update(96, n, w, g, s, a, m, k); break;
    case 97: update(97, n, w, g, s, a, m, k); break;
    case 98: update(98, n, w, g, s, a, m, k); break;
    case 99: update(99, n, w, g, s, a, m, k); break;
    case 100: update(100, n, w, g, s, a, m, k); break;
    case 101: update(101, n, w, g, s, a, m, k); break;
    case 104: update(104, n, w, g, s, a, m, k); break;
    case 105: update(105, n, w, g, s, a, m, k); break;
    case 106: update(106, n, w, g, s, a, m, k); break;
    case 107: update(107, n, w, g, s, a, m, k); break;
    case 108: update(108, n, w, g, s, a, m, k); break;
    case 109: update(109, n, w, g, s, a, m, k); break;
    case 112: update(112, n, w, g, s, a, m, k); break;
    case 113: update(113, n, w, g, s, a, m, k); break;
    case 114: update(114, n, w, g, s, a, m, k); break;
    case 115: update(115, n, w, g, s, a, m, k); break;
    case 116: update(116, n, w, g, s, a, m, k); break;
    case 117: update(117, n, w, g, s, a, m, k); break;
    default: unreachable();
  }
}

// The step's constants: slot i holds one float32 repeated in four lanes at k + 16·i (written by
// writeStepConstants in src/kernel.ts). The lane loop loads them into v128 locals before the loop:
// splatting f32 values instead makes V8 re-broadcast them on every iteration, and loading them
// inside the loop makes it reload them every iteration (it hoists no loads).
const GRAD_SCALE = 0;
const CLIP_VALUE = 1;
const MINUS_CLIP_VALUE = 2;
const WEIGHT_DECAY = 3;
const DECAY = 4;
const ONE_MINUS_DECAY = 5;
const BIAS_SCALE = 6;
const EPS_IN_SQRT = 7;
const EPS_OUTSIDE_SQRT = 8;
const MOMENTUM = 9;
const INCREMENT_SCALE = 10;
const STEP_SCALE = 11;
const MIN_NORMAL_SLOT = 12;
const ZERO = 13;

@inline
function lanes(k: usize, slot: i32): v128 {
  return v128.load(k + (<usize>slot << 4));
}

@inline
function scalar(k: usize, slot: i32): f32 {
  return load<f32>(k + (<usize>slot << 4));
}

// The formula, once. The lane loop and the scalar loop below must stay operation-for-operation
// identical to each other and to src/kernel.ts.
@inline
function update(mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize): void {
  const centered = (mode & CENTERED) != 0;
  const transformed = (mode & TRANSFORMED) != 0;
  const epsOutside = (mode & EPS_OUTSIDE) != 0;
  const momentumKind = (mode >> MOMENTUM_SHIFT) & 3;
  const weightDecayKind = (mode >> WEIGHT_DECAY_SHIFT) & 3;
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vGradScale = lanes(k, GRAD_SCALE);
    const vClipValue = lanes(k, CLIP_VALUE);
    const vMinusClipValue = lanes(k, MINUS_CLIP_VALUE);
    const vWeightDecay = lanes(k, WEIGHT_DECAY);
    const vDecay = lanes(k, DECAY);
    const vOneMinusDecay = lanes(k, ONE_MINUS_DECAY);
    const vBiasScale = lanes(k, BIAS_SCALE);
    const vEpsInSqrt = lanes(k, EPS_IN_SQRT);
    const vEpsOutsideSqrt = lanes(k, EPS_OUTSIDE_SQRT);
    const vMomentum = lanes(k, MOMENTUM);
    const vIncrementScale = lanes(k, INCREMENT_SCALE);
    const vStepScale = lanes(k, STEP_SCALE);
    const vMinNormal = lanes(k, MIN_NORMAL_SLOT);
    const vZero = lanes(k, ZERO);
    const laneEnd = n & ~(<usize>3);
    for (; i < laneEnd; i += 4) {
      const offset = i << 2;
      let wv = v128.load(w + offset);
      let gv = v128.load(g + offset);
      if (transformed) gv = f32x4.mul(clampVector(gv, vMinusClipValue, vClipValue), vGradScale);
      if (weightDecayKind == WEIGHT_DECAY_COUPLED) gv = f32x4.add(gv, f32x4.mul(vWeightDecay, wv));
      else if (weightDecayKind != WEIGHT_DECAY_NONE) wv = f32x4.sub(wv, f32x4.mul(vWeightDecay, wv));
      const sv = flushSquares(
        f32x4.add(f32x4.mul(vDecay, v128.load(s + offset)), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv))),
        vMinNormal,
      );
      v128.store(s + offset, sv);
      let variance = transformed ? f32x4.mul(sv, vBiasScale) : sv;
      if (centered) {
        const av = flushVector(
          f32x4.add(f32x4.mul(vDecay, v128.load(a + offset)), f32x4.mul(vOneMinusDecay, gv)),
          vMinNormal,
        );
        v128.store(a + offset, av);
        const meanGrad = transformed ? f32x4.mul(av, vBiasScale) : av;
        variance = f32x4.pmax(f32x4.sub(variance, f32x4.mul(meanGrad, meanGrad)), vZero);
      }
      const denom = epsOutside ? f32x4.add(f32x4.sqrt(variance), vEpsOutsideSqrt) : f32x4.sqrt(f32x4.add(variance, vEpsInSqrt));
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
  const gradScale = scalar(k, GRAD_SCALE);
  const clipValue = scalar(k, CLIP_VALUE);
  const weightDecay = scalar(k, WEIGHT_DECAY);
  const decay = scalar(k, DECAY);
  const oneMinusDecay = scalar(k, ONE_MINUS_DECAY);
  const biasScale = scalar(k, BIAS_SCALE);
  const epsInSqrt = scalar(k, EPS_IN_SQRT);
  const epsOutsideSqrt = scalar(k, EPS_OUTSIDE_SQRT);
  const momentum = scalar(k, MOMENTUM);
  const incrementScale = scalar(k, INCREMENT_SCALE);
  const stepScale = scalar(k, STEP_SCALE);
  for (; i < n; i++) {
    const offset = i << 2;
    let wi = load<f32>(w + offset);
    let gi = load<f32>(g + offset);
    if (transformed) gi = clampTo(gi, clipValue) * gradScale;
    if (weightDecayKind == WEIGHT_DECAY_COUPLED) gi = gi + weightDecay * wi;
    else if (weightDecayKind != WEIGHT_DECAY_NONE) wi = wi - weightDecay * wi;
    const si = flushSquare(decay * load<f32>(s + offset) + oneMinusDecay * (gi * gi));
    store<f32>(s + offset, si);
    let variance = transformed ? si * biasScale : si;
    if (centered) {
      const ai = flush(decay * load<f32>(a + offset) + oneMinusDecay * gi);
      store<f32>(a + offset, ai);
      const meanGrad = transformed ? ai * biasScale : ai;
      variance = atLeastZero(variance - meanGrad * meanGrad);
    }
    const denom = epsOutside ? sqrt<f32>(variance) + epsOutsideSqrt : sqrt<f32>(variance + epsInSqrt);
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

// The square average is never negative (nor −0), so it needs no |x|: one compare fewer per element.
@inline
function flushSquare(x: f32): f32 {
  return x < MIN_NORMAL ? 0 : x;
}

@inline
function flushSquares(x: v128, minNormal: v128): v128 {
  return v128.andnot(x, f32x4.lt(x, minNormal));
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
        const v = clampVector(v128.load(g + (i << 2)), vMinusClip, vClip);
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

// Clamping and the variance floor use pseudo-min/max (`b < a ? b : a`, wasm's pmin/pmax): one x86
// instruction each, where IEEE min/max take several, and a NaN passes through unchanged.
@inline
function clampTo(x: f32, limit: f32): f32 {
  const low = x < -limit ? -limit : x;
  return limit < low ? limit : low;
}

@inline
function clampVector(x: v128, minusLimit: v128, limit: v128): v128 {
  return f32x4.pmin(f32x4.pmax(x, minusLimit), limit);
}

@inline
function atLeastZero(x: f32): f32 {
  return x < 0 ? 0 : x;
}

// the non-finite scan tests once per SCAN_BLOCK elements (a multiple of 32)
const SCAN_BLOCK: usize = 1024;
const ALL_ONES_EXPONENT: i32 = 0xff000000;

/** Index of the first NaN or ±∞ among `n` elements at `g`, or -1. */
export function firstNonFinite(n: usize, g: usize): isize {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    // Shifted left by one (dropping the sign), an element's bits reach ALL_ONES_EXPONENT exactly
    // when it is NaN or ±∞, so an unsigned maximum over a block tells whether the block holds one:
    // a load, a shift and a max per vector, one test per block. Comparing floats and testing every
    // few vectors ran at half the speed.
    const limit = i32x4.splat(ALL_ONES_EXPONENT);
    for (; i + SCAN_BLOCK <= n; i += SCAN_BLOCK) {
      let m0 = i32x4.splat(0), m1 = m0, m2 = m0, m3 = m0;
      for (let p = g + (i << 2), end = p + (SCAN_BLOCK << 2); p < end; p += 128) {
        m0 = i32x4.max_u(m0, i32x4.max_u(i32x4.shl(v128.load(p), 1), i32x4.shl(v128.load(p, 64), 1)));
        m1 = i32x4.max_u(m1, i32x4.max_u(i32x4.shl(v128.load(p, 16), 1), i32x4.shl(v128.load(p, 80), 1)));
        m2 = i32x4.max_u(m2, i32x4.max_u(i32x4.shl(v128.load(p, 32), 1), i32x4.shl(v128.load(p, 96), 1)));
        m3 = i32x4.max_u(m3, i32x4.max_u(i32x4.shl(v128.load(p, 48), 1), i32x4.shl(v128.load(p, 112), 1)));
      }
      const m = i32x4.max_u(i32x4.max_u(m0, m1), i32x4.max_u(m2, m3));
      if (v128.any_true(i32x4.ge_u(m, limit))) break;
    }
    for (; i + 4 <= n; i += 4) {
      if (v128.any_true(i32x4.ge_u(i32x4.shl(v128.load(g + (i << 2)), 1), limit))) break;
    }
  }
  // the exact index, from the start of the block or vector that failed
  for (; i < n; i++) {
    if (!(abs<f32>(load<f32>(g + (i << 2))) < Infinity)) return <isize>i;
  }
  return -1;
}

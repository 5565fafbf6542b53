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
  const gradSign = load<f32>(k, 0);
  const weightDecay = load<f32>(k, 4);
  const decay = load<f32>(k, 8);
  const oneMinusDecay = load<f32>(k, 12);
  const biasScale = load<f32>(k, 16);
  const epsInSqrt = load<f32>(k, 20);
  const epsOutsideSqrt = load<f32>(k, 24);
  const momentum = load<f32>(k, 28);
  const incrementScale = load<f32>(k, 32);
  const stepScale = load<f32>(k, 36);
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vGradSign = f32x4.splat(gradSign);
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
      let gv = f32x4.mul(v128.load(g + offset), vGradSign);
      if (weightDecayKind == WEIGHT_DECAY_COUPLED) gv = f32x4.add(gv, f32x4.mul(vWeightDecay, wv));
      else if (weightDecayKind != WEIGHT_DECAY_NONE) wv = f32x4.sub(wv, f32x4.mul(vWeightDecay, wv));
      const sv = f32x4.add(f32x4.mul(vDecay, v128.load(s + offset)), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv)));
      v128.store(s + offset, sv);
      let variance = f32x4.mul(sv, vBiasScale);
      if (centered) {
        const av = f32x4.add(f32x4.mul(vDecay, v128.load(a + offset)), f32x4.mul(vOneMinusDecay, gv));
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
        const mv = f32x4.add(f32x4.mul(vMomentum, v128.load(m + offset)), increment);
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
    let gi = load<f32>(g + offset) * gradSign;
    if (weightDecayKind == WEIGHT_DECAY_COUPLED) gi = gi + weightDecay * wi;
    else if (weightDecayKind != WEIGHT_DECAY_NONE) wi = wi - weightDecay * wi;
    const si = decay * load<f32>(s + offset) + oneMinusDecay * (gi * gi);
    store<f32>(s + offset, si);
    let variance = si * biasScale;
    if (centered) {
      const ai = decay * load<f32>(a + offset) + oneMinusDecay * gi;
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
      const mi = momentum * load<f32>(m + offset) + increment;
      store<f32>(m + offset, mi);
      const direction = momentumKind == MOMENTUM_NESTEROV ? momentum * mi + increment : mi;
      wi = wi - stepScale * direction;
    }
    store<f32>(w + offset, wi);
  }
}

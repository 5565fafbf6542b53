// The update of RMSProp over raw linear memory: the formula, once. assembly/generated/dispatch.ts
// (generated from the ABI table in scripts/abi.ts) calls it with each constant `mode`, so the option
// tests below fold away and every mode gets a loop of its own. With a compressed-state `mode` (the few
// that scripts/abi.ts's fusedLoop names): bfloat16, S, ḡ and m are codes, decoded and encoded in the
// loop; 8 bits (one block, S only: fusedLoop lets in no mode with ḡ or m, whose codes this loop would
// read as float32), S's codes are decoded in the loop with the block's scale (at `scale`) and its new
// values written as float32 to `out`, for assembly/quantized.ts to encode. Both load their integer
// constants through `held` (the call's HELD_AT slot).
import { GOLDEN, K, MODE, SLOT_BYTES } from './generated/abi';
import {
  byteLanes,
  decodeHalfLanes,
  decodeS,
  decodeSLanes,
  encodeHalfLanes,
  firstRandom,
  key,
  largestLane,
  loadHalf,
  NAN_BITS,
  held,
  keepLoads,
  S_BIAS,
  storeHalf,
} from './rounding';

/** How far ahead bfloat16's loop loads w and g: 1 024 elements, as 8-bit state loads the next block. */
const LOAD_AHEAD: usize = 4096;

// The step's constants (slots K.*, written by writeStepConstants in src/kernel.ts). The lane loop
// loads them into v128 locals before the loop: splatting f32 values instead makes V8 re-broadcast
// them on every iteration, and loading them inside the loop makes it reload them every iteration
// (it hoists no loads).
@inline
function lanes(k: usize, slot: i32): v128 {
  return v128.load(k + <usize>slot * SLOT_BYTES);
}

@inline
function scalar(k: usize, slot: i32): f32 {
  return load<f32>(k + <usize>slot * SLOT_BYTES);
}

// The lane loop and the scalar loop below must stay operation-for-operation identical to each other
// and to the js backend's loops (scripts/build-js-kernels.ts).
// It returns the largest bits of S's new values with 8-bit state (what the block's new scale comes
// from), else 0.
@inline
export function update(
  mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize,
  heldAt: usize = 0, out: usize = 0, scale: usize = 0, bk: u32 = 0,
): u32 {
  const centered = (mode & MODE.CENTERED) != 0;
  const transformed = (mode & MODE.TRANSFORMED) != 0;
  const epsOutside = (mode & MODE.EPS_OUTSIDE) != 0;
  const momentumKind = (mode >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  const weightDecayKind = (mode >> MODE.WEIGHT_DECAY_SHIFT) & MODE.WEIGHT_DECAY_MASK;
  const format = (mode >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK;
  const half = format == MODE.STATE_FORMAT_BFLOAT16;
  const bytes = format == MODE.STATE_FORMAT_8BIT;
  let top: u32 = 0;
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vGradScale = lanes(k, K.gradScale);
    const vClipValue = lanes(k, K.clipValue);
    const vMinusClipValue = lanes(k, K.minusClipValue);
    const vWeightDecay = lanes(k, K.weightDecay);
    const vDecay = lanes(k, K.decay);
    const vOneMinusDecay = lanes(k, K.oneMinusDecay);
    const vBiasScale = lanes(k, K.biasScale);
    const vEpsInSqrt = lanes(k, K.epsInSqrt);
    const vEpsOutsideSqrt = lanes(k, K.epsOutsideSqrt);
    const vMomentum = lanes(k, K.momentum);
    const vIncrementScale = lanes(k, K.incrementScale);
    const vStepScale = lanes(k, K.stepScale);
    const vMinNormal = lanes(k, K.minNormal);
    const vSignBit = lanes(k, K.signBit);
    const vZero = lanes(k, K.zero);
    const vNan = half ? held(heldAt, NAN_BITS) : vZero;
    const vAdvance = half ? held(heldAt, <i32>(8 * GOLDEN)) : vZero;
    // bfloat16: the random words of the call's arrays, each keyed by its array's key and the call's block key `bk`
    let sRandom = half ? firstRandom(s, 2, key(k, K.squareAvgKey) + bk) : vZero;
    let aRandom = half && centered ? firstRandom(a, 2, key(k, K.gradAvgKey) + bk) : vZero;
    let mRandom = half && momentumKind != MODE.MOMENTUM_NONE ? firstRandom(m, 2, key(k, K.momentumKey) + bk) : vZero;
    const vScale = bytes ? f32x4.add(v128.load32_splat(scale), vZero) : vZero;
    const vBias = bytes ? held(heldAt, S_BIAS) : vZero;
    let vTop = vZero;
    const laneEnd = n & ~(<usize>3);
    // bfloat16 loads w and g a line at a time LOAD_AHEAD bytes on (never past the last vector), so
    // they come from memory while this loop computes (wasm has no prefetch), when K.loadAhead asks:
    // faster on some CPUs, slower on others (BENCHMARKS.md), so JS times both (src/loads-ahead.ts)
    const loadAhead = half && scalar(k, K.loadAhead) != 0;
    const lastOffset = laneEnd > 0 ? (laneEnd - 4) << 2 : 0;
    let touched = vZero;
    for (; i < laneEnd; i += 4) {
      const offset = i << 2;
      if (loadAhead && (i & 12) == 0) {
        const ahead = min<usize>(offset + LOAD_AHEAD, lastOffset);
        touched = v128.or(touched, v128.or(v128.load(w + ahead), v128.load(g + ahead)));
      }
      let wv = v128.load(w + offset);
      let gv = v128.load(g + offset);
      if (transformed) gv = f32x4.mul(clampVector(gv, vMinusClipValue, vClipValue), vGradScale);
      if (weightDecayKind == MODE.WEIGHT_DECAY_COUPLED) gv = f32x4.add(gv, f32x4.mul(vWeightDecay, wv));
      else if (weightDecayKind != MODE.WEIGHT_DECAY_NONE) wv = f32x4.sub(wv, f32x4.mul(vWeightDecay, wv));
      const oldS = bytes ? decodeSLanes(byteLanes(s + i), vScale, vZero, vBias) : loadLanes(half, s, i);
      const sv = flushSquares(
        f32x4.add(f32x4.mul(vDecay, oldS), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv))),
        vMinNormal,
      );
      if (bytes) {
        v128.store(out + offset, sv);
        vTop = i32x4.max_u(vTop, sv);
      } else storeLanes(half, s, i, sv, sRandom, vNan, true);
      if (half) sRandom = i32x4.add(sRandom, vAdvance);
      let variance = transformed ? f32x4.mul(sv, vBiasScale) : sv;
      if (centered) {
        const av = flushVector(
          f32x4.add(f32x4.mul(vDecay, loadLanes(half, a, i)), f32x4.mul(vOneMinusDecay, gv)),
          vMinNormal,
          vSignBit,
        );
        storeLanes(half, a, i, av, aRandom, vNan);
        if (half) aRandom = i32x4.add(aRandom, vAdvance);
        const meanGrad = transformed ? f32x4.mul(av, vBiasScale) : av;
        variance = f32x4.pmax(f32x4.sub(variance, f32x4.mul(meanGrad, meanGrad)), vZero);
      }
      const denom = epsOutside ? f32x4.add(f32x4.sqrt(variance), vEpsOutsideSqrt) : f32x4.sqrt(f32x4.add(variance, vEpsInSqrt));
      const u = f32x4.div(gv, denom);
      if (momentumKind == MODE.MOMENTUM_NONE) {
        wv = f32x4.sub(wv, f32x4.mul(vStepScale, u));
      } else {
        const increment = f32x4.mul(vIncrementScale, u);
        const mv = flushVector(f32x4.add(f32x4.mul(vMomentum, loadLanes(half, m, i)), increment), vMinNormal, vSignBit);
        storeLanes(half, m, i, mv, mRandom, vNan);
        if (half) mRandom = i32x4.add(mRandom, vAdvance);
        const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? f32x4.add(f32x4.mul(vMomentum, mv), increment) : mv;
        wv = f32x4.sub(wv, f32x4.mul(vStepScale, direction));
      }
      v128.store(w + offset, wv);
    }
    if (bytes) top = largestLane(vTop);
    if (half) keepLoads(heldAt, touched, vZero);
  }
  const gradScale = scalar(k, K.gradScale);
  const clipValue = scalar(k, K.clipValue);
  const weightDecay = scalar(k, K.weightDecay);
  const decay = scalar(k, K.decay);
  const oneMinusDecay = scalar(k, K.oneMinusDecay);
  const biasScale = scalar(k, K.biasScale);
  const epsInSqrt = scalar(k, K.epsInSqrt);
  const epsOutsideSqrt = scalar(k, K.epsOutsideSqrt);
  const momentum = scalar(k, K.momentum);
  const incrementScale = scalar(k, K.incrementScale);
  const stepScale = scalar(k, K.stepScale);
  const sKey = half ? key(k, K.squareAvgKey) + bk : 0;
  const aKey = half && centered ? key(k, K.gradAvgKey) + bk : 0;
  const mKey = half && momentumKind != MODE.MOMENTUM_NONE ? key(k, K.momentumKey) + bk : 0;
  const scalarScale = bytes ? load<f32>(scale) : 0;
  for (; i < n; i++) {
    const offset = i << 2;
    let wi = load<f32>(w + offset);
    let gi = load<f32>(g + offset);
    if (transformed) gi = clampTo(gi, clipValue) * gradScale;
    if (weightDecayKind == MODE.WEIGHT_DECAY_COUPLED) gi = gi + weightDecay * wi;
    else if (weightDecayKind != MODE.WEIGHT_DECAY_NONE) wi = wi - weightDecay * wi;
    const oldS = bytes ? decodeS(<u32>load<u8>(s + i), scalarScale) : loadOne(half, s, i);
    const si = flushSquare(decay * oldS + oneMinusDecay * (gi * gi));
    if (bytes) {
      store<f32>(out + offset, si);
      top = max<u32>(top, reinterpret<u32>(si));
    } else storeOne(half, s, i, si, sKey);
    let variance = transformed ? si * biasScale : si;
    if (centered) {
      const ai = flush(decay * loadOne(half, a, i) + oneMinusDecay * gi);
      storeOne(half, a, i, ai, aKey);
      const meanGrad = transformed ? ai * biasScale : ai;
      variance = atLeastZero(variance - meanGrad * meanGrad);
    }
    const denom = epsOutside ? sqrt<f32>(variance) + epsOutsideSqrt : sqrt<f32>(variance + epsInSqrt);
    const u = gi / denom;
    if (momentumKind == MODE.MOMENTUM_NONE) {
      wi = wi - stepScale * u;
    } else {
      const increment = incrementScale * u;
      const mi = flush(momentum * loadOne(half, m, i) + increment);
      storeOne(half, m, i, mi, mKey);
      const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? momentum * mi + increment : mi;
      wi = wi - stepScale * direction;
    }
    store<f32>(w + offset, wi);
  }
  return top;
}

// Element i of a state array: float32, or (`half`) a bfloat16 code, stochastically rounded with the
// random bits of assembly/rounding.ts, the same bits as assembly/quantized.ts's block by block path.
@inline
function loadLanes(half: bool, p: usize, i: usize): v128 {
  return half ? decodeHalfLanes(p + (i << 1)) : v128.load(p + (i << 2));
}

@inline
function storeLanes(half: bool, p: usize, i: usize, x: v128, random: v128, nan: v128, square: bool = false): void {
  if (half) encodeHalfLanes(p + (i << 1), x, random, nan, square);
  else v128.store(p + (i << 2), x);
}

@inline
function loadOne(half: bool, p: usize, i: usize): f32 {
  return half ? loadHalf(p + (i << 1)) : load<f32>(p + (i << 2));
}

@inline
function storeOne(half: bool, p: usize, i: usize, x: f32, k0: u32): void {
  if (half) storeHalf(p + (i << 1), x, k0);
  else store<f32>(p + (i << 2), x);
}

// State values below the smallest normal float32 become +0, so that a long run of zero gradients
// never leaves the state subnormal (x86 computes on subnormals several times slower).
const MIN_NORMAL: f32 = 1.17549435e-38;

@inline
function flush(x: f32): f32 {
  return abs<f32>(x) < MIN_NORMAL ? 0 : x;
}

// |x| as x without `signBit` (−0 in each lane, from the constants): f32x4.abs is the same bits, but
// V8 builds its mask again on every iteration.
@inline
function flushVector(x: v128, minNormal: v128, signBit: v128): v128 {
  return v128.andnot(x, f32x4.lt(v128.andnot(x, signBit), minNormal));
}

// The square average is never negative (nor −0), so it needs no |x|: one compare fewer per element.
// (A centered block's variance, assembly/quantized.ts, is flushed with them too: below 0 it reads 0.)
@inline
export function flushSquare(x: f32): f32 {
  return x < MIN_NORMAL ? 0 : x;
}

@inline
export function flushSquares(x: v128, minNormal: v128): v128 {
  return v128.andnot(x, f32x4.lt(x, minNormal));
}

// Clamping and the variance floor use pseudo-min/max (`b < a ? b : a`, wasm's pmin/pmax): one x86
// instruction each, where IEEE min/max take several, and a NaN passes through unchanged.
@inline
export function clampTo(x: f32, limit: f32): f32 {
  const low = x < -limit ? -limit : x;
  return limit < low ? limit : low;
}

@inline
export function clampVector(x: v128, minusLimit: v128, limit: v128): v128 {
  return f32x4.pmin(f32x4.pmax(x, minusLimit), limit);
}

@inline
function atLeastZero(x: f32): f32 {
  return x < 0 ? 0 : x;
}

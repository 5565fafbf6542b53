// The update of RMSProp with compressed state (issue 23): S, ḡ and m are decoded in registers, updated
// in float32 exactly as assembly/update.ts does, and re-encoded; w moves by the float32 values.
//
// bfloat16: the top half of the float32, stochastically rounded. 8 bits: blocks of STATE_BLOCK
// elements, one float32 scale per block and array (a power of two, from the block's largest new
// value rounded up), S as an unsigned E5M3 small float (code 0 = 0), ḡ and m as sign + E3M4; values
// below a code's range go to 0 (ḡ, m) or to the smallest code (S, so the step never becomes g/√ε).
// The randomness of stochastic rounding is a hash of the element's byte address and the step's key
// (constant slot roundingKey): the same in every backend and thread. bench/state-formats.ts measured
// why: rounding to nearest freezes S (it can never decrease by less than half a step of its grid).
// Decoding and encoding are integer shifts and adds, no table (wasm SIMD has no gather).
// An 8-bit block is two passes: the first computes the new state's largest magnitudes (the new
// scales), the second recomputes the update and encodes it; the block stays in L1 between them.
// A NaN or ±∞ in a block's new state makes its scale NaN: the whole block decodes as NaN.
// The lane and scalar loops and the js loops (scripts/build-js-kernels.ts) must stay identical.
import { K, MODE, SLOT_BYTES, STATE_BLOCK } from './generated/abi';
import { clampTo, clampVector } from './update';

const MIN_NORMAL: f32 = 1.17549435e-38;
const ABS: u32 = 0x7fffffff;
const INFINITY_BITS: u32 = 0x7f800000;
const NAN_BITS: u32 = 0x7fc00000;
// 8-bit formats: mantissa bits, the f32 bits below them, and the exponent field of the block's top binade minus the code's.
const S_SHIFT: u32 = 20; // uE5M3
const S_TOP: i32 = 31;
const M_SHIFT: u32 = 19; // E3M4
const M_TOP: i32 = 7;

// Largest |new value| bits of the block, per array (first pass → scales).
let maxS: u32 = 0;
let maxA: u32 = 0;
let maxM: u32 = 0;

@inline
function lanes(k: usize, slot: i32): v128 {
  return v128.load(k + <usize>slot * SLOT_BYTES);
}

@inline
function scalar(k: usize, slot: i32): f32 {
  return load<f32>(k + <usize>slot * SLOT_BYTES);
}

// The random bits of an element: its byte address xor the step's key, times an odd constant (the
// golden ratio's): the top bits are uniform over the elements of a call, and a fresh key per step
// (a full hash of step and seed, src/state-codecs.ts) varies them across steps. One
// multiply: the lane loop is bound by its operation count, and a full mixing hash cost 30 %.
const GOLDEN: u32 = 0x9e3779b1;

@inline
function mix(x: u32): u32 {
  return x * GOLDEN;
}

/** The exponent field of a block's scale from its largest magnitude bits: 255 (NaN scale) when not finite. */
@inline
function scaleField(max: u32, shift: u32): u32 {
  if (max > INFINITY_BITS) return 255;
  const field = ((max + ((<u32>1 << shift) - 1)) >>> shift) >>> (23 - shift);
  return field >= 255 ? 255 : field;
}

@inline
function scaleOf(field: u32): f32 {
  return reinterpret<f32>(field == 255 ? NAN_BITS : field << 23);
}

// ---- scalar codecs ----------------------------------------------------------------------------

@inline
function decodeHalf(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

@inline
function encodeHalf(x: f32, random: u32): u32 {
  const b = reinterpret<u32>(x);
  return (b & ABS) > INFINITY_BITS ? NAN_BITS >>> 16 : (b + (random >>> 16)) >>> 16;
}

@inline
function decodeS(c: u32, scale: f32): f32 {
  return (c == 0 ? <f32>0 : reinterpret<f32>((c << S_SHIFT) + (<u32>(127 - S_TOP) << 23))) * scale;
}

@inline
function encodeS(x: f32, field: u32, random: u32): u32 {
  const a = min<u32>(reinterpret<u32>(x) & ABS, INFINITY_BITS);
  const magnitude = <i32>((a + (random >>> (32 - S_SHIFT))) >>> S_SHIFT) - ((<i32>field - S_TOP) << 3);
  return a == 0 ? 0 : <u32>min<i32>(max<i32>(magnitude, 1), 255);
}

@inline
function decodeM(c: u32, scale: f32): f32 {
  const magnitude = c & 0x7f;
  const bits = ((magnitude << M_SHIFT) + (<u32>(127 - M_TOP) << 23)) | ((c & 0x80) << 24);
  return (magnitude == 0 ? <f32>0 : reinterpret<f32>(bits)) * scale;
}

@inline
function encodeM(x: f32, field: u32, random: u32): u32 {
  const b = reinterpret<u32>(x);
  const notNaN = (b & ABS) <= INFINITY_BITS;
  const a = min<u32>(b & ABS, INFINITY_BITS);
  const rounded = <i32>((a + (random >>> (32 - M_SHIFT))) >>> M_SHIFT) - ((<i32>field - M_TOP) << 4);
  const magnitude = <u32>min<i32>(max<i32>(rounded, 0), 127);
  return a == 0 || magnitude == 0 ? 0 : magnitude | (notNaN ? (b >>> 24) & 0x80 : 0);
}

// ---- lane codecs ------------------------------------------------------------------------------

@inline
function bytesToLanes(p: usize): v128 {
  return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
}

@inline
function storeBytes(p: usize, codes: v128): void {
  const halves = i16x8.narrow_i32x4_u(codes, codes);
  v128.store32_lane(p, i8x16.narrow_i16x8_u(halves, halves), 0);
}

// Integer constants come in as arguments computed before the loop (v128.or with the zero slot, which
// binaryen cannot fold): V8 hoists nothing out of a loop and would build each v128.const in several
// instructions on every iteration.
@inline
function opaque(zero: v128, value: i32): v128 {
  return v128.or(zero, i32x4.splat(value));
}

@inline
function decodeHalfLanes(p: usize): v128 {
  return i32x4.shl(v128.load16x4_u(p), 16);
}

@inline
function storeHalfLanes(p: usize, x: v128, random: v128, nan: v128): void {
  // NaN's payload is not the same on every backend: one NaN (0x7fc0) for all
  const canonical = v128.bitselect(nan, x, f32x4.ne(x, x));
  const h = i32x4.shr_u(i32x4.add(canonical, i32x4.shr_u(random, 16)), 16);
  v128.store64_lane(p, i16x8.narrow_i32x4_u(h, h), 0);
}

@inline
function decodeSLanes(p: usize, scale: v128, bias: v128, zero: v128): v128 {
  const c = bytesToLanes(p);
  const bits = i32x4.add(i32x4.shl(c, S_SHIFT), bias);
  return f32x4.mul(v128.andnot(bits, i32x4.eq(c, zero)), scale);
}

@inline
function encodeSLanes(
  p: usize, x: v128, offset: v128, random: v128, abs: v128, infinity: v128, one: v128, b255: v128, zero: v128,
): void {
  const a = i32x4.min_u(v128.and(x, abs), infinity);
  const rounded = i32x4.shr_u(i32x4.add(a, i32x4.shr_u(random, 32 - S_SHIFT)), S_SHIFT);
  const clamped = i32x4.min_s(i32x4.max_s(i32x4.sub(rounded, offset), one), b255);
  storeBytes(p, v128.andnot(clamped, i32x4.eq(a, zero)));
}

@inline
function decodeMLanes(p: usize, scale: v128, bias: v128, b7f: v128, b80: v128, zero: v128): v128 {
  const code = bytesToLanes(p);
  const magnitude = v128.and(code, b7f);
  const bits = v128.or(i32x4.add(i32x4.shl(magnitude, M_SHIFT), bias), i32x4.shl(v128.and(code, b80), 24));
  return f32x4.mul(v128.andnot(bits, i32x4.eq(magnitude, zero)), scale);
}

@inline
function encodeMLanes(
  p: usize, x: v128, offset: v128, random: v128, abs: v128, infinity: v128, b7f: v128, b80: v128, zero: v128,
): void {
  const notNaN = f32x4.eq(x, x);
  const a = i32x4.min_u(v128.and(x, abs), infinity);
  const rounded = i32x4.shr_u(i32x4.add(a, i32x4.shr_u(random, 32 - M_SHIFT)), M_SHIFT);
  const magnitude = i32x4.min_s(i32x4.max_s(i32x4.sub(rounded, offset), zero), b7f);
  const sign = v128.and(v128.and(i32x4.shr_u(x, 24), b80), notNaN);
  const isZero = v128.or(i32x4.eq(a, zero), i32x4.eq(magnitude, zero));
  storeBytes(p, v128.andnot(v128.or(magnitude, sign), isZero));
}

@inline
function maxLane(x: v128): u32 {
  const half = i32x4.max_u(x, i32x4.shuffle(x, x, 2, 3, 0, 1));
  return <u32>i32x4.extract_lane(i32x4.max_u(half, i32x4.shuffle(half, half, 1, 0, 3, 2)), 0);
}

/**
 * One pass over elements [from, to) (a multiple of 4 apart) on lanes. PASS 1 (8-bit only) finds the
 * new state's largest magnitudes; PASS 2 stores the new state and w. `half` selects bfloat16.
 */
@inline
function laneLoop(
  folded: i32, mode: i32, pass: i32, from: usize, to: usize,
  w: usize, g: usize, s: usize, a: usize, m: usize, k: usize,
  sOld: f32, aOld: f32, mOld: f32, sField: i32, aField: i32, mField: i32,
): void {
  const half = ((folded >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) == MODE.STATE_FORMAT_BFLOAT16;
  const centered = (folded & MODE.CENTERED) != 0;
  const momentumKind = (folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  // Not folded: the transform runs always (its constants are identities when the mode's TRANSFORMED
  // bit is off: clip ±∞, scales 1, which test/unit/kernel.test.ts holds to the same results), the
  // denominator is √(var + εin) + εout (the other ε is 0), and weight decay is tested per element
  // (binaryen makes that test selects, both sides computed: a multiply and an add or subtract).
  const weightDecayKind = (mode >> MODE.WEIGHT_DECAY_SHIFT) & MODE.WEIGHT_DECAY_MASK;
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
  const vZero = lanes(k, K.zero);
  const vKey = lanes(k, K.roundingKey);
  const vsOld = f32x4.splat(sOld);
  const vaOld = f32x4.splat(aOld);
  const vmOld = f32x4.splat(mOld);
  const cAbs = opaque(vZero, ABS);
  const cInfinity = opaque(vZero, INFINITY_BITS);
  const cNaN = opaque(vZero, NAN_BITS);
  const cGolden = opaque(vZero, GOLDEN);
  const cSBias = opaque(vZero, (127 - S_TOP) << 23);
  const cMBias = opaque(vZero, (127 - M_TOP) << 23);
  const cOne = opaque(vZero, 1);
  const c7f = opaque(vZero, 0x7f);
  const c80 = opaque(vZero, 0x80);
  const c255 = opaque(vZero, 0xff);
  const sOffset = opaque(vZero, (sField - S_TOP) << 3);
  const aOffset = opaque(vZero, (aField - M_TOP) << 4);
  const mOffset = opaque(vZero, (mField - M_TOP) << 4);
  const stride: i32 = half ? 2 : 1;
  const vAdvance = opaque(vZero, 4 * stride);
  const vStride = i32x4(0, stride, 2 * stride, 3 * stride);
  let sAddress = i32x4.add(i32x4.splat(<i32>(s + from * stride)), vStride);
  let aAddress = i32x4.add(i32x4.splat(<i32>(a + from * stride)), vStride);
  let mAddress = i32x4.add(i32x4.splat(<i32>(m + from * stride)), vStride);
  let vMaxS = vZero;
  let vMaxA = vZero;
  let vMaxM = vZero;
  for (let i = from; i < to; i += 4) {
    const offset = i << 2;
    const at = i * stride;
    let wv = v128.load(w + offset);
    let gv = v128.load(g + offset);
    gv = f32x4.mul(clampVector(gv, vMinusClipValue, vClipValue), vGradScale);
    if (weightDecayKind == MODE.WEIGHT_DECAY_COUPLED) gv = f32x4.add(gv, f32x4.mul(vWeightDecay, wv));
    else if (weightDecayKind != MODE.WEIGHT_DECAY_NONE) wv = f32x4.sub(wv, f32x4.mul(vWeightDecay, wv));
    const sPrevious = half ? decodeHalfLanes(s + at) : decodeSLanes(s + at, vsOld, cSBias, vZero);
    const sSum = f32x4.add(f32x4.mul(vDecay, sPrevious), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv)));
    const sv = v128.andnot(sSum, f32x4.lt(sSum, vMinNormal));
    if (pass == 1) vMaxS = i32x4.max_u(vMaxS, v128.and(sv, cAbs));
    else {
      const random = i32x4.mul(v128.xor(sAddress, vKey), cGolden);
      sAddress = i32x4.add(sAddress, vAdvance);
      if (half) storeHalfLanes(s + at, sv, random, cNaN);
      else encodeSLanes(s + at, sv, sOffset, random, cAbs, cInfinity, cOne, c255, vZero);
    }
    let variance = f32x4.mul(sv, vBiasScale);
    if (centered) {
      const aPrevious = half ? decodeHalfLanes(a + at) : decodeMLanes(a + at, vaOld, cMBias, c7f, c80, vZero);
      const sum = f32x4.add(f32x4.mul(vDecay, aPrevious), f32x4.mul(vOneMinusDecay, gv));
      const av = v128.andnot(sum, f32x4.lt(f32x4.abs(sum), vMinNormal));
      if (pass == 1) vMaxA = i32x4.max_u(vMaxA, v128.and(av, cAbs));
      else {
        const random = i32x4.mul(v128.xor(aAddress, vKey), cGolden);
        aAddress = i32x4.add(aAddress, vAdvance);
        if (half) storeHalfLanes(a + at, av, random, cNaN);
        else encodeMLanes(a + at, av, aOffset, random, cAbs, cInfinity, c7f, c80, vZero);
      }
      const meanGrad = f32x4.mul(av, vBiasScale);
      variance = f32x4.pmax(f32x4.sub(variance, f32x4.mul(meanGrad, meanGrad)), vZero);
    }
    if (momentumKind == MODE.MOMENTUM_NONE) {
      if (pass == 1) continue;
      const denom = f32x4.add(f32x4.sqrt(f32x4.add(variance, vEpsInSqrt)), vEpsOutsideSqrt);
      wv = f32x4.sub(wv, f32x4.mul(vStepScale, f32x4.div(gv, denom)));
    } else {
      const denom = f32x4.add(f32x4.sqrt(f32x4.add(variance, vEpsInSqrt)), vEpsOutsideSqrt);
      const increment = f32x4.mul(vIncrementScale, f32x4.div(gv, denom));
      const mPrevious = half ? decodeHalfLanes(m + at) : decodeMLanes(m + at, vmOld, cMBias, c7f, c80, vZero);
      const sum = f32x4.add(f32x4.mul(vMomentum, mPrevious), increment);
      const mv = v128.andnot(sum, f32x4.lt(f32x4.abs(sum), vMinNormal));
      if (pass == 1) {
        vMaxM = i32x4.max_u(vMaxM, v128.and(mv, cAbs));
        continue;
      }
      const random = i32x4.mul(v128.xor(mAddress, vKey), cGolden);
      mAddress = i32x4.add(mAddress, vAdvance);
      if (half) storeHalfLanes(m + at, mv, random, cNaN);
      else encodeMLanes(m + at, mv, mOffset, random, cAbs, cInfinity, c7f, c80, vZero);
      const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? f32x4.add(f32x4.mul(vMomentum, mv), increment) : mv;
      wv = f32x4.sub(wv, f32x4.mul(vStepScale, direction));
    }
    v128.store(w + offset, wv);
  }
  if (pass == 1) {
    maxS = max<u32>(maxS, maxLane(vMaxS));
    maxA = max<u32>(maxA, maxLane(vMaxA));
    maxM = max<u32>(maxM, maxLane(vMaxM));
  }
}

/** The same pass as laneLoop, one element at a time. */
@inline
function scalarLoop(
  folded: i32, mode: i32, pass: i32, from: usize, to: usize,
  w: usize, g: usize, s: usize, a: usize, m: usize, k: usize,
  sOld: f32, aOld: f32, mOld: f32, sField: i32, aField: i32, mField: i32,
): void {
  const half = ((folded >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) == MODE.STATE_FORMAT_BFLOAT16;
  const centered = (folded & MODE.CENTERED) != 0;
  const momentumKind = (folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  // Not folded: the transform runs always (its constants are identities when the mode's TRANSFORMED
  // bit is off: clip ±∞, scales 1, which test/unit/kernel.test.ts holds to the same results), the
  // denominator is √(var + εin) + εout (the other ε is 0), and weight decay is tested per element
  // (binaryen makes that test selects, both sides computed: a multiply and an add or subtract).
  const weightDecayKind = (mode >> MODE.WEIGHT_DECAY_SHIFT) & MODE.WEIGHT_DECAY_MASK;
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
  const key = load<u32>(k + <usize>K.roundingKey * SLOT_BYTES);
  const stride: usize = half ? 2 : 1;
  let sMax = maxS, aMax = maxA, mMax = maxM;
  for (let i = from; i < to; i++) {
    const offset = i << 2;
    const at = i * stride;
    let wi = load<f32>(w + offset);
    let gi = load<f32>(g + offset);
    gi = clampTo(gi, clipValue) * gradScale;
    if (weightDecayKind == MODE.WEIGHT_DECAY_COUPLED) gi = gi + weightDecay * wi;
    else if (weightDecayKind != MODE.WEIGHT_DECAY_NONE) wi = wi - weightDecay * wi;
    const sPrevious = half ? decodeHalf(load<u16>(s + at)) : decodeS(load<u8>(s + at), sOld);
    const sSum = decay * sPrevious + oneMinusDecay * (gi * gi);
    const si = sSum < MIN_NORMAL ? <f32>0 : sSum;
    if (pass == 1) sMax = max<u32>(sMax, reinterpret<u32>(si) & ABS);
    else if (half) store<u16>(s + at, encodeHalf(si, mix(<u32>(s + at) ^ key)));
    else store<u8>(s + at, encodeS(si, sField, mix(<u32>(s + at) ^ key)));
    let variance = si * biasScale;
    if (centered) {
      const aPrevious = half ? decodeHalf(load<u16>(a + at)) : decodeM(load<u8>(a + at), aOld);
      const sum = decay * aPrevious + oneMinusDecay * gi;
      const ai = abs<f32>(sum) < MIN_NORMAL ? <f32>0 : sum;
      if (pass == 1) aMax = max<u32>(aMax, reinterpret<u32>(ai) & ABS);
      else if (half) store<u16>(a + at, encodeHalf(ai, mix(<u32>(a + at) ^ key)));
      else store<u8>(a + at, encodeM(ai, aField, mix(<u32>(a + at) ^ key)));
      const meanGrad = ai * biasScale;
      const difference = variance - meanGrad * meanGrad;
      variance = difference < 0 ? <f32>0 : difference;
    }
    if (momentumKind == MODE.MOMENTUM_NONE) {
      if (pass == 1) continue;
      const denom = sqrt<f32>(variance + epsInSqrt) + epsOutsideSqrt;
      wi = wi - stepScale * (gi / denom);
    } else {
      const denom = sqrt<f32>(variance + epsInSqrt) + epsOutsideSqrt;
      const increment = incrementScale * (gi / denom);
      const mPrevious = half ? decodeHalf(load<u16>(m + at)) : decodeM(load<u8>(m + at), mOld);
      const sum = momentum * mPrevious + increment;
      const mi = abs<f32>(sum) < MIN_NORMAL ? <f32>0 : sum;
      if (pass == 1) {
        mMax = max<u32>(mMax, reinterpret<u32>(mi) & ABS);
        continue;
      }
      if (half) store<u16>(m + at, encodeHalf(mi, mix(<u32>(m + at) ^ key)));
      else store<u8>(m + at, encodeM(mi, mField, mix(<u32>(m + at) ^ key)));
      const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? momentum * mi + increment : mi;
      wi = wi - stepScale * direction;
    }
    store<f32>(w + offset, wi);
  }
  if (pass == 1) {
    maxS = sMax;
    maxA = aMax;
    maxM = mMax;
  }
}

/**
 * One step over `n` elements with bfloat16 or 8-bit state (the stateFormat field of `mode`). `folded`
 * holds the fields given a loop of their own (format, centered, momentum: a constant, so their tests
 * fold away); the others need no loop of their own (see laneLoop), because a loop per mode made the
 * build take minutes and the package's wasm several times larger. s, a, m
 * point to the codes (2 or 1 bytes per element); for 8 bits, sq, aq, mq point to the float32 scales
 * of blocks of STATE_BLOCK elements, the first block starting at element 0.
 */
@inline
export function updateQuantized(
  folded: i32, mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize, sq: usize, aq: usize, mq: usize,
): void {
  const half = ((folded >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) == MODE.STATE_FORMAT_BFLOAT16;
  const centered = (folded & MODE.CENTERED) != 0;
  const hasMomentum = ((folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK) != MODE.MOMENTUM_NONE;
  if (half) {
    let i: usize = 0;
    if (ASC_FEATURE_SIMD) {
      i = n & ~(<usize>3);
      laneLoop(folded, mode, 2, 0, i, w, g, s, a, m, k, 0, 0, 0, 0, 0, 0);
    }
    scalarLoop(folded, mode, 2, i, n, w, g, s, a, m, k, 0, 0, 0, 0, 0, 0);
    return;
  }
  for (let start: usize = 0; start < n; start += STATE_BLOCK) {
    const end = min<usize>(start + STATE_BLOCK, n);
    const block = (start / STATE_BLOCK) << 2;
    const sOld = load<f32>(sq + block);
    const aOld = centered ? load<f32>(aq + block) : 0;
    const mOld = hasMomentum ? load<f32>(mq + block) : 0;
    maxS = 0;
    maxA = 0;
    maxM = 0;
    let laneEnd = start;
    if (ASC_FEATURE_SIMD) {
      laneEnd = start + ((end - start) & ~(<usize>3));
      laneLoop(folded, mode, 1, start, laneEnd, w, g, s, a, m, k, sOld, aOld, mOld, 0, 0, 0);
    }
    scalarLoop(folded, mode, 1, laneEnd, end, w, g, s, a, m, k, sOld, aOld, mOld, 0, 0, 0);
    const sField = scaleField(maxS, S_SHIFT);
    const aField = scaleField(maxA, M_SHIFT);
    const mField = scaleField(maxM, M_SHIFT);
    if (ASC_FEATURE_SIMD) {
      laneLoop(folded, mode, 2, start, laneEnd, w, g, s, a, m, k, sOld, aOld, mOld, sField, aField, mField);
    }
    scalarLoop(folded, mode, 2, laneEnd, end, w, g, s, a, m, k, sOld, aOld, mOld, sField, aField, mField);
    store<f32>(sq + block, scaleOf(sField));
    if (centered) store<f32>(aq + block, scaleOf(aField));
    if (hasMomentum) store<f32>(mq + block, scaleOf(mField));
  }
}

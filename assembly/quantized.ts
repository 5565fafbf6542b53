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
// A NaN or ±∞ in a block's new state makes its scale NaN: the whole block decodes as NaN.
//
// The work goes block by block (STATE_BLOCK elements, which stay in L1) through a scratch area that
// JS lays out (STATE_SCRATCH_BYTES per call): an 8-bit block's new S and ḡ are needed before they can
// be encoded (their scales come from their maxima), so pass A computes them (multiplies and adds
// only) into the scratch, pass B encodes them and computes the step (the square root and division,
// once per element) and the new m, and pass C encodes m once its scale is known. A gradient that needs
// clamping, scaling or weight decay is prepared into the scratch first, so that the loops of the
// common modes carry none of it. The lane and scalar loops and the js loops (src/state-codecs.ts)
// must stay identical, operation for operation.
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

// The scratch areas of one block, float32, bytes from the scratch pointer: the prepared gradient, new S, ḡ, m.
const G_AREA: usize = 0;
const S_AREA: usize = STATE_BLOCK << 2;
const A_AREA: usize = STATE_BLOCK << 3;
const M_AREA: usize = STATE_BLOCK * 12;

// Largest |new value| bits of the block, per array (→ scales).
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

// Integer constants come in as locals computed before the loop (v128.or with the zero slot, which
// binaryen cannot fold): V8 hoists nothing out of a loop and would build each v128.const in several
// instructions on every iteration.
@inline
function opaque(zero: v128, value: i32): v128 {
  return v128.or(zero, i32x4.splat(value));
}

/** Quarter q (0–3) of 16 byte codes as four u32 lanes; `low`/`high` are the codes' u16 halves. */
@inline
function quarter(low: v128, high: v128, q: i32): v128 {
  if (q == 0) return i32x4.extend_low_i16x8_u(low);
  if (q == 1) return i32x4.extend_high_i16x8_u(low);
  if (q == 2) return i32x4.extend_low_i16x8_u(high);
  return i32x4.extend_high_i16x8_u(high);
}

/** Stores 16 byte codes from four vectors of u32 codes (unsigned saturation: ≤ 255 stays as it is). */
@inline
function store16(p: usize, c0: v128, c1: v128, c2: v128, c3: v128): void {
  v128.store(p, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(c0, c1), i16x8.narrow_i32x4_u(c2, c3)));
}

/** Half h (0–1) of 8 bfloat16 codes as the bits of four float32 (code << 16: zeros interleaved below). */
@inline
function halfLanes(codes: v128, zero: v128, h: i32): v128 {
  if (h == 0) return v128.shuffle<i16>(zero, codes, 0, 8, 1, 9, 2, 10, 3, 11);
  return v128.shuffle<i16>(zero, codes, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** bfloat16 codes (in the low 16 bits of each u32 lane) of four float32, stochastically rounded. */
@inline
function encodeHalfLanes(x: v128, random: v128, nan: v128): v128 {
  // NaN's payload is not the same on every backend: one NaN (0x7fc0) for all
  const canonical = v128.bitselect(nan, x, f32x4.ne(x, x));
  return i32x4.shr_u(i32x4.add(canonical, i32x4.shr_u(random, 16)), 16);
}

@inline
function decodeSLanes(c: v128, scale: v128, bias: v128, zero: v128): v128 {
  const bits = i32x4.add(i32x4.shl(c, S_SHIFT), bias);
  return f32x4.mul(v128.andnot(bits, i32x4.eq(c, zero)), scale);
}

// Codes above 255 are left to store16's saturation (a code is at most 255 within a block's scale);
// S is never negative, so |x| is x but for a NaN's sign, which min_u sends to +∞ as for any NaN.
@inline
function encodeSLanes(x: v128, offset: v128, random: v128, infinity: v128, one: v128, zero: v128): v128 {
  const a = i32x4.min_u(x, infinity);
  const rounded = i32x4.shr_u(i32x4.add(a, i32x4.shr_u(random, 32 - S_SHIFT)), S_SHIFT);
  return v128.andnot(i32x4.max_s(i32x4.sub(rounded, offset), one), i32x4.eq(a, zero));
}

@inline
function decodeMLanes(code: v128, scale: v128, bias: v128, b7f: v128, b80: v128, zero: v128): v128 {
  const magnitude = v128.and(code, b7f);
  const bits = v128.or(i32x4.add(i32x4.shl(magnitude, M_SHIFT), bias), i32x4.shl(v128.and(code, b80), 24));
  return f32x4.mul(v128.andnot(bits, i32x4.eq(magnitude, zero)), scale);
}

@inline
function encodeMLanes(x: v128, offset: v128, random: v128, abs: v128, infinity: v128, b7f: v128, b80: v128, zero: v128): v128 {
  const a = i32x4.min_u(v128.and(x, abs), infinity);
  const rounded = i32x4.shr_u(i32x4.add(a, i32x4.shr_u(random, 32 - M_SHIFT)), M_SHIFT);
  const magnitude = i32x4.min_s(i32x4.max_s(i32x4.sub(rounded, offset), zero), b7f);
  // the sign of x < 0 (a NaN has none); 0 and a magnitude of 0 keep no sign
  const sign = v128.and(f32x4.lt(x, zero), b80);
  return v128.andnot(v128.or(magnitude, sign), v128.or(i32x4.eq(a, zero), i32x4.eq(magnitude, zero)));
}

@inline
function maxLane(x: v128): u32 {
  const half = i32x4.max_u(x, i32x4.shuffle(x, x, 2, 3, 0, 1));
  return <u32>i32x4.extract_lane(i32x4.max_u(half, i32x4.shuffle(half, half, 1, 0, 3, 2)), 0);
}

// ---- the gradient ---------------------------------------------------------------------------

/**
 * Writes the gradient the update uses, clamp(g, ±clipValue)·gradScale (+ weight decay·w when coupled),
 * for elements [0, count) at g into `out`; decoupled weight decay moves w here. One loop for every
 * mode that needs it (not inlined): its option tests are per element, but these modes are the rarer.
 */
function prepareGradient(mode: i32, count: usize, w: usize, g: usize, k: usize, out: usize): void {
  const transformed = (mode & MODE.TRANSFORMED) != 0;
  const weightDecayKind = (mode >> MODE.WEIGHT_DECAY_SHIFT) & MODE.WEIGHT_DECAY_MASK;
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vGradScale = lanes(k, K.gradScale);
    const vClipValue = lanes(k, K.clipValue);
    const vMinusClipValue = lanes(k, K.minusClipValue);
    const vWeightDecay = lanes(k, K.weightDecay);
    const laneEnd = count & ~(<usize>3);
    for (; i < laneEnd; i += 4) {
      const offset = i << 2;
      let gv = v128.load(g + offset);
      if (transformed) gv = f32x4.mul(clampVector(gv, vMinusClipValue, vClipValue), vGradScale);
      if (weightDecayKind == MODE.WEIGHT_DECAY_COUPLED) gv = f32x4.add(gv, f32x4.mul(vWeightDecay, v128.load(w + offset)));
      else if (weightDecayKind != MODE.WEIGHT_DECAY_NONE) {
        const wv = v128.load(w + offset);
        v128.store(w + offset, f32x4.sub(wv, f32x4.mul(vWeightDecay, wv)));
      }
      v128.store(out + offset, gv);
    }
  }
  const gradScale = scalar(k, K.gradScale);
  const clipValue = scalar(k, K.clipValue);
  const weightDecay = scalar(k, K.weightDecay);
  for (; i < count; i++) {
    const offset = i << 2;
    let gi = load<f32>(g + offset);
    if (transformed) gi = clampTo(gi, clipValue) * gradScale;
    if (weightDecayKind == MODE.WEIGHT_DECAY_COUPLED) gi = gi + weightDecay * load<f32>(w + offset);
    else if (weightDecayKind != MODE.WEIGHT_DECAY_NONE) {
      const wi = load<f32>(w + offset);
      store<f32>(w + offset, wi - weightDecay * wi);
    }
    store<f32>(out + offset, gi);
  }
}

// ---- random bits in lanes -------------------------------------------------------------------

/** The random words of elements 0–3 at `p` (code bytes `stride` apart): ((address + key)·GOLDEN). */
@inline
function firstRandom(p: usize, stride: i32, key: v128, golden: v128): v128 {
  return i32x4.mul(i32x4.add(i32x4.add(i32x4.splat(<i32>p), i32x4(0, stride, 2 * stride, 3 * stride)), key), golden);
}

// ---- bfloat16: one pass -----------------------------------------------------------------------

/**
 * Elements [0, count) of bfloat16 state: w, gs (the gradient), and s, a, m (codes) point to the first.
 */
@inline
function halfBlock(folded: i32, count: usize, w: usize, gs: usize, s: usize, a: usize, m: usize, k: usize): void {
  const centered = (folded & MODE.CENTERED) != 0;
  const momentumKind = (folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
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
    const cNaN = opaque(vZero, NAN_BITS);
    const cGolden = opaque(vZero, GOLDEN);
    const cAdvance = opaque(vZero, <i32>(8 * GOLDEN));
    let sRandom = firstRandom(s, 2, vKey, cGolden);
    let aRandom = firstRandom(a, 2, vKey, cGolden);
    let mRandom = firstRandom(m, 2, vKey, cGolden);
    const laneEnd = count & ~(<usize>3);
    for (; i < laneEnd; i += 4) {
      const offset = i << 2;
      const at = i << 1;
      let wv = v128.load(w + offset);
      const gv = v128.load(gs + offset);
      const sSum = f32x4.add(
        f32x4.mul(vDecay, i32x4.shl(v128.load16x4_u(s + at), 16)),
        f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv)),
      );
      const sv = v128.andnot(sSum, f32x4.lt(sSum, vMinNormal));
      const sCode = encodeHalfLanes(sv, sRandom, cNaN);
      v128.store64_lane(s + at, i16x8.narrow_i32x4_u(sCode, sCode), 0);
      sRandom = i32x4.add(sRandom, cAdvance);
      let variance = f32x4.mul(sv, vBiasScale);
      if (centered) {
        const sum = f32x4.add(
          f32x4.mul(vDecay, i32x4.shl(v128.load16x4_u(a + at), 16)),
          f32x4.mul(vOneMinusDecay, gv),
        );
        const av = v128.andnot(sum, f32x4.lt(f32x4.abs(sum), vMinNormal));
        const aCode = encodeHalfLanes(av, aRandom, cNaN);
        v128.store64_lane(a + at, i16x8.narrow_i32x4_u(aCode, aCode), 0);
        aRandom = i32x4.add(aRandom, cAdvance);
        const meanGrad = f32x4.mul(av, vBiasScale);
        variance = f32x4.pmax(f32x4.sub(variance, f32x4.mul(meanGrad, meanGrad)), vZero);
      }
      const denom = f32x4.add(f32x4.sqrt(f32x4.add(variance, vEpsInSqrt)), vEpsOutsideSqrt);
      if (momentumKind == MODE.MOMENTUM_NONE) {
        wv = f32x4.sub(wv, f32x4.mul(vStepScale, f32x4.div(gv, denom)));
      } else {
        const increment = f32x4.mul(vIncrementScale, f32x4.div(gv, denom));
        const sum = f32x4.add(f32x4.mul(vMomentum, i32x4.shl(v128.load16x4_u(m + at), 16)), increment);
        const mv = v128.andnot(sum, f32x4.lt(f32x4.abs(sum), vMinNormal));
        const mCode = encodeHalfLanes(mv, mRandom, cNaN);
        v128.store64_lane(m + at, i16x8.narrow_i32x4_u(mCode, mCode), 0);
        mRandom = i32x4.add(mRandom, cAdvance);
        const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? f32x4.add(f32x4.mul(vMomentum, mv), increment) : mv;
        wv = f32x4.sub(wv, f32x4.mul(vStepScale, direction));
      }
      v128.store(w + offset, wv);
    }
  }
  const decay = scalar(k, K.decay);
  const oneMinusDecay = scalar(k, K.oneMinusDecay);
  const biasScale = scalar(k, K.biasScale);
  const epsInSqrt = scalar(k, K.epsInSqrt);
  const epsOutsideSqrt = scalar(k, K.epsOutsideSqrt);
  const momentum = scalar(k, K.momentum);
  const incrementScale = scalar(k, K.incrementScale);
  const stepScale = scalar(k, K.stepScale);
  const key = load<u32>(k + <usize>K.roundingKey * SLOT_BYTES);
  for (; i < count; i++) {
    const offset = i << 2;
    const at = i << 1;
    let wi = load<f32>(w + offset);
    const gi = load<f32>(gs + offset);
    const sSum = decay * decodeHalf(load<u16>(s + at)) + oneMinusDecay * (gi * gi);
    const si = sSum < MIN_NORMAL ? <f32>0 : sSum;
    store<u16>(s + at, encodeHalf(si, mix(<u32>(s + at) + key)));
    let variance = si * biasScale;
    if (centered) {
      const sum = decay * decodeHalf(load<u16>(a + at)) + oneMinusDecay * gi;
      const ai = abs<f32>(sum) < MIN_NORMAL ? <f32>0 : sum;
      store<u16>(a + at, encodeHalf(ai, mix(<u32>(a + at) + key)));
      const meanGrad = ai * biasScale;
      const difference = variance - meanGrad * meanGrad;
      variance = difference < 0 ? <f32>0 : difference;
    }
    const denom = sqrt<f32>(variance + epsInSqrt) + epsOutsideSqrt;
    if (momentumKind == MODE.MOMENTUM_NONE) {
      wi = wi - stepScale * (gi / denom);
    } else {
      const increment = incrementScale * (gi / denom);
      const sum = momentum * decodeHalf(load<u16>(m + at)) + increment;
      const mi = abs<f32>(sum) < MIN_NORMAL ? <f32>0 : sum;
      store<u16>(m + at, encodeHalf(mi, mix(<u32>(m + at) + key)));
      const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? momentum * mi + increment : mi;
      wi = wi - stepScale * direction;
    }
    store<f32>(w + offset, wi);
  }
}

// ---- 8 bits: pass A (new S and ḡ, their maxima) ------------------------------------------------

/** The new S of four elements from their gradient at `gp` and old S: stored at `out`, returned. */
@inline
function newSLanes(gp: usize, old: v128, out: usize, decay: v128, oneMinusDecay: v128, minNormal: v128): v128 {
  const gv = v128.load(gp);
  const sum = f32x4.add(f32x4.mul(decay, old), f32x4.mul(oneMinusDecay, f32x4.mul(gv, gv)));
  const sv = v128.andnot(sum, f32x4.lt(sum, minNormal));
  v128.store(out, sv);
  return sv;
}

/** The new ḡ of four elements, as newSLanes; returns |ḡ|'s bits. */
@inline
function newALanes(gp: usize, old: v128, out: usize, decay: v128, oneMinusDecay: v128, minNormal: v128, abs: v128): v128 {
  const sum = f32x4.add(f32x4.mul(decay, old), f32x4.mul(oneMinusDecay, v128.load(gp)));
  const av = v128.andnot(sum, f32x4.lt(f32x4.abs(sum), minNormal));
  v128.store(out, av);
  return v128.and(av, abs);
}

/**
 * Pass A over an 8-bit block of `count` elements: the new S (and ḡ) into the scratch, the largest
 * magnitude bits into maxS (maxA). S is never negative, so its bits are its magnitude (a NaN's sign
 * aside, which stays above +∞ as any NaN's magnitude does).
 */
@inline
function passA(folded: i32, count: usize, gs: usize, s: usize, a: usize, k: usize, scratch: usize, sOld: f32, aOld: f32): void {
  const centered = (folded & MODE.CENTERED) != 0;
  let i: usize = 0;
  let sMax: u32 = 0;
  let aMax: u32 = 0;
  const sOut = scratch + S_AREA;
  const aOut = scratch + A_AREA;
  if (ASC_FEATURE_SIMD) {
    const vDecay = lanes(k, K.decay);
    const vOneMinusDecay = lanes(k, K.oneMinusDecay);
    const vMinNormal = lanes(k, K.minNormal);
    const vZero = lanes(k, K.zero);
    const vsOld = f32x4.splat(sOld);
    const vaOld = f32x4.splat(aOld);
    const cAbs = opaque(vZero, ABS);
    const cSBias = opaque(vZero, (127 - S_TOP) << 23);
    const cMBias = opaque(vZero, (127 - M_TOP) << 23);
    const c7f = opaque(vZero, 0x7f);
    const c80 = opaque(vZero, 0x80);
    let vMaxS = vZero;
    let vMaxA = vZero;
    const laneEnd = count & ~(<usize>15);
    for (; i < laneEnd; i += 16) {
      const o = i << 2;
      const codes = v128.load(s + i);
      const low = i16x8.extend_low_i8x16_u(codes);
      const high = i16x8.extend_high_i8x16_u(codes);
      const s0 = newSLanes(gs + o, decodeSLanes(quarter(low, high, 0), vsOld, cSBias, vZero), sOut + o, vDecay, vOneMinusDecay, vMinNormal);
      const s1 = newSLanes(gs + o + 16, decodeSLanes(quarter(low, high, 1), vsOld, cSBias, vZero), sOut + o + 16, vDecay, vOneMinusDecay, vMinNormal);
      const s2 = newSLanes(gs + o + 32, decodeSLanes(quarter(low, high, 2), vsOld, cSBias, vZero), sOut + o + 32, vDecay, vOneMinusDecay, vMinNormal);
      const s3 = newSLanes(gs + o + 48, decodeSLanes(quarter(low, high, 3), vsOld, cSBias, vZero), sOut + o + 48, vDecay, vOneMinusDecay, vMinNormal);
      vMaxS = i32x4.max_u(vMaxS, i32x4.max_u(i32x4.max_u(s0, s1), i32x4.max_u(s2, s3)));
      if (centered) {
        const aCodes = v128.load(a + i);
        const aLow = i16x8.extend_low_i8x16_u(aCodes);
        const aHigh = i16x8.extend_high_i8x16_u(aCodes);
        const a0 = newALanes(gs + o, decodeMLanes(quarter(aLow, aHigh, 0), vaOld, cMBias, c7f, c80, vZero), aOut + o, vDecay, vOneMinusDecay, vMinNormal, cAbs);
        const a1 = newALanes(gs + o + 16, decodeMLanes(quarter(aLow, aHigh, 1), vaOld, cMBias, c7f, c80, vZero), aOut + o + 16, vDecay, vOneMinusDecay, vMinNormal, cAbs);
        const a2 = newALanes(gs + o + 32, decodeMLanes(quarter(aLow, aHigh, 2), vaOld, cMBias, c7f, c80, vZero), aOut + o + 32, vDecay, vOneMinusDecay, vMinNormal, cAbs);
        const a3 = newALanes(gs + o + 48, decodeMLanes(quarter(aLow, aHigh, 3), vaOld, cMBias, c7f, c80, vZero), aOut + o + 48, vDecay, vOneMinusDecay, vMinNormal, cAbs);
        vMaxA = i32x4.max_u(vMaxA, i32x4.max_u(i32x4.max_u(a0, a1), i32x4.max_u(a2, a3)));
      }
    }
    sMax = maxLane(vMaxS);
    aMax = maxLane(vMaxA);
  }
  const decay = scalar(k, K.decay);
  const oneMinusDecay = scalar(k, K.oneMinusDecay);
  for (; i < count; i++) {
    const o = i << 2;
    const gi = load<f32>(gs + o);
    const sSum = decay * decodeS(load<u8>(s + i), sOld) + oneMinusDecay * (gi * gi);
    const si = sSum < MIN_NORMAL ? <f32>0 : sSum;
    store<f32>(sOut + o, si);
    sMax = max<u32>(sMax, reinterpret<u32>(si));
    if (centered) {
      const sum = decay * decodeM(load<u8>(a + i), aOld) + oneMinusDecay * gi;
      const ai = abs<f32>(sum) < MIN_NORMAL ? <f32>0 : sum;
      store<f32>(aOut + o, ai);
      aMax = max<u32>(aMax, reinterpret<u32>(ai) & ABS);
    }
  }
  maxS = sMax;
  maxA = aMax;
}

// ---- 8 bits: pass B (the step, the new m and its maximum) ---------------------------------------

/**
 * The step of four elements at byte offset `o` from the new S (and ḡ) in the scratch; with momentum,
 * `mOld` is their decoded m: the new m goes to the scratch and its magnitude bits are returned.
 */
@inline
function stepLanes(
  folded: i32, o: usize, w: usize, gs: usize, scratch: usize, mOld: v128,
  biasScale: v128, epsInSqrt: v128, epsOutsideSqrt: v128, momentum: v128, incrementScale: v128, stepScale: v128,
  minNormal: v128, zero: v128, abs: v128,
): v128 {
  const centered = (folded & MODE.CENTERED) != 0;
  const momentumKind = (folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  const gv = v128.load(gs + o);
  let wv = v128.load(w + o);
  let variance = f32x4.mul(v128.load(scratch + S_AREA + o), biasScale);
  if (centered) {
    const meanGrad = f32x4.mul(v128.load(scratch + A_AREA + o), biasScale);
    variance = f32x4.pmax(f32x4.sub(variance, f32x4.mul(meanGrad, meanGrad)), zero);
  }
  const denom = f32x4.add(f32x4.sqrt(f32x4.add(variance, epsInSqrt)), epsOutsideSqrt);
  if (momentumKind == MODE.MOMENTUM_NONE) {
    v128.store(w + o, f32x4.sub(wv, f32x4.mul(stepScale, f32x4.div(gv, denom))));
    return zero;
  }
  const increment = f32x4.mul(incrementScale, f32x4.div(gv, denom));
  const sum = f32x4.add(f32x4.mul(momentum, mOld), increment);
  const mv = v128.andnot(sum, f32x4.lt(f32x4.abs(sum), minNormal));
  v128.store(scratch + M_AREA + o, mv);
  const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? f32x4.add(f32x4.mul(momentum, mv), increment) : mv;
  v128.store(w + o, f32x4.sub(wv, f32x4.mul(stepScale, direction)));
  return v128.and(mv, abs);
}

/** Pass B over an 8-bit block: w moves; with momentum, the new m into the scratch and its maximum into maxM. */
@inline
function passB(folded: i32, count: usize, w: usize, gs: usize, m: usize, k: usize, scratch: usize, mOld: f32): void {
  const centered = (folded & MODE.CENTERED) != 0;
  const momentumKind = (folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  let i: usize = 0;
  let mMax: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    const vBiasScale = lanes(k, K.biasScale);
    const vEpsInSqrt = lanes(k, K.epsInSqrt);
    const vEpsOutsideSqrt = lanes(k, K.epsOutsideSqrt);
    const vMomentum = lanes(k, K.momentum);
    const vIncrementScale = lanes(k, K.incrementScale);
    const vStepScale = lanes(k, K.stepScale);
    const vMinNormal = lanes(k, K.minNormal);
    const vZero = lanes(k, K.zero);
    const vmOld = f32x4.splat(mOld);
    const cAbs = opaque(vZero, ABS);
    const cMBias = opaque(vZero, (127 - M_TOP) << 23);
    const c7f = opaque(vZero, 0x7f);
    const c80 = opaque(vZero, 0x80);
    if (momentumKind == MODE.MOMENTUM_NONE) {
      const laneEnd = count & ~(<usize>3);
      for (; i < laneEnd; i += 4) {
        stepLanes(folded, i << 2, w, gs, scratch, vZero, vBiasScale, vEpsInSqrt, vEpsOutsideSqrt, vMomentum, vIncrementScale, vStepScale, vMinNormal, vZero, cAbs);
      }
    } else {
      let vMaxM = vZero;
      const laneEnd = count & ~(<usize>15);
      for (; i < laneEnd; i += 16) {
        const o = i << 2;
        const codes = v128.load(m + i);
        const low = i16x8.extend_low_i8x16_u(codes);
        const high = i16x8.extend_high_i8x16_u(codes);
        const m0 = stepLanes(folded, o, w, gs, scratch, decodeMLanes(quarter(low, high, 0), vmOld, cMBias, c7f, c80, vZero), vBiasScale, vEpsInSqrt, vEpsOutsideSqrt, vMomentum, vIncrementScale, vStepScale, vMinNormal, vZero, cAbs);
        const m1 = stepLanes(folded, o + 16, w, gs, scratch, decodeMLanes(quarter(low, high, 1), vmOld, cMBias, c7f, c80, vZero), vBiasScale, vEpsInSqrt, vEpsOutsideSqrt, vMomentum, vIncrementScale, vStepScale, vMinNormal, vZero, cAbs);
        const m2 = stepLanes(folded, o + 32, w, gs, scratch, decodeMLanes(quarter(low, high, 2), vmOld, cMBias, c7f, c80, vZero), vBiasScale, vEpsInSqrt, vEpsOutsideSqrt, vMomentum, vIncrementScale, vStepScale, vMinNormal, vZero, cAbs);
        const m3 = stepLanes(folded, o + 48, w, gs, scratch, decodeMLanes(quarter(low, high, 3), vmOld, cMBias, c7f, c80, vZero), vBiasScale, vEpsInSqrt, vEpsOutsideSqrt, vMomentum, vIncrementScale, vStepScale, vMinNormal, vZero, cAbs);
        vMaxM = i32x4.max_u(vMaxM, i32x4.max_u(i32x4.max_u(m0, m1), i32x4.max_u(m2, m3)));
      }
      mMax = maxLane(vMaxM);
    }
  }
  const biasScale = scalar(k, K.biasScale);
  const epsInSqrt = scalar(k, K.epsInSqrt);
  const epsOutsideSqrt = scalar(k, K.epsOutsideSqrt);
  const momentum = scalar(k, K.momentum);
  const incrementScale = scalar(k, K.incrementScale);
  const stepScale = scalar(k, K.stepScale);
  for (; i < count; i++) {
    const o = i << 2;
    const gi = load<f32>(gs + o);
    let wi = load<f32>(w + o);
    let variance = load<f32>(scratch + S_AREA + o) * biasScale;
    if (centered) {
      const meanGrad = load<f32>(scratch + A_AREA + o) * biasScale;
      const difference = variance - meanGrad * meanGrad;
      variance = difference < 0 ? <f32>0 : difference;
    }
    const denom = sqrt<f32>(variance + epsInSqrt) + epsOutsideSqrt;
    if (momentumKind == MODE.MOMENTUM_NONE) {
      wi = wi - stepScale * (gi / denom);
    } else {
      const increment = incrementScale * (gi / denom);
      const sum = momentum * decodeM(load<u8>(m + i), mOld) + increment;
      const mi = abs<f32>(sum) < MIN_NORMAL ? <f32>0 : sum;
      store<f32>(scratch + M_AREA + o, mi);
      mMax = max<u32>(mMax, reinterpret<u32>(mi) & ABS);
      const direction = momentumKind == MODE.MOMENTUM_NESTEROV ? momentum * mi + increment : mi;
      wi = wi - stepScale * direction;
    }
    store<f32>(w + o, wi);
  }
  maxM = mMax;
}

// ---- 8 bits: encoding -------------------------------------------------------------------------

/**
 * Encodes `count` new values from `values` (float32) as codes at `codes`: S's format, or ḡ's and m's
 * (`signed`), in the block's scale `field`.
 */
@inline
function encodeBlock(signed: bool, count: usize, values: usize, codes: usize, field: u32, k: usize): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vZero = lanes(k, K.zero);
    const vKey = lanes(k, K.roundingKey);
    const cGolden = opaque(vZero, GOLDEN);
    const cAdvance = opaque(vZero, <i32>(4 * GOLDEN));
    const cAbs = opaque(vZero, ABS);
    const cInfinity = opaque(vZero, INFINITY_BITS);
    const cOne = opaque(vZero, 1);
    const c7f = opaque(vZero, 0x7f);
    const c80 = opaque(vZero, 0x80);
    const offset = opaque(vZero, signed ? (<i32>field - M_TOP) << 4 : (<i32>field - S_TOP) << 3);
    let r0 = firstRandom(codes, 1, vKey, cGolden);
    let r1 = i32x4.add(r0, cAdvance);
    let r2 = i32x4.add(r1, cAdvance);
    let r3 = i32x4.add(r2, cAdvance);
    const cAdvance16 = opaque(vZero, <i32>(16 * GOLDEN));
    const laneEnd = count & ~(<usize>15);
    for (; i < laneEnd; i += 16) {
      const p = values + (i << 2);
      if (signed) {
        store16(
          codes + i,
          encodeMLanes(v128.load(p), offset, r0, cAbs, cInfinity, c7f, c80, vZero),
          encodeMLanes(v128.load(p, 16), offset, r1, cAbs, cInfinity, c7f, c80, vZero),
          encodeMLanes(v128.load(p, 32), offset, r2, cAbs, cInfinity, c7f, c80, vZero),
          encodeMLanes(v128.load(p, 48), offset, r3, cAbs, cInfinity, c7f, c80, vZero),
        );
      } else {
        store16(
          codes + i,
          encodeSLanes(v128.load(p), offset, r0, cInfinity, cOne, vZero),
          encodeSLanes(v128.load(p, 16), offset, r1, cInfinity, cOne, vZero),
          encodeSLanes(v128.load(p, 32), offset, r2, cInfinity, cOne, vZero),
          encodeSLanes(v128.load(p, 48), offset, r3, cInfinity, cOne, vZero),
        );
      }
      r0 = i32x4.add(r0, cAdvance16);
      r1 = i32x4.add(r1, cAdvance16);
      r2 = i32x4.add(r2, cAdvance16);
      r3 = i32x4.add(r3, cAdvance16);
    }
  }
  const key = load<u32>(k + <usize>K.roundingKey * SLOT_BYTES);
  for (; i < count; i++) {
    const x = load<f32>(values + (i << 2));
    const random = mix(<u32>(codes + i) + key);
    store<u8>(codes + i, signed ? encodeM(x, field, random) : encodeS(x, field, random));
  }
}

// ---- the entry ----------------------------------------------------------------------------------

/**
 * One step over `n` elements with bfloat16 or 8-bit state (the stateFormat field of `mode`). `folded`
 * holds the fields given a loop of their own (format, centered, momentum: a constant, so their tests
 * fold away); a gradient that needs clamping, scaling or weight decay (the other fields) is prepared
 * into the scratch first, block by block. s, a, m point to the codes (2 or 1 bytes per element); for
 * 8 bits, sq, aq, mq point to the float32 scales of blocks of STATE_BLOCK elements, the first block
 * starting at element 0; `scratch` to STATE_SCRATCH_BYTES of memory of this call's own.
 */
@inline
export function updateQuantized(
  folded: i32, mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize,
  sq: usize, aq: usize, mq: usize, scratch: usize,
): void {
  const half = ((folded >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) == MODE.STATE_FORMAT_BFLOAT16;
  const centered = (folded & MODE.CENTERED) != 0;
  const hasMomentum = ((folded >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK) != MODE.MOMENTUM_NONE;
  const prepared = (mode & (MODE.TRANSFORMED | (MODE.WEIGHT_DECAY_MASK << MODE.WEIGHT_DECAY_SHIFT))) != 0;
  if (half && !prepared) {
    halfBlock(folded, n, w, g, s, a, m, k);
    return;
  }
  for (let start: usize = 0; start < n; start += STATE_BLOCK) {
    const count = min<usize>(STATE_BLOCK, n - start);
    const wb = w + (start << 2);
    let gs = g + (start << 2);
    if (prepared) {
      prepareGradient(mode, count, wb, gs, k, scratch + G_AREA);
      gs = scratch + G_AREA;
    }
    if (half) {
      halfBlock(folded, count, wb, gs, s + (start << 1), a + (start << 1), m + (start << 1), k);
      continue;
    }
    const sb = s + start;
    const ab = a + start;
    const mb = m + start;
    const block = (start / STATE_BLOCK) << 2;
    const sOld = load<f32>(sq + block);
    const aOld = centered ? load<f32>(aq + block) : 0;
    const mOld = hasMomentum ? load<f32>(mq + block) : 0;
    passA(folded, count, gs, sb, ab, k, scratch, sOld, aOld);
    const sField = scaleField(maxS, S_SHIFT);
    const aField = scaleField(maxA, M_SHIFT);
    passB(folded, count, wb, gs, mb, k, scratch, mOld);
    encodeBlock(false, count, scratch + S_AREA, sb, sField, k);
    store<f32>(sq + block, scaleOf(sField));
    if (centered) {
      encodeBlock(true, count, scratch + A_AREA, ab, aField, k);
      store<f32>(aq + block, scaleOf(aField));
    }
    if (hasMomentum) {
      const mField = scaleField(maxM, M_SHIFT);
      encodeBlock(true, count, scratch + M_AREA, mb, mField, k);
      store<f32>(mq + block, scaleOf(mField));
    }
  }
}

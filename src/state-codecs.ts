// The compressed state formats in JS, bit for bit as assembly/quantized.ts (where the formats are
// described), and the js backend's step with compressed state (compressedStep): one loop whose option
// tests run per element. It is the slow path (wasm runs everywhere the package does but where a page
// forbids it), so it is kept small rather than generated per mode as the float32 loops are.
import { clamp, f, flush, flushSquare } from './float32.js';
import { K, MODE, SLOT_FLOATS, STATE_BLOCK } from './generated/abi.js';

const floats = new Float32Array(1);
const ints = new Int32Array(floats.buffer);

/** The bits of float32 `x` (an int32); NaN reads as 0x7fc00000. */
export const bitsOf = (x: number) => {
  floats[0] = x;
  return ints[0];
};
/** The float32 whose bits are `b`. */
export const fromBits = (b: number) => {
  ints[0] = b;
  return floats[0];
};

const ABS = 0x7fffffff;
const INFINITY_BITS = 0x7f800000;
const NAN_BITS = 0x7fc00000;

/** An element's random bits as the kernels draw them from (byte address + key): times the golden ratio's odd constant. */
export const mix = (x: number) => Math.imul(x, 0x9e3779b1 | 0) >>> 0;

/** lowbias32 (Chris Wellons), a full 32-bit mixing hash: the step's key from step and seed. */
const hash = (x: number) => {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b | 0);
  return (x ^ (x >>> 16)) >>> 0;
};

/**
 * The key of step `t`'s stochastic rounding for `seed`: its bits go to the constant slot
 * roundingKey. Bit 30 is clear, so that the slot's float32 is never NaN (a NaN would not keep its bits).
 */
export const roundingKey = (t: number, seed: number) => (hash(hash(seed >>> 0) ^ t) & 0xbfffffff) >>> 0;

export const decodeHalf = (h: number) => fromBits(h << 16);

export const encodeHalf = (x: number, random: number) => {
  const b = bitsOf(x) >>> 0;
  return (b & ABS) > INFINITY_BITS ? NAN_BITS >>> 16 : (b + (random >>> 16)) >>> 16;
};

/** The exponent field of an 8-bit block's scale from its largest magnitude bits (255: NaN scale). */
export const scaleField = (max: number, shift: number) =>
  max > INFINITY_BITS ? 255 : Math.min(((max + ((1 << shift) - 1)) >>> shift) >>> (23 - shift), 255);

export const scaleOf = (field: number) => fromBits(field === 255 ? NAN_BITS : field << 23);

/** S: unsigned E5M3 codes (mantissa shift 20, top exponent 31). */
export const decodeS = (c: number, scale: number) =>
  f((c === 0 ? 0 : fromBits((c << 20) + ((127 - 31) << 23))) * scale);

export const encodeS = (x: number, field: number, random: number) => {
  const a = Math.min(bitsOf(x) & ABS, INFINITY_BITS);
  const magnitude = ((a + (random >>> 12)) >>> 20) - ((field - 31) << 3);
  return a === 0 ? 0 : Math.min(Math.max(magnitude, 1), 255);
};

/** ḡ and m: sign + E3M4 codes (mantissa shift 19, top exponent 7). */
export const decodeM = (c: number, scale: number) => {
  const magnitude = c & 0x7f;
  return f((magnitude === 0 ? 0 : fromBits(((magnitude << 19) + ((127 - 7) << 23)) | ((c & 0x80) << 24))) * scale);
};

export const encodeM = (x: number, field: number, random: number) => {
  const b = bitsOf(x);
  const raw = b & ABS;
  const a = Math.min(raw, INFINITY_BITS);
  const magnitude = Math.min(Math.max(((a + (random >>> 13)) >>> 19) - ((field - 7) << 4), 0), 127);
  return a === 0 || magnitude === 0 ? 0 : magnitude | (raw > INFINITY_BITS ? 0 : (b >>> 24) & 0x80);
};

/** |x|'s bits, for a block's largest magnitude. */
export const magnitudeBits = (x: number) => bitsOf(x) & ABS;

/** A state array of codes: bfloat16 or 8-bit. */
export type Codes = Uint16Array | Uint8Array;

// A block's new S, ḡ and m before they are encoded (8 bits: their scales come from their maxima).
const newS = new Float32Array(STATE_BLOCK);
const newA = new Float32Array(STATE_BLOCK);
const newM = new Float32Array(STATE_BLOCK);

/**
 * One step over n elements with compressed state (the stateFormat field of `mode`), operation for
 * operation as assembly/quantized.ts: w, g the arrays, s, a, m the codes and sp, ap, mp their byte
 * addresses (the random bits), k the step's constants, sq, aq, mq the 8-bit blocks' scales.
 */
export function compressedStep(
  mode: number,
  n: number,
  w: Float32Array,
  g: Float32Array,
  s: Codes,
  a: Codes,
  m: Codes,
  k: Float32Array,
  sp: number,
  ap: number,
  mp: number,
  sq: Float32Array,
  aq: Float32Array,
  mq: Float32Array,
): void {
  const half = ((mode >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) === MODE.STATE_FORMAT_BFLOAT16;
  const centered = (mode & MODE.CENTERED) !== 0;
  const transformed = (mode & MODE.TRANSFORMED) !== 0;
  const momentumKind = (mode >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK;
  const weightDecayKind = (mode >> MODE.WEIGHT_DECAY_SHIFT) & MODE.WEIGHT_DECAY_MASK;
  const constant = (slot: number) => k[slot * SLOT_FLOATS];
  const gradScale = constant(K.gradScale);
  const clipValue = constant(K.clipValue);
  const minusClipValue = constant(K.minusClipValue);
  const weightDecay = constant(K.weightDecay);
  const decay = constant(K.decay);
  const oneMinusDecay = constant(K.oneMinusDecay);
  const biasScale = constant(K.biasScale);
  const epsInSqrt = constant(K.epsInSqrt);
  const epsOutsideSqrt = constant(K.epsOutsideSqrt);
  const momentum = constant(K.momentum);
  const incrementScale = constant(K.incrementScale);
  const stepScale = constant(K.stepScale);
  const key = bitsOf(constant(K.roundingKey));
  const gradient = (i: number) => {
    let gi = g[i];
    if (transformed) gi = f(clamp(gi, minusClipValue, clipValue) * gradScale);
    if (weightDecayKind === MODE.WEIGHT_DECAY_COUPLED) gi = f(gi + f(weightDecay * w[i]));
    return gi;
  };
  const weight = (i: number) => {
    const wi = w[i];
    return weightDecayKind === MODE.WEIGHT_DECAY_DECOUPLED ? f(wi - f(weightDecay * wi)) : wi;
  };
  const variance = (si: number, ai: number) => {
    const v = f(si * biasScale);
    if (!centered) return v;
    const meanGrad = f(ai * biasScale);
    // = pmax(difference, 0), as in the kernels: the difference is never −0
    return Math.max(f(v - f(meanGrad * meanGrad)), 0);
  };
  const ratio = (gi: number, v: number) => f(gi / f(f(Math.sqrt(f(v + epsInSqrt))) + epsOutsideSqrt));
  /** w after the step: m's new value `mi` and `increment` with momentum, the ratio g/denominator without. */
  const moved = (wi: number, mi: number, increment: number) =>
    momentumKind === MODE.MOMENTUM_NONE
      ? f(wi - f(stepScale * increment))
      : f(wi - f(stepScale * (momentumKind === MODE.MOMENTUM_NESTEROV ? f(f(momentum * mi) + increment) : mi)));
  if (half) {
    for (let i = 0; i < n; i++) {
      const gi = gradient(i);
      const wi = weight(i);
      const si = flushSquare(f(f(decay * decodeHalf(s[i])) + f(oneMinusDecay * f(gi * gi))));
      s[i] = encodeHalf(si, mix(sp + 2 * i + key));
      let ai = 0;
      if (centered) {
        ai = flush(f(f(decay * decodeHalf(a[i])) + f(oneMinusDecay * gi)));
        a[i] = encodeHalf(ai, mix(ap + 2 * i + key));
      }
      const u = ratio(gi, variance(si, ai));
      if (momentumKind === MODE.MOMENTUM_NONE) {
        w[i] = moved(wi, 0, u);
        continue;
      }
      const increment = f(incrementScale * u);
      const mi = flush(f(f(momentum * decodeHalf(m[i])) + increment));
      m[i] = encodeHalf(mi, mix(mp + 2 * i + key));
      w[i] = moved(wi, mi, increment);
    }
    return;
  }
  for (let start = 0; start < n; start += STATE_BLOCK) {
    const end = Math.min(start + STATE_BLOCK, n);
    const block = start / STATE_BLOCK;
    let maxS = 0;
    let maxA = 0;
    let maxM = 0;
    // pass A: the new S and ḡ, their maxima
    for (let i = start; i < end; i++) {
      const gi = gradient(i);
      const si = flushSquare(f(f(decay * decodeS(s[i], sq[block])) + f(oneMinusDecay * f(gi * gi))));
      newS[i - start] = si;
      maxS = Math.max(maxS, bitsOf(si) >>> 0);
      if (centered) {
        const ai = flush(f(f(decay * decodeM(a[i], aq[block])) + f(oneMinusDecay * gi)));
        newA[i - start] = ai;
        maxA = Math.max(maxA, magnitudeBits(ai));
      }
    }
    // pass B: the step, the new m and its maximum
    for (let i = start; i < end; i++) {
      const gi = gradient(i);
      const wi = weight(i);
      const u = ratio(gi, variance(newS[i - start], newA[i - start]));
      if (momentumKind === MODE.MOMENTUM_NONE) {
        w[i] = moved(wi, 0, u);
        continue;
      }
      const increment = f(incrementScale * u);
      const mi = flush(f(f(momentum * decodeM(m[i], mq[block])) + increment));
      newM[i - start] = mi;
      maxM = Math.max(maxM, magnitudeBits(mi));
      w[i] = moved(wi, mi, increment);
    }
    // encoding, in each array's new scale
    const sField = scaleField(maxS, 20);
    for (let i = start; i < end; i++) s[i] = encodeS(newS[i - start], sField, mix(sp + i + key));
    sq[block] = scaleOf(sField);
    if (centered) {
      const aField = scaleField(maxA, 19);
      for (let i = start; i < end; i++) a[i] = encodeM(newA[i - start], aField, mix(ap + i + key));
      aq[block] = scaleOf(aField);
    }
    if (momentumKind !== MODE.MOMENTUM_NONE) {
      const mField = scaleField(maxM, 19);
      for (let i = start; i < end; i++) m[i] = encodeM(newM[i - start], mField, mix(mp + i + key));
      mq[block] = scaleOf(mField);
    }
  }
}

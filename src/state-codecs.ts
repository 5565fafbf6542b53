// The compressed state formats in JS, bit for bit as assembly/quantized.ts (where the formats are
// described): decoded and encoded in chunks (the js backend's step, a load's conversion) or whole
// arrays (setState, a load from float32).
import { f } from './float32.js';
import { GOLDEN, M_SHIFT, M_TOP, S_SHIFT, S_TOP, SLOT_FLOATS, STATE_BLOCK } from './generated/abi.js';

const floats = new Float32Array(1);
const ints = new Int32Array(floats.buffer);

/** The bits of float32 `x` (an int32); NaN reads as 0x7fc00000. */
const floatBits = (x: number) => {
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

/** An element's random bits as the kernels draw them from (random address + its array's key: encodeChunk): times the golden ratio's odd constant. */
const mix = (x: number) => Math.imul(x, GOLDEN | 0) >>> 0;

/** lowbias32 (Chris Wellons), a full 32-bit mixing hash: the step's key from step and seed. */
const hash = (x: number) => {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b | 0);
  return (x ^ (x >>> 16)) >>> 0;
};

/**
 * The key of step `t`'s stochastic rounding for `seed`. Bit 30 is clear, so that it can be written as
 * a float32 that is never NaN (a NaN would not keep its bits).
 */
export const roundingKey = (t: number, seed: number) => (hash(hash(seed >>> 0) ^ t) & 0xbfffffff) >>> 0;

/** The parts of S's, ḡ's and m's rounding keys that tell the three arrays apart. */
export const ARRAY_KEYS: readonly number[] = [hash(1), hash(2), hash(3)];
/**
 * A tensor's part of its rounding keys, from its number of elements: its random bits depend on what
 * it is (its size, the array, an element's index), not on where it lies or what it is named (a
 * model loaded beside its original has other names).
 */
export const tensorKey = (length: number) => hash(length >>> 0);

const decodeHalf = (h: number) => fromBits(h << 16);

const encodeHalf = (x: number, random: number) => {
  const b = floatBits(x) >>> 0;
  return (b & ABS) > INFINITY_BITS ? NAN_BITS >>> 16 : (b + (random >>> 16)) >>> 16;
};

/** The exponent field of an 8-bit block's scale from its largest magnitude bits: 255 (NaN scale) for a NaN, 254 at most otherwise (codes saturate). */
const scaleField = (max: number, shift: number) =>
  max > INFINITY_BITS ? 255 : Math.min(((max + ((1 << shift) - 1)) >>> shift) >>> (23 - shift), 254);

const scaleOf = (field: number) => fromBits(field === 255 ? NAN_BITS : field << 23);
/** Whether float32 bits `b` (unsigned) are a scale scaleOf makes: +0, a positive power of two or the one NaN. */
export const isScaleBits = (b: number) => b === NAN_BITS || ((b & 0x807fffff) === 0 && b >>> 23 !== 255);

/** What a code shifted into place adds up with to be the float32 bits of its value in a scale of 1. */
const S_BIAS = (127 - S_TOP) << 23;
const M_BIAS = (127 - M_TOP) << 23;

/** S: unsigned E5M3 codes. */
const decodeS = (c: number, scale: number) => f((c === 0 ? 0 : fromBits((c << S_SHIFT) + S_BIAS)) * scale);

const encodeS = (x: number, field: number, random: number) => {
  const a = Math.min(floatBits(x) & ABS, INFINITY_BITS);
  const magnitude = ((a + (random >>> (32 - S_SHIFT))) >>> S_SHIFT) - ((field - S_TOP) << (23 - S_SHIFT));
  return a === 0 ? 0 : Math.min(Math.max(magnitude, 1), 255);
};

/** m (and ḡ in saved states before version 5): sign + E3M4 codes. */
const decodeM = (c: number, scale: number) => {
  const magnitude = c & 0x7f;
  return f((magnitude === 0 ? 0 : fromBits(((magnitude << M_SHIFT) + M_BIAS) | ((c & 0x80) << 24))) * scale);
};

const encodeM = (x: number, field: number, random: number) => {
  const a = Math.min(floatBits(x) & ABS, INFINITY_BITS);
  const rounded = ((a + (random >>> (32 - M_SHIFT))) >>> M_SHIFT) - ((field - M_TOP) << (23 - M_SHIFT));
  // a value rounded to magnitude 0 keeps its sign (code 0x80 decodes as 0 too); below 0, code 0
  return a === 0 || rounded < 0 ? 0 : Math.min(rounded, 127) | (x < 0 ? 0x80 : 0);
};

/** |x|'s bits, for a block's largest magnitude. */
const magnitudeBits = (x: number) => floatBits(x) & ABS;

/** A state array of codes: bfloat16 or 8-bit. */
export type Codes = Uint16Array | Uint8Array;

/** Codes first … first + count − 1 decoded into values[0 …]. */
export function decodeChunk(
  values: Float32Array,
  codes: Codes,
  scales: Float32Array,
  first: number,
  count: number,
  half: boolean,
  isS: boolean,
): void {
  for (let j = 0; j < count; j++) {
    const c = codes[first + j];
    const scale = half ? 0 : scales[Math.floor((first + j) / STATE_BLOCK)];
    values[j] = half ? decodeHalf(c) : isS ? decodeS(c, scale) : decodeM(c, scale);
  }
}

/**
 * values[0 …] encoded into codes first … (8 bits: each block's new scale), with the random bits of
 * their random addresses (code i's: `address` + `stride`·i; the kernels': its byte address, or half
 * of it for ḡ's 2-byte codes in an 8-bit call) and their array's key (constant slot `slot` of `keys`)
 * plus their block's (read here, since a key past 2^30 passed as an argument would be boxed, an
 * allocation per call).
 */
export function encodeChunk(
  values: Float32Array,
  codes: Codes,
  address: number,
  stride: number,
  scales: Float32Array,
  first: number,
  count: number,
  half: boolean,
  isS: boolean,
  keys: Uint32Array,
  slot: number,
  blockKeys: Uint32Array,
): void {
  for (let start = 0; start < count; start += STATE_BLOCK) {
    const end = Math.min(start + STATE_BLOCK, count);
    const block = (first + start) / STATE_BLOCK;
    const key = keys[slot * SLOT_FLOATS] + (blockKeys.length > 0 ? blockKeys[block] : 0);
    if (half) {
      for (let j = start; j < end; j++)
        codes[first + j] = encodeHalf(values[j], mix(address + stride * (first + j) + key));
      continue;
    }
    let max = 0;
    for (let j = start; j < end; j++) max = Math.max(max, magnitudeBits(values[j]));
    const field = scaleField(max, isS ? S_SHIFT : M_SHIFT);
    for (let j = start; j < end; j++) {
      const random = mix(address + stride * (first + j) + key);
      codes[first + j] = isS ? encodeS(values[j], field, random) : encodeM(values[j], field, random);
    }
    scales[block] = scaleOf(field);
  }
}

/** The random word that makes the stochastic roundings above round to nearest (ties away from zero). */
const NEAREST = 0x80000000;

/**
 * `out`'s values decoded from compressed state: `codes` (bfloat16 or 8-bit), with `scales` the 8-bit
 * blocks' scales from element 0; `isS` for the square average (8 bits: unsigned codes).
 */
export function decodeArray(
  half: boolean,
  isS: boolean,
  codes: Codes,
  scales: Float32Array,
  out: Float32Array,
): Float32Array {
  decodeChunk(out, codes, scales, 0, out.length, half, isS);
  return out;
}

/**
 * Encodes `values` into compressed state as the kernels would, but rounded to nearest rather than
 * stochastically (loading a state or initialSquareAvg has no step to key its random bits): 8 bits
 * in blocks of STATE_BLOCK from element 0, each with its scale; codes past the values are left as they are.
 */
export function encodeArray(
  half: boolean,
  isS: boolean,
  values: Float32Array,
  codes: Codes,
  scales: Float32Array,
): void {
  const n = values.length;
  if (half) {
    for (let i = 0; i < n; i++) codes[i] = encodeHalf(values[i], NEAREST);
    return;
  }
  for (let start = 0; start < n; start += STATE_BLOCK) {
    const end = Math.min(start + STATE_BLOCK, n);
    let max = 0;
    for (let j = start; j < end; j++) max = Math.max(max, magnitudeBits(values[j]));
    const field = scaleField(max, isS ? S_SHIFT : M_SHIFT);
    for (let j = start; j < end; j++)
      codes[j] = isS ? encodeS(values[j], field, NEAREST) : encodeM(values[j], field, NEAREST);
    scales[start / STATE_BLOCK] = scaleOf(field);
  }
}

// RMSProp with compressed state: S and m stored as bfloat16 or 8-bit codes, ḡ as bfloat16, updated by
// the float32 step itself (a centered block stores its variance S − ḡ² rather than S: see addSquares).
//
// bfloat16: the top half of the float32, stochastically rounded. 8 bits: blocks of STATE_BLOCK
// elements, one float32 scale per block and array (a power of two, from the block's largest new
// value rounded up), S as an unsigned E5M3 small float (code 0 = 0), m as sign + E3M4; values
// below a code's range go to 0 (m) or to the smallest code (S, so the step never becomes g/√ε).
// ḡ is bfloat16 in both formats: its rounding enters the next variance as (g − ḡ)², and 8 bits of it
// outweigh the variance where a gradient's mean outweighs its noise (BENCHMARKS.md, "State formats").
// The randomness of stochastic rounding is a hash of the code's byte address (ḡ's in an 8-bit block:
// half of it, encodeHalves) plus its array's key
// (constant slots squareAvgKey, gradAvgKey, momentumKey) and its block's (the block keys, at
// K.blockKeysOffset from sq), which cancel the address out (assembly/rounding.ts): the same in every
// backend, thread and layout. bench/state-formats.ts measured why it is stochastic: rounding to
// nearest freezes S (it can never decrease by less than half a step of its grid).
// Decoding and encoding are integer shifts and adds, no table (wasm SIMD has no gather).
// A NaN in a block's new 8-bit state makes its scale NaN (the whole block decodes as NaN); ±∞ saturates it.
//
// A call goes block by block through a scratch area JS lays out (STATE_SCRATCH_BYTES, one per
// thread), which stays in L1: the block's state is decoded into float32 there, the float32 step of
// the same options (assembly/update.ts, through `step`) updates it in place with w, and it is encoded
// back (8 bits: after a pass for each array's largest magnitude, its new scale). Each piece is one
// small loop shared by every mode: loops per mode more than doubled the code for little speed
// (BENCHMARKS.md, "State formats").
// The modes scripts/abi.ts's fusedLoop names run `update` itself in the simd builds, with the same
// bits: bfloat16 skips the blocks (dispatchFused: codes decoded and encoded in its loop); 8 bits, per
// block, decodes S and finds its largest value in that loop (dispatchFusedBlock), then encodes.
// The lane and scalar loops and the js backend (src/js-kernel.ts, src/state-codecs.ts) compute the same bits.
import { GOLDEN, K, M_SHIFT, M_TOP, MODE, S_SHIFT, S_TOP, SLOT_BYTES, STATE_BLOCK } from './generated/abi';
import { dispatchFused, dispatchFusedBlock } from './generated/dispatch';
import { step } from './index';
import { flushSquare, flushSquares } from './update';
import {
  ABS,
  blockKey,
  blockKeysOf,
  decodeHalfLanes,
  decodeS,
  decodeSLanes,
  encodeHalf,
  firstRandom,
  HELD_AT,
  halfCodes,
  held,
  INFINITY_BITS,
  keepLoads,
  key,
  largestLane,
  loadHalf,
  mix,
  NAN_BITS,
  S_BIAS,
  zeroOf,
} from './rounding';

// m's 8-bit format, sign + E3M4 (S's is in rounding.ts; M_SHIFT, M_TOP: the ABI table).
const M_BIAS: i32 = (127 - M_TOP) << 23;

/** The largest finite scale's field (2^127): also the scale of a block whose values overflow. */
const SATURATED_FIELD: u32 = 254;

// The scratch areas of one block, float32, bytes from the scratch pointer: S, ḡ, m.
const S_AREA: usize = 0;
const A_AREA: usize = STATE_BLOCK << 2;
const M_AREA: usize = STATE_BLOCK << 3;

/**
 * The exponent field of a block's scale from its largest magnitude bits: 255 (NaN scale) for a NaN;
 * 254 at most for ±∞ or a value near float32's largest, whose codes then saturate (an overflowing
 * S keeps its block finite, as float32 state keeps the other elements: one huge gradient does not
 * turn its 1 024 block-mates' steps into NaN).
 */
@inline
function scaleField(max: u32, shift: u32): u32 {
  if (max > INFINITY_BITS) return 255;
  const field = ((max + ((<u32>1 << shift) - 1)) >>> shift) >>> (23 - shift);
  return field >= 255 ? SATURATED_FIELD : field;
}

@inline
function scaleOf(field: u32): f32 {
  return reinterpret<f32>(field == 255 ? NAN_BITS : field << 23);
}

// ---- scalar codecs ----------------------------------------------------------------------------

@inline
function encodeS(x: f32, field: u32, random: u32): u32 {
  const a = min<u32>(reinterpret<u32>(x) & ABS, INFINITY_BITS);
  const magnitude = <i32>((a + (random >>> (32 - S_SHIFT))) >>> S_SHIFT) - ((<i32>field - S_TOP) << (23 - S_SHIFT));
  return a == 0 ? 0 : <u32>min<i32>(max<i32>(magnitude, 1), 255);
}

@inline
function decodeM(c: u32, scale: f32): f32 {
  const magnitude = c & 0x7f;
  const bits = ((magnitude << M_SHIFT) + <u32>M_BIAS) | ((c & 0x80) << 24);
  return (magnitude == 0 ? <f32>0 : reinterpret<f32>(bits)) * scale;
}

// A value rounded to magnitude 0 keeps its sign (code 0x80 decodes as 0 too); below 0, code 0.
@inline
function encodeM(x: f32, field: u32, random: u32): u32 {
  const a = min<u32>(reinterpret<u32>(x) & ABS, INFINITY_BITS);
  const rounded = <i32>((a + (random >>> (32 - M_SHIFT))) >>> M_SHIFT) - ((<i32>field - M_TOP) << (23 - M_SHIFT));
  return a == 0 || rounded < 0 ? 0 : <u32>min<i32>(rounded, 127) | (x < 0 ? 0x80 : 0);
}

// ---- the passes: each one loop, lanes then a scalar tail ------------------------------------

/** 8 bits per code, 16 per vector: quarter q of `codes` as four u32 lanes. */
@inline
function quarter(codes: v128, q: i32): v128 {
  if (q == 0) return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(codes));
  if (q == 1) return i32x4.extend_high_i16x8_u(i16x8.extend_low_i8x16_u(codes));
  if (q == 2) return i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(codes));
  return i32x4.extend_high_i16x8_u(i16x8.extend_high_i8x16_u(codes));
}

/** Stores 16 byte codes from four vectors of u32 codes, each at most 255. */
@inline
function store16(p: usize, c0: v128, c1: v128, c2: v128, c3: v128): void {
  v128.store(p, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(c0, c1), i16x8.narrow_i32x4_u(c2, c3)));
}

/** bfloat16 codes → float32 values (code << 16), `count` of them. */
function decodeHalves(count: usize, codes: usize, out: usize, k: usize): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= count; i += 4) v128.store(out + (i << 2), decodeHalfLanes(codes + (i << 1)));
  }
  for (; i < count; i++) store<f32>(out + (i << 2), loadHalf(codes + (i << 1)));
}

/**
 * float32 values → bfloat16 codes of the array keyed `k0`, stochastically rounded; NaN as one NaN (its
 * payload is not the same on every backend). Code i's random word is drawn at its random address,
 * `randomAt` + `randomStride`·i: its byte address (codes, 2), or in an 8-bit block (ḡ) half of it
 * (codes >> 1, 1), where the block keys, made for 1-byte codes, cancel the tensor's offset.
 */
function encodeHalves(count: usize, values: usize, codes: usize, k0: u32, heldAt: usize, randomAt: usize, randomStride: i32): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const nan = held(heldAt, NAN_BITS);
    // four codes further
    const advance = held(heldAt, <i32>(4 * randomStride * GOLDEN));
    let random = firstRandom(randomAt, randomStride, k0);
    for (; i + 8 <= count; i += 8) {
      const h0 = halfCodes(v128.load(values + (i << 2)), random, nan);
      random = i32x4.add(random, advance);
      const h1 = halfCodes(v128.load(values + (i << 2), 16), random, nan);
      random = i32x4.add(random, advance);
      v128.store(codes + (i << 1), i16x8.narrow_i32x4_u(h0, h1));
    }
  }
  for (; i < count; i++) {
    const random = mix(<u32>(randomAt + i * <usize>randomStride) + k0);
    store<u16>(codes + (i << 1), encodeHalf(load<f32>(values + (i << 2)), random));
  }
}

/** The largest of `count` float32's bits under `mask` (all bits for S, which is never negative; |x| for m). */
function largest(count: usize, values: usize, mask: u32): u32 {
  let i: usize = 0;
  let top: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    const vMask = i32x4.splat(mask);
    let m0 = i32x4.splat(0);
    let m1 = m0;
    for (; i + 8 <= count; i += 8) {
      m0 = i32x4.max_u(m0, v128.and(v128.load(values + (i << 2)), vMask));
      m1 = i32x4.max_u(m1, v128.and(v128.load(values + (i << 2), 16), vMask));
    }
    top = largestLane(i32x4.max_u(m0, m1));
  }
  for (; i < count; i++) top = max<u32>(top, load<u32>(values + (i << 2)) & mask);
  return top;
}

/** Four 8-bit codes (u32 lanes) → float32 values in the block's scale: S's format, or m's (`signed`). */
@inline
function decodeLanes(signed: bool, code: v128, scale: v128, zero: v128, bias: v128, b7f: v128, b80: v128): v128 {
  if (!signed) return decodeSLanes(code, scale, zero, bias);
  const magnitude = v128.and(code, b7f);
  const bits = v128.or(i32x4.add(i32x4.shl(magnitude, M_SHIFT), bias), i32x4.shl(v128.and(code, b80), 24));
  return f32x4.mul(v128.andnot(bits, i32x4.eq(magnitude, zero)), scale);
}

/** 8-bit codes → float32 values in the block's `scale`: S's format, or m's (`signed`). */
@inline
function decodeBytes(signed: bool, count: usize, codes: usize, scale: f32, out: usize, k: usize, heldAt: usize): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = zeroOf(k);
    const vScale = f32x4.add(f32x4.splat(scale), zero);
    const bias = held(heldAt, signed ? M_BIAS : S_BIAS);
    const b7f = held(heldAt, 0x7f);
    const b80 = held(heldAt, 0x80);
    for (; i + 16 <= count; i += 16) {
      const c = v128.load(codes + i);
      const p = out + (i << 2);
      v128.store(p, decodeLanes(signed, quarter(c, 0), vScale, zero, bias, b7f, b80));
      v128.store(p, decodeLanes(signed, quarter(c, 1), vScale, zero, bias, b7f, b80), 16);
      v128.store(p, decodeLanes(signed, quarter(c, 2), vScale, zero, bias, b7f, b80), 32);
      v128.store(p, decodeLanes(signed, quarter(c, 3), vScale, zero, bias, b7f, b80), 48);
    }
  }
  for (; i < count; i++) {
    const c = <u32>load<u8>(codes + i);
    store<f32>(out + (i << 2), signed ? decodeM(c, scale) : decodeS(c, scale));
  }
}

/**
 * Four float32 values → 8-bit codes (u32 lanes) in a regular block's scale (its field gives
 * `offset`), as encodeS and encodeM: S's format (from code 1, 0 only for 0) or m's (`signed`:
 * the magnitude and the sign of x < 0; 0 when rounded below 0). Regular: the scale is finite and not
 * tiny (31 ≤ field for S, 7 for m) nor saturated, so the values are finite, |x| ≤ the block's largest, 0 rounds
 * below code 1 and no code exceeds 255 (S) or 127; codes below 0 are left to store16's saturation.
 */
@inline
function encodeLanes(signed: bool, x: v128, random: v128, offset: v128, zero: v128, abs: v128, one: v128, b80: v128): v128 {
  if (!signed) {
    const code = i32x4.sub(i32x4.shr_u(i32x4.add(x, i32x4.shr_u(random, 32 - S_SHIFT)), S_SHIFT), offset);
    return i32x4.max_s(code, i32x4.min_u(x, one));
  }
  const a = v128.and(x, abs);
  const code = i32x4.sub(i32x4.shr_u(i32x4.add(a, i32x4.shr_u(random, 32 - M_SHIFT)), M_SHIFT), offset);
  return v128.or(code, v128.and(f32x4.lt(x, zero), b80));
}

/**
 * float32 values → 8-bit codes in the block's scale `field` (from `top`, their largest magnitude
 * bits), stochastically rounded: S's format or m's (`signed`). A block of zeros is all code 0;
 * lanes take regular blocks (encodeLanes), the scalar loop the rest (NaN or tiny scales: rare).
 * Unless nextCodes is 0, the lanes also load the next block's `count` codes at nextCodes and, in S's
 * pass (the first of a block's encodings), its w and g at nextW and nextG, so that they come from
 * memory while this pass computes (see updateQuantized).
 */
@inline
function encodeBytes(signed: bool, count: usize, values: usize, codes: usize, field: u32, top: u32, k: usize, k0: u32, heldAt: usize, nextW: usize, nextG: usize, nextCodes: usize): void {
  if (top == 0) {
    memory.fill(codes, 0, count);
    return;
  }
  let i: usize = 0;
  // (a saturated scale's values can pass its largest code: the scalar loop clamps them)
  if (ASC_FEATURE_SIMD && field >= <u32>(signed ? M_TOP : S_TOP) && field < SATURATED_FIELD) {
    const zero = zeroOf(k);
    const offset = held(heldAt, signed ? (<i32>field - M_TOP) << (23 - M_SHIFT) : (<i32>field - S_TOP) << (23 - S_SHIFT));
    const advance = held(heldAt, <i32>(4 * GOLDEN));
    const abs = held(heldAt, ABS);
    const one = held(heldAt, 1);
    const b80 = held(heldAt, 0x80);
    let random = firstRandom(codes, 1, k0);
    const loadAhead = nextCodes != 0;
    let touched = zero;
    for (; i + 16 <= count; i += 16) {
      if (loadAhead) {
        if (!signed) touched = v128.or(touched, v128.or(v128.load(nextW + (i << 2)), v128.load(nextG + (i << 2))));
        touched = v128.or(touched, v128.load(nextCodes + i));
      }
      const p = values + (i << 2);
      const c0 = encodeLanes(signed, v128.load(p), random, offset, zero, abs, one, b80);
      random = i32x4.add(random, advance);
      const c1 = encodeLanes(signed, v128.load(p, 16), random, offset, zero, abs, one, b80);
      random = i32x4.add(random, advance);
      const c2 = encodeLanes(signed, v128.load(p, 32), random, offset, zero, abs, one, b80);
      random = i32x4.add(random, advance);
      const c3 = encodeLanes(signed, v128.load(p, 48), random, offset, zero, abs, one, b80);
      random = i32x4.add(random, advance);
      store16(codes + i, c0, c1, c2, c3);
    }
    keepLoads(heldAt, touched, zero);
  }
  for (; i < count; i++) {
    const x = load<f32>(values + (i << 2));
    const random = mix(<u32>(codes + i) + k0);
    store<u8>(codes + i, signed ? encodeM(x, field, random) : encodeS(x, field, random));
  }
}

// one copy of each loop for S, one for m
function decodeS8(count: usize, codes: usize, scale: f32, out: usize, k: usize, heldAt: usize): void {
  decodeBytes(false, count, codes, scale, out, k, heldAt);
}
function decodeM8(count: usize, codes: usize, scale: f32, out: usize, k: usize, heldAt: usize): void {
  decodeBytes(true, count, codes, scale, out, k, heldAt);
}
/** Encodes S's new values (whose largest bits are `top`; their array and block keyed `k0`) in their new scale, which it returns (its exponent field). */
function encodeS8(count: usize, values: usize, codes: usize, k: usize, k0: u32, heldAt: usize, top: u32, nextW: usize, nextG: usize, nextCodes: usize): u32 {
  const field = scaleField(top, S_SHIFT);
  encodeBytes(false, count, values, codes, field, top, k, k0, heldAt, nextW, nextG, nextCodes);
  return field;
}
/** Encodes m's new values (their array and block keyed `k0`) in their new scale, which it returns (its exponent field). */
function encodeM8(count: usize, values: usize, codes: usize, k: usize, k0: u32, heldAt: usize, nextCodes: usize): u32 {
  const top = largest(count, values, ABS);
  const field = scaleField(top, M_SHIFT);
  encodeBytes(true, count, values, codes, field, top, k, k0, heldAt, 0, 0, nextCodes);
  return field;
}

// ---- a centered block's variance ---------------------------------------------------------------

// A centered block stores its variance v = S − ḡ² in S's codes, not S: S and ḡ rounded apart would
// wipe out their difference where a gradient's mean outweighs its noise (the step then runs away).
// S is rebuilt as v + ḡ² for the float32 step, and v taken from its new S and ḡ (below the smallest
// normal, 0 or negative: 0, as the step's flush).

/** s[i] = s[i] + a[i]² over `count` float32 values: S from v and ḡ. */
function addSquares(count: usize, s: usize, a: usize): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= count; i += 4) {
      const av = v128.load(a + (i << 2));
      v128.store(s + (i << 2), f32x4.add(v128.load(s + (i << 2)), f32x4.mul(av, av)));
    }
  }
  for (; i < count; i++) {
    const ai = load<f32>(a + (i << 2));
    store<f32>(s + (i << 2), load<f32>(s + (i << 2)) + ai * ai);
  }
}

/** s[i] = s[i] − a[i]², flushed as S is (below the smallest normal, 0): v from S and ḡ. */
function subtractSquares(count: usize, s: usize, a: usize, k: usize): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vMinNormal = v128.load(k + <usize>K.minNormal * SLOT_BYTES);
    for (; i + 4 <= count; i += 4) {
      const av = v128.load(a + (i << 2));
      v128.store(s + (i << 2), flushSquares(f32x4.sub(v128.load(s + (i << 2)), f32x4.mul(av, av)), vMinNormal));
    }
  }
  for (; i < count; i++) {
    const ai = load<f32>(a + (i << 2));
    store<f32>(s + (i << 2), flushSquare(load<f32>(s + (i << 2)) - ai * ai));
  }
}

// ---- the entry ----------------------------------------------------------------------------------

/**
 * bfloat16 in the simd builds' seed family (dispatchFused): `update` over each run of blocks of one
 * key (a tensor's), in one loop each. False, having done nothing, for the other modes.
 */
function fusedRuns(mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize, heldAt: usize, kq: usize): bool {
  for (let start: usize = 0; start < n; ) {
    const bk = blockKey(kq, start / STATE_BLOCK);
    let end = min<usize>(start + STATE_BLOCK, n);
    while (end < n && blockKey(kq, end / STATE_BLOCK) == bk) end = min<usize>(end + STATE_BLOCK, n);
    const at = start << 1;
    if (!dispatchFused(mode, end - start, w + (start << 2), g + (start << 2), s + at, a + at, m + at, k, heldAt, bk)) return false;
    start = end;
  }
  return true;
}

/**
 * One step over `n` elements with bfloat16 or 8-bit state (the stateFormat field of `mode`): for each
 * block, decode into the scratch, run `step` with the mode's float32 options over it, encode (in the
 * simd builds, the seed family runs `update` over the codes instead: dispatchFused for the whole call
 * with bfloat16, dispatchFusedBlock per block with 8 bits, then encode). s, a, m point to the codes (2 or
 * 1 bytes per element; ḡ's always 2); for 8 bits, sq and mq to the float32 scales of blocks of
 * STATE_BLOCK elements of S and m, the first block starting at element 0; `scratch` to
 * STATE_SCRATCH_BYTES of memory of this call's own.
 */
export function updateQuantized(
  mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize,
  sq: usize, mq: usize, scratch: usize,
): void {
  const half = ((mode >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) == MODE.STATE_FORMAT_BFLOAT16;
  const centered = (mode & MODE.CENTERED) != 0;
  const hasMomentum = ((mode >> MODE.MOMENTUM_SHIFT) & MODE.MOMENTUM_MASK) != MODE.MOMENTUM_NONE;
  const float32Mode = mode & ~(MODE.STATE_FORMAT_MASK << MODE.STATE_FORMAT_SHIFT);
  const sValues = scratch + S_AREA;
  const aValues = scratch + A_AREA;
  const mValues = scratch + M_AREA;
  const heldAt = scratch + HELD_AT;
  const loadAhead = load<f32>(k + <usize>K.loadAhead * SLOT_BYTES) != 0;
  const kq = blockKeysOf(k, sq);
  if (half && fusedRuns(mode, n, w, g, s, a, m, k, heldAt, kq)) return;
  for (let start: usize = 0; start < n; start += STATE_BLOCK) {
    const count = min<usize>(STATE_BLOCK, n - start);
    const bk = blockKey(kq, start / STATE_BLOCK);
    if (half) {
      const at = start << 1;
      decodeHalves(count, s + at, sValues, k);
      if (centered) decodeHalves(count, a + at, aValues, k);
      if (hasMomentum) decodeHalves(count, m + at, mValues, k);
      if (centered) addSquares(count, sValues, aValues);
      step(float32Mode, count, w + (start << 2), g + (start << 2), sValues, aValues, mValues, k, 0, 0, 0);
      if (centered) subtractSquares(count, sValues, aValues, k);
      encodeHalves(count, sValues, s + at, key(k, K.squareAvgKey) + bk, heldAt, s + at, 2);
      if (centered) encodeHalves(count, aValues, a + at, key(k, K.gradAvgKey) + bk, heldAt, a + at, 2);
      if (hasMomentum) encodeHalves(count, mValues, m + at, key(k, K.momentumKey) + bk, heldAt, m + at, 2);
      continue;
    }
    const block = (start / STATE_BLOCK) << 2;
    const w0 = w + (start << 2);
    const g0 = g + (start << 2);
    // wasm has no prefetch: when K.loadAhead asks, the encoding passes load the next block's w, g and
    // codes (this block's when the next is not whole), which arrive while they compute; faster on some
    // CPUs, slower on others (BENCHMARKS.md, "State formats"), so JS times both (src/loads-ahead.ts)
    const ahead: usize = start + (STATE_BLOCK << 1) <= n ? STATE_BLOCK : 0;
    const nextW = w0 + (ahead << 2);
    const nextG = g0 + (ahead << 2);
    const nextCodes = start + ahead;
    // the next codes' addresses, or 0: no loads ahead
    const nextS = loadAhead ? s + nextCodes : 0;
    const nextM = loadAhead ? m + nextCodes : 0;
    // the simd builds' seed family: decoded and stepped in one loop, which finds S's largest too
    const fusedTop = dispatchFusedBlock(mode, count, w0, g0, s + start, k, heldAt, sValues, sq + block);
    if (fusedTop >= 0) {
      store<f32>(sq + block, scaleOf(encodeS8(count, sValues, s + start, k, key(k, K.squareAvgKey) + bk, heldAt, <u32>fusedTop, nextW, nextG, nextS)));
      continue;
    }
    // ḡ as bfloat16 (see the top of this file)
    const aCodes = a + (start << 1);
    decodeS8(count, s + start, load<f32>(sq + block), sValues, k, heldAt);
    if (centered) decodeHalves(count, aCodes, aValues, k);
    if (hasMomentum) decodeM8(count, m + start, load<f32>(mq + block), mValues, k, heldAt);
    if (centered) addSquares(count, sValues, aValues);
    step(float32Mode, count, w0, g0, sValues, aValues, mValues, k, 0, 0, 0);
    if (centered) subtractSquares(count, sValues, aValues, k);
    const top = largest(count, sValues, 0xffffffff);
    store<f32>(sq + block, scaleOf(encodeS8(count, sValues, s + start, k, key(k, K.squareAvgKey) + bk, heldAt, top, nextW, nextG, nextS)));
    if (centered) encodeHalves(count, aValues, aCodes, key(k, K.gradAvgKey) + bk, heldAt, aCodes >> 1, 1);
    if (hasMomentum) store<f32>(mq + block, scaleOf(encodeM8(count, mValues, m + start, k, key(k, K.momentumKey) + bk, heldAt, nextM)));
  }
}

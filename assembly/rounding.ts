// What the compressed-state kernels share (assembly/quantized.ts, and the loads and stores of state
// inside `update` in assembly/update.ts): the random bits of stochastic rounding, bfloat16's codec and
// the decoding of S's 8-bit codes.
import { GOLDEN, K, S_SHIFT, S_TOP, SLOT_BYTES, STATE_SCRATCH_BYTES } from './generated/abi';

export const ABS: u32 = 0x7fffffff;
export const INFINITY_BITS: u32 = 0x7f800000;
export const NAN_BITS: u32 = 0x7fc00000;

// The random bits of an element: (its code's byte address, or half of it for ḡ's 2-byte codes in an
// 8-bit call (assembly/quantized.ts' encodeHalves), + its array's key + its block's key) times
// an odd constant (the golden ratio's): the top bits are uniform over the elements of a call, and a
// fresh key per step (a full hash of step and seed, src/state-codecs.ts) varies them across steps;
// the array's and block's keys cancel the address out (src/tensors.ts, Group.roundingKeys), so that
// they depend on the tensor's size and the element's index, not on where the tensor lies.
// In lanes, the next four elements' bits are the last ones plus a constant: one add.

@inline
export function mix(x: u32): u32 {
  return x * GOLDEN;
}

/** The rounding key in constant slot `slot` (K.squareAvgKey, K.gradAvgKey or K.momentumKey). */
@inline
export function key(k: usize, slot: i32): u32 {
  return load<u32>(k + <usize>slot * SLOT_BYTES);
}

/** Block `b`'s rounding key among a call's block keys at `kq` (0: none, every block's is 0). */
@inline
export function blockKey(kq: usize, b: usize): u32 {
  return kq == 0 ? 0 : load<u32>(kq + (b << 2));
}

/** A call's block keys: K.blockKeysOffset bytes from its square scales' pointer `sq`, or 0 (the slot holds 0: none). */
@inline
export function blockKeysOf(k: usize, sq: usize): usize {
  const offset = load<u32>(k + <usize>K.blockKeysOffset * SLOT_BYTES);
  return offset == 0 ? 0 : sq + <usize>offset;
}

@inline
export function zeroOf(k: usize): v128 {
  return v128.load(k + <usize>K.zero * SLOT_BYTES);
}

/** The scratch slot through which a call's lane loops load their integer constants (`held`). */
export const HELD_AT: usize = STATE_SCRATCH_BYTES - SLOT_BYTES;

// An integer constant of a lane loop, stored at `at` (the call's HELD_AT slot) before the loop and
// loaded back: V8 (Node 20, 22) keeps a loaded value in a register, but builds a v128.const, and any
// operation on one, again on every iteration, in several instructions (BENCHMARKS.md, "State formats").
@inline
export function held(at: usize, value: i32): v128 {
  v128.store(at, i32x4.splat(value));
  return v128.load(at);
}

/** Stores at `at` (the HELD_AT slot) zeros that depend on `touched`, so loads made only to bring lines in are not dropped as unused. */
@inline
export function keepLoads(at: usize, touched: v128, zero: v128): void {
  v128.store(at, v128.and(touched, zero));
}

/** The random words of the four elements from byte address `p`, codes `stride` bytes apart, of the array keyed `k0`. */
@inline
export function firstRandom(p: usize, stride: i32, k0: u32): v128 {
  const lanes = i32x4.add(i32x4.splat(<i32>p), i32x4(0, stride, 2 * stride, 3 * stride));
  return i32x4.mul(i32x4.add(lanes, i32x4.splat(<i32>k0)), i32x4.splat(<i32>GOLDEN));
}

/** A float32 as a bfloat16 code, stochastically rounded; NaN as one NaN (its payload is not the same on every backend). */
@inline
export function encodeHalf(x: f32, random: u32): u32 {
  const b = reinterpret<u32>(x);
  return (b & ABS) > INFINITY_BITS ? NAN_BITS >>> 16 : (b + (random >>> 16)) >>> 16;
}

/** The bfloat16 code at byte address `at` as a float32 (code << 16). */
@inline
export function loadHalf(at: usize): f32 {
  return reinterpret<f32>(<u32>load<u16>(at) << 16);
}

/** Stores `x` as the bfloat16 code at byte address `at`, its random word from `at` and its array's key `k0`. */
@inline
export function storeHalf(at: usize, x: f32, k0: u32): void {
  store<u16>(at, encodeHalf(x, mix(<u32>at + k0)));
}

/** Four bfloat16 codes at `p` as float32 lanes (code << 16). */
@inline
export function decodeHalfLanes(p: usize): v128 {
  return i32x4.shl(v128.load16x4_u(p), 16);
}

/**
 * Four float32 lanes → their bfloat16 codes in u32 lanes, as encodeHalf (`random`: their random words,
 * `nan`: NAN_BITS). `square`: x is S, flushed (+0, at least the smallest normal, or NaN): its NaNs,
 * quiet from arithmetic, are the only bits above NAN_BITS, so one unsigned min makes them the one NaN.
 */
@inline
export function halfCodes(x: v128, random: v128, nan: v128, square: bool = false): v128 {
  const canonical = square ? i32x4.min_u(x, nan) : v128.bitselect(nan, x, f32x4.ne(x, x));
  return i32x4.shr_u(i32x4.add(canonical, i32x4.shr_u(random, 16)), 16);
}

/** Four float32 lanes → bfloat16 codes (halfCodes), stored at `p`. */
@inline
export function encodeHalfLanes(p: usize, x: v128, random: v128, nan: v128, square: bool = false): void {
  const h = halfCodes(x, random, nan, square);
  v128.store64_lane(p, i16x8.narrow_i32x4_u(h, h), 0);
}

// S in 8 bits: an unsigned E5M3 small float (code 0 is 0) times its block's power-of-two scale
// (S_SHIFT, S_TOP: the ABI table, scripts/abi.ts).
/** What a code shifted into place adds up with to be the float32 bits of its value in a scale of 1. */
export const S_BIAS: i32 = (127 - S_TOP) << 23;

/** S's 8-bit code `c` as a float32 in its block's `scale`. */
@inline
export function decodeS(c: u32, scale: f32): f32 {
  return (c == 0 ? <f32>0 : reinterpret<f32>((c << S_SHIFT) + <u32>S_BIAS)) * scale;
}

/** Four 8-bit codes at `p` as u32 lanes. */
@inline
export function byteLanes(p: usize): v128 {
  return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
}

/** Four 8-bit codes of S (u32 lanes) as float32 lanes, as decodeS; `bias`: S_BIAS in each lane. */
@inline
export function decodeSLanes(code: v128, scale: v128, zero: v128, bias: v128): v128 {
  const bits = i32x4.add(i32x4.shl(code, S_SHIFT), bias);
  return f32x4.mul(v128.andnot(bits, i32x4.eq(code, zero)), scale);
}

/** The largest of four u32 lanes. */
@inline
export function largestLane(x: v128): u32 {
  const half = i32x4.max_u(x, i32x4.shuffle(x, x, 2, 3, 0, 1));
  return <u32>i32x4.extract_lane(i32x4.max_u(half, i32x4.shuffle(half, half, 1, 0, 3, 2)), 0);
}

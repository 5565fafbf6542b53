// RMSProp update kernels over raw linear memory.
//
// JS owns the memory layout: every pointer is a byte offset of an array of `n` elements (float32, or
// compressed state's codes and scales) or of a call's own scratch, and the kernel touches nothing
// else, so any slice of the arrays can be updated by any caller (one thread or several over a shared
// memory). There is no global state and no allocation.
//
// The same source builds twice: with `--enable simd` the main loop runs on f32x4 lanes, without it
// only the scalar loop is compiled. Both loops perform the same IEEE operations in the same order
// as the js backend's loops (src/generated/js-kernels.ts, written by scripts/build-js-kernels.ts),
// so every backend yields the same bits. No FMA, no relaxed SIMD.
import { K, MODE, REDUCTION_BLOCK, SLOT_BYTES } from './generated/abi';
import { dispatch } from './generated/dispatch';
import { updateQuantized } from './quantized';
import { clampTo, clampVector } from './update';

/**
 * One RMSProp step over `n` elements.
 *
 * w, g, s: parameters, gradients, square averages (w and s are updated in place; g is only read).
 * a, m: gradient averages (centered) and momentum buffers; not touched when their option is off.
 * k: the step's float constants, written by JS once per step (writeStepConstants in src/kernel.ts).
 * `mode` selects the options (bits in scripts/abi.ts). The gradient entering the update is
 * clamp(g, ±clipValue)·gradScale (scale = clipping × ±1 for maximize); S, ḡ and m are flushed to
 * zero below the smallest normal float32. With bfloat16 or 8-bit state (assembly/quantized.ts), s, a,
 * m hold codes (a: bfloat16 in both), sq and mq the 8-bit blocks' scales of S and m, and `scratch`
 * STATE_SCRATCH_BYTES of the call's own; float32 modes ignore sq, mq and scratch.
 */
export function step(
  mode: i32, n: usize, w: usize, g: usize, s: usize, a: usize, m: usize, k: usize, sq: usize, mq: usize,
  scratch: usize,
): void {
  if (((mode >> MODE.STATE_FORMAT_SHIFT) & MODE.STATE_FORMAT_MASK) != MODE.STATE_FORMAT_FLOAT32) {
    updateQuantized(mode, n, w, g, s, a, m, k, sq, mq, scratch);
  } else dispatch(mode, n, w, g, s, a, m, k);
}

/**
 * The parameters' moving average after their update (the ema option, Keras' use_ema): over `n`
 * elements, e = μ·e + (1 − μ)·w, each product and the sum rounded to float32, with μ and 1 − μ from
 * the step's constants at `k`. (An average's first value is a copy of w, made in JS: startAverages.)
 */
export function average(n: usize, w: usize, e: usize, k: usize): void {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const vMomentum = v128.load(k + <usize>K.averageMomentum * SLOT_BYTES);
    const vOneMinus = v128.load(k + <usize>K.averageOneMinus * SLOT_BYTES);
    for (; i + 4 <= n; i += 4) {
      const at = i << 2;
      const next = f32x4.add(f32x4.mul(vMomentum, v128.load(e + at)), f32x4.mul(vOneMinus, v128.load(w + at)));
      v128.store(e + at, next);
    }
  }
  const momentum = load<f32>(k + <usize>K.averageMomentum * SLOT_BYTES);
  const oneMinus = load<f32>(k + <usize>K.averageOneMinus * SLOT_BYTES);
  for (; i < n; i++) {
    const at = i << 2;
    store<f32>(e + at, momentum * load<f32>(e + at) + oneMinus * load<f32>(w + at));
  }
}

// Gradient reductions, in an order every backend and any split into slices reproduces: the
// gradients are cut into blocks of REDUCTION_BLOCK elements; within a block, element i goes to float64
// partial sum i % 4 in index order, and the block's sum is (p0 + p1) + (p2 + p3). Callers add the
// block sums in order. Squares of float32 values are exact in float64.

/**
 * Writes to `out` (float64) the sum of squares of each block of `clamp(g, ±clipValue)`, over `n`
 * elements starting at `g` (a block boundary).
 */
export function sumSquares(n: usize, g: usize, clipValue: f32, out: usize): void {
  for (let start: usize = 0; start < n; start += REDUCTION_BLOCK) {
    const end = min<usize>(start + REDUCTION_BLOCK, n);
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
    store<f64>(out + ((start / REDUCTION_BLOCK) << 3), (p0 + p1) + (p2 + p3));
  }
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

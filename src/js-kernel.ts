// The js backend's kernel: the operations of assembly/update.ts in the same order, each rounded to
// float32, over the heap's buffer, through the same ABI (kernel.ts) as the wasm builds.
import * as float32 from './float32.js';
import { K, MODE, REDUCTION_BLOCK, RESERVED_SLOTS, SLOT_FLOATS, STATE_BLOCK } from './generated/abi.js';
import { JS_STEPS } from './generated/js-kernels.js';
import type { Kernel } from './kernel.js';
import { type Codes, decodeChunk, encodeChunk } from './state-codecs.js';

const { STATE_FORMAT_SHIFT, STATE_FORMAT_MASK, STATE_FORMAT_FLOAT32, STATE_FORMAT_BFLOAT16 } = MODE;
const { CENTERED, MOMENTUM_SHIFT, MOMENTUM_MASK, MOMENTUM_NONE } = MODE;
// Elements decoded at a time (whole blocks), and their S, ḡ, m as float32: a bounded scratch, so that
// compressed state keeps its memory saving on the js backend too.
const CHUNK = 64 * STATE_BLOCK;
// Made at the first compressed step, not at import: 768 KiB that a program with float32 state never needs.
let scratch: Float32Array[] | undefined;
// Copies in this module: a test runner or bundler that reaches imports through getters (vitest,
// webpack in development) would otherwise run a getter per element.
const { clamp, f, fromVariance, toVariance } = float32;

const square = (x: number) => x * x;
/** The scales argument of a mode without 8-bit state. */
const NONE = new Float32Array(0);

/**
 * The JS kernels: the same operations in the same order as assembly/update.ts, each rounded to
 * float32, so they agree with the wasm kernels bit for bit (NaN payloads aside). The update runs
 * one generated loop per mode (src/generated/js-kernels.ts), so no element tests an option.
 * @internal
 */
export function jsKernel(buffer: ArrayBuffer): Kernel {
  // V8 optimises indexing a typed array from 0 far better than indexing one big heap at an offset,
  // so each pointer gets a view that starts there; views are cached, so steps allocate nothing.
  const views = new Map<number, Float32Array>();
  const at = (pointer: number) => {
    let view = views.get(pointer);
    if (!view) views.set(pointer, (view = new Float32Array(buffer, pointer)));
    return view;
  };
  const words = new Map<number, Uint32Array>();
  const word = (pointer: number) => {
    let view = words.get(pointer);
    if (!view) words.set(pointer, (view = new Uint32Array(buffer, pointer, RESERVED_SLOTS * SLOT_FLOATS)));
    return view;
  };
  const tables = new Map<number, Uint32Array>();
  const noKeys = new Uint32Array(0);
  /** A call's block keys: K.blockKeysOffset bytes from its `sq` (0: none). */
  const blockKeys = (sq: number, kp: number) => {
    const offset = word(kp)[K.blockKeysOffset * SLOT_FLOATS];
    if (offset === 0) return noKeys;
    const pointer = (sq + offset) % 2 ** 32;
    let view = tables.get(pointer);
    if (!view) tables.set(pointer, (view = new Uint32Array(buffer, pointer)));
    return view;
  };
  const halves = new Map<number, Uint16Array>();
  const bytes = new Map<number, Uint8Array>();
  const half = (pointer: number) => {
    let view = halves.get(pointer);
    if (!view) halves.set(pointer, (view = new Uint16Array(buffer, pointer)));
    return view;
  };
  const byte = (pointer: number) => {
    let view = bytes.get(pointer);
    if (!view) bytes.set(pointer, (view = new Uint8Array(buffer, pointer)));
    return view;
  };
  const float64 = new Float64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
  return {
    step(mode, n, wp, gp, sp, ap, mp, kp, sq = 0, mq = 0) {
      const format = (mode >> STATE_FORMAT_SHIFT) & STATE_FORMAT_MASK;
      if (format === STATE_FORMAT_FLOAT32) {
        JS_STEPS[mode](n, at(wp), at(gp), at(sp), at(ap), at(mp), at(kp));
        return;
      }
      // As assembly/quantized.ts computes it: the state decoded, the mode's float32 step over it, encoded again
      // (8 bits: in each block's new scale), with each code's random bits from its address and keys; the
      // views are cached and the scratch made once, so a step allocates nothing.
      const isHalf = format === STATE_FORMAT_BFLOAT16;
      const codes: (pointer: number) => Codes = isHalf ? half : byte;
      // codes' random addresses step by their width, or by 1 with 8 bits (ḡ's too: half its byte address)
      const stride = isHalf ? 2 : 1;
      const s = codes(sp);
      const m = codes(mp);
      // ḡ is bfloat16 with 8 bits too (layout.ts' arrayFormat), its random address there half its byte address
      const a = half(ap);
      const aAddress = isHalf ? ap : ap / 2;
      const sqv = isHalf ? NONE : at(sq);
      const mqv = isHalf ? NONE : at(mq);
      const k = at(kp);
      const keys = word(kp);
      const blocks = blockKeys(sq, kp);
      const centered = (mode & CENTERED) !== 0;
      const hasMomentum = ((mode >> MOMENTUM_SHIFT) & MOMENTUM_MASK) !== MOMENTUM_NONE;
      const float32Step = JS_STEPS[mode & ~(STATE_FORMAT_MASK << STATE_FORMAT_SHIFT)];
      scratch ??= [new Float32Array(CHUNK), new Float32Array(CHUNK), new Float32Array(CHUNK)];
      const sv = scratch[0];
      const av = scratch[1];
      const mv = scratch[2];
      for (let first = 0; first < n; first += CHUNK) {
        const count = Math.min(CHUNK, n - first);
        decodeChunk(sv, s, sqv, first, count, isHalf, true);
        if (centered) decodeChunk(av, a, NONE, first, count, true, false);
        if (hasMomentum) decodeChunk(mv, m, mqv, first, count, isHalf, false);
        // a centered group stores v = S − ḡ² (assembly/quantized.ts): S rebuilt for the step, v after it
        if (centered) for (let j = 0; j < count; j++) sv[j] = fromVariance(sv[j], av[j]);
        float32Step(count, at(wp + first * 4), at(gp + first * 4), sv, av, mv, k);
        if (centered) for (let j = 0; j < count; j++) sv[j] = toVariance(sv[j], av[j]);
        encodeChunk(sv, s, sp, stride, sqv, first, count, isHalf, true, keys, K.squareAvgKey, blocks);
        if (centered) encodeChunk(av, a, aAddress, stride, NONE, first, count, true, false, keys, K.gradAvgKey, blocks);
        if (hasMomentum) encodeChunk(mv, m, mp, stride, mqv, first, count, isHalf, false, keys, K.momentumKey, blocks);
      }
    },

    average(n, wp, ep, kp) {
      const w = at(wp);
      const e = at(ep);
      const k = at(kp);
      const momentum = k[K.averageMomentum * SLOT_FLOATS];
      const oneMinus = k[K.averageOneMinus * SLOT_FLOATS];
      for (let i = 0; i < n; i++) e[i] = f(f(momentum * e[i]) + f(oneMinus * w[i]));
    },

    sumSquares(n, gp, clipValue, out) {
      const g = at(gp);
      const limit = f(clipValue);
      const minusLimit = -limit;
      for (let start = 0; start < n; start += REDUCTION_BLOCK) {
        const end = Math.min(start + REDUCTION_BLOCK, n);
        let p0 = 0,
          p1 = 0,
          p2 = 0,
          p3 = 0;
        let i = start;
        for (; i + 4 <= end; i += 4) {
          const x0 = clamp(g[i], minusLimit, limit),
            x1 = clamp(g[i + 1], minusLimit, limit);
          const x2 = clamp(g[i + 2], minusLimit, limit),
            x3 = clamp(g[i + 3], minusLimit, limit);
          p0 += x0 * x0;
          p1 += x1 * x1;
          p2 += x2 * x2;
          p3 += x3 * x3;
        }
        if (i < end) p0 += square(clamp(g[i], minusLimit, limit));
        if (i + 1 < end) p1 += square(clamp(g[i + 1], minusLimit, limit));
        if (i + 2 < end) p2 += square(clamp(g[i + 2], minusLimit, limit));
        float64[out / 8 + start / REDUCTION_BLOCK] = p0 + p1 + (p2 + p3);
      }
    },

    firstNonFinite(n, gp) {
      const g = at(gp);
      for (let i = 0; i < n; i++) if (!(Math.abs(g[i]) < Infinity)) return i;
      return -1;
    },
  };
}

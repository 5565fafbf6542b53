// Compressed state (issue 23): the bfloat16 and 8-bit kernels give the same bits on simd, wasm and js
// at every numeric edge, their codes decode within one step of their grid of a float64 reference, and
// a step equals "decode, update in float32, encode" computed here from the formats' definitions.
import { describe, expect, it } from 'vitest';
import { compileBackend, createBackend } from '../../src/backends.js';
import {
  CONSTANTS_BYTES,
  kernelMode,
  MODE,
  STATE_BLOCK,
  STATE_SCRATCH_BYTES,
  writeStepConstants,
} from '../../src/kernel.js';
import { type RMSPropOptions, type ResolvedOptions, resolveOptions } from '../../src/options.js';
import { BACKENDS, normal, rng, sameBits } from '../support/helpers.js';

type Format = 'bfloat16' | '8bit';
const FORMAT_BITS: Record<Format, number> = {
  bfloat16: MODE.STATE_FORMAT_BFLOAT16 << MODE.STATE_FORMAT_SHIFT,
  '8bit': MODE.STATE_FORMAT_8BIT << MODE.STATE_FORMAT_SHIFT,
};
const CODE_BYTES: Record<Format, number> = { bfloat16: 2, '8bit': 1 };
/** ḡ's codes are bfloat16 in both formats (src/layout.ts' arrayFormat). */
const GRAD_AVG_BYTES = 2;

const align = (x: number) => Math.ceil(x / 16) * 16;

/** The heap of one kernel call over n elements: constants, w, g, the three state arrays, their scales, the scratch. */
function layout(n: number, format: Format) {
  const w = CONSTANTS_BYTES;
  const g = w + align(4 * n);
  const codes = align(CODE_BYTES[format] * n);
  const s = g + align(4 * n);
  const a = s + codes;
  const m = a + align(GRAD_AVG_BYTES * n);
  const blocks = Math.ceil(n / STATE_BLOCK);
  const sq = m + codes;
  const mq = sq + align(4 * blocks);
  const scratch = mq + align(4 * blocks);
  return { w, g, s, a, m, sq, mq, scratch, bytes: scratch + STATE_SCRATCH_BYTES, blocks };
}

interface Run {
  heap: Uint8Array;
  at: ReturnType<typeof layout>;
}

/**
 * `steps` kernel steps of `options` with `format` state from `initial` (w, then gradients per step),
 * on `backend`; the heap afterwards.
 */
async function run(
  backend: (typeof BACKENDS)[number],
  format: Format,
  options: RMSPropOptions,
  w: Float32Array,
  gradients: Float32Array[],
  prepare?: (heap: Uint8Array, at: ReturnType<typeof layout>) => void,
  transformed = 0,
  loadAhead = 0,
): Promise<Run> {
  const n = w.length;
  const at = layout(n, format);
  await compileBackend(backend);
  const { buffer, kernel } = createBackend(backend, at.bytes);
  const heap = new Uint8Array(buffer);
  const floats = new Float32Array(buffer);
  floats.set(w, at.w / 4);
  prepare?.(heap, at);
  const resolved = resolveOptions(options);
  const mode = kernelMode(resolved) | transformed | FORMAT_BITS[format];
  gradients.forEach((g, step) => {
    floats.set(g, at.g / 4);
    writeStepConstants(floats, 0, resolved, step + 1, Float64Array.of(resolved.lr as number, 1, loadAhead), 7);
    kernel.step(mode, n, at.w, at.g, at.s, at.a, at.m, 0, at.sq, at.mq, at.scratch);
  });
  return { heap: heap.slice(), at };
}

const EDGES = [0, -0, 1e-40, -1e-40, 1e-30, -1e-30, 1e18, -1e18, 1e-3];
// values whose square (S) overflows, or NaN: they make their block's scale NaN from then on, so they
// go to the third block only, and the other blocks keep exercising finite codes at every step
const OVERFLOWING = [3e38, -3e38, 1e20, Infinity, -Infinity, NaN];

/**
 * Gradients of `n` elements: normal, a tenth edge values (overflowing ones only in the third block),
 * and in the second block one outlier.
 */
function gradients(n: number, steps: number, seed: number, edges: boolean): Float32Array[] {
  const random = rng(seed);
  return Array.from({ length: steps }, () => {
    const g = Float32Array.from({ length: n }, (_, i) => {
      if (!edges || random() >= 0.1) return normal(random) * 1e-2;
      const pool = Math.floor(i / STATE_BLOCK) === 2 && random() < 0.5 ? OVERFLOWING : EDGES;
      return pool[Math.floor(random() * pool.length)];
    });
    if (n > STATE_BLOCK + 10) g[STATE_BLOCK + 7] = 1e6;
    return g;
  });
}

const OPTION_SETS: Array<[string, RMSPropOptions, number]> = [
  ['seed', {}, 0],
  ['centered + momentum', { centered: true, momentum: 0.9 }, 0],
  ['centered + nesterov, ε outside', { centered: true, momentum: 0.9, nesterov: true, epsInSqrt: false }, 0],
  ['coupled weight decay, transformed', { weightDecay: 0.01, momentum: 0.5 }, MODE.TRANSFORMED],
  ['decoupled weight decay, centered', { weightDecay: 0.01, decoupledWeightDecay: true, centered: true }, 0],
];

describe.each(['bfloat16', '8bit'] as const)('%s state: the same bits on every backend', (format) => {
  it.each(OPTION_SETS)('%s, at every edge, over lengths around vectors and blocks', async (_, options, transformed) => {
    for (const n of [1, 3, 5, 1023, 1024, 1025, 2051, 3100]) {
      const random = rng(n);
      const w = Float32Array.from({ length: n }, () => normal(random));
      const g = gradients(n, 4, n + 1, true);
      const runs = await Promise.all(
        BACKENDS.map((backend) => run(backend, format, options, w, g, undefined, transformed)),
      );
      const [simd, ...others] = runs;
      for (const [i, other] of others.entries()) {
        const where = `${BACKENDS[i + 1]} vs simd, n ${n}`;
        const { w: wAt, s } = simd.at;
        const weights = (r: Run) => new Float32Array(r.heap.buffer, wAt, n);
        expect(sameBits(weights(other), weights(simd)), where).toBeUndefined();
        // codes and scales: every byte, NaN included (the kernels write one NaN, 0x7fc00000)
        const state = (r: Run) => r.heap.subarray(s, r.at.scratch);
        const differs = state(other).findIndex((byte, j) => byte !== state(simd)[j]);
        expect(differs, `${where}: state byte ${differs}`).toBe(-1);
      }
    }
  });

  // ±∞ without a NaN beside it saturates its block's scale (2^127) rather than making it NaN, and its
  // codes clamp to the largest: in the scalar loop, since the lanes would carry ∞'s magnitude into ḡ's sign bit.
  it.each([
    ['centered + momentum', { centered: true, momentum: 0.9 }],
    ['seed', {}],
  ] as const)(
    'a block of finite values and ±∞ (a saturated scale): the same bits on every backend, %s',
    async (_, options) => {
      const n = 3 * STATE_BLOCK + 5;
      const random = rng(31);
      const w = Float32Array.from({ length: n }, () => normal(random));
      const g = [1, 2, 3].map((step) => {
        const values = Float32Array.from({ length: n }, () => normal(random) * 1e-2);
        if (step === 1) [values[STATE_BLOCK + 5], values[STATE_BLOCK + 9]] = [Infinity, -Infinity];
        return values;
      });
      const [simd, ...others] = await Promise.all(BACKENDS.map((backend) => run(backend, format, options, w, g)));
      if ('centered' in options) {
        const gradAvg = new Uint16Array(simd.heap.buffer, simd.at.a, n);
        expect([gradAvg[STATE_BLOCK + 5], gradAvg[STATE_BLOCK + 9]]).toEqual([0x7f80, 0xff80]); // ḡ = ±∞ as bfloat16
      }
      for (const [i, other] of others.entries()) {
        const where = `${BACKENDS[i + 1]} vs simd`;
        const weights = (r: Run) => new Float32Array(r.heap.buffer, r.at.w, n);
        expect(sameBits(weights(other), weights(simd)), where).toBeUndefined();
        const state = (r: Run) => r.heap.subarray(r.at.s, r.at.scratch);
        const differs = state(other).findIndex((byte, j) => byte !== state(simd)[j]);
        expect(differs, `${where}: state byte ${differs}`).toBe(-1);
      }
    },
  );

  // The loads ahead only bring lines in (src/loads-ahead.ts picks them by timing): every byte of the
  // heap but the constants, the scratch too, is the same without them, over blocks whose next is
  // whole and the last two.
  it.each(OPTION_SETS)(
    '%s: the loads ahead (K.loadAhead) change no byte of the heap (simd)',
    async (_, options, transformed) => {
      const n = 6 * STATE_BLOCK + 13;
      const random = rng(n);
      const w = Float32Array.from({ length: n }, () => normal(random));
      const g = gradients(n, 3, n + 1, true);
      const [withLoads, without] = await Promise.all(
        [1, 0].map((loadAhead) => run('simd', format, options, w, g, undefined, transformed, loadAhead)),
      );
      // past the constants (whose K.loadAhead slot differs)
      const [a, b] = [withLoads, without].map((r) => r.heap.subarray(r.at.w));
      const differs = a.findIndex((byte, j) => byte !== b[j]);
      expect(differs, `heap byte ${differs} past the constants`).toBe(-1);
    },
  );

  it('js decodes a chunk at a time: the same bits past its first chunk (64 blocks)', async () => {
    const n = 64 * STATE_BLOCK + 1029;
    const random = rng(7);
    const w = Float32Array.from({ length: n }, () => normal(random));
    const g = gradients(n, 2, 8, true);
    const options = { centered: true, momentum: 0.9 };
    const [simd, js] = await Promise.all((['simd', 'js'] as const).map((b) => run(b, format, options, w, g)));
    const weights = (r: Run) => new Float32Array(r.heap.buffer, r.at.w, n);
    expect(sameBits(weights(js), weights(simd))).toBeUndefined();
    // codes and scales: every byte, NaN included (the kernels write one NaN, 0x7fc00000)
    const differs = js.heap.findIndex((byte, j) => byte !== simd.heap[j] && j >= simd.at.s && j < simd.at.scratch);
    expect(differs, `state byte ${differs - simd.at.s}`).toBe(-1);
  });

  // The seed's 8-bit blocks run `update`'s own loop in the simd build (S decoded in it), the others the passes.
  it.each([
    ['centered + momentum', { centered: true, momentum: 0.9 }],
    ['seed', {}],
  ] as const)('from arbitrary codes and scales (every code decodes), %s', async (_, options) => {
    const n = 4099;
    const random = rng(99);
    const w = Float32Array.from({ length: n }, () => normal(random));
    const at = layout(n, format);
    const initial = Uint8Array.from({ length: at.sq - at.s }, () => Math.floor(random() * 256));
    const scales = Float32Array.from({ length: (at.scratch - at.sq) / 4 }, () => 2 ** Math.floor(random() * 60 - 40));
    // S's second to fourth blocks: a subnormal scale (decoded S subnormal, then flushed), 0 and +∞ (code 0: NaN)
    scales.set([2 ** -140, 0, Infinity], 1);
    const prepare = (heap: Uint8Array) => {
      heap.set(initial, at.s);
      heap.set(new Uint8Array(scales.buffer), at.sq);
    };
    const g = gradients(n, 2, 5, true);
    const runs = await Promise.all(BACKENDS.map((backend) => run(backend, format, options, w, g, prepare)));
    for (const other of runs.slice(1)) {
      const differs = other.heap.findIndex((byte, j) => byte !== runs[0].heap[j] && j >= at.s && j < at.scratch);
      expect(differs).toBe(-1);
      expect(
        sameBits(new Float32Array(other.heap.buffer, at.w, n), new Float32Array(runs[0].heap.buffer, at.w, n)),
      ).toBeUndefined();
    }
  });
});

// Both compressed formats, seed and centered + momentum; and one step's w, g and constants.
const EDGE_CASES = (['bfloat16', '8bit'] as const).flatMap((format) =>
  OPTION_SETS.slice(0, 2).map(([name, options]) => [`${format}, ${name}`, format, options] as const),
);

function prepareStep(floats: Float32Array, at: { w: number; g: number }, n: number, resolved: ResolvedOptions) {
  const random = rng(n);
  for (let i = 0; i < n; i++) {
    floats[at.w / 4 + i] = normal(random);
    floats[at.g / 4 + i] = normal(random) * 1e-2;
  }
  writeStepConstants(floats, 0, resolved, 1, Float64Array.of(1e-3, 1, 1), 7); // with the loads ahead (K.loadAhead)
}

// The lane loops load ahead of the element they update (8 bits: the next block; bfloat16: 1 024
// elements on), clamped to the arrays: with an array ending where memory ends, a load past it traps.
describe('compressed state reads no byte past its arrays', () => {
  const ARRAYS = ['w', 'g', 's', 'a', 'm'] as const;
  it.each(EDGE_CASES)('%s: each array ending where memory ends', async (_, format, options) => {
    const resolved = resolveOptions(options);
    const mode = kernelMode(resolved) | FORMAT_BITS[format];
    await compileBackend('simd');
    for (const n of [2048, 2053, 3072, 1029, 1020, 4]) {
      const blocks = Math.ceil(n / STATE_BLOCK);
      const codes = CODE_BYTES[format] * n;
      const sizes = { w: 4 * n, g: 4 * n, s: codes, a: GRAD_AVG_BYTES * n, m: codes };
      for (const last of ARRAYS) {
        // constants, scales and scratch first, then the arrays, `last` ending at the memory's end
        let next = CONSTANTS_BYTES + 2 * align(4 * blocks) + STATE_SCRATCH_BYTES;
        const total = next + ARRAYS.reduce((sum, name) => sum + align(sizes[name]), 0);
        const end = Math.ceil(total / 65536) * 65536;
        const at = { w: 0, g: 0, s: 0, a: 0, m: 0 };
        for (const name of ARRAYS.filter((name) => name !== last)) {
          at[name] = next;
          next += align(sizes[name]);
        }
        at[last] = end - sizes[last];
        const [sq, mq, scratch] = [0, 1, 2].map((k) => CONSTANTS_BYTES + k * align(4 * blocks));
        const { buffer, kernel } = createBackend('simd', end);
        expect(buffer.byteLength).toBe(end);
        prepareStep(new Float32Array(buffer), at, n, resolved);
        const call = () => kernel.step(mode, n, at.w, at.g, at.s, at.a, at.m, 0, sq, mq, scratch);
        expect(call, `n ${n}, ${last} last`).not.toThrow();
      }
    }
  });
});

// The lane loops also write into the scratch (their integer constants, assembly/rounding.ts `held`):
// with the scratch ending where memory ends, a byte written past it traps.
describe('compressed state writes nothing past its scratch', () => {
  it.each(EDGE_CASES)('%s', async (_, format, options) => {
    const resolved = resolveOptions(options);
    const mode = kernelMode(resolved) | FORMAT_BITS[format];
    await compileBackend('simd');
    const n = 2053;
    const at = layout(n, format);
    const end = Math.ceil(at.bytes / 65536) * 65536;
    const scratch = end - STATE_SCRATCH_BYTES;
    const { buffer, kernel } = createBackend('simd', end);
    prepareStep(new Float32Array(buffer), at, n, resolved);
    const call = () => kernel.step(mode, n, at.w, at.g, at.s, at.a, at.m, 0, at.sq, at.mq, scratch);
    expect(call).not.toThrow();
  });
});

// ---- against a float64 reference of the formats' definitions ----------------------------------

const asFloat = (bits: number) => new Float32Array(Uint32Array.of(bits).buffer)[0];
const bitsOf = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
const f = Math.fround;
const binade = (x: number) => ((bitsOf(x) >>> 23) & 0xff) - 127;

/** The formats, from their definitions: bfloat16 is a float32's top half; 8-bit codes are small floats times the block's scale. */
const decodeReference = {
  half: (h: number) => asFloat(h << 16),
  s: (c: number, scale: number) => (c === 0 ? 0 : f((1 + (c & 7) / 8) * 2 ** ((c >> 3) - 31) * scale)),
  m: (c: number, scale: number) => {
    const magnitude = c & 127;
    const value = magnitude === 0 ? 0 : f((1 + (magnitude & 15) / 16) * 2 ** ((magnitude >> 4) - 7) * scale);
    return c & 128 ? -value : value;
  },
};

/**
 * A block's scale: the power of two of its largest |value| rounded up to `mantissa` bits; NaN for a
 * NaN; at most 2^127 (±∞ and values near float32's largest saturate).
 */
function expectedScale(values: number[], mantissa: number): number {
  const largest = Math.max(...values.map(Math.abs));
  if (Number.isNaN(largest)) return NaN;
  if (largest === 0) return 0;
  if (largest === Infinity) return 2 ** 127;
  let e = binade(largest);
  if (Math.ceil(largest / 2 ** (e - mantissa)) >= 2 ** (mantissa + 1)) e++;
  return 2 ** Math.min(e, 127);
}

/**
 * Whether `decoded` is one of the two grid points around `x` (x itself when on the grid): a grid of
 * `mantissa` bits per binade, from `bottom` (the smallest binade) up; below the smallest code,
 * `below` lists what is allowed.
 */
function onGridAround(x: number, decoded: number, mantissa: number, bottom: number, below: number[]): boolean {
  const a = Math.abs(x);
  if (a === 0) return decoded === 0;
  if (Number.isNaN(x)) return Number.isNaN(decoded);
  const smallest = 2 ** bottom * (1 + 2 ** -mantissa);
  if (a < smallest) return below.includes(Math.abs(decoded)) && (decoded === 0 || Math.sign(decoded) === Math.sign(x));
  const step = 2 ** (binade(a) - mantissa);
  const low = Math.floor(a / step) * step;
  const candidates = low === a ? [a] : [low, low + step];
  return Math.sign(decoded) === Math.sign(x) && candidates.includes(Math.abs(decoded));
}

describe.each(['bfloat16', '8bit'] as const)('%s state against the reference', (format) => {
  it.each(['simd', 'js'] as const)(
    'centered + momentum: w exactly, every code a grid neighbour of the float32 update, unbiased (%s)',
    async (backend) => {
      const n = 2051;
      const steps = 30;
      const at = layout(n, format);
      await compileBackend(backend);
      const { buffer, kernel } = createBackend(backend, at.bytes);
      const floats = new Float32Array(buffer);
      const random = rng(2024);
      for (let i = 0; i < n; i++) floats[at.w / 4 + i] = normal(random);
      const resolved = resolveOptions({ centered: true, momentum: 0.9, lr: 0.01, decay: 0.9 });
      const mode = kernelMode(resolved) | FORMAT_BITS[format];
      // ḡ's are bfloat16 in both formats
      const isHalf = (x: 's' | 'a' | 'm') => format === 'bfloat16' || x === 'a';
      const codes = (x: 's' | 'a' | 'm') =>
        isHalf(x) ? new Uint16Array(buffer, at[x], n).slice() : new Uint8Array(buffer, at[x], n).slice();
      const scales = (p: number) => new Float32Array(buffer, p, at.blocks).slice();
      let fractionSum = 0;
      let roundedUp = 0;
      let counted = 0;
      for (let step = 1; step <= steps; step++) {
        const sigma = 10 ** (-3 * (step / steps)); // the gradients shrink: S must follow them down
        const g = Float32Array.from({ length: n }, (_, i) => normal(random) * sigma * (1 + (i % 5)));
        floats.set(g, at.g / 4);
        writeStepConstants(floats, 0, resolved, step, Float64Array.of(0.01, 1), 3);
        const k = (slot: number) => floats[slot * 4];
        const [decay, oneMinusDecay, epsInSqrt, momentum, incrementScale, stepScale] = [4, 5, 7, 9, 10, 11].map(k);
        const before = {
          s: codes('s'),
          a: codes('a'),
          m: codes('m'),
          sq: scales(at.sq),
          mq: scales(at.mq),
        };
        const w = floats.slice(at.w / 4, at.w / 4 + n);
        const old = (x: 's' | 'a' | 'm', i: number) => {
          const c = before[x][i];
          if (isHalf(x)) return decodeReference.half(c);
          const scale = before[`${x as 's' | 'm'}q`][Math.floor(i / STATE_BLOCK)];
          return x === 's' ? decodeReference.s(c, scale) : decodeReference.m(c, scale);
        };
        const expected = { w: new Float32Array(n), s: [] as number[], a: [] as number[], m: [] as number[] };
        for (let i = 0; i < n; i++) {
          const gi = g[i];
          // a centered block's S codes hold its variance v = S − ḡ²: S is v + ḡ²
          const oldS = f(old('s', i) + f(old('a', i) * old('a', i)));
          const sSum = f(f(decay * oldS) + f(oneMinusDecay * f(gi * gi)));
          const si = sSum < 1.1754943508222875e-38 ? 0 : sSum;
          const aSum = f(f(decay * old('a', i)) + f(oneMinusDecay * gi));
          const ai = Math.abs(aSum) < 1.1754943508222875e-38 ? 0 : aSum;
          const variance = Math.max(f(si - f(ai * ai)), 0);
          const increment = f(incrementScale * f(gi / f(Math.sqrt(f(variance + epsInSqrt)))));
          const mSum = f(f(momentum * old('m', i)) + increment);
          const mi = Math.abs(mSum) < 1.1754943508222875e-38 ? 0 : mSum;
          expected.w[i] = f(w[i] - f(stepScale * mi));
          expected.s.push(f(si - f(ai * ai)) < 1.1754943508222875e-38 ? 0 : f(si - f(ai * ai)));
          expected.a.push(ai);
          expected.m.push(mi);
        }
        kernel.step(mode, n, at.w, at.g, at.s, at.a, at.m, 0, at.sq, at.mq, at.scratch);
        expect(sameBits(floats.slice(at.w / 4, at.w / 4 + n), expected.w), `w, step ${step}`).toBeUndefined();
        for (const x of ['s', 'a', 'm'] as const) {
          const after = codes(x);
          const mantissa = isHalf(x) ? 7 : x === 's' ? 3 : 4;
          const blockScales = isHalf(x) ? undefined : scales(at[`${x as 's' | 'm'}q`]);
          const wanted = Array.from({ length: at.blocks }, (_, block) =>
            expectedScale(expected[x].slice(block * STATE_BLOCK, (block + 1) * STATE_BLOCK), mantissa),
          );
          if (blockScales) expect([...blockScales], `${x} scales, step ${step}`).toEqual(wanted);
          for (let i = 0; i < n; i++) {
            const value = expected[x][i];
            let decoded: number;
            let bottom = -126;
            let below = [0];
            if (blockScales) {
              const scale = wanted[Math.floor(i / STATE_BLOCK)];
              decoded = x === 's' ? decodeReference.s(after[i], scale) : decodeReference.m(after[i], scale);
              bottom = binade(scale) - (x === 's' ? 31 : 7);
              below = x === 's' ? [2 ** bottom * 1.125] : [0, 2 ** bottom * (1 + 1 / 16)];
            } else decoded = decodeReference.half(after[i]);
            if (!onGridAround(value, decoded, mantissa, bottom, below)) {
              expect.fail(`${x}[${i}] step ${step}: ${value} encoded as ${decoded}`);
            }
            // stochastic rounding: rounded up as often as the value's place between its grid points says
            const a = Math.abs(value);
            if (a >= 2 ** bottom * 2) {
              const gridStep = 2 ** (binade(a) - mantissa);
              const low = Math.floor(a / gridStep) * gridStep;
              if (low !== a) {
                fractionSum += (a - low) / gridStep;
                roundedUp += Math.abs(decoded) > a ? 1 : 0;
                counted++;
              }
            }
          }
        }
      }
      // Unbiased: the share rounded up matches the mean fraction (binomial σ ≈ 0.5/√counted).
      expect(counted).toBeGreaterThan(100_000);
      expect(Math.abs(roundedUp - fractionSum) / counted).toBeLessThan(4 * (0.5 / Math.sqrt(counted)));
    },
  );

  it('encode → decode stays within one grid step of float64 at every magnitude (decay 0: S = g²)', async () => {
    const n = 4096;
    const at = layout(n, format);
    await compileBackend('simd');
    const { buffer, kernel } = createBackend('simd', at.bytes);
    const floats = new Float32Array(buffer);
    const random = rng(11);
    // a few decades in one block, 72 decades of S in another, a single outlier in a third
    const g = Float32Array.from({ length: n }, (_, i) =>
      i < 1024
        ? 10 ** (-3 + 3 * random())
        : i < 2048
          ? 10 ** (-18 + 36 * random())
          : i === 3000
            ? 1e4
            : normal(random) * 1e-3,
    );
    floats.set(g, at.g / 4);
    const resolved = resolveOptions({ decay: 0 });
    writeStepConstants(floats, 0, resolved, 1, Float64Array.of(0.001, 1));
    kernel.step(
      kernelMode(resolved) | FORMAT_BITS[format],
      n,
      at.w,
      at.g,
      at.s,
      at.a,
      at.m,
      0,
      at.sq,
      at.mq,
      at.scratch,
    );
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const exact = g[i] * g[i]; // float64
      const decoded =
        format === 'bfloat16'
          ? decodeReference.half(new Uint16Array(buffer, at.s, n)[i])
          : decodeReference.s(new Uint8Array(buffer, at.s, n)[i], floats[at.sq / 4 + Math.floor(i / STATE_BLOCK)]);
      const smallest = format === '8bit' ? floats[at.sq / 4 + Math.floor(i / STATE_BLOCK)] * 2 ** -31 * 1.125 : 0;
      if (f(exact) < 1.1754943508222875e-38) {
        expect(decoded, `S[${i}] = ${exact}, flushed`).toBe(0);
        continue;
      }
      // within the format's range: relative error below one grid step (2⁻⁷ bfloat16, 2⁻³ E5M3) plus float32's rounding of g²
      if (exact >= smallest) {
        const error = Math.abs(decoded - exact) / exact;
        worst = Math.max(worst, error);
        expect(error, `S[${i}] = ${exact} decoded ${decoded}`).toBeLessThan(
          (format === 'bfloat16' ? 2 ** -7 : 2 ** -3) + 2 ** -23,
        );
      } else if (format === '8bit') {
        // below the range: the smallest code, never 0 (a step of g/√ε)
        expect(decoded, `S[${i}] = ${exact}`).toBe(smallest);
      }
    }
    expect(worst).toBeGreaterThan(0);
  });
});

// Written from the definitions, not compared between backends (which share the keys and the encoder):
// a value written with setState rounds to nearest, ties away from zero; a step's rounding key is
// lowbias32(lowbias32(seed) ^ t) with bit 30 cleared (so that, as a float32, it is never NaN).
describe('the formats against their definitions', () => {
  const bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
  const float = (b: number) => new Float32Array(Uint32Array.of(b).buffer)[0];

  it('setState rounds bfloat16 to nearest, ties away from zero', async () => {
    const { RMSProp } = await import('../../src/index.js');
    const opt = await RMSProp.create({ w: 4096 }, { stateFormat: 'bfloat16', backend: 'js' });
    const values = new Float32Array(4096).fill(1);
    // halfway between bfloat16 neighbours: 0x3f80|0x3f81, 0x3f81|0x3f82; just under and over a half
    const cases: Array<[number, number]> = [
      [0x3f808000, 0x3f810000],
      [0x3f818000, 0x3f820000],
      [0x3f807fff, 0x3f800000],
      [0x3f808001, 0x3f810000],
    ];
    cases.forEach(([input], i) => (values[i] = float(input)));
    opt.setState('w', { squareAvg: values });
    const read = opt.state.w.squareAvg;
    cases.forEach(([input, expected], i) => expect(bits(read[i]), input.toString(16)).toBe(expected));
    opt.dispose();
  });

  it("a step's rounding key is lowbias32(lowbias32(seed) ^ t) with bit 30 clear", async () => {
    const { roundingKey } = await import('../../src/state-codecs.js');
    // Chris Wellons' lowbias32, written here from its published definition
    const lowbias32 = (x: number) => {
      x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
      return (x ^ (x >>> 16)) >>> 0;
    };
    for (const seed of [0, 1, 12345, 0xffffffff])
      for (const t of [0, 1, 2, 1000, 2 ** 31 - 1]) {
        const key = roundingKey(t, seed);
        expect(key).toBe((lowbias32((lowbias32(seed) ^ t) >>> 0) & ~(1 << 30)) >>> 0);
        expect(Number.isNaN(float(key))).toBe(false);
      }
  });
});

// 8-bit blocks at the ends of their scales, through the optimizer, on every backend: values the format
// holds exactly (a power of two times 1 to 1.875 in steps of 1/8, within the block's 32 binades) read back
// exactly, whether set (rounded to nearest) or stepped (stochastically: exact values have nothing to round).
describe.each(BACKENDS)('8-bit blocks at the ends of their scales (%s)', (backend) => {
  const create = async (options: RMSPropOptions) => {
    const { RMSProp } = await import('../../src/index.js');
    return RMSProp.create({ w: 4096 }, { stateFormat: '8bit', backend, ...options });
  };

  it("a block's largest value on the grid (1.875·2^k) keeps the scale 2^k: its smallest codes stay in range", async () => {
    const opt = await create({ decay: 0.5 });
    const s = new Float32Array(4096);
    s.set([3.75, 2 ** -29, 2 ** -28 * 1.125]); // 1.875·2, and the block's smallest codes in a scale of 2
    opt.setState('w', { squareAvg: s });
    expect(Array.from(opt.state.w.squareAvg.subarray(0, 4))).toEqual([3.75, 2 ** -29, 2 ** -28 * 1.125, 0]);
    opt.step({ w: new Float32Array(4096) }); // S ← S/2, exactly
    expect(Array.from(opt.state.w.squareAvg.subarray(0, 4))).toEqual([1.875, 2 ** -30, 2 ** -29 * 1.125, 0]);
    expect(opt.state.w.squareAvg.subarray(3).every((x) => x === 0)).toBe(true);
  });

  it('a block whose largest S is tiny (below 2^-96) keeps its zeros at 0', async () => {
    const opt = await create({ decay: 0.99 });
    const g = new Float32Array(4096);
    g[0] = 1e-16; // S = 0.01·g² ≈ 1e-34: a normal float32, 2^-113
    opt.step({ w: g });
    const s = opt.state.w.squareAvg;
    expect(s[0] / (0.01 * Math.fround(1e-16) ** 2)).toBeCloseTo(1, 0);
    expect(Math.abs(s[0] / (0.01 * Math.fround(1e-16) ** 2) - 1)).toBeLessThanOrEqual(1 / 8);
    expect(s.subarray(1).every((x) => x === 0)).toBe(true);
  });

  it('a NaN of any bits in a block makes its scale NaN: the whole block reads NaN', async () => {
    const opt = await create({});
    const g = new Float32Array(4096).fill(0.5);
    new Uint32Array(g.buffer)[5] = 0xffffffff; // a NaN with the sign and every payload bit set
    opt.step({ w: g });
    const s = opt.state.w.squareAvg;
    expect(s.subarray(0, 1024).every((x) => Number.isNaN(x))).toBe(true);
    expect(s.subarray(1024).every((x) => x > 0)).toBe(true);
  });

  it('zeros in a block of tiny momentum (largest 2^-120) keep code 0, not the sign bit', async () => {
    const opt = await create({ momentum: 0.5 });
    const m = new Float32Array(4096);
    m[0] = 2 ** -119;
    opt.setState('w', { momentum: m });
    opt.step({ w: new Float32Array(4096) }); // m ← m/2: 2^-120, the zeros stay +0
    expect(opt.state.w.momentum![0]).toBe(2 ** -120);
    const codes = opt.saveState({ arrays: 'float32' }).state.w.momentum as Uint8Array;
    expect(codes).toBeInstanceOf(Uint8Array);
    expect(codes.subarray(1).every((c) => c === 0)).toBe(true);
  });
});

// The kernels skip clamping, gradient scaling and bias scaling when JS leaves the TRANSFORMED mode
// bit off, which it does only when those steps are exact identities. Check that claim directly.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { modes as tableModes } from '../../scripts/abi.js';
import { GENERATED_JS_KERNELS, jsKernelsModule } from '../../scripts/build-js-kernels.js';
import { JS_STEPS } from '../../src/generated/js-kernels.js';
import { compileBackend, createBackend } from '../../src/backends.js';
import { CONSTANTS_BYTES, kernelMode, MODE, transformBit, writeStepConstants } from '../../src/kernel.js';
import { resolveOptions } from '../../src/options.js';
import { BACKENDS, normal, rng, sameBits } from '../support/helpers.js';

const N = 67;
const SPECIALS = [0, -0, 1e-40, -1e-40, Infinity, -Infinity, NaN, 3e38];

describe.each(BACKENDS)('the TRANSFORMED bit changes speed, never results (%s)', (backend) => {
  it.each([0, 1, 2, 3, 4, 5, 8, 13, 16, 21, 64, 69, 85])('mode %i', async (mode) => {
    const options = resolveOptions({
      epsInSqrt: (mode & 64) === 0,
      centered: (mode & 1) === 1,
      momentum: mode & 6 ? 0.9 : 0,
      nesterov: (mode & 6) === 4,
      weightDecay: mode & 24 ? 0.1 : 0,
      decoupledWeightDecay: (mode & 24) === 16,
    });
    expect(kernelMode(options)).toBe(mode);
    expect(transformBit(options, Float64Array.of(0.01, 1))).toBe(0);
    const random = rng(mode + 1);
    const arrays = Array.from({ length: 5 }, () =>
      Float32Array.from({ length: N }, () =>
        random() < 0.1 ? SPECIALS[Math.floor(random() * SPECIALS.length)] : normal(random),
      ),
    );
    arrays[2] = arrays[2].map(Math.abs); // S ≥ 0
    const runs = await Promise.all(
      [0, 32].map(async (bit) => {
        const heapBytes = CONSTANTS_BYTES + 5 * N * 4;
        await compileBackend(backend);
        const { buffer, kernel } = createBackend(backend, heapBytes);
        const heap = new Float32Array(buffer);
        writeStepConstants(heap, 0, options, 3, Float64Array.of(0.01, 1));
        arrays.forEach((a, i) => heap.set(a, CONSTANTS_BYTES / 4 + i * N));
        const at = (i: number) => CONSTANTS_BYTES + i * N * 4;
        for (let k = 0; k < 3; k++) kernel.step(mode | bit, N, at(0), at(1), at(2), at(3), at(4), 0);
        return heap.slice(CONSTANTS_BYTES / 4);
      }),
    );
    expect(sameBits(runs[1], runs[0])).toBeUndefined();
  });
});

// The SIMD scan tests a whole block of elements at once, then finds the exact index with a scalar
// loop: check it against a plain definition for bad values placed around every block and vector
// boundary, and that no finite value (the largest, subnormals, −0) is taken for a bad one.
describe.each(BACKENDS)('firstNonFinite finds the first NaN or ±∞ (%s)', (backend) => {
  const LENGTHS = [0, 1, 3, 4, 5, 15, 16, 17, 1023, 1024, 1025, 2047, 2048, 2049, 3000];
  const FINITE = [0, -0, 1e-45, -1e-45, 1.1754942e-38, 3.4028234663852886e38, -3.4028234663852886e38, 1, -2];
  const BAD = [NaN, Infinity, -Infinity, new Float32Array(new Uint32Array([0xffc00001]).buffer)[0]];

  it('at every position near a boundary, alone or after another bad value', async () => {
    await compileBackend(backend);
    const { buffer, kernel } = createBackend(backend, 1 << 16);
    const at = 68; // not 16-byte aligned: the scan must not assume it
    const g = new Float32Array(buffer, at, 3000);
    const random = rng(7);
    for (const n of LENGTHS) {
      const positions = [
        ...new Set(
          [0, 1, 2, 3, 4, 15, 16, 17, 1020, 1023, 1024, 1025, 2047, 2048, n - 4, n - 2, n - 1].filter(
            (p) => p >= 0 && p < n,
          ),
        ),
      ];
      g.fill(0)
        .subarray(0, n)
        .forEach((_, i, a) => (a[i] = FINITE[Math.floor(random() * FINITE.length)]));
      expect(kernel.firstNonFinite(n, at), `n=${n}, all finite`).toBe(-1);
      for (const p of positions) {
        const value = BAD[p % BAD.length];
        const saved = g[p];
        g[p] = value;
        if (p + 5 < n) g[p + 5] = NaN; // a later bad value must not hide the first
        expect(kernel.firstNonFinite(n, at), `n=${n}, ${value} at ${p}`).toBe(p);
        g[p] = saved;
        if (p + 5 < n) g[p + 5] = 0;
      }
      if (n < 3000) {
        g[n] = NaN; // just past the end: not the scan's business
        expect(kernel.firstNonFinite(n, at), `n=${n}, NaN past the end`).toBe(-1);
        g[n] = 0;
      }
    }
  });
});

// The js backend runs one generated loop per mode: the committed file must be what the generator
// writes from its formulas today, with a loop for every mode the options can select.
describe('the generated js kernels', () => {
  it('are not stale against scripts/build-js-kernels.ts (run `npm run build` if this fails)', () => {
    expect(
      readFileSync(GENERATED_JS_KERNELS, 'utf8') === jsKernelsModule(),
      `${GENERATED_JS_KERNELS} differs from what the generator writes`,
    ).toBe(true);
  });

  it('cover every mode the options select, transformed or not', () => {
    const modes = new Set<number>();
    for (const centered of [false, true])
      for (const [momentum, nesterov] of [
        [0, false],
        [0.9, false],
        [0.9, true],
      ] as const)
        for (const [weightDecay, decoupledWeightDecay] of [
          [0, false],
          [0.1, false],
          [0.1, true],
        ] as const)
          for (const epsInSqrt of [false, true]) {
            const mode = kernelMode(
              resolveOptions({ centered, momentum, nesterov, weightDecay, decoupledWeightDecay, epsInSqrt }),
            );
            const transformed = mode | transformBit(resolveOptions({ maximize: true }), Float64Array.of(0.01, 1));
            // every state format with every mode (issue 23; the option that selects it comes with its wiring)
            for (const format of [MODE.STATE_FORMAT_FLOAT32, MODE.STATE_FORMAT_BFLOAT16, MODE.STATE_FORMAT_8BIT]) {
              modes.add(mode | (format << MODE.STATE_FORMAT_SHIFT));
              modes.add(transformed | (format << MODE.STATE_FORMAT_SHIFT));
            }
          }
    // the wasm dispatch has a case for each mode of the ABI table (test/package/generated.test.ts holds it to the table)
    expect([...modes].sort((x, y) => x - y)).toEqual(tableModes().map(([mode]) => mode));
    // and the js backend has a generated loop for each float32 one (compressed state: src/state-codecs.ts)
    const float32 = tableModes().filter(([, v]) => v.stateFormat === 'float32');
    expect(float32.map(([mode]) => mode)).toEqual(Object.keys(JS_STEPS).map(Number));
  });
});

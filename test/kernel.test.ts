// The kernels skip clamping, gradient scaling and bias scaling when JS leaves the TRANSFORMED mode
// bit off, which it does only when those steps are exact identities. Check that claim directly.
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/backends.js';
import { CONSTANTS_BYTES, kernelMode, transformBit, writeStepConstants } from '../src/kernel.js';
import { resolveOptions } from '../src/options.js';
import { BACKENDS, normal, rng, sameBits } from './helpers.js';

const N = 67;
const SPECIALS = [0, -0, 1e-40, -1e-40, Infinity, -Infinity, NaN, 3e38];

describe.each(BACKENDS)('the TRANSFORMED bit changes speed, never results (%s)', (backend) => {
  it.each([0, 1, 2, 3, 4, 5, 8, 13, 16, 21, 64, 69, 85])('mode %i', async (mode) => {
    const options = resolveOptions({ epsInSqrt: (mode & 64) === 0, centered: (mode & 1) === 1, momentum: mode & 6 ? 0.9 : 0, nesterov: (mode & 6) === 4, weightDecay: mode & 24 ? 0.1 : 0, decoupledWeightDecay: (mode & 24) === 16 });
    expect(kernelMode(options)).toBe(mode);
    expect(transformBit(options, Float64Array.of(0.01, 1))).toBe(0);
    const random = rng(mode + 1);
    const arrays = Array.from({ length: 5 }, () => Float32Array.from({ length: N }, () => (random() < 0.1 ? SPECIALS[Math.floor(random() * SPECIALS.length)] : normal(random))));
    arrays[2] = arrays[2].map(Math.abs); // S ≥ 0
    const runs = await Promise.all([0, 32].map(async (bit) => {
      const heapBytes = CONSTANTS_BYTES + 5 * N * 4;
      const { buffer, kernel } = await createBackend(backend, heapBytes);
      const heap = new Float32Array(buffer);
      writeStepConstants(heap, 0, options, 3, Float64Array.of(0.01, 1));
      arrays.forEach((a, i) => heap.set(a, CONSTANTS_BYTES / 4 + i * N));
      const at = (i: number) => CONSTANTS_BYTES + i * N * 4;
      for (let k = 0; k < 3; k++) kernel.step(mode | bit, N, at(0), at(1), at(2), at(3), at(4), 0);
      return heap.slice(CONSTANTS_BYTES / 4);
    }));
    expect(sameBits(runs[1], runs[0])).toBeUndefined();
  });
});

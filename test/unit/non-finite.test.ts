// Non-finite gradients: 'propagate' (the default) confines NaN to its own elements; 'skip' and
// 'throw' leave every byte of parameters, state and opt.grads as they were. (Under clipping:
// clipping.test.ts; with threads: threads.test.ts.)
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { BACKENDS, everything, randomArrays, snapshot, snapshotDifference } from '../support/helpers.js';

describe.each(BACKENDS)('non-finite gradients (%s)', (backend) => {
  const LENGTHS = [5, 1000];
  const bad = () => {
    const grads = randomArrays(11, LENGTHS);
    grads[1][997] = -Infinity; // in the scalar tail of the SIMD scan
    grads[1][400] = NaN;
    return grads;
  };

  it('propagate (default): NaN stays confined to its own elements', async () => {
    const opt = await RMSProp.create(randomArrays(12, LENGTHS), { backend, momentum: 0.9 });
    expect(opt.step(bad())).toBe(true);
    const w = opt.params[1];
    expect(Number.isNaN(w[400]) && Number.isNaN(w[997])).toBe(true);
    expect([...w].filter(Number.isNaN).length).toBe(2);
    expect([...opt.params[0]].every(Number.isFinite)).toBe(true);
  });

  it.each(['skip', 'throw'] as const)('%s leaves every byte of parameters and state unchanged', async (nonFinite) => {
    const params = randomArrays(12, LENGTHS);
    const opt = await RMSProp.create(params, { backend, momentum: 0.9, centered: true, nonFinite });
    opt.step(randomArrays(13, LENGTHS));
    const before = snapshot([...params, ...everything(opt)]);
    if (nonFinite === 'skip') expect(opt.step(bad())).toBe(false);
    else expect(() => opt.step(bad())).toThrow(/gradient '1' has NaN at index 400/);
    expect(snapshot([...params, ...everything(opt)])).toEqual(before);
    expect(opt.stepCount).toBe(1);
    expect(opt.step(randomArrays(14, LENGTHS))).toBe(true);
    expect(opt.stepCount).toBe(2);
  });

  // On one thread your arrays are scanned in JS, four elements at a time and then one by one: a lone
  // ±∞ or NaN in that tail (index 4 of 5) was found only by tests with threads or TF.js.
  it.each([Infinity, -Infinity, NaN])("'throw' finds a lone %d in the last element of your array", async (value) => {
    const opt = await RMSProp.create({ w: new Float32Array(5) }, { backend, nonFinite: 'throw' });
    const g = new Float32Array(5);
    g[4] = value;
    expect(() => opt.step({ w: g })).toThrow(`gradient 'w' has ${value} at index 4`);
    expect(opt.stepCount).toBe(0);
  });
});

describe.each([
  ['js', 1],
  ['simd', 1],
  ['simd', 2],
] as const)("'skip' and 'throw' leave opt.grads as they were (%s, %i threads)", (backend, threads) => {
  it.each(['skip', 'throw'] as const)('%s', async (nonFinite) => {
    const w = new Float32Array([1, 2, 3, 4]);
    const opt = await RMSProp.create({ w, z: 4 }, { backend, threads, nonFinite });
    opt.grads.w.set([0.1, 0.2, 0.3, 0.4]);
    opt.grads.z.set([5, 6, 7, 8]);
    const before = snapshot(everything(opt, true));
    const bad = { w: new Float32Array([1, 1, 1, 1]), z: new Float32Array([1, NaN, 1, 1]) };
    if (nonFinite === 'skip') expect(opt.step(bad)).toBe(false);
    else expect(() => opt.step(bad)).toThrow(/gradient 'z' has NaN at index 1/);
    expect(snapshotDifference(snapshot(everything(opt, true)), before)).toBeUndefined();
    expect(Array.from(opt.grads.z)).toEqual([5, 6, 7, 8]);
    opt.dispose();
  });
});

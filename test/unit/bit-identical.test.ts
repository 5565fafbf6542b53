// The three backends must agree bit for bit (NaN compared by position) on parameters and on every
// state array, for every combination of the options that change the arithmetic.
import { describe, expect, it } from 'vitest';
import { RMSProp, type RMSPropOptions } from '../../src/index.js';
import { BACKENDS, normal, rng, sameBits } from '../support/helpers.js';

const LENGTHS = Array.from({ length: 68 }, (_, n) => n); // 0…67: every SIMD tail length, many times
const STEPS = 12;
const SPECIALS = [0, -0, 1e-40, -1e-40, 1.4e-45, Infinity, -Infinity, NaN, 3e38, -1e-30];

function combos(): RMSPropOptions[] {
  const out: RMSPropOptions[] = [];
  for (const centered of [false, true])
    for (const [momentum, nesterov] of [
      [0, false],
      [0.9, false],
      [0.5, true],
    ] as const)
      for (const epsInSqrt of [false, true])
        for (const lrInMomentum of [false, true])
          for (const biasCorrection of [false, true])
            for (const [weightDecay, decoupledWeightDecay] of [
              [0, false],
              [0.01, false],
              [0.1, true],
            ] as const)
              for (const maximize of [false, true])
                out.push({
                  centered,
                  momentum,
                  nesterov,
                  epsInSqrt,
                  lrInMomentum,
                  biasCorrection,
                  weightDecay,
                  decoupledWeightDecay,
                  maximize,
                });
  return out;
}

/** Mostly normal values, with ±0, subnormals, ±∞, NaN and extremes mixed in. */
function values(random: () => number, n: number): number[] {
  return Array.from({ length: n }, () =>
    random() < 0.08 ? SPECIALS[Math.floor(random() * SPECIALS.length)] : normal(random),
  );
}

/** Each array lives at an odd element offset inside a shared buffer, so byteOffset ≠ 0 and is unaligned. */
function arraysAtOffsets(data: number[][]): Float32Array[] {
  const total = data.reduce((sum, d) => sum + d.length + 1, 1);
  const backing = new Float32Array(total);
  let at = 1;
  return data.map((d) => {
    const view = backing.subarray(at, at + d.length);
    view.set(d);
    at += d.length + 1;
    return view;
  });
}

interface Run {
  opt: RMSProp;
  params: Float32Array[];
}

function firstDifference(a: Run, b: Run): string | undefined {
  for (let i = 0; i < LENGTHS.length; i++) {
    const pairs: Array<[string, Float32Array | undefined, Float32Array | undefined]> = [
      ['param', a.params[i], b.params[i]],
      ['squareAvg', a.opt.state[i].squareAvg, b.opt.state[i].squareAvg],
      ['gradAvg', a.opt.state[i].gradAvg, b.opt.state[i].gradAvg],
      ['momentum', a.opt.state[i].momentum, b.opt.state[i].momentum],
    ];
    for (const [kind, x, y] of pairs) {
      if (x === undefined && y === undefined) continue;
      const difference = x && y ? sameBits(y, x) : 'present on one backend only';
      if (difference) return `${kind} of length ${LENGTHS[i]}: ${difference}`;
    }
  }
  return undefined;
}

const name = (o: RMSPropOptions) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

describe('js, wasm and simd backends agree bit for bit', () => {
  it.each(combos().map((o) => [name(o), o] as const))('%s', async (_, options) => {
    const random = rng(0x5eed);
    const initial = LENGTHS.map((n) => values(random, n));
    const gradients = Array.from({ length: STEPS }, () => LENGTHS.map((n) => values(random, n)));
    const runs = await Promise.all(
      BACKENDS.map(async (backend) => {
        const params = arraysAtOffsets(initial);
        const opt = await RMSProp.create(params, { ...options, lr: 0.01, decay: 0.9, backend });
        expect(opt.backend).toBe(backend);
        return { opt, params };
      }),
    );
    for (let step = 0; step < STEPS; step++) {
      // Odd steps skip one parameter, which makes the kernel run per tensor with its exact length
      // (the SIMD build's scalar tail); even steps update everything in one call.
      const skip = step % 2 === 1 ? step % LENGTHS.length : -1;
      for (const { opt } of runs) {
        const grads = arraysAtOffsets(gradients[step]).map((g, i) => (i === skip ? null : g));
        opt.step(grads);
      }
      const [reference, ...others] = runs;
      for (const other of others) {
        const where = `after step ${step + 1}, ${other.opt.backend} vs ${reference.opt.backend}`;
        expect(firstDifference(reference, other), where).toBeUndefined();
      }
    }
  });
});

// Gradient clipping (clipValue, clipNorm, globalClipNorm) against a float64 reference, bit-identical
// on every backend, and with NaN and ∞ gradients.
import { describe, expect, it } from 'vitest';
import { RMSProp, type RMSPropOptions } from '../../src/index.js';
import { BACKENDS, everything, expectFirstStep, firstDifference, randomArrays } from '../support/helpers.js';

/** Clipping in float64: clamp, per-tensor norm, then global norm (the documented order). */
function clipReference(
  grads: Float32Array[],
  o: { clipValue?: number; clipNorm?: number; globalClipNorm?: number },
): Float64Array[] {
  const clamped = grads.map((g) =>
    Float64Array.from(g, (x) => Math.min(Math.max(x, -(o.clipValue ?? Infinity)), o.clipValue ?? Infinity)),
  );
  const norms = clamped.map((g) => Math.sqrt(g.reduce((s, x) => s + x * x, 0)));
  const scaled = clamped.map((g, i) =>
    o.clipNorm ? g.map((x) => (x * o.clipNorm!) / Math.max(norms[i], o.clipNorm!)) : g,
  );
  if (!o.globalClipNorm) return scaled;
  const global = Math.sqrt(scaled.reduce((s, g) => s + g.reduce((t, x) => t + x * x, 0), 0));
  return scaled.map((g) => g.map((x) => (x * o.globalClipNorm!) / Math.max(global, o.globalClipNorm!)));
}

describe('gradient clipping', () => {
  const LENGTHS = [0, 1, 3, 1023, 1024, 1025, 3001];
  const cases: Array<[string, RMSPropOptions]> = [
    ['clipValue', { clipValue: 0.5 }],
    ['clipNorm', { clipNorm: 2 }],
    ['globalClipNorm', { globalClipNorm: 3 }],
    ['all three', { clipValue: 1, clipNorm: 5, globalClipNorm: 4 }],
    ['norms below the limits', { clipNorm: 1e6, globalClipNorm: 1e6 }],
    ['clipNorm, maximize', { clipNorm: 2, maximize: true }],
    ['all three, maximize', { clipValue: 1, clipNorm: 5, globalClipNorm: 4, maximize: true }],
  ];

  it.each(cases)('%s against a float64 reference', async (_, clip) => {
    const params = randomArrays(5, LENGTHS);
    const opt = await RMSProp.create(
      params.map((p) => p.slice()),
      { ...clip, lr: 0.01 },
    );
    const grads = randomArrays(6, LENGTHS, 3);
    opt.step(grads);
    // After one step from S = 0: S = 0.1·ĝ², w = w0 − lr·ĝ/√(0.1·ĝ² + ε), with ĝ the clipped gradient
    // (negated to maximize).
    const clipped = clipReference(grads, clip);
    LENGTHS.forEach((n, t) => {
      for (let i = 0; i < n; i++) {
        const g = clip.maximize ? -clipped[t][i] : clipped[t][i];
        expect(opt.state[t].squareAvg[i]).toBeCloseTo(0.1 * g * g, 5);
        const expected = params[t][i] - (0.01 * g) / Math.sqrt(0.1 * g * g + 1e-8);
        expect(Math.abs(opt.params[t][i] - expected)).toBeLessThan(1e-6 * Math.abs(expected) + 1e-8);
      }
    });
  });

  it.each(cases)('%s is bit-identical on every backend', async (_, clip) => {
    const results = await Promise.all(
      BACKENDS.map(async (backend) => {
        const opt = await RMSProp.create(
          [
            { params: randomArrays(7, LENGTHS.slice(0, 4)) },
            { params: { x: randomArrays(8, [777])[0] }, momentum: 0.9 },
          ],
          { ...clip, backend },
        );
        for (let k = 0; k < 5; k++) {
          const grads = randomArrays(300 + k, [...LENGTHS.slice(0, 4), 777], 4);
          opt.step({ 0: grads[0], 1: grads[1], 2: grads[2], 3: grads[3], x: grads[4] });
        }
        return everything(opt);
      }),
    );
    expect(firstDifference(results[1], results[0])).toBeUndefined();
    expect(firstDifference(results[2], results[0])).toBeUndefined();
  });
});

// Clipping under nonFinite: 'propagate': a tensor whose norm is NaN or ∞ is left unscaled and out
// of the global norm, so NaN and ∞ stay in their own elements and the other tensors are clipped as
// if it were not there (docs/options.md, Training features).
describe.each(BACKENDS)('clipping with NaN and ∞ gradients (%s)', (backend) => {
  it('NaN and ∞ stay in their own elements; the other tensors are clipped without them', async () => {
    const grads = {
      a: [3, NaN, 4, 0, -2],
      b: [Infinity, 1, -1],
      c: [3, 4],
      d: [-6, 8],
    };
    const opt = await RMSProp.create({ a: 5, b: 3, c: 2, d: 2 }, { backend, clipNorm: 1, globalClipNorm: 1 });
    opt.step(Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, new Float32Array(v)])) as never);
    // c and d: each clipped to norm 1, then both by the global norm √2 of c and d alone.
    const clipped = (g: number[]) => {
      const norm = Math.hypot(...g);
      return g.map((x) => x / Math.max(norm, 1) / Math.SQRT2);
    };
    expectFirstStep(opt.params.c, opt.state.c.squareAvg, [0, 0], clipped(grads.c), 'c');
    expectFirstStep(opt.params.d, opt.state.d.squareAvg, [0, 0], clipped(grads.d), 'd');
    // a and b: unscaled; only the NaN and the ∞ element become NaN.
    for (const [name, g] of [
      ['a', grads.a],
      ['b', grads.b],
    ] as const) {
      g.forEach((x, i) => {
        const w = opt.params[name][i];
        if (Number.isFinite(x)) {
          if (x !== 0)
            expectFirstStep(
              opt.params[name].subarray(i, i + 1),
              opt.state[name].squareAvg.subarray(i, i + 1),
              [0],
              [x],
              `${name}[${i}]`,
            );
          else expect(w, `${name}[${i}]`).toBe(0);
        } else {
          expect(w, `${name}[${i}]`).toBeNaN();
        }
      });
    }
  });

  // With globalClipNorm alone (no per-tensor clipping) the scales still differ per tensor: the
  // finite ones are scaled by their global norm, the non-finite one not at all (it once left all unscaled).
  it('globalClipNorm alone: the finite tensors are scaled by their global norm, the one with NaN is not', async () => {
    const grads = { a: [3, NaN], b: [3, 4], c: [5, 12] };
    const opt = await RMSProp.create({ a: 2, b: 2, c: 2 }, { backend, globalClipNorm: 1 });
    opt.step(Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, new Float32Array(v)])) as never);
    const norm = Math.hypot(...grads.b, ...grads.c); // √194, without a
    for (const name of ['b', 'c'] as const) {
      const clipped = grads[name].map((x) => x / norm);
      expectFirstStep(opt.params[name], opt.state[name].squareAvg, [0, 0], clipped, name);
    }
    expectFirstStep(opt.params.a.subarray(0, 1), opt.state.a.squareAvg.subarray(0, 1), [0], [3], 'a[0]');
    expect(opt.params.a[1]).toBeNaN();
  });

  // A tensor left unscaled for its NaN is scaled again at the next step whose gradient is finite.
  it('a tensor whose gradient was NaN at one step is clipped again at the next, finite one', async () => {
    const opt = await RMSProp.create({ a: 2, b: 2 }, { backend, globalClipNorm: 1 });
    opt.step({ a: new Float32Array([NaN, 0]), b: new Float32Array([0, 0]) });
    opt.step({ a: new Float32Array([0, 3]), b: new Float32Array([0, 4]) });
    // a[1] and b[1] take their first step now, both scaled by the global norm 5
    expectFirstStep(opt.params.a.subarray(1), opt.state.a.squareAvg.subarray(1), [0], [3 / 5], 'a[1]');
    expectFirstStep(opt.params.b.subarray(1), opt.state.b.squareAvg.subarray(1), [0], [4 / 5], 'b[1]');
  });
});

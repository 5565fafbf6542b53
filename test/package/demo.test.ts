// The `npm start` demo's pieces (demo/): backpropagation against finite differences, the ravine runs,
// and the training loop. Correctness only; nothing here is timed.
import { describe, expect, it } from 'vitest';
import { loadIris, mulberry32 } from '../../demo/iris.js';
import { allocate, initialize, Mlp, PARAM_NAMES, type Shape } from '../../demo/mlp.js';
import { RMSProp } from '../../src/index.js';
import { bestRun, METHODS, RAVINE, RAVINE_METHODS, REGION, runRavine, zigzagLr } from '../../demo/ravine.js';
import { bitIdentical, epochsToTarget, train, type TrainResult } from '../../demo/train.js';

describe('MLP backpropagation', () => {
  it('matches central finite differences for every parameter', () => {
    const shape: Shape = { inputs: 4, hidden: 6, classes: 3 };
    const { train: data } = loadIris(7);
    const rows = [0, 5, 17, 42, 80, 99, 119];
    const p = allocate(shape);
    initialize(p, shape, mulberry32(3));
    const random = mulberry32(4);
    for (const b of [p.b1, p.b2]) for (let i = 0; i < b.length; i++) b[i] = random() - 0.5; // non-zero biases too
    const g = allocate(shape);
    const mlp = new Mlp(shape);
    mlp.lossAndGrad(p, g, data, rows);
    const scratch = allocate(shape);
    let checked = 0;
    for (const name of PARAM_NAMES) {
      for (let i = 0; i < p[name].length; i++) {
        const x = p[name][i];
        const up = Math.fround(x + 1e-3),
          down = Math.fround(x - 1e-3);
        p[name][i] = up;
        const lossUp = mlp.lossAndGrad(p, scratch, data, rows);
        p[name][i] = down;
        const lossDown = mlp.lossAndGrad(p, scratch, data, rows);
        p[name][i] = x;
        const numeric = (lossUp - lossDown) / (up - down); // the step actually taken, after float32 rounding
        expect(
          Math.abs(g[name][i] - numeric),
          `${name}[${i}]: analytic ${g[name][i]}, numeric ${numeric}`,
        ).toBeLessThan(1e-5 + 1e-3 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBe(4 * 6 + 6 + 6 * 3 + 3);
  });
});

describe('ravine', () => {
  it.each(RAVINE_METHODS)('%s at its best learning rate ends inside the minimum region', async (method) => {
    const { best } = await bestRun(method, { RMSProp });
    expect(best.steps).toBeDefined();
    expect(best.finalDistance).toBeLessThan(REGION);
    const end = best.path.length / 2 - 1;
    expect(Math.hypot(best.path[2 * end], best.path[2 * end + 1])).toBe(best.finalDistance);
  });

  it('RMSProp reaches the region in fewer steps than gradient descent; js and simd take the same path', async () => {
    const gd = (await bestRun('gd', { RMSProp })).best;
    const rms = (await bestRun('rmsprop', { RMSProp, backend: 'js' })).best;
    expect(rms.steps!).toBeLessThan(gd.steps!);
    const simd = (await bestRun('rmsprop', { RMSProp, backend: 'simd' })).best;
    expect(new Uint32Array(simd.path.slice().buffer)).toEqual(new Uint32Array(rms.path.slice().buffer));
  });
});

describe('the zig-zag pictured by npm start', () => {
  it('gradient descent near 2/κ flips b every step and shrinks it by 1 − lr·κ, as the formula says', async () => {
    const lr = zigzagLr(RAVINE.kappa);
    const run = await runRavine('gd', lr, { RMSProp, maxSteps: 40 });
    const factor = 1 - lr * RAVINE.kappa; // b ← b − lr·κ·b, in float64
    for (let t = 1; t <= 40; t++) {
      const expected = RAVINE.start[1] * factor ** t;
      expect(Math.sign(run.path[2 * t + 1])).toBe(t % 2 ? -1 : 1);
      expect(Math.abs(run.path[2 * t + 1] - expected)).toBeLessThan(1e-5);
    }
    expect(factor).toBeCloseTo(-0.9, 12);
  });
});

describe('training loop', () => {
  const iris = loadIris(7);
  const options = { shape: { inputs: 4, hidden: 16, classes: 3 }, epochs: 20, batch: 10, seed: 1, evaluate: true };

  it('splits Iris 120 / 30 with every species in both parts', () => {
    expect(iris.train.count).toBe(120);
    expect(iris.test.count).toBe(30);
    for (let c = 0; c < 3; c++) expect(iris.test.y.filter((y) => y === c).length).toBe(10);
  });

  it.each(METHODS)('%s lowers the training loss and is deterministic', async (method) => {
    const lr = method === 'rmsprop' ? 0.005 : 0.1;
    const a = await train(method, lr, iris.train, iris.test, options);
    const b = await train(method, lr, iris.train, iris.test, options);
    expect(a.epochs.at(-1)!.trainLoss).toBeLessThan(a.epochs[0].trainLoss / 2);
    expect(a.steps).toBe(20 * 12);
    expect(bitIdentical(a.params, b.params)).toBe(true);
  });

  it('RMSProp gives bit-identical weights on the js and simd backends', async () => {
    const js = await train('rmsprop', 0.005, iris.train, iris.test, { ...options, backend: 'js' });
    const simd = await train('rmsprop', 0.005, iris.train, iris.test, { ...options, backend: 'simd' });
    expect(bitIdentical(js.params, simd.params)).toBe(true);
  });

  it('counts epochs to a target loss only once the loss stays below it', () => {
    const run = (losses: number[]) =>
      ({ epochs: losses.map((trainLoss, i) => ({ epoch: i + 1, trainLoss })) }) as unknown as TrainResult;
    expect(epochsToTarget(run([0.5, 0.04, 0.06, 0.04, 0.03]), 0.05)).toBe(4);
    expect(epochsToTarget(run([0.5, 0.04, 0.06]), 0.05)).toBeUndefined();
  });
});

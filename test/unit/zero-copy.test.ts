// Zero-copy parameters live in the optimizer's own wasm memory and stay valid.
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { BACKENDS, sameBits } from '../support/helpers.js';

describe.each(BACKENDS)('zero-copy views (%s)', (backend) => {
  // postMessage(view, [view.buffer]) transfers as structuredClone does. A js heap in a plain
  // ArrayBuffer went whole to the receiver (every parameter, gradient and state value), leaving
  // the optimizer empty and its next calls failing with messages about other things.
  it("cannot be transferred away: the optimizer's memory stays its own", async () => {
    const opt = await RMSProp.create({ w: 8 }, { backend });
    opt.params.w.fill(1);
    try {
      structuredClone(opt.params.w, { transfer: [opt.params.w.buffer] }); // browsers throw; Node copies
    } catch {}
    expect([opt.params.w.length, opt.params.w[0]]).toEqual([8, 1]);
    opt.grads.w.fill(0.5);
    opt.step();
    expect(opt.params.w[0]).toBeLessThan(1);
    expect(() => opt.dispose()).not.toThrow();
  });

  it('are views of the instance memory, and step() reads opt.grads in place', async () => {
    const opt = await RMSProp.create({ w: 784 * 128, b: 128 }, { backend, lr: 1e-3 });
    const { w, b } = opt.params;
    expect(w.length).toBe(784 * 128);
    expect(b.length).toBe(128);
    expect(w.buffer).toBe(b.buffer);
    expect(opt.grads.w.buffer).toBe(w.buffer);
    expect(opt.state.w.squareAvg.buffer).toBe(w.buffer);
    if (backend !== 'js') expect(w.buffer).not.toBeInstanceOf(Float32Array); // an ArrayBuffer of the wasm memory
    w.fill(1);
    b.fill(-1);
    opt.grads.w.fill(0.5);
    opt.grads.b.fill(-0.5);
    opt.step();
    // First step from S = 0 with the seed preset: S = 0.1·g², w −= lr·g/√(S+ε) = lr·sign(g)·√10 (up to rounding).
    expect(w[0]).toBeCloseTo(1 - 1e-3 * Math.sqrt(10), 6);
    expect(b[0]).toBeCloseTo(-1 + 1e-3 * Math.sqrt(10), 6);
    expect(opt.stepCount).toBe(1);
  });

  it('give the same bits as bring-your-own arrays', async () => {
    const initial = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const own = initial.slice();
    const byo = await RMSProp.create({ w: own }, { backend, preset: 'pytorch', momentum: 0.9, centered: true });
    const zc = await RMSProp.create(
      { w: initial.length },
      { backend, preset: 'pytorch', momentum: 0.9, centered: true },
    );
    zc.params.w.set(initial);
    for (let k = 0; k < 5; k++) {
      const g = Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i * (k + 1)));
      byo.step({ w: g });
      zc.grads.w.set(g);
      zc.step();
    }
    expect(sameBits(zc.params.w, own)).toBeUndefined();
    expect(byo.params.w).toBe(own);
  });

  it('stay valid after other optimizers are created and disposed', async () => {
    const opt = await RMSProp.create({ w: 1000 }, { backend });
    const view = opt.params.w;
    const buffer = view.buffer;
    view.fill(3);
    for (let i = 0; i < 20; i++) {
      const other = await RMSProp.create({ x: 100_000 }, { backend });
      other.params.x.fill(7);
      other.step();
      other.dispose();
    }
    expect(opt.params.w).toBe(view);
    expect(view.buffer).toBe(buffer);
    expect(view.byteLength).toBe(4000);
    expect(view.every((x) => x === 3)).toBe(true);
    opt.grads.w.fill(1);
    opt.step();
    expect(view[0]).toBeLessThan(3);
  });

  it('a null or missing gradient skips its parameter, as in PyTorch', async () => {
    const a = new Float32Array([1, 2, 3]);
    const b = new Float32Array([4, 5]);
    const opt = await RMSProp.create({ a, b }, { backend, momentum: 0.5 });
    opt.step({ a: new Float32Array([1, 1, 1]), b: null });
    expect([...b]).toEqual([4, 5]);
    expect([...opt.state.b.squareAvg]).toEqual([0, 0]);
    expect(a[0]).toBeLessThan(1);
    opt.step({ b: new Float32Array([1, 1]) });
    expect(b[0]).toBeLessThan(4);
  });

  // The skip above comes before b has state, where ρ·S and μ·m leave 0 whatever runs: skipped once it
  // has state, a parameter keeps every bit too (one kernel call over its group would decay S and m
  // and move it by the momentum; a mutant that made that call survived every other test).
  it.each([
    ['float32 state', 'float32', 2, 1],
    ['float32 state, 2 threads (js: one)', 'float32', 2, 2],
    ['bfloat16 state', 'bfloat16', 4096, 1],
  ] as const)(
    'a parameter skipped once it has state keeps its value and every state bit (%s)',
    async (_, stateFormat, n, threads) => {
      const a = new Float32Array([1, 2, 3]);
      const b = new Float32Array(n).fill(4);
      const opt = await RMSProp.create({ a, b }, { backend, momentum: 0.5, centered: true, stateFormat, threads });
      opt.step({ a: new Float32Array([1, 1, 1]), b: new Float32Array(n).fill(3) });
      const before = [b.slice(), ...Object.values(opt.state.b).map((s) => s.slice())];
      expect(before[1][0]).toBeGreaterThan(0); // S of b is not 0: a decay would show
      const aBefore = a[0];
      opt.step({ a: new Float32Array([1, 1, 1]), b: null });
      const after = [b, ...Object.values(opt.state.b)];
      after.forEach((x, i) => expect(sameBits(x, before[i]), `array ${i} of b`).toBeUndefined());
      expect(a[0]).toBeLessThan(aBefore);
      opt.dispose();
    },
  );

  // Regions of 1 MiB and more are laid out with a wider gap (see regionGap in src/layout.ts).
  it('large and small regions never overlap, and a large group equals separate optimizers', async () => {
    const lengths = { big: 300_007, small: 7 };
    const options = { backend, momentum: 0.9, centered: true } as const;
    const grouped = await RMSProp.create(lengths, options);
    const alone = await Promise.all(Object.entries(lengths).map(([name, n]) => RMSProp.create({ [name]: n }, options)));
    const views = Object.keys(lengths).flatMap((name) => [
      grouped.params[name],
      grouped.grads[name],
      ...Object.values(grouped.state[name]),
    ]);
    const ranges = views.map((v) => [v.byteOffset, v.byteOffset + v.byteLength]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
    for (const [i, name] of Object.keys(lengths).entries()) {
      const initial = Float32Array.from(grouped.params[name], (_, j) => Math.sin(j + i));
      grouped.params[name].set(initial);
      alone[i].params[name].set(initial);
    }
    for (let k = 0; k < 3; k++) {
      for (const [i, name] of Object.keys(lengths).entries()) {
        const g = Float32Array.from(grouped.grads[name], (_, j) => Math.cos(j * (k + 1) + i));
        grouped.grads[name].set(g);
        alone[i].grads[name].set(g);
        alone[i].step();
      }
      grouped.step();
    }
    for (const [i, name] of Object.keys(lengths).entries()) {
      expect(sameBits(grouped.params[name], alone[i].params[name]), name).toBeUndefined();
      const expected: Record<string, Float32Array> = alone[i].state[name];
      for (const [key, array] of Object.entries(grouped.state[name]))
        expect(sameBits(array, expected[key]), `${name}.${key}`).toBeUndefined();
    }
  });
});

it('arrays of parameters are named 0, 1, …', async () => {
  const opt = await RMSProp.create([new Float32Array(2), 3]);
  expect(Object.keys(opt.params)).toEqual(['0', '1']);
  expect(opt.params[1].length).toBe(3);
  opt.step([new Float32Array([1, 1]), null]);
  expect(opt.params[0][0]).toBeLessThan(0);
});

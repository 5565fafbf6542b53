// The ema option (Keras' use_ema, ema_momentum, ema_overwrite_frequency): each step's average of the
// parameters against a reference written from Keras' formula, the same bits on every backend and
// thread count, the overwrite, swapAverages, and the average saved, loaded and refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, RMSProp, type RMSPropOptions } from '../../src/index.js';
import {
  BACKENDS,
  everything,
  firstDifference,
  normal,
  rng,
  sameBits,
  snapshot,
  snapshotDifference,
} from '../support/helpers.js';
import { runForJson } from '../support/child.js';

const SIZES = { w: 9001, b: 7, big: 5000 };
type Name = keyof typeof SIZES;
const NAMES = Object.keys(SIZES) as Name[];

/** Values with the edges an average meets: zeros, subnormals, values near float32's largest, ±∞ and NaN. */
function edgeValues(n: number, seed: number): Float32Array {
  const random = rng(seed);
  const x = Float32Array.from({ length: n }, () => normal(random));
  for (let i = 0; i < n; i += 89) x[i] = 0;
  for (let i = 1; i < n; i += 89) x[i] = 1e-40;
  for (let i = 2; i < n; i += 89) x[i] = -3e38;
  for (let i = 3; i < n; i += 997) x[i] = i % 2 ? Infinity : Number.NaN;
  return x;
}

/** Steps `opt` `steps` times with edge gradients (one step leaves 'b' out: one call per tensor). */
function train(opt: RMSProp<Name>, steps: number, first = 0): void {
  for (let t = first; t < first + steps; t++) {
    const grads = Object.fromEntries(NAMES.map((name, k) => [name, edgeValues(SIZES[name], 100 * t + k)]));
    opt.step(t === 2 ? { w: grads.w, big: grads.big } : grads);
  }
}

async function create(options: RMSPropOptions): Promise<RMSProp<Name>> {
  const opt = await RMSProp.create(SIZES, { ema: 0.99, lr: 0.01, ...options });
  for (const [k, name] of NAMES.entries()) opt.params[name].set(edgeValues(SIZES[name], 7 + k));
  return opt;
}

describe('ema: the average of the parameters, as Keras computes it', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: μ·e + (1 − μ)·w after each update, w itself after the first; without a gradient, toward the same w`, async () => {
      const ema = 0.9;
      const opt = await create({ backend, ema });
      // Keras: momentum = ema_momentum (float32), except 0 when iterations == 0; 1 − momentum in float32
      const mu = Math.fround(ema);
      const oneMinus = Math.fround(1 - mu);
      let expected = NAMES.map(() => new Float32Array(0));
      for (let t = 0; t < 6; t++) {
        const before = NAMES.map((name) => opt.params[name].slice());
        train(opt, 1, t);
        expected = NAMES.map((name, k) => {
          const w = opt.params[name];
          if (t === 0) return w.slice();
          // Keras averages every variable each step, one without a gradient too
          if (t === 2 && name === 'b') expect(sameBits(w, before[k]), 'b had no gradient at step 3').toBeUndefined();
          // each product and the sum rounded to float32 once, as float32 arithmetic does
          return Float32Array.from(w, (x, i) =>
            Math.fround(Math.fround(mu * expected[k][i]) + Math.fround(oneMinus * x)),
          );
        });
        for (const [k, name] of NAMES.entries())
          expect(sameBits(opt.state[name].average!, expected[k]), `${name} after step ${t + 1}`).toBeUndefined();
      }
      // and in float64 from the formula, on the finite elements: within float32's rounding of the sum
      const w = opt.params.w;
      const e = opt.state.w.average!;
      let checked = 0;
      for (let i = 0; i < w.length; i++) {
        if (!Number.isFinite(e[i]) || Math.abs(w[i]) > 1e37) continue;
        checked++;
        expect(Math.abs(e[i] - expected[0][i])).toBeLessThanOrEqual(1e-6 * Math.abs(expected[0][i]) + 1e-38);
      }
      expect(checked).toBeGreaterThan(8000);
      opt.dispose();
    });
  }

  it('the same bits on every backend, thread count, stateFormat and per-tensor call (clipNorm)', async () => {
    const cases: RMSPropOptions[] = [
      {},
      { stateFormat: '8bit', centered: true, momentum: 0.9 },
      { clipNorm: 1, stateFormat: 'bfloat16' },
    ];
    for (const options of cases) {
      let reference: Float32Array[] | undefined;
      for (const backend of BACKENDS) {
        for (const threads of backend === 'js' ? [1] : [1, 2, 3]) {
          const opt = await create({ ...options, backend, threads });
          train(opt, 4);
          const all = everything(opt);
          if (reference)
            expect(
              firstDifference(all, reference),
              `${backend}, ${threads} threads, ${JSON.stringify(options)}`,
            ).toBeUndefined();
          else reference = all.map((a) => a.slice());
          opt.dispose();
        }
      }
      expect(reference!.length).toBe(NAMES.length * (3 + (options.centered ? 1 : 0) + (options.momentum ? 1 : 0)));
    }
  });

  it('a group without ema keeps no average; memory for one only where asked', async () => {
    const opt = await RMSProp.create([{ params: { w: 4096 }, ema: 0.99 }, { params: { b: 4096 } }], {});
    expect(Object.keys(opt.state.w)).toEqual(['squareAvg', 'average']);
    expect(Object.keys(opt.state.b)).toEqual(['squareAvg']);
    opt.grads.w.fill(1);
    opt.grads.b.fill(1);
    opt.step();
    expect(sameBits(opt.state.w.average!, opt.params.w)).toBeUndefined();
    opt.dispose();
  });
});

describe('emaOverwriteEvery and swapAverages', () => {
  it('every N steps the parameters, your own arrays too, take the average (Keras ema_overwrite_frequency)', async () => {
    for (const backend of BACKENDS) {
      const w = edgeValues(4100, 1);
      const opt = await RMSProp.create({ w }, { backend, ema: 0.5, emaOverwriteEvery: 3, lr: 0.1 });
      const g = edgeValues(4100, 2).map((x) => (Number.isFinite(x) ? x : 1));
      for (let t = 1; t <= 7; t++) {
        const before = opt.state.w.average!.slice();
        const updated = w.slice();
        opt.step({ w: g });
        if (t % 3 === 0) {
          expect(sameBits(w, opt.state.w.average!), `${backend} step ${t}`).toBeUndefined();
          expect(sameBits(w, updated), `${backend} step ${t}: the parameters moved`).toBeDefined();
        } else if (t === 1) expect(sameBits(w, opt.state.w.average!), 'the first step copies w').toBeUndefined();
        else expect(sameBits(w, opt.state.w.average!), `${backend} step ${t}`).toBeDefined();
        expect(sameBits(before, opt.state.w.average!)).toBeDefined();
      }
      opt.dispose();
    }
  });

  it('swaps parameters and averages bit for bit (NaN payloads too), and back', async () => {
    const own = edgeValues(11, 3);
    const opt = await RMSProp.create({ own, heap: 13 }, { ema: 0.9 });
    opt.params.heap.set(edgeValues(13, 4));
    opt.step({ own: edgeValues(11, 5), heap: edgeValues(13, 6) });
    const payload = new Uint32Array(opt.state.heap.average!.buffer, opt.state.heap.average!.byteOffset, 13);
    payload[5] = 0x7fa00001; // a NaN with a payload
    const before = snapshot([own, opt.params.heap, opt.state.own.average!, opt.state.heap.average!]);
    opt.swapAverages();
    const after = snapshot([opt.state.own.average!, opt.state.heap.average!, own, opt.params.heap]);
    expect(snapshotDifference(after, before)).toBeUndefined();
    opt.swapAverages();
    expect(
      snapshotDifference(snapshot([own, opt.params.heap, opt.state.own.average!, opt.state.heap.average!]), before),
    ).toBeUndefined();
    opt.dispose();
  });

  it('refuses, changing nothing: no average kept, or not started; your array resized', async () => {
    const fresh = await RMSProp.create({ w: 8 }, { ema: 0.9 });
    expect(() => fresh.swapAverages()).toThrow(/swapAverages: the average of 'w' has not started/);
    fresh.dispose();
    const plain = await RMSProp.create({ w: 8 }, {});
    expect(() => plain.swapAverages()).toThrow(/swapAverages: no parameter keeps an average.*'ema' > 0/);
    plain.dispose();
    const buffer = new ArrayBuffer(64, { maxByteLength: 128 });
    const mine = new Float32Array(buffer);
    const opt = await RMSProp.create({ mine, other: 4 }, { ema: 0.9 });
    opt.step({ mine: new Float32Array(16).fill(1), other: new Float32Array(4).fill(1) });
    const before = snapshot([...everything(opt), mine]);
    buffer.resize(96);
    expect(() => opt.swapAverages()).toThrow(RangeError);
    expect(() => opt.swapAverages()).toThrow(/parameter 'mine' now has 24 elements, it had 16/);
    buffer.resize(64);
    expect(snapshotDifference(snapshot([...everything(opt), mine]), before)).toBeUndefined();
    opt.dispose();
  });
});

describe('ema options', () => {
  it.each([
    [{ ema: 1 }, RangeError, /option 'ema' must be in \[0, 1\), got 1/],
    [{ ema: -0.1 }, RangeError, /option 'ema' must be in \[0, 1\)/],
    [{ ema: 0.999999999 }, RangeError, /'ema' must be in \[0, 1\) in float32/],
    [{ ema: '0.9' }, TypeError, /option 'ema' must be a number, got "0.9"/],
    [{ ema: 0.9, emaOverwriteEvery: 1.5 }, RangeError, /option 'emaOverwriteEvery' must be an integer ≥ 0/],
    [{ ema: 0.9, emaOverwriteEvery: -1 }, RangeError, /option 'emaOverwriteEvery' must be an integer ≥ 0/],
    [{ emaOverwriteEvery: 10 }, RangeError, /option 'emaOverwriteEvery' needs option 'ema' > 0/],
  ])('create(%o) throws', async (options, kind, message) => {
    await expect(RMSProp.create({ w: 4 }, options as RMSPropOptions)).rejects.toThrow(kind);
    await expect(RMSProp.create({ w: 4 }, options as RMSPropOptions)).rejects.toThrow(message);
  });

  it('setOptions changes ema and emaOverwriteEvery, but cannot switch ema on or off', async () => {
    const opt = await RMSProp.create({ w: 4 }, { ema: 0.9 });
    opt.setOptions(0, { ema: 0.999, emaOverwriteEvery: 5 });
    expect(opt.options.ema).toBe(0.999);
    expect(() => opt.setOptions(0, { ema: 0, emaOverwriteEvery: 0 })).toThrow(
      /option 'ema' cannot switch between 0 and non-zero/,
    );
    // (emaOverwriteEvery 5 needs an ema: the message names the option that cannot change, not that rule)
    expect(() => opt.setOptions(0, { ema: 0 })).toThrow(/option 'ema' cannot switch between 0 and non-zero/);
    const off = await RMSProp.create({ w: 4 }, {});
    expect(() => off.setOptions(0, { ema: 0.9 })).toThrow(/option 'ema' cannot switch/);
    expect(off.options.ema).toBe(0);
    opt.dispose();
    off.dispose();
  });
});

describe('the average saved and loaded', () => {
  it('JSON and binary round trips continue bit for bit; setState writes it', async () => {
    for (const stateFormat of ['float32', '8bit'] as const) {
      const whole = await create({ stateFormat });
      train(whole, 8);
      const half = await create({ stateFormat });
      train(half, 4);
      const saved = JSON.parse(JSON.stringify(half.saveState()));
      expect(Object.keys(saved.state.w)).toContain('average');
      for (const state of [saved, decodeState(encodeState(half))]) {
        const resumed = await create({ stateFormat });
        for (const name of NAMES) resumed.params[name].set(half.params[name]);
        resumed.loadState(state);
        train(resumed, 4, 4);
        expect(firstDifference(everything(resumed), everything(whole)), stateFormat).toBeUndefined();
        resumed.dispose();
      }
      const set = await create({ stateFormat });
      set.setState('w', { average: half.state.w.average });
      expect(sameBits(set.state.w.average!, half.state.w.average!)).toBeUndefined();
      for (const opt of [whole, half, set]) opt.dispose();
    }
  });

  it('a state saved without averages (or a PyTorch dict) starts them at the parameters', async () => {
    const plain = await create({ ema: 0 });
    train(plain, 3);
    const opt = await create({});
    for (const name of NAMES) opt.params[name].set(plain.params[name]);
    opt.loadState(plain.saveState());
    for (const name of NAMES) expect(sameBits(opt.state[name].average!, plain.params[name])).toBeUndefined();
    train(opt, 1, 3);
    const torch = await create({});
    torch.fromTorchStateDict(opt.toTorchStateDict());
    for (const name of NAMES) expect(sameBits(torch.state[name].average!, torch.params[name])).toBeUndefined();
    for (const o of [plain, opt, torch]) o.dispose();
  });

  it('refuses, changing nothing: an average where none is kept, one of the wrong length, setState of one', async () => {
    const withAverage = await create({});
    train(withAverage, 2);
    const saved = withAverage.saveState({ arrays: 'float32' });
    const plain = await create({ ema: 0 });
    const before = snapshot(everything(plain));
    expect(() => plain.loadState(saved)).toThrow(
      /saved state has average for 'w', which this optimizer does not keep \(ema is 0\)/,
    );
    expect(() => plain.setState('w', { average: new Float32Array(SIZES.w) } as never)).toThrow(
      /setState: 'w' keeps squareAvg, not "average"/,
    );
    expect(snapshotDifference(snapshot(everything(plain)), before)).toBeUndefined();
    const other = await create({});
    const otherBefore = snapshot(everything(other));
    const short = { ...saved, state: { ...saved.state, b: { ...saved.state.b, average: new Float32Array(6) } } };
    expect(() => other.loadState(short)).toThrow(/saved state: average of 'b' has 6 elements, the parameter has 7/);
    expect(() => other.setState('b', { average: new Float32Array(6) })).toThrow(/average of 'b' has 6 elements/);
    const odd = { ...saved, state: { ...saved.state, b: { ...saved.state.b, average: 'AAAAAAA=' } } };
    expect(() => other.loadState(odd)).toThrow(/saved state: average of 'b' has 5 bytes, the parameter has 7/);
    expect(snapshotDifference(snapshot(everything(other)), otherBefore)).toBeUndefined();
    expect(other.stepCount).toBe(0);
    for (const o of [withAverage, plain, other]) o.dispose();
  });
});

/** The largest relative difference between two arrays (zeros and subnormals against 1e-38). */
const farthest = (actual: Float32Array, expected: Float32Array) =>
  actual.reduce(
    (worst, x, i) => Math.max(worst, Math.abs(x - expected[i]) / Math.max(Math.abs(expected[i]), 1e-38)),
    0,
  );

describe('where the average starts', () => {
  it('at w of the first step, for parameters filled after create and ones never given a gradient (overwrites keep them)', async () => {
    for (const backend of BACKENDS) {
      for (const threads of backend === 'js' ? [1] : [1, 2]) {
        const opt = await RMSProp.create(
          { w: 5000, frozen: 4100 },
          { backend, threads, lr: 0.01, ema: 0.9, emaOverwriteEvery: 2 },
        );
        opt.params.w.set(edgeValues(5000, 1).map((x) => (Number.isFinite(x) ? x : 1)));
        opt.params.frozen.set(edgeValues(4100, 2).map((x) => (Number.isFinite(x) ? x : 2)));
        const frozen = opt.params.frozen.slice();
        for (let t = 0; t < 4; t++) {
          opt.step({ w: edgeValues(5000, 10 + t).map((x) => (Number.isFinite(x) ? x : 0)) });
          // μ·x + (1 − μ)·x is x to within float32's rounding of the two products and their sum
          const where = `${backend}, ${threads} threads, step ${t + 1}`;
          expect(farthest(opt.params.frozen, frozen), where).toBeLessThanOrEqual(3 * 2 ** -24);
          expect(farthest(opt.state.frozen.average!, frozen), where).toBeLessThanOrEqual(3 * 2 ** -24);
        }
        opt.dispose();
      }
    }
  });

  it('at the first step whatever the step count, and again after loading a state without averages', async () => {
    const opt = await RMSProp.create({ w: 8 }, { lr: 1e-4, ema: 0.99, emaOverwriteEvery: 10 });
    opt.params.w.set([1, 2, 3, 4, 5, 6, 7, 8]);
    opt.stepCount = 1000; // resuming a count kept elsewhere
    const g = new Float32Array(8).fill(1);
    opt.step({ w: g });
    expect(sameBits(opt.state.w.average!, opt.params.w)).toBeUndefined();
    for (let t = 0; t < 9; t++) opt.step({ w: g });
    expect(opt.params.w[7]).toBeGreaterThan(7.99); // the overwrite at step 1010 copied an average of w, not of zeros
    const plain = await RMSProp.create({ w: 8 }, { lr: 1e-4 });
    plain.step({ w: g });
    opt.params.w.fill(3);
    opt.loadState(plain.saveState());
    opt.params.w.fill(4); // weights loaded after the optimizer's state
    opt.step({ w: g });
    expect(sameBits(opt.state.w.average!, opt.params.w)).toBeUndefined();
    opt.setState('w', { average: new Float32Array(8).fill(5) });
    const w = opt.params.w.slice();
    opt.step({ w: g });
    const mu = Math.fround(0.99);
    expect(opt.state.w.average![0]).toBe(
      Math.fround(Math.fround(mu * 5) + Math.fround(Math.fround(1 - mu) * opt.params.w[0])),
    );
    expect(w[0]).not.toBe(opt.params.w[0]);
    for (const o of [opt, plain]) o.dispose();
  });

  it('per parameter: a state saved before the first step, setState of one average, a state missing one', async () => {
    const make = () => RMSProp.create({ a: 3, b: 3 }, { lr: 0.1, ema: 0.9 });
    const g = { a: new Float32Array([0.5, -0.5, 0.5]), b: new Float32Array([0.5, 0.5, -0.5]) };
    const fill = (opt: RMSProp<'a' | 'b'>) => {
      opt.params.a.set([1, 2, 3]);
      opt.params.b.set([4, 5, 6]);
    };
    // saved before any step, resumed elsewhere: both averages start at the first step's w
    const whole = await make();
    fill(whole);
    const early = whole.saveState();
    expect(Object.keys(early.state.a)).toEqual(['squareAvg']);
    const resumed = await make();
    fill(resumed);
    resumed.loadState(early);
    for (const opt of [whole, resumed]) opt.step(g);
    expect(firstDifference(everything(resumed), everything(whole))).toBeUndefined();
    expect(sameBits(whole.state.a.average!, whole.params.a)).toBeUndefined();
    // setState of a's average before the first step: a continues from it, b still starts at w
    const set = await make();
    fill(set);
    set.setState('a', { average: new Float32Array([7, 7, 7]) });
    set.step(g);
    expect(sameBits(set.state.b.average!, set.params.b)).toBeUndefined();
    const mu = Math.fround(0.9);
    const expectedA = Float32Array.from(set.params.a, (x) =>
      Math.fround(Math.fround(mu * 7) + Math.fround(Math.fround(1 - mu) * x)),
    );
    expect(sameBits(set.state.a.average!, expectedA)).toBeUndefined();
    // a state missing b's average: a continues from its own, b starts at the next step's w
    for (let t = 0; t < 2; t++) whole.step(g);
    const partial = whole.saveState({ arrays: 'float32' });
    delete partial.state.b.average;
    const mixed = await make();
    mixed.params.a.set(whole.params.a);
    mixed.params.b.set(whole.params.b);
    mixed.loadState(partial);
    for (const opt of [whole, mixed]) opt.step(g);
    expect(sameBits(mixed.state.a.average!, whole.state.a.average!)).toBeUndefined();
    expect(sameBits(mixed.state.b.average!, mixed.params.b)).toBeUndefined();
    for (const opt of [whole, resumed, set, mixed]) opt.dispose();
  });

  it('a copy of w, even from parameters that were ±∞ or NaN at create', async () => {
    for (const backend of BACKENDS) {
      const w = new Float32Array([Infinity, Number.NaN, 1, -0]);
      const opt = await RMSProp.create({ w }, { backend, ema: 0.9, lr: 0.1 });
      w.set([1, 2, 3, -0]);
      opt.step({ w: new Float32Array([0.5, 0.5, 0.5, 0]) });
      expect(sameBits(opt.state.w.average!, w), backend).toBeUndefined();
      expect(Object.is(opt.state.w.average![3], -0)).toBe(true);
      opt.dispose();
    }
  });

  it('a step refuses your resized array of a parameter without a gradient, changing nothing', async () => {
    const buffer = new ArrayBuffer(20, { maxByteLength: 64 });
    const a = new Float32Array(buffer);
    const opt = await RMSProp.create({ a, b: 7 }, { lr: 0.01, ema: 0.9, emaOverwriteEvery: 2 });
    opt.step({ a: new Float32Array(5).fill(1), b: new Float32Array(7).fill(1) });
    const before = snapshot(everything(opt, true));
    buffer.resize(8);
    expect(() => opt.step({ b: new Float32Array(7).fill(2) })).toThrow(
      /parameter 'a' now has 2 elements, it had 5 at create/,
    );
    expect(snapshotDifference(snapshot(everything(opt, true).slice(1)), before.slice(1))).toBeUndefined();
    expect(opt.stepCount).toBe(1);
    opt.dispose();
  });
});

describe('saved in one process, resumed in another (as a user runs it)', () => {
  // the run both children make: 2 threads, 8-bit state with momentum on one group, float32 on the other
  const RUN = `
    const sizes = { w: 70000, b: 33 };
    const create = () => lib.RMSProp.create(
      [{ params: { w: sizes.w }, stateFormat: '8bit', momentum: 0.9, ema: 0.99 }, { params: { b: sizes.b }, ema: 0.9, emaOverwriteEvery: 3 }],
      { threads: 2, lr: 0.01 },
    );
    const grads = (t) => Object.fromEntries(Object.entries(sizes).map(([name, n]) => [name, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + t) + (i % 7) * 0.01)]));
    const fill = (opt) => { opt.params.w.forEach((_, i, a) => { a[i] = Math.cos(i); }); opt.params.b.fill(0.5); };
    const hash = (opt) => ['w', 'b'].flatMap((name) => [opt.params[name], opt.state[name].average]).map((a) => {
      let h = 2166136261;
      for (const word of new Uint32Array(a.buffer, a.byteOffset, a.length)) h = Math.imul(h ^ word, 16777619) >>> 0;
      return h.toString(16);
    }).join(' ');
    const dir = process.env.RMSPROP_EMA_DIR;
  `;
  it('the averages continue bit for bit from a binary checkpoint, and swap there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rmsprop-ema-'));
    try {
      process.env.RMSPROP_EMA_DIR = dir;
      const first = await runForJson<{ whole: string; threads: number }>(`import * as lib from 'rmsprop-wasm';
        import { writeFileSync } from 'node:fs';
        ${RUN}
        const opt = await create();
        fill(opt);
        for (let t = 0; t < 5; t++) opt.step(grads(t));
        writeFileSync(dir + '/state.bin', lib.encodeState(opt));
        writeFileSync(dir + '/w.bin', opt.params.w);
        writeFileSync(dir + '/b.bin', opt.params.b);
        for (let t = 5; t < 9; t++) opt.step(grads(t));
        console.log(JSON.stringify({ whole: hash(opt), threads: opt.threads }));`);
      const second = await runForJson<{ resumed: string; swapped: boolean }>(`import * as lib from 'rmsprop-wasm';
        import { readFileSync } from 'node:fs';
        ${RUN}
        const opt = await create();
        const read = (file) => new Float32Array(new Uint8Array(readFileSync(dir + file)).buffer);
        opt.params.w.set(read('/w.bin'));
        opt.params.b.set(read('/b.bin'));
        opt.loadState(lib.decodeState(new Uint8Array(readFileSync(dir + '/state.bin'))));
        for (let t = 5; t < 9; t++) opt.step(grads(t));
        const resumed = hash(opt);
        const average = opt.state.w.average.slice();
        opt.swapAverages();
        const swapped = opt.params.w.every((x, i) => Object.is(x, average[i]));
        console.log(JSON.stringify({ resumed, swapped }));`);
      expect(first.threads).toBe(2);
      expect(second.resumed).toBe(first.whole);
      expect(second.swapped).toBe(true);
    } finally {
      delete process.env.RMSPROP_EMA_DIR;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

// Parameter groups, schedules, clipping, saved state, PyTorch state dicts, non-finite gradients,
// subnormal flushing.
import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, RMSProp, schedules, type RMSPropOptions, type SavedState } from '../../src/index.js';
import { BACKENDS, normal, rng, sameBits, snapshot } from '../support/helpers.js';

function randomArrays(seed: number, lengths: readonly number[], scale = 1): Float32Array[] {
  const random = rng(seed);
  return lengths.map((n) => Float32Array.from({ length: n }, () => normal(random) * scale));
}

/** Every byte of params and state, to compare whole optimizers. */
function everything(opt: RMSProp): Float32Array[] {
  return Object.keys(opt.params).flatMap((name) => [opt.params[name], ...Object.values(opt.state[name])]);
}

function firstDifference(a: Float32Array[], b: Float32Array[]): string | undefined {
  if (a.length !== b.length) return `${a.length} arrays vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const d = sameBits(a[i], b[i]);
    if (d) return `array ${i}: ${d}`;
  }
  return undefined;
}

describe.each(BACKENDS)('parameter groups (%s)', (backend) => {
  it('groups with different options equal separate optimizers side by side', async () => {
    const [w, b, emb] = randomArrays(1, [70, 5, 33]);
    const grouped = await RMSProp.create(
      [{ params: { w: w.slice(), b: b.slice() }, lr: 1e-2, momentum: 0.9 }, { params: { emb: emb.slice() }, centered: true, weightDecay: 0.1 }],
      { preset: 'pytorch', backend },
    );
    const first = await RMSProp.create({ w: w.slice(), b: b.slice() }, { preset: 'pytorch', backend, lr: 1e-2, momentum: 0.9 });
    const second = await RMSProp.create({ emb: emb.slice() }, { preset: 'pytorch', backend, centered: true, weightDecay: 0.1 });
    expect(grouped.groups.map((g) => [g.params, g.lr, g.momentum, g.centered])).toEqual([
      [['w', 'b'], 1e-2, 0.9, false],
      [['emb'], 1e-2, 0, true],
    ]);
    for (let k = 0; k < 8; k++) {
      const [gw, gb, ge] = randomArrays(100 + k, [70, 5, 33]);
      grouped.step({ w: gw, b: gb, emb: ge });
      first.step({ w: gw, b: gb });
      second.step({ emb: ge });
    }
    expect(firstDifference(everything(grouped), [...everything(first), ...everything(second)])).toBeUndefined();
  });

  it('setOptions changes one group between steps, exactly like a schedule', async () => {
    const [w] = randomArrays(2, [50]);
    const manual = await RMSProp.create([{ params: { w: w.slice() } }, { params: { v: 3 } }], { backend, momentum: 0.5 });
    const scheduled = await RMSProp.create({ w: w.slice() }, { backend, momentum: 0.5, lr: (step) => (step < 3 ? 1e-3 : 1e-4) });
    for (let k = 0; k < 6; k++) {
      if (k === 3) manual.setOptions(0, { lr: 1e-4 });
      const [g] = randomArrays(200 + k, [50]);
      manual.step({ w: g });
      scheduled.step({ w: g });
    }
    expect(manual.groups[0].lr).toBe(1e-4);
    expect(manual.groups[1].lr).toBe(1e-3);
    expect(sameBits(manual.params.w, scheduled.params.w)).toBeUndefined();
  });

  it('rejects bad groups and bad setOptions, changing nothing', async () => {
    await expect(RMSProp.create([{ params: { w: 2 } }, { params: { w: 3 } }], { backend })).rejects.toThrow(/'w' appears in more than one group/);
    await expect(RMSProp.create([{ params: { w: 2 }, backend: 'js' } as never], { backend })).rejects.toThrow(TypeError);
    await expect(RMSProp.create([{ params: { w: 2 }, lr: -1 }], { backend })).rejects.toThrow(RangeError);
    const opt = await RMSProp.create([{ params: { w: 2 } }, { params: { v: 2 }, momentum: 0.9 }], { backend });
    const before = opt.groups;
    expect(() => opt.setOptions(2, { lr: 1 })).toThrow(RangeError);
    expect(() => opt.setOptions(0, { centered: true } as never)).toThrow(/'centered' is fixed/);
    expect(() => opt.setOptions(0, { momentum: 0.9 })).toThrow(/'momentum' cannot switch/);
    expect(() => opt.setOptions(1, { momentum: 0 })).toThrow(RangeError);
    expect(() => opt.setOptions(0, { lr: NaN })).toThrow(/'lr'.*NaN/);
    expect(() => opt.setOptions(0, { learningRate: 1 } as never)).toThrow(/unknown option 'learningRate'/);
    expect(opt.groups).toBe(before);
    opt.setOptions(1, { momentum: 0.5, nesterov: true });
    expect(opt.groups[1].nesterov).toBe(true);
  });
});

describe('learning-rate schedules match their frameworks\' formulas', () => {
  const steps = Array.from({ length: 40 }, (_, i) => i);
  const close = (actual: number[], expected: number[]) => actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i], 12));

  it('exponentialDecay: Keras ExponentialDecay, initial·rate^(step/decaySteps), floored with staircase', () => {
    close(steps.map(schedules.exponentialDecay({ initial: 0.1, decaySteps: 7, decayRate: 0.5 })), steps.map((s) => 0.1 * 0.5 ** (s / 7)));
    close(steps.map(schedules.exponentialDecay({ initial: 0.1, decaySteps: 7, decayRate: 0.5, staircase: true })), steps.map((s) => 0.1 * 0.5 ** Math.floor(s / 7)));
  });

  it('stepDecay: PyTorch StepLR, initial·gamma^⌊step/stepSize⌋', () => {
    close(steps.map(schedules.stepDecay({ initial: 1, stepSize: 10, gamma: 0.1 })), steps.map((s) => (s < 10 ? 1 : s < 20 ? 0.1 : s < 30 ? 0.01 : 0.001)));
  });

  it('cosineDecay: Keras CosineDecay with linear warm-up', () => {
    // keras/src/optimizers/schedules/learning_rate_schedule.py, CosineDecay.__call__:
    // warm-up (target − initial)·step/warmupSteps + initial, then target·((1−α)·½(1+cos(π·min(s, D)/D)) + α)
    const [initial, target, warmup, decaySteps, alpha] = [0.01, 0.1, 5, 20, 0.1];
    const expected = steps.map((s) => {
      if (s < warmup) return (target - initial) * (s / warmup) + initial;
      const fraction = Math.min(s - warmup, decaySteps) / decaySteps;
      return target * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * fraction)) + alpha);
    });
    close(steps.map(schedules.cosineDecay({ initial, decaySteps, alpha, warmupTarget: target, warmupSteps: warmup })), expected);
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10 })(0)).toBe(2);
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10 })(10)).toBeCloseTo(0, 15);
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10 })(5)).toBeCloseTo(1, 15);
  });

  it('piecewiseConstant: Keras PiecewiseConstantDecay (boundaries inclusive on the left value)', () => {
    const schedule = schedules.piecewiseConstant({ boundaries: [10, 20], values: [1, 0.5, 0.1] });
    expect([0, 10, 11, 20, 21, 100].map(schedule)).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1]);
    expect(() => schedules.piecewiseConstant({ boundaries: [10], values: [1] })).toThrow(RangeError);
    expect(schedules.constant(0.3)(1000)).toBe(0.3);
  });

  it('a schedule is called once per step with the steps taken so far', async () => {
    const calls: number[] = [];
    const opt = await RMSProp.create({ w: 4 }, { lr: (step) => (calls.push(step), 1e-3) });
    for (let k = 0; k < 3; k++) opt.step();
    expect(calls).toEqual([0, 1, 2]);
  });

  it('a schedule that returns a bad value throws before anything changes', async () => {
    const w = new Float32Array([1, 2]);
    const opt = await RMSProp.create({ w }, { lr: (step) => (step === 1 ? -1 : 1e-3) });
    opt.step({ w: new Float32Array([1, 1]) });
    const before = snapshot(everything(opt));
    expect(() => opt.step({ w: new Float32Array([1, 1]) })).toThrow(/schedule.*-1 at step 1/);
    expect(snapshot(everything(opt))).toEqual(before);
    expect(opt.stepCount).toBe(1);
  });

  it.each([[false, 'PyTorch: a new lr scales the whole step, buffer included'], [true, 'TF: the buffer keeps the old lr']])(
    'lrInMomentum %s — %s', async (lrInMomentum) => {
      const w = new Float32Array([0]);
      const opt = await RMSProp.create({ w }, { momentum: 0.9, lrInMomentum, lr: (step) => (step < 3 ? 0.1 : 0.01) });
      const deltas: number[] = [];
      for (const g of [1, 1, 1, 0]) {
        const before = w[0];
        opt.step({ w: new Float32Array([g]) });
        deltas.push(w[0] - before);
      }
      // The last step has a zero gradient: only the buffer moves w.
      const ratio = deltas[3] / deltas[2];
      expect(ratio).toBeCloseTo(lrInMomentum ? 0.9 : 0.9 * 0.1, 5);
    });
});

/** Clipping in float64: clamp, per-tensor norm, then global norm (the documented order). */
function clipReference(grads: Float32Array[], o: { clipValue?: number; clipNorm?: number; globalClipNorm?: number }): Float64Array[] {
  const clamped = grads.map((g) => Float64Array.from(g, (x) => Math.min(Math.max(x, -(o.clipValue ?? Infinity)), o.clipValue ?? Infinity)));
  const norms = clamped.map((g) => Math.sqrt(g.reduce((s, x) => s + x * x, 0)));
  const scaled = clamped.map((g, i) => (o.clipNorm ? g.map((x) => (x * o.clipNorm!) / Math.max(norms[i], o.clipNorm!)) : g));
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
  ];

  it.each(cases)('%s against a float64 reference', async (_, clip) => {
    const params = randomArrays(5, LENGTHS);
    const opt = await RMSProp.create(params.map((p) => p.slice()), { ...clip, lr: 0.01 });
    const grads = randomArrays(6, LENGTHS, 3);
    opt.step(grads);
    // After one step from S = 0: S = 0.1·ĝ², w = w0 − lr·ĝ/√(0.1·ĝ² + ε), with ĝ the clipped gradient.
    const clipped = clipReference(grads, clip);
    LENGTHS.forEach((n, t) => {
      for (let i = 0; i < n; i++) {
        const g = clipped[t][i];
        expect(opt.state[t].squareAvg[i]).toBeCloseTo(0.1 * g * g, 5);
        const expected = params[t][i] - (0.01 * g) / Math.sqrt(0.1 * g * g + 1e-8);
        expect(Math.abs(opt.params[t][i] - expected)).toBeLessThan(1e-6 * Math.abs(expected) + 1e-8);
      }
    });
  });

  it.each(cases)('%s is bit-identical on every backend', async (_, clip) => {
    const results = await Promise.all(BACKENDS.map(async (backend) => {
      const opt = await RMSProp.create([{ params: randomArrays(7, LENGTHS.slice(0, 4)) }, { params: { x: randomArrays(8, [777])[0] }, momentum: 0.9 }], { ...clip, backend });
      for (let k = 0; k < 5; k++) {
        const grads = randomArrays(300 + k, [...LENGTHS.slice(0, 4), 777], 4);
        opt.step({ 0: grads[0], 1: grads[1], 2: grads[2], 3: grads[3], x: grads[4] });
      }
      return everything(opt);
    }));
    expect(firstDifference(results[1], results[0])).toBeUndefined();
    expect(firstDifference(results[2], results[0])).toBeUndefined();
  });
});

describe('saved state', () => {
  const options: RMSPropOptions = { preset: 'optax', centered: true, momentum: 0.9, nesterov: true, biasCorrection: true, lr: schedules.exponentialDecay({ initial: 1e-2, decaySteps: 3, decayRate: 0.5 }) };
  const LENGTHS = [13, 0, 64];

  async function run(backend: (typeof BACKENDS)[number], from: number, to: number, opt?: RMSProp) {
    opt ??= await RMSProp.create(randomArrays(9, LENGTHS), { ...options, backend });
    for (let k = from; k < to; k++) {
      const grads = randomArrays(400 + k, LENGTHS);
      grads[0][k % 13] = k === 4 ? NaN : grads[0][k % 13]; // a NaN, to check it survives JSON
      opt.step(grads);
    }
    return opt;
  }

  it.each(BACKENDS.flatMap((a) => BACKENDS.map((b) => [a, b] as const)))(
    'save on %s → JSON → load on %s → continue equals the uninterrupted run', async (saveOn, loadOn) => {
      const uninterrupted = await run(saveOn, 0, 10);
      const first = await run(saveOn, 0, 6);
      const json = JSON.stringify(first.saveState());
      const params = Object.values(first.params).map((p) => p.slice());
      const second = await RMSProp.create(params, { ...options, backend: loadOn });
      second.loadState(JSON.parse(json));
      expect(second.stepCount).toBe(6);
      await run(loadOn, 6, 10, second);
      expect(firstDifference(everything(second), everything(uninterrupted))).toBeUndefined();
    });

  it('the binary form round-trips, NaN, ±∞ and −0 included', async () => {
    const opt = await RMSProp.create({ w: new Float32Array([NaN, -0, Infinity, -Infinity, 1e-45]) }, { momentum: 0.5 });
    opt.state.w.squareAvg.set([NaN, -0, Infinity, 0, 1e-45]);
    opt.state.w.momentum!.set([NaN, -0, Infinity, -Infinity, -1e-45]);
    const saved = opt.saveState();
    const bytes = encodeState(saved);
    const { state, ...rest } = decodeState(bytes);
    expect(rest).toEqual({ ...saved, state: undefined });
    expect(sameBits(state.w.momentum as Float32Array, opt.state.w.momentum!)).toBeUndefined();
    const copy = await RMSProp.create({ w: 5 }, { momentum: 0.5 });
    copy.loadState(decodeState(bytes));
    expect(sameBits(copy.state.w.squareAvg, opt.state.w.squareAvg)).toBeUndefined();
    expect(Object.is(copy.state.w.squareAvg[1], -0)).toBe(true);
  });

  describe('malformed states are rejected with a reason, changing nothing', async () => {
    const make = () => RMSProp.create({ w: 4, b: 2 }, { centered: true });
    const good = async () => {
      const opt = await make();
      opt.grads.w.fill(1);
      opt.step();
      return opt.saveState();
    };
    const cases: Array<[string, (s: SavedState) => unknown, RegExp, typeof TypeError | typeof RangeError]> = [
      ['wrong version', (s) => ({ ...s, version: 3 }), /version 3 is not supported; this library reads versions 1 and 2/, RangeError],
      ['wrong format', (s) => ({ ...s, format: 'adam' }), /format/, TypeError],
      ['missing name', (s) => ({ ...s, state: { w: s.state.w } }), /missing parameter 'b'/, RangeError],
      ['unknown name', (s) => ({ ...s, state: { ...s.state, z: s.state.w } }), /'z'/, RangeError],
      ['wrong length', (s) => ({ ...s, state: { ...s.state, b: s.state.w } }), /'b' has 4 elements, the parameter has 2/, RangeError],
      ['centered mismatch', (s) => ({ ...s, groups: [{ ...s.groups[0], options: { ...s.groups[0].options, centered: false } }] }), /centered/, RangeError],
      ['momentum mismatch', (s) => ({ ...s, groups: [{ ...s.groups[0], options: { ...s.groups[0].options, momentum: 0.9 } }] }), /momentum/, RangeError],
      ['bad step count', (s) => ({ ...s, stepCount: -1 }), /stepCount/, RangeError],
      ['negative square average', (s) => ({ ...s, state: { ...s.state, b: { ...s.state.b, squareAvg: Buffer.from(new Float32Array([0, -1]).buffer).toString('base64') } } }), /squareAvg of 'b' is negative \(-1\) at index 1/, RangeError],
      ['not base64', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: '!!!' } } }), /base64/, TypeError],
      ['not an object', () => 'state', /object/, TypeError],
    ];
    it.each(cases)('%s', async (_, corrupt, message, errorClass) => {
      const opt = await make();
      opt.grads.w.fill(2);
      opt.step();
      const before = snapshot(everything(opt));
      const bad = corrupt(await good());
      expect(() => opt.loadState(bad as SavedState)).toThrow(errorClass);
      expect(() => opt.loadState(bad as SavedState)).toThrow(message);
      expect(snapshot(everything(opt))).toEqual(before);
      expect(opt.stepCount).toBe(1);
    });

    it('truncated or foreign bytes', async () => {
      const bytes = encodeState(await good());
      expect(() => decodeState(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
      expect(() => decodeState(bytes.subarray(0, 20))).toThrow(/truncated/);
      expect(() => decodeState(bytes.subarray(0, 5))).toThrow(RangeError);
      const foreign = bytes.slice();
      foreign[0] = 0;
      expect(() => decodeState(foreign)).toThrow(/magic/);
    });
  });

  it('a PyTorch state dict exported here loads back unchanged, and resumes the same run', async () => {
    const opt = await RMSProp.create([{ params: { a: randomArrays(1, [9])[0] }, momentum: 0.9, centered: true }, { params: { b: 4 } }], { preset: 'pytorch' });
    for (let k = 0; k < 3; k++) opt.step({ a: randomArrays(k, [9])[0], b: randomArrays(k + 50, [4])[0] });
    const dict = JSON.parse(JSON.stringify(opt.toTorchStateDict()));
    expect(dict.param_groups.map((g: { params: number[] }) => g.params)).toEqual([[0], [1]]);
    expect(Object.keys(dict.state['0'])).toEqual(['step', 'square_avg', 'momentum_buffer', 'grad_avg']);
    const copy = await RMSProp.create([{ params: { a: 9 }, momentum: 0.9, centered: true }, { params: { b: 4 } }], { preset: 'pytorch' });
    copy.fromTorchStateDict(dict);
    expect(copy.toTorchStateDict()).toEqual(dict);
    expect(copy.stepCount).toBe(3);
    expect(() => copy.fromTorchStateDict({ ...dict, param_groups: [dict.param_groups[0]] })).toThrow(RangeError);
  });
});

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
});

describe.each(BACKENDS)('subnormal state is flushed to zero (%s)', (backend) => {
  it('a long run of zero gradients leaves no subnormal in the state', async () => {
    const opt = await RMSProp.create({ w: 8 }, { backend, momentum: 0.9, centered: true });
    opt.grads.w.set([1e-3, -1e-3, 1, -1, 1e-20, 3e-19, 1e10, 0]);
    opt.step();
    opt.grads.w.fill(0);
    const isSubnormal = (x: number) => x !== 0 && Math.abs(x) < 1.1754943508222875e-38;
    for (let k = 0; k < 2000; k++) opt.step();
    for (const array of Object.values(opt.state.w)) {
      expect([...array].some(isSubnormal)).toBe(false);
      expect([...array].every((x) => x === 0)).toBe(true); // 0.9^2000 underflows everything
    }
  });
});

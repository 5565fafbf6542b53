// Parameter groups, schedules, subnormal flushing. (Clipping, saved state and non-finite gradients
// have files of their own.)
import { describe, expect, it } from 'vitest';
import { RMSProp, schedules } from '../../src/index.js';
import { BACKENDS, everything, firstDifference, randomArrays, sameBits, snapshot } from '../support/helpers.js';

describe.each(BACKENDS)('parameter groups (%s)', (backend) => {
  it('groups with different options equal separate optimizers side by side', async () => {
    const [w, b, emb] = randomArrays(1, [70, 5, 33]);
    const grouped = await RMSProp.create(
      [
        { params: { w: w.slice(), b: b.slice() }, lr: 1e-2, momentum: 0.9 },
        { params: { emb: emb.slice() }, centered: true, weightDecay: 0.1 },
      ],
      { preset: 'pytorch', backend },
    );
    const first = await RMSProp.create(
      { w: w.slice(), b: b.slice() },
      { preset: 'pytorch', backend, lr: 1e-2, momentum: 0.9 },
    );
    const second = await RMSProp.create(
      { emb: emb.slice() },
      { preset: 'pytorch', backend, centered: true, weightDecay: 0.1 },
    );
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

  // PyTorch's groups are lists of tensors, numbered across the groups (its state dict's keys).
  it('groups given as arrays are numbered across the groups, as PyTorch numbers them', async () => {
    const [w, b, v] = randomArrays(3, [6, 2, 5]);
    const grouped = await RMSProp.create([{ params: [w.slice(), b.slice()], lr: 1e-2 }, { params: [v.slice()] }], {
      preset: 'pytorch',
      backend,
    });
    const byName = await RMSProp.create(
      [{ params: { 0: w.slice(), 1: b.slice() }, lr: 1e-2 }, { params: { 2: v.slice() } }],
      { preset: 'pytorch', backend },
    );
    expect(grouped.groups.map((g) => g.params)).toEqual([['0', '1'], ['2']]);
    expect(grouped.toTorchStateDict().param_groups.map((g) => g.params)).toEqual([[0, 1], [2]]);
    for (let k = 0; k < 3; k++) {
      const grads = randomArrays(30 + k, [6, 2, 5]);
      grouped.step(grads);
      byName.step({ 0: grads[0], 1: grads[1], 2: grads[2] });
    }
    expect(firstDifference(everything(grouped), everything(byName))).toBeUndefined();
    // after a record group, an array's names go on from its place: here '1' and '2'
    const mixed = await RMSProp.create([{ params: { w: 2 } }, { params: [3, 4] }], { backend });
    expect(mixed.groups.map((g) => g.params)).toEqual([['w'], ['1', '2']]);
    await expect(RMSProp.create([{ params: { 1: 2 } }, { params: [3] }], { backend })).rejects.toThrow(
      "parameter name '1' appears in more than one group (a group's array is numbered by its place across the groups)",
    );
    await expect(RMSProp.create([{ params: [2] }, { params: [-1] }], { backend })).rejects.toThrow(
      "parameter '1' (group 1 params[0]): a zero-copy size must be a non-negative integer, got -1",
    );
  });

  it('setOptions changes one group between steps, exactly like a schedule', async () => {
    const [w] = randomArrays(2, [50]);
    const manual = await RMSProp.create([{ params: { w: w.slice() } }, { params: { v: 3 } }], {
      backend,
      momentum: 0.5,
    });
    const scheduled = await RMSProp.create(
      { w: w.slice() },
      { backend, momentum: 0.5, lr: (step) => (step < 3 ? 1e-3 : 1e-4) },
    );
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

  it("a group's resolved options make another optimizer as they are (opt.options, opt.groups less params)", async () => {
    const options = { preset: 'pytorch', lr: 0.1, momentum: 0.9, clipNorm: 1, ema: 0.5 } as const;
    const opt = await RMSProp.create([{ params: { w: 2 } }, { params: { v: 3 }, lr: 0.2 }], { ...options, backend });
    const { params: _, ...second } = opt.groups[1];
    for (const resolved of [opt.options, second]) {
      const copy = await RMSProp.create({ w: 2 }, resolved);
      expect(copy.options).toEqual(resolved);
      copy.dispose();
    }
    expect(opt.options).toMatchObject({ ...options, lr: 0.1 });
    opt.dispose();
  });

  it('rejects bad groups and bad setOptions, changing nothing', async () => {
    await expect(RMSProp.create([{ params: { w: 2 } }, { params: { w: 3 } }], { backend })).rejects.toThrow(
      /'w' appears in more than one group/,
    );
    await expect(RMSProp.create([{ params: { w: 2 }, backend: 'js' } as never], { backend })).rejects.toThrow(
      TypeError,
    );
    await expect(RMSProp.create([{ params: { w: 2 }, lr: -1 }], { backend })).rejects.toThrow(RangeError);
    const opt = await RMSProp.create([{ params: { w: 2 } }, { params: { v: 2 }, momentum: 0.9 }], { backend });
    const before = opt.groups;
    expect(() => opt.setOptions(2, { lr: 1 })).toThrow(RangeError);
    expect(() => opt.setOptions('0' as never, { lr: 1 })).toThrow(
      new TypeError('groupIndex must be a number, got "0"'),
    );
    expect(() => opt.setOptions(0n as never, { lr: 1 })).toThrow(
      new TypeError('groupIndex must be a number, got a BigInt'),
    );
    // every option docs/options.md lists as fixed at create, written out here rather than read from the code
    for (const [name, value] of [
      ['preset', 'pytorch'],
      ['centered', true],
      ['initialSquareAvg', 1],
      ['stateFormat', 'bfloat16'],
      ['backend', 'js'],
      ['threads', 2],
      ['nonFinite', 'skip'],
      ['globalClipNorm', 1],
    ] as const)
      expect(() => opt.setOptions(0, { [name]: value } as never), name).toThrow(`option '${name}' is fixed`);
    expect(() => opt.setOptions(0, { momentum: 0.9 })).toThrow(/'momentum' cannot switch/);
    const nesterov = await RMSProp.create({ w: 2 }, { backend, momentum: 0.9, nesterov: true });
    // (nesterov needs momentum: the message names the option that cannot change, not that rule)
    expect(() => nesterov.setOptions(0, { momentum: 0 })).toThrow(/option 'momentum' cannot switch/);
    nesterov.dispose();
    expect(() => opt.setOptions(1, { momentum: 0 })).toThrow(RangeError);
    expect(() => opt.setOptions(0, { lr: NaN })).toThrow(/'lr'.*NaN/);
    expect(() => opt.setOptions(0, { learningRate: 1 } as never)).toThrow(/unknown option 'learningRate'/);
    // With several groups, setOptions names the group, as create does; in a group, an unknown option's
    // list of known ones leaves out the optimizer-wide ones, which a group refuses.
    expect(() => opt.setOptions(1, { decay: 2 })).toThrow(/^group 1: option 'decay' must be in \[0, 1\), got 2$/);
    expect(() => opt.setOptions(0, { lrr: 1 } as never)).toThrow(
      /^group 0: unknown option 'lrr' \(known options: [^)]*\blr\b/,
    );
    await expect(RMSProp.create([{ params: { w: 2 }, lrr: 1 } as never], { backend })).rejects.toThrow(
      /^group 0: unknown option 'lrr' \(known options: [^)]*\bdecay\b/,
    );
    await expect(RMSProp.create([{ params: { w: 2 }, lrr: 1 } as never], { backend })).rejects.not.toThrow(
      /\b(backend|threads|nonFinite|globalClipNorm)\b/,
    );
    expect(opt.groups).toBe(before);
    opt.setOptions(1, { momentum: 0.5, nesterov: true });
    expect(opt.groups[1].nesterov).toBe(true);
  });
});

describe("learning-rate schedules match their frameworks' formulas", () => {
  const steps = Array.from({ length: 40 }, (_, i) => i);
  const close = (actual: number[], expected: number[]) =>
    actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i], 12));

  it('exponentialDecay: Keras ExponentialDecay, initial·rate^(step/decaySteps), floored with staircase', () => {
    close(
      steps.map(schedules.exponentialDecay({ initial: 0.1, decaySteps: 7, decayRate: 0.5 })),
      steps.map((s) => 0.1 * 0.5 ** (s / 7)),
    );
    close(
      steps.map(schedules.exponentialDecay({ initial: 0.1, decaySteps: 7, decayRate: 0.5, staircase: true })),
      steps.map((s) => 0.1 * 0.5 ** Math.floor(s / 7)),
    );
  });

  it('stepDecay: PyTorch StepLR, initial·gamma^⌊step/stepSize⌋', () => {
    close(
      steps.map(schedules.stepDecay({ initial: 1, stepSize: 10, gamma: 0.1 })),
      steps.map((s) => (s < 10 ? 1 : s < 20 ? 0.1 : s < 30 ? 0.01 : 0.001)),
    );
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
    close(
      steps.map(schedules.cosineDecay({ initial, decaySteps, alpha, warmupTarget: target, warmupSteps: warmup })),
      expected,
    );
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10 })(0)).toBe(2);
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10 })(10)).toBeCloseTo(0, 15);
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10 })(5)).toBeCloseTo(1, 15);
  });

  it('polynomialDecay: Keras PolynomialDecay, (initial − end)·(1 − step/D)^power + end, D a multiple of decaySteps ≥ step with cycle', () => {
    // keras/src/optimizers/schedules/learning_rate_schedule.py, PolynomialDecay.__call__
    const [initial, end, decaySteps] = [0.1, 0.01, 10];
    close(
      steps.map(schedules.polynomialDecay({ initial, decaySteps, end, power: 2 })),
      steps.map((s) => (initial - end) * (1 - Math.min(s, decaySteps) / decaySteps) ** 2 + end),
    );
    const multiple = (s: number) => decaySteps * (s === 0 ? 1 : Math.ceil(s / decaySteps));
    close(
      steps.map(schedules.polynomialDecay({ initial, decaySteps, end, cycle: true })),
      steps.map((s) => (initial - end) * (1 - s / multiple(s)) + end),
    );
    // by hand: halfway at power 2 is a quarter of the way down; cycling, step 11 restarts over 20 steps
    expect(schedules.polynomialDecay({ initial, decaySteps, end, power: 2 })(5)).toBeCloseTo(0.0325, 15);
    expect(schedules.polynomialDecay({ initial, decaySteps, end, cycle: true })(10)).toBeCloseTo(0.01, 15);
    expect(schedules.polynomialDecay({ initial, decaySteps, end, cycle: true })(11)).toBeCloseTo(0.0505, 15);
    // Keras' default end is 1e-4, and it may lie above initial (a ramp up)
    expect(schedules.polynomialDecay({ initial: 1, decaySteps: 4 })(100)).toBe(1e-4);
    expect(schedules.polynomialDecay({ initial: 0, decaySteps: 4, end: 1 })(2)).toBeCloseTo(0.5, 15);
  });

  it('cosineDecayRestarts: Keras CosineDecayRestarts, each period tMul times longer, its rate mMul times lower', () => {
    // keras/src/optimizers/schedules/learning_rate_schedule.py, CosineDecayRestarts.__call__; the
    // periods found here by walking them one by one (Keras solves for them with a logarithm)
    const reference = (step: number, initial: number, first: number, tMul: number, mMul: number, alpha: number) => {
      let [start, length, i] = [0, first, 0];
      while (step >= start + length) [start, length, i] = [start + length, length * tMul, i + 1];
      const cosine = 0.5 * mMul ** i * (1 + Math.cos((Math.PI * (step - start)) / length));
      return initial * ((1 - alpha) * cosine + alpha);
    };
    const long = Array.from({ length: 400 }, (_, i) => i);
    for (const [first, tMul, mMul, alpha] of [
      [10, 2, 1, 0],
      [7, 1, 0.5, 0.1],
      [3, 3, 0.9, 0],
      [5, 1.5, 1, 0.2],
      [1, 10, 0.5, 0], // step 111 starts period 3, where log(1 + 111·9) / log(10) reads 2.999…
    ])
      close(
        long.map(schedules.cosineDecayRestarts({ initial: 0.1, firstDecaySteps: first, tMul, mMul, alpha })),
        long.map((s) => reference(s, 0.1, first, tMul, mMul, alpha)),
      );
    // by hand: a period's first step is the full rate (times mMul^i), its middle half of it
    const sgdr = schedules.cosineDecayRestarts({ initial: 1, firstDecaySteps: 10, mMul: 0.5 });
    expect([0, 5, 10, 20, 30, 70].map(sgdr)).toEqual([1, 0.5, 0.5, 0.25, 0.25, 0.125]);
  });

  it('inverseTimeDecay: Keras InverseTimeDecay, initial / (1 + rate·step/decaySteps), floored with staircase', () => {
    close(
      steps.map(schedules.inverseTimeDecay({ initial: 0.1, decaySteps: 5, decayRate: 0.5 })),
      steps.map((s) => 0.1 / (1 + (0.5 * s) / 5)),
    );
    close(
      steps.map(schedules.inverseTimeDecay({ initial: 0.1, decaySteps: 5, decayRate: 0.5, staircase: true })),
      steps.map((s) => 0.1 / (1 + 0.5 * Math.floor(s / 5))),
    );
    expect(schedules.inverseTimeDecay({ initial: 0.1, decaySteps: 5, decayRate: 0.5 })(10)).toBeCloseTo(0.05, 15);
  });

  it('piecewiseConstant: Keras PiecewiseConstantDecay (boundaries inclusive on the left value)', () => {
    const schedule = schedules.piecewiseConstant({ boundaries: [10, 20], values: [1, 0.5, 0.1] });
    expect([0, 10, 11, 20, 21, 100].map(schedule)).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1]);
    expect(() => schedules.piecewiseConstant({ boundaries: [10], values: [1] })).toThrow(RangeError);
    expect(schedules.constant(0.3)(1000)).toBe(0.3);
  });

  it('the factories take the ends of their documented ranges, and refuse just past them', () => {
    // ≥ 0: a rate of 0 is a rate
    expect(schedules.constant(0)(5)).toBe(0);
    expect(schedules.exponentialDecay({ initial: 0, decaySteps: 1, decayRate: 0 })(3)).toBe(0);
    expect(schedules.stepDecay({ initial: 1, stepSize: 1, gamma: 0 })(1)).toBe(0);
    // alpha in [0, 1]: alpha 1 holds the rate
    expect(schedules.cosineDecay({ initial: 2, decaySteps: 10, alpha: 1 })(5)).toBe(2);
    expect(() => schedules.cosineDecay({ initial: 2, decaySteps: 10, alpha: 1.5 })).toThrow(RangeError);
    // stepSize an integer > 0; decaySteps finite and > 0
    expect(() => schedules.stepDecay({ initial: 1, stepSize: 0, gamma: 0.5 })).toThrow(RangeError);
    expect(() => schedules.exponentialDecay({ initial: 1, decaySteps: Infinity, decayRate: 0.5 })).toThrow(RangeError);
    expect(() => schedules.cosineDecay({ initial: 1, decaySteps: Infinity })).toThrow(RangeError);
    // power and decayRate finite and ≥ 0 (power 0 holds the rate); cycle and staircase booleans
    expect(schedules.polynomialDecay({ initial: 2, decaySteps: 10, power: 0 })(5)).toBe(2);
    expect(() => schedules.polynomialDecay({ initial: 2, decaySteps: 10, power: -1 })).toThrow(/power.*-1/);
    expect(() => schedules.polynomialDecay({ initial: 2, decaySteps: 0 })).toThrow(/decaySteps.*0/);
    expect(() => schedules.polynomialDecay({ initial: 2, decaySteps: 1, end: -1 })).toThrow(/end.*-1/);
    expect(() => schedules.polynomialDecay({ initial: 2, decaySteps: 1, cycle: 1 as never })).toThrow(TypeError);
    expect(() => schedules.polynomialDecay({ initial: 2, decaySteps: 1, steps: 1 } as never)).toThrow(
      /unknown option 'steps'/,
    );
    expect(schedules.inverseTimeDecay({ initial: 2, decaySteps: 1, decayRate: 0 })(9)).toBe(2);
    expect(() => schedules.inverseTimeDecay({ initial: 2, decaySteps: 1, decayRate: Infinity })).toThrow(RangeError);
    expect(() =>
      schedules.inverseTimeDecay({ initial: 2, decaySteps: 1, decayRate: 1, staircase: 'yes' as never }),
    ).toThrow(/staircase must be a boolean/);
    expect(schedules.cosineDecayRestarts({ initial: 2, firstDecaySteps: 4, tMul: 1, mMul: 0 })(4)).toBe(0);
    expect(() => schedules.cosineDecayRestarts({ initial: 2, firstDecaySteps: 4, tMul: 0.5 })).toThrow(/tMul.*0\.5/);
    expect(() => schedules.cosineDecayRestarts({ initial: 2, firstDecaySteps: 0 })).toThrow(/firstDecaySteps/);
    expect(() => schedules.cosineDecayRestarts({ initial: 2, firstDecaySteps: 4, alpha: 2 })).toThrow(/alpha/);
    // boundaries: numbers, strictly increasing
    expect(() => schedules.piecewiseConstant({ boundaries: [NaN], values: [1, 2] })).toThrow(/boundaries\[0\]/);
    expect(() => schedules.piecewiseConstant({ boundaries: [10, 10], values: [1, 2, 3] })).toThrow(/must increase/);
  });

  it("cosineDecay: the step that ends the warm-up is the decay's first, exactly the target (Keras: step < warmup_steps)", () => {
    // (target − initial)·1 + initial is not 0.11 in float64; Keras' decay branch at step 0 is target·1
    const schedule = schedules.cosineDecay({ initial: 0.04, decaySteps: 10, warmupTarget: 0.11, warmupSteps: 5 });
    expect(schedule(5)).toBe(0.11);
  });

  it('a schedule is called once per step with the steps taken so far', async () => {
    const calls: number[] = [];
    const opt = await RMSProp.create(
      { w: 4 },
      {
        lr: (step) => {
          calls.push(step);
          return 1e-3;
        },
      },
    );
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

  it.each([
    [false, 'PyTorch: a new lr scales the whole step, buffer included'],
    [true, 'TF: the buffer keeps the old lr'],
  ])('lrInMomentum %s — %s', async (lrInMomentum) => {
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

// Options are checked as the kernels see them: every constant is rounded to float32 once, so a value
// that passes in float64 but rounds to an invalid one (decay 0.99999999 → 1, eps 1e-46 → 0) or
// overflows (lr 3.5e38 → ∞) is a RangeError naming the option; schedule values are checked the same
// way at each step; an option is read once, so a getter cannot answer one thing to the check and
// another to the optimizer.
import { describe, expect, it } from 'vitest';
import { RMSProp, schedules, type RMSPropOptions } from '../../src/index.js';
import { snapshot } from '../support/helpers.js';

const FLOAT32_MAX = 3.4028234663852886e38;
/** The largest float32 below 1. */
const BELOW_ONE = 1 - 2 ** -24;

describe('options that float32 rounds to invalid values are rejected', () => {
  const cases: Array<[string, RMSPropOptions, RegExp]> = [
    ['decay rounding to 1', { decay: 0.99999999 }, /'decay'.*0\.99999999.*rounds to 1/],
    ['momentum rounding to 1', { momentum: 0.99999999 }, /'momentum'.*0\.99999999.*rounds to 1/],
    ['eps rounding to 0', { eps: 1e-46 }, /'eps'.*1e-46.*rounds to 0/],
    ['eps beyond float32', { eps: 3.5e38 }, /'eps'.*3\.5e\+38.*rounds to Infinity/],
    ['lr beyond float32', { lr: 3.5e38 }, /'lr'.*3\.5e\+38.*rounds to Infinity/],
    ['weightDecay beyond float32', { weightDecay: 3.5e38 }, /'weightDecay'.*3\.5e\+38.*rounds to Infinity/],
    [
      'initialSquareAvg beyond float32',
      { initialSquareAvg: 3.5e38 },
      /'initialSquareAvg'.*3\.5e\+38.*rounds to Infinity/,
    ],
    ['clipValue rounding to 0', { clipValue: 1e-46 }, /'clipValue'.*1e-46.*rounds to 0/],
    [
      'decoupled lr × weightDecay beyond float32',
      { preset: 'keras', lr: 1e21, weightDecay: 1e21 },
      /lr 1e\+21 times weightDecay 1e\+21 overflows float32/,
    ],
  ];

  it.each(cases)('%s', async (_, options, message) => {
    const w = new Float32Array([1, -2, 3]);
    const attempt = RMSProp.create({ w }, options);
    await expect(attempt).rejects.toThrow(RangeError);
    await expect(attempt).rejects.toThrow(message);
    await expect(RMSProp.create([{ params: { w: 3 }, ...options }])).rejects.toThrow(message);
    const { preset, ...changes } = options;
    const opt = await RMSProp.create({ w: 3 }, { preset });
    expect(() => opt.setOptions(0, changes)).toThrow(message);
  });

  // The largest values float32 holds are accepted, and a zero gradient then leaves every parameter
  // as it was (with eps or lr at 0 or ∞ in float32 it would be NaN: 0/0, ∞·0).
  it.each([
    ['the largest float32 below 1 as decay and momentum', { decay: BELOW_ONE, momentum: BELOW_ONE }],
    ['the smallest positive float32 as eps (outside the root)', { preset: 'pytorch', eps: 1.4e-45 }],
    ['the largest float32 as lr', { lr: FLOAT32_MAX }],
    ['the largest float32 as weightDecay', { weightDecay: FLOAT32_MAX }],
  ] as Array<[string, RMSPropOptions]>)('accepts %s', async (_, options) => {
    const opt = await RMSProp.create({ w: new Float32Array([0, 0, 0]) }, options);
    opt.step({ w: new Float32Array(3) });
    expect(Array.from(opt.params.w)).toEqual([0, 0, 0]);
    expect(Array.from(opt.state.w.squareAvg)).toEqual([0, 0, 0]);
  });

  it('schedule factories check their values as float32 holds them, and the kind of value', () => {
    expect(() => schedules.constant(3.5e38)).toThrow(RangeError);
    expect(() => schedules.constant(3.5e38)).toThrow(/constant: lr.*3\.5e\+38/);
    expect(() => schedules.constant('0.1' as never)).toThrow(TypeError);
    expect(() => schedules.stepDecay(null as never)).toThrow(TypeError);
    expect(() => schedules.piecewiseConstant({ boundaries: [1], values: [1, 3.5e38] })).toThrow(/values\[1\]/);
    expect(() => schedules.polynomialDecay({ initial: 1, decaySteps: 1, end: 3.5e38 })).toThrow(/end.*3\.5e\+38/);
    expect(() => schedules.inverseTimeDecay({ initial: 3.5e38, decaySteps: 1, decayRate: 1 })).toThrow(RangeError);
    expect(schedules.constant(FLOAT32_MAX)(0)).toBe(FLOAT32_MAX);
    // a misspelt or mistyped option once took its default, or a truthy string stood for true
    const decay = { initial: 1, decaySteps: 10, decayRate: 0.5 };
    expect(() => schedules.exponentialDecay({ ...decay, staircase: 'no' as never })).toThrow(
      /exponentialDecay: staircase must be a boolean, got "no"/,
    );
    expect(() => schedules.cosineDecay({ initial: 1, decaySteps: 10, warmup_target: 0.1 } as never)).toThrow(
      /cosineDecay: unknown option 'warmup_target' \(known: .*warmupTarget/,
    );
    expect(() => schedules.stepDecay([] as never)).toThrow(TypeError);
    expect(() => schedules.piecewiseConstant({ boundaries: 'ab', values: 'abc' } as never)).toThrow(
      /piecewiseConstant: boundaries must be an array, got "ab"/,
    );
  });
});

describe("a schedule's value is checked like the lr option, before anything is written", () => {
  const cases: Array<[string, unknown, typeof TypeError | typeof RangeError, RegExp]> = [
    [
      'a value beyond float32',
      3.5e38,
      RangeError,
      /schedule of group 0 returned 3\.5e\+38, which float32 rounds to Infinity/,
    ],
    ['a string', '0.001', TypeError, /schedule of group 0 returned "0\.001"/],
    ['NaN', NaN, RangeError, /returned NaN/],
    ['a negative value', -1, RangeError, /returned -1/],
  ];

  it.each(cases)('%s', async (_, bad, errorClass, message) => {
    const w = new Float32Array([1, 2]);
    const opt = await RMSProp.create({ w }, { lr: (step) => (step === 1 ? bad : 1e-3) as number });
    opt.step({ w: new Float32Array([1, 1]) });
    const before = snapshot([w, opt.state.w.squareAvg]);
    expect(() => opt.step({ w: new Float32Array([1, 1]) })).toThrow(errorClass);
    expect(() => opt.step({ w: new Float32Array([1, 1]) })).toThrow(message);
    expect(snapshot([w, opt.state.w.squareAvg])).toEqual(before);
    expect(opt.stepCount).toBe(1);
  });

  it('a schedule times decoupled weight decay must stay finite in float32', async () => {
    const opt = await RMSProp.create(
      { w: new Float32Array([1]) },
      { preset: 'keras', weightDecay: 1e21, lr: (step) => (step === 0 ? 1e-3 : 1e21) },
    );
    opt.step({ w: new Float32Array([1]) });
    expect(() => opt.step({ w: new Float32Array([1]) })).toThrow(
      /lr 1e\+21 times weightDecay 1e\+21 overflows float32/,
    );
    expect(opt.stepCount).toBe(1);
  });
});

describe('each option is read once', () => {
  /** An object whose getter answers a valid value the first time and a bad one after. */
  function fickle<T extends object>(target: T, name: string, first: unknown, later: unknown) {
    const reads = { count: 0 };
    const options = Object.defineProperty(target, name, {
      enumerable: true,
      get: () => (reads.count++ === 0 ? first : later),
    });
    return { options: options as T & RMSPropOptions, reads };
  }

  it.each([
    ['lr', 0.25, NaN],
    ['threads', 1, 100],
    ['decay', 0.5, 1],
    ['eps', 1e-3, -1],
  ] as const)('%s: create reads it once and uses the value it checked', async (name, first, later) => {
    const { options, reads } = fickle({}, name, first, later);
    const opt = await RMSProp.create({ w: 8 }, options);
    expect(reads.count).toBe(1);
    expect(opt.options[name]).toBe(first);
    opt.dispose();
    if (name === 'threads') return; // optimizer-wide: not a group option
    const defaults = fickle({}, name, first, later);
    const group = fickle({ params: { w: 8 } }, name, first, later);
    const grouped = await RMSProp.create([group.options, { params: { b: 4 } }], defaults.options);
    expect([defaults.reads.count, group.reads.count]).toEqual([1, 1]);
    expect(grouped.groups.map((g) => g[name])).toEqual([first, first]);
  });

  it('setOptions reads each change once', async () => {
    const opt = await RMSProp.create({ w: 8 });
    const { options, reads } = fickle({}, 'lr', 0.5, -1);
    opt.setOptions(0, options as never);
    expect(reads.count).toBe(1);
    expect(opt.options.lr).toBe(0.5);
  });

  it("a schedule's options are read once each", () => {
    const asked: string[] = [];
    const counted = <T extends object>(o: T) =>
      new Proxy(o, {
        get(target, key, receiver) {
          if (typeof key === 'string') asked.push(key);
          return Reflect.get(target, key, receiver);
        },
      });
    schedules.stepDecay(counted({ initial: 0.1, stepSize: 10, gamma: 0.5 }));
    schedules.exponentialDecay(counted({ initial: 0.1, decaySteps: 10, decayRate: 0.5, staircase: true }));
    schedules.cosineDecay(counted({ initial: 0.1, decaySteps: 10, warmupTarget: 0.2, warmupSteps: 2 }));
    expect(asked.sort()).toEqual(
      ['initial', 'stepSize', 'gamma', 'initial', 'decaySteps', 'decayRate', 'staircase']
        .concat(['initial', 'decaySteps', 'alpha', 'warmupTarget', 'warmupSteps'])
        .sort(),
    );
  });

  it('a Proxy is asked once per option', async () => {
    const asked: string[] = [];
    const options = new Proxy(
      { lr: 0.1, decay: 0.8 },
      {
        get(target, key, receiver) {
          if (typeof key === 'string') asked.push(key);
          return Reflect.get(target, key, receiver);
        },
      },
    );
    const opt = await RMSProp.create({ w: 8 }, options);
    expect(asked.sort()).toEqual(['decay', 'lr']);
    expect([opt.options.lr, opt.options.decay]).toEqual([0.1, 0.8]);
  });
});

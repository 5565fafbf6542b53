// Learning-rate schedules: functions of the number of steps taken before the current one (0 for the
// first step, like Keras' `iterations` and Optax's `count`). Pass one as `lr`.
import { describe, isRecord, isRate } from './options.js';

/** A learning rate as a function of the number of steps taken before this one. */
export type Schedule = (step: number) => number;

/** What a schedule's numbers must be: a test, and its words for the message. */
const RULES = {
  rate: [isRate, 'a number ≥ 0 that float32 holds'],
  positive: [(x: number) => x > 0 && x < Infinity, 'a finite number > 0'],
  nonNegative: [(x: number) => x >= 0 && x < Infinity, 'a finite number ≥ 0'],
  atLeastOne: [(x: number) => x >= 1 && x < Infinity, 'a finite number ≥ 1'],
  fraction: [(x: number) => x >= 0 && x <= 1, 'in [0, 1]'],
  count: [(x: number) => Number.isSafeInteger(x) && x >= 0, 'an integer ≥ 0'],
  positiveCount: [(x: number) => Number.isSafeInteger(x) && x > 0, 'an integer > 0'],
  number: [(x: number) => !Number.isNaN(x), 'a number'],
} as const;

function check(name: string, value: number, rule: keyof typeof RULES): void {
  const [test, range] = RULES[rule];
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!test(value)) throw new RangeError(`${name} must be ${range}, got ${describe(value)}`);
}
function checkBoolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
}
/** An object of options named `known` (a misspelt one would silently take its default). */
function checkObject(name: string, o: unknown, known: readonly string[]): void {
  if (!isRecord(o)) throw new TypeError(`${name} needs an object of options, got ${describe(o)}`);
  for (const key of Object.keys(o))
    if (!known.includes(key)) throw new TypeError(`${name}: unknown option '${key}' (known: ${known.join(', ')})`);
}

/** The same rate at every step. */
export function constant(lr: number): Schedule {
  check('constant: lr', lr, 'rate');
  return () => lr;
}

/**
 * `initial · rate^(step / decaySteps)`, with the exponent floored when `staircase` (Keras
 * `ExponentialDecay`, keras/src/optimizers/schedules/learning_rate_schedule.py).
 */
export function exponentialDecay(o: {
  initial: number;
  decaySteps: number;
  decayRate: number;
  staircase?: boolean | undefined;
}): Schedule {
  checkObject('exponentialDecay', o, ['initial', 'decaySteps', 'decayRate', 'staircase']);
  const { initial, decaySteps, decayRate, staircase = false } = o;
  check('exponentialDecay: initial', initial, 'rate');
  check('exponentialDecay: decaySteps', decaySteps, 'positive');
  check('exponentialDecay: decayRate', decayRate, 'rate');
  checkBoolean('exponentialDecay: staircase', staircase);
  return (step) => {
    const p = step / decaySteps;
    return initial * decayRate ** (staircase ? Math.floor(p) : p);
  };
}

/** `initial · gamma^⌊step / stepSize⌋` (PyTorch `StepLR`, torch/optim/lr_scheduler.py, counted in steps). */
export function stepDecay(o: { initial: number; stepSize: number; gamma: number }): Schedule {
  checkObject('stepDecay', o, ['initial', 'stepSize', 'gamma']);
  const { initial, stepSize, gamma } = o;
  check('stepDecay: initial', initial, 'rate');
  check('stepDecay: stepSize', stepSize, 'positiveCount');
  check('stepDecay: gamma', gamma, 'rate');
  return (step) => initial * gamma ** Math.floor(step / stepSize);
}

/**
 * Keras `CosineDecay` (keras/src/optimizers/schedules/learning_rate_schedule.py): with
 * `warmupSteps`, a linear ramp from `initial` to `warmupTarget`, then cosine decay from the target
 * (or from `initial` without warm-up) to `alpha` times it over `decaySteps`, constant after.
 */
export function cosineDecay(o: {
  initial: number;
  decaySteps: number;
  alpha?: number | undefined;
  warmupTarget?: number | undefined;
  warmupSteps?: number | undefined;
}): Schedule {
  checkObject('cosineDecay', o, ['initial', 'decaySteps', 'alpha', 'warmupTarget', 'warmupSteps']);
  const { initial, decaySteps, alpha = 0, warmupTarget, warmupSteps = 0 } = o;
  check('cosineDecay: initial', initial, 'rate');
  check('cosineDecay: decaySteps', decaySteps, 'positive');
  check('cosineDecay: alpha', alpha, 'fraction');
  check('cosineDecay: warmupSteps', warmupSteps, 'count');
  if (warmupTarget !== undefined) check('cosineDecay: warmupTarget', warmupTarget, 'rate');
  const peak = warmupTarget ?? initial;
  const decayed = (step: number) => {
    const cosine = 0.5 * (1 + Math.cos(Math.PI * (Math.min(step, decaySteps) / decaySteps)));
    return peak * ((1 - alpha) * cosine + alpha);
  };
  if (warmupTarget === undefined || warmupSteps === 0) return decayed;
  return (step) =>
    step < warmupSteps ? (peak - initial) * (step / warmupSteps) + initial : decayed(step - warmupSteps);
}

/**
 * Keras `CosineDecayRestarts` (SGDR): cosine decay from `initial` to `alpha` times it over
 * `firstDecaySteps`, then a restart; each period is `tMul` times longer than the last and starts
 * at `mMul` times its rate.
 */
export function cosineDecayRestarts(o: {
  initial: number;
  firstDecaySteps: number;
  tMul?: number | undefined;
  mMul?: number | undefined;
  alpha?: number | undefined;
}): Schedule {
  checkObject('cosineDecayRestarts', o, ['initial', 'firstDecaySteps', 'tMul', 'mMul', 'alpha']);
  const { initial, firstDecaySteps, tMul = 2, mMul = 1, alpha = 0 } = o;
  check('cosineDecayRestarts: initial', initial, 'rate');
  check('cosineDecayRestarts: firstDecaySteps', firstDecaySteps, 'positive');
  check('cosineDecayRestarts: tMul', tMul, 'atLeastOne');
  check('cosineDecayRestarts: mMul', mMul, 'nonNegative');
  check('cosineDecayRestarts: alpha', alpha, 'fraction');
  // periods before restart i, in units of the first: i, or (tMul^i − 1)/(tMul − 1)
  const before = (i: number) => (tMul === 1 ? i : (tMul ** i - 1) / (tMul - 1));
  return (step) => {
    const fraction = step / firstDecaySteps;
    let i = tMul === 1 ? Math.floor(fraction) : Math.floor(Math.log1p(fraction * (tMul - 1)) / Math.log(tMul));
    // the logarithm's rounding may land a step that starts a period in the one before, or after
    if (before(i + 1) <= fraction) i++;
    else if (i > 0 && before(i) > fraction) i--;
    const within = (fraction - before(i)) / tMul ** i;
    return initial * ((1 - alpha) * 0.5 * mMul ** i * (1 + Math.cos(Math.PI * within)) + alpha);
  };
}

/**
 * Keras `PolynomialDecay`: from `initial` to `end` (default 1e-4, as Keras) over `decaySteps`,
 * `(initial − end) · (1 − step / decaySteps)^power + end`, then `end` (power 0 keeps `initial`, as
 * Keras does); with `cycle`, decaySteps grows to the first multiple of it ≥ step, so the rate jumps
 * back up and decays again.
 */
export function polynomialDecay(o: {
  initial: number;
  decaySteps: number;
  end?: number | undefined;
  power?: number | undefined;
  cycle?: boolean | undefined;
}): Schedule {
  checkObject('polynomialDecay', o, ['initial', 'decaySteps', 'end', 'power', 'cycle']);
  const { initial, decaySteps, end = 1e-4, power = 1, cycle = false } = o;
  check('polynomialDecay: initial', initial, 'rate');
  check('polynomialDecay: decaySteps', decaySteps, 'positive');
  check('polynomialDecay: end', end, 'rate');
  check('polynomialDecay: power', power, 'nonNegative');
  checkBoolean('polynomialDecay: cycle', cycle);
  return (step) => {
    const steps = cycle ? decaySteps * (step === 0 ? 1 : Math.ceil(step / decaySteps)) : decaySteps;
    return (initial - end) * (1 - Math.min(step, steps) / steps) ** power + end;
  };
}

/** `initial / (1 + decayRate · step / decaySteps)`, the quotient floored when `staircase` (Keras `InverseTimeDecay`). */
export function inverseTimeDecay(o: {
  initial: number;
  decaySteps: number;
  decayRate: number;
  staircase?: boolean | undefined;
}): Schedule {
  checkObject('inverseTimeDecay', o, ['initial', 'decaySteps', 'decayRate', 'staircase']);
  const { initial, decaySteps, decayRate, staircase = false } = o;
  check('inverseTimeDecay: initial', initial, 'rate');
  check('inverseTimeDecay: decaySteps', decaySteps, 'positive');
  check('inverseTimeDecay: decayRate', decayRate, 'nonNegative');
  checkBoolean('inverseTimeDecay: staircase', staircase);
  return (step) => {
    const p = step / decaySteps;
    return initial / (1 + decayRate * (staircase ? Math.floor(p) : p));
  };
}

/**
 * Keras `PiecewiseConstantDecay`: `values[0]` while step ≤ boundaries[0], `values[i]` while
 * boundaries[i−1] < step ≤ boundaries[i], and the last value after the last boundary.
 */
export function piecewiseConstant(o: { boundaries: readonly number[]; values: readonly number[] }): Schedule {
  checkObject('piecewiseConstant', o, ['boundaries', 'values']);
  const { boundaries, values } = o;
  for (const [key, array] of Object.entries({ boundaries, values }))
    if (!Array.isArray(array))
      throw new TypeError(`piecewiseConstant: ${key} must be an array, got ${describe(array)}`);
  if (values.length !== boundaries.length + 1) {
    throw new RangeError(
      `piecewiseConstant: values must have one more entry than boundaries, got ${values.length} values and ${boundaries.length} boundaries`,
    );
  }
  boundaries.forEach((b, i) => check(`piecewiseConstant: boundaries[${i}]`, b, 'number'));
  for (let i = 1; i < boundaries.length; i++) {
    if (!(boundaries[i] > boundaries[i - 1]))
      throw new RangeError(`piecewiseConstant: boundaries must increase, got ${boundaries.join(', ')}`);
  }
  values.forEach((v, i) => check(`piecewiseConstant: values[${i}]`, v, 'rate'));
  return (step) => {
    let i = 0;
    while (i < boundaries.length && step > boundaries[i]) i++;
    return values[i];
  };
}

import { STATE_FORMATS } from './kernel.js';

/** Which implementation runs the update. `auto` picks the fastest one this runtime supports. */
export type BackendName = 'simd' | 'wasm' | 'js';
/** The `backend` option: a backend, or `auto` for the fastest this runtime runs. */
export type BackendChoice = BackendName | 'auto';
/** A framework whose defaults and conventions a preset reproduces (`seed`: the textbook formula, S = β·S + (1−β)·g², w −= lr·g/√(S + ε)). */
export type PresetName = 'seed' | 'pytorch' | 'keras' | 'tf1' | 'optax' | 'tfjs';
/** A learning rate, or a schedule: called once per step with the number of steps taken before it. */
export type LearningRate = number | ((step: number) => number);
/** What a NaN or ±∞ gradient does: spread to its own elements, skip the whole step, or throw. */
export type NonFinitePolicy = 'propagate' | 'skip' | 'throw';
/**
 * How the state (S, ḡ, m) is stored: float32 (4 bytes an element), bfloat16 (2) or 8 bits (1, and
 * a float32 scale per block of 1024 elements; ḡ as bfloat16). Tensors under 4 096 elements stay float32.
 */
export type StateFormat = 'float32' | 'bfloat16' | '8bit';
/** A state format that stores codes rather than float32 values. @internal */
export type CompressedFormat = Exclude<StateFormat, 'float32'>;

/** Every option of the update. Options left out come from the preset (default `seed`). */
export interface RMSPropOptions {
  /** Framework whose defaults and conventions to start from. Explicit options win. */
  preset?: PresetName | undefined;
  /** Learning rate ≥ 0, or a schedule `(step) => lr` (see `schedules`). */
  lr?: LearningRate | undefined;
  /** Decay of the running averages (PyTorch `alpha`, Keras `rho`), in [0, 1). */
  decay?: number | undefined;
  /** Added to the denominator, > 0. */
  eps?: number | undefined;
  /** `√(S + ε)` when true, `√S + ε` (PyTorch) when false. */
  epsInSqrt?: boolean | undefined;
  /** Divide by the running standard deviation `√(S − ḡ²)` instead of `√S`. */
  centered?: boolean | undefined;
  /** Momentum coefficient μ in [0, 1); 0 turns momentum off. */
  momentum?: number | undefined;
  /** Nesterov momentum (Optax `nesterov`): step by `μ·m + increment` instead of `m`. Needs momentum > 0. */
  nesterov?: boolean | undefined;
  /** Momentum accumulates `lr·u` (TF, Keras, Optax) instead of `u` with lr applied after (PyTorch). */
  lrInMomentum?: boolean | undefined;
  /** Starting value of the square average S (TF1 uses 1). */
  initialSquareAvg?: number | undefined;
  /** Scale S and ḡ by `1 / (1 − decayᵗ)` as read (Optax `bias_correction`; docs/options.md gives the rounding). */
  biasCorrection?: boolean | undefined;
  /** Weight decay factor, ≥ 0. */
  weightDecay?: number | undefined;
  /** Decoupled (Keras: `w −= lr·wd·w` before the step) instead of coupled (PyTorch: `g += wd·w`). */
  decoupledWeightDecay?: boolean | undefined;
  /** Ascend the objective instead of descending it. */
  maximize?: boolean | undefined;
  /**
   * How S, ḡ and m are stored (default `'float32'`): `'bfloat16'` halves the state's memory, `'8bit'`
   * quarters it (ḡ stays bfloat16); both round stochastically (a centered group stores its variance
   * S − ḡ² for S).
   * Tensors under 4 096 elements keep float32. Fixed at create (docs/state-formats.md).
   */
  stateFormat?: StateFormat | undefined;
  /**
   * Keep an exponential moving average of the parameters (Keras `use_ema` with `ema_momentum`, say
   * 0.99): after each step, `average = ema·average + (1 − ema)·w`, which the first step sets to w.
   * In [0, 1); 0 (default) keeps none. Read it as `state[name].average`; `swapAverages()` swaps it
   * with the parameters (to evaluate, or at the end). On or off is fixed at create (docs/averages.md).
   */
  ema?: number | undefined;
  /** Every this many steps, copy the average into the parameters (Keras `ema_overwrite_frequency`); 0 (default) never. Needs ema. */
  emaOverwriteEvery?: number | undefined;
  /** Clamp each gradient element to [−clipValue, clipValue] (Keras `clipvalue`). */
  clipValue?: number | undefined;
  /** Rescale each tensor's gradient to norm ≤ clipNorm (Keras `clipnorm`). */
  clipNorm?: number | undefined;
  /** Rescale all gradients together to global norm ≤ globalClipNorm (Keras `global_clipnorm`). Whole optimizer. */
  globalClipNorm?: number | undefined;
  /** What a NaN or ±∞ gradient does: spread to its own elements (PyTorch), skip the step, or throw. Whole optimizer. */
  nonFinite?: NonFinitePolicy | undefined;
  /** Implementation to use; `auto` takes simd, then wasm, then js. Whole optimizer. */
  backend?: BackendChoice | undefined;
  /**
   * Threads that share each step (wasm backends): 1 to 64, used as given, or `auto` (every core from
   * 16 K elements, each step on one thread or all, whichever its timing found faster). Whole optimizer.
   */
  threads?: number | 'auto' | undefined;
}

/** Options that apply to the whole optimizer, not to one parameter group. */
export type OptimizerWideOption = 'backend' | 'globalClipNorm' | 'nonFinite' | 'threads';
/** Options fixed at create, which `setOptions` refuses: they change the memory layout or the meaning of the state. */
export type FixedOption = 'preset' | 'centered' | 'initialSquareAvg' | 'stateFormat' | OptimizerWideOption;
/** @internal Every optimizer-wide option, for the checks. */
export const OPTIMIZER_WIDE: readonly OptimizerWideOption[] = ['backend', 'globalClipNorm', 'nonFinite', 'threads'];
/** @internal Every option fixed at create, for the checks. */
export const FIXED_AFTER_CREATE: readonly FixedOption[] = [
  'preset',
  'centered',
  'initialSquareAvg',
  'stateFormat',
  ...OPTIMIZER_WIDE,
];
/** The options a parameter group may set for itself: all but the optimizer-wide ones. */
export type GroupOptions = Omit<RMSPropOptions, OptimizerWideOption>;
/** What `setOptions` may change: every option but those fixed at create. */
export type OptionChanges = Omit<RMSPropOptions, FixedOption>;

/** Options after the preset is applied: every field is set. */
export type ResolvedOptions = { readonly [K in keyof RMSPropOptions]-?: Exclude<RMSPropOptions[K], undefined> };
/** A parameter group's resolved options and the names of its parameters. */
export type GroupInfo = ResolvedOptions & {
  /** The names of the group's parameters, in order. */
  readonly params: readonly string[];
};

/** What a preset sets: every option of the update but clipping and the optimizer-wide ones. */
export type PresetDefaults = Omit<
  ResolvedOptions,
  'preset' | OptimizerWideOption | 'clipValue' | 'clipNorm' | 'stateFormat' | 'ema' | 'emaOverwriteEvery'
>;

const COMMON = {
  centered: false,
  momentum: 0,
  nesterov: false,
  biasCorrection: false,
  weightDecay: 0,
  maximize: false,
} as const;

/** Framework conventions, as data. docs/framework-sources.md quotes the source each row is read from. */
export const PRESETS: Readonly<Record<PresetName, PresetDefaults>> = Object.freeze({
  seed: {
    ...COMMON,
    lr: 1e-3,
    decay: 0.9,
    eps: 1e-8,
    epsInSqrt: true,
    lrInMomentum: true,
    initialSquareAvg: 0,
    decoupledWeightDecay: false,
  },
  pytorch: {
    ...COMMON,
    lr: 1e-2,
    decay: 0.99,
    eps: 1e-8,
    epsInSqrt: false,
    lrInMomentum: false,
    initialSquareAvg: 0,
    decoupledWeightDecay: false,
  },
  keras: {
    ...COMMON,
    lr: 1e-3,
    decay: 0.9,
    eps: 1e-7,
    epsInSqrt: true,
    lrInMomentum: true,
    initialSquareAvg: 0,
    decoupledWeightDecay: true,
  },
  tf1: {
    ...COMMON,
    lr: 1e-3,
    decay: 0.9,
    eps: 1e-10,
    epsInSqrt: true,
    lrInMomentum: true,
    initialSquareAvg: 1,
    decoupledWeightDecay: false,
  },
  optax: {
    ...COMMON,
    lr: 1e-3,
    decay: 0.9,
    eps: 1e-8,
    epsInSqrt: true,
    lrInMomentum: true,
    initialSquareAvg: 0,
    decoupledWeightDecay: false,
  },
  tfjs: {
    ...COMMON,
    lr: 1e-3,
    decay: 0.9,
    eps: 1e-7,
    epsInSqrt: true,
    lrInMomentum: true,
    initialSquareAvg: 0,
    decoupledWeightDecay: false,
  },
});
// each preset frozen too: changed from plain JS, one would change every later optimizer's defaults, unchecked
for (const preset of Object.values(PRESETS)) Object.freeze(preset);

const BACKENDS: readonly BackendChoice[] = ['auto', 'simd', 'wasm', 'js'];
const NON_FINITE: readonly NonFinitePolicy[] = ['propagate', 'skip', 'throw'];
export const MAX_THREADS = 64;

/** The defaults of the options no preset sets: off where they can be (Infinity clips nothing, 0 keeps no average). */
const NOT_IN_PRESETS = {
  clipValue: Infinity,
  clipNorm: Infinity,
  globalClipNorm: Infinity,
  nonFinite: 'propagate',
  backend: 'auto',
  threads: 1,
  stateFormat: 'float32',
  ema: 0,
  emaOverwriteEvery: 0,
} as const;

type Check = (value: unknown, name: string) => void;

const isBoolean: Check = (value, name) => {
  if (typeof value !== 'boolean') throw new TypeError(`option '${name}' must be a boolean, got ${describe(value)}`);
};

/**
 * A number check done twice: on the value as given, and on the value as the kernels see it (every
 * constant is rounded to float32 once), so that 0.99999999 (which float32 makes 1) or 1e-46 (which
 * it makes 0) cannot pass a check that float32 then breaks.
 */
function numberIn(test: (x: number) => boolean, range: string): Check {
  return (value, name) => {
    if (typeof value !== 'number') throw new TypeError(`option '${name}' must be a number, got ${describe(value)}`);
    if (!test(value)) throw new RangeError(`option '${name}' must be ${range}, got ${describe(value)}`);
    const rounded = Math.fround(value);
    if (!test(rounded)) {
      throw new RangeError(
        `option '${name}' must be ${range} in float32, got ${value}, which float32 rounds to ${describe(rounded)}`,
      );
    }
  };
}

/** One of a few named choices (a preset, a backend, …); anything else is a TypeError, as an unknown option name is. */
function oneOf(choices: readonly string[]): Check {
  return (value, name) => {
    if (typeof value !== 'string' || !choices.includes(value))
      throw new TypeError(`option '${name}' must be one of ${choices.join(', ')}, got ${describe(value)}`);
  };
}

const nonNegativeFinite = numberIn((x) => x >= 0 && x < Infinity, 'a finite number ≥ 0');
const unitInterval = numberIn((x) => x >= 0 && x < 1, 'in [0, 1)');
const positive = numberIn((x) => x > 0, 'a number > 0 (Infinity: no clipping)');

const CHECKS: Readonly<Record<keyof RMSPropOptions, Check>> = {
  preset: oneOf(Object.keys(PRESETS)),
  backend: oneOf(BACKENDS),
  lr: (value, name) => {
    if (typeof value !== 'function') nonNegativeFinite(value, name);
  },
  decay: unitInterval,
  eps: numberIn((x) => x > 0 && x < Infinity, 'a finite number > 0'),
  epsInSqrt: isBoolean,
  centered: isBoolean,
  momentum: unitInterval,
  nesterov: isBoolean,
  lrInMomentum: isBoolean,
  initialSquareAvg: nonNegativeFinite,
  biasCorrection: isBoolean,
  weightDecay: nonNegativeFinite,
  decoupledWeightDecay: isBoolean,
  maximize: isBoolean,
  clipValue: positive,
  clipNorm: positive,
  globalClipNorm: positive,
  threads: (value, name) => {
    if (value === 'auto') return;
    if (typeof value !== 'number')
      throw new TypeError(`option '${name}' must be a number or 'auto', got ${describe(value)}`);
    if (!Number.isInteger(value) || value < 1 || value > MAX_THREADS) {
      throw new RangeError(
        `option '${name}' must be an integer from 1 to ${MAX_THREADS} or 'auto', got ${describe(value)}`,
      );
    }
  },
  stateFormat: oneOf(Object.keys(STATE_FORMATS) as StateFormat[]),
  ema: unitInterval,
  emaOverwriteEvery: (value, name) => {
    if (typeof value !== 'number') throw new TypeError(`option '${name}' must be a number, got ${describe(value)}`);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`option '${name}' must be an integer ≥ 0 (0: never), got ${describe(value)}`);
  },
  nonFinite: oneOf(NON_FINITE),
};

/**
 * Reads `options` once: each own enumerable property (a getter runs once, a Proxy is asked once
 * per key), then checks that copy, and returns it without the undefined ones. Checking the copy is
 * what makes the check hold: an object read twice could answer differently the second time. An
 * unknown option's message lists the known ones but `notHere` (those the caller refuses anyway).
 */
export function readOptions(options: unknown, what = 'options', notHere: readonly string[] = []): RMSPropOptions {
  if (!isRecord(options)) throw new TypeError(`${what} must be an object of options, got ${describe(options)}`);
  const copy: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(options)) {
    const value = (options as Record<string, unknown>)[name];
    if (value !== undefined) copy[name] = value;
  }
  for (const name of Object.keys(copy)) {
    const check = Object.hasOwn(CHECKS, name) ? CHECKS[name as keyof RMSPropOptions] : undefined;
    if (!check) {
      const known = Object.keys(CHECKS).filter((option) => !notHere.includes(option));
      throw new TypeError(`unknown option '${name}' (known options: ${known.join(', ')})`);
    }
    check(copy[name], name);
  }
  return copy as RMSPropOptions;
}

/**
 * Validates `options` (read once, see readOptions) and fills in the preset. Throws
 * TypeError/RangeError naming the bad option.
 */
export function resolveOptions(options: RMSPropOptions | undefined): ResolvedOptions {
  const defined = readOptions(options ?? {});
  const preset = defined.preset ?? 'seed';
  const resolved: ResolvedOptions = { preset, ...NOT_IN_PRESETS, ...PRESETS[preset], ...defined };
  if (resolved.nesterov && resolved.momentum === 0) {
    throw new RangeError(`option 'nesterov' needs option 'momentum' > 0, got momentum ${resolved.momentum}`);
  }
  if (resolved.emaOverwriteEvery !== 0 && resolved.ema === 0) {
    throw new RangeError(
      `option 'emaOverwriteEvery' needs option 'ema' > 0 (an average to copy), got ema ${resolved.ema}`,
    );
  }
  if (typeof resolved.lr === 'number') checkDecoupledDecay(resolved.lr, resolved, `option 'lr'`);
  return Object.freeze(resolved);
}

/**
 * Fills `out` with each group's learning rate at `step` (steps taken so far), calling each
 * schedule once and checking what it returns (see checkLearningRate).
 */
export function learningRates(
  groups: readonly { readonly options: ResolvedOptions }[],
  step: number,
  out: Float64Array,
): Float64Array {
  for (let g = 0; g < groups.length; g++) {
    const { options } = groups[g];
    const lr = options.lr;
    out[g] = typeof lr === 'number' ? lr : checkLearningRate(lr(step), options, g, step);
  }
  return out;
}

/** A learning rate the kernels can take: ≥ 0, and finite once rounded to float32 (as they use it). @internal */
export const isRate = (x: number) => x >= 0 && Math.fround(x) < Infinity;

/**
 * Checks the learning rate that group `group`'s schedule returned at step `step`, as the lr option
 * is checked (a non-number is a TypeError, a value outside [0, float32's largest] a RangeError).
 * Builds a message only on failure: step() calls this every step and allocates nothing.
 */
function checkLearningRate(value: unknown, options: ResolvedOptions, group: number, step: number): number {
  if (typeof value === 'number' && isRate(value)) {
    if (decoupledDecayOverflows(value, options))
      checkDecoupledDecay(value, options, `option 'lr': the schedule of group ${group} at step ${step}`);
    return value;
  }
  const where = `option 'lr': the schedule of group ${group} returned ${describe(value)}`;
  if (typeof value !== 'number') throw new TypeError(`${where} at step ${step}; it must return a number`);
  const rounded = Math.fround(value);
  const note = value < Infinity && rounded === Infinity ? ', which float32 rounds to Infinity,' : '';
  throw new RangeError(`${where}${note} at step ${step}; it must be a finite number ≥ 0 in float32`);
}

/** Decoupled weight decay multiplies lr by weightDecay into one float32 constant, which must stay finite. */
const decoupledDecayOverflows = (lr: number, o: ResolvedOptions) =>
  o.decoupledWeightDecay && o.weightDecay !== 0 && Math.fround(lr * o.weightDecay) === Infinity;

function checkDecoupledDecay(lr: number, o: ResolvedOptions, where: string): void {
  if (decoupledDecayOverflows(lr, o)) {
    throw new RangeError(
      `${where}: lr ${lr} times weightDecay ${o.weightDecay} overflows float32 (decoupled weight decay uses their product)`,
    );
  }
}

export function describe(value: unknown): string {
  if (typeof value === 'string') {
    // A message quotes a long string's start: a whole checkpoint's text would make it as long (or too long to build).
    if (value.length <= LONGEST_QUOTED) return JSON.stringify(value);
    return `a string of ${value.length} characters (${JSON.stringify(value.slice(0, 32))}…)`;
  }
  if (Object.is(value, -0)) return '-0'; // String(-0) is '0', which would name a value that passes
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value)) return withArticle(value.constructor.name);
  if (Array.isArray(value)) return 'an array';
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  try {
    // an instance by its class (a tf.Tensor is 'a Tensor', not 'an Object'); a thenable says what to do
    const name: unknown = tag === 'Object' ? (value as { constructor?: { name?: unknown } }).constructor?.name : tag;
    const named = withArticle(typeof name === 'string' && name !== '' ? name : tag);
    return typeof (value as { then?: unknown }).then === 'function' ? `${named} (await it first)` : named;
  } catch {
    return withArticle(tag); // a Proxy whose trap throws
  }
}

/** Object.prototype.toString's tags of the builtins that hold no keys of their own. */
const KEYLESS_TAGS = new Set(
  ['Map', 'Set', 'WeakMap', 'WeakSet', 'Date', 'RegExp', 'Promise'].map((name) => `[object ${name}]`),
);

/**
 * Whether `value` is an object whose own keys are what it holds (an array's: its indices): not a
 * typed array, Map, Set, WeakMap, WeakSet, Date, RegExp or Promise (a forgotten `await`). Read as a
 * record, each would be empty: a step or a change of nothing, that counted. By instanceof, and by
 * their tags for another realm's (an iframe's, a vm context's). (No named property is read: options
 * are read once each.) @internal
 */
export const holdsKeys = (value: unknown): value is object => {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false;
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet)
    return false;
  if (value instanceof Date || value instanceof RegExp || value instanceof Promise) return false;
  try {
    return !KEYLESS_TAGS.has(Object.prototype.toString.call(value));
  } catch {
    return true; // a Proxy whose trap throws: what reads it next says so
  }
};

/** Whether `value` is a record of names (options, a saved state's objects): one that holds keys, not an array. @internal */
export const isRecord = (value: unknown): value is object => holdsKeys(value) && !Array.isArray(value);

/** The longest string an error message quotes whole. */
const LONGEST_QUOTED = 80;

/** 'an Object', 'an Int32Array', 'a Uint8Array'. */
const withArticle = (name: string) => `${/^[AEIO]/i.test(name) ? 'an' : 'a'} ${name}`;

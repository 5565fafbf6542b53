// The JSON form of PyTorch's `optimizer.state_dict()` for torch.optim.RMSprop: parameters are
// numbered in order across groups, tensors become plain number arrays.
import { describe, type GroupInfo, isRecord, learningRates } from './options.js';
import { own } from './inputs.js';
import type { StateKind } from './layout.js';
import { encodedConstant } from './tensors.js';
import { record, stateArray, STATE_FORMAT, STATE_VERSION, type SavedState, type TensorArrays } from './state.js';
import { checkSameArrays, checkStepCount } from './state-load.js';

/** One parameter's entry in `TorchStateDict.state`, as PyTorch names it. */
export interface TorchParamState {
  /** Steps taken. */
  step: number;
  /** The running average of squared gradients. */
  square_avg: number[];
  /** The momentum buffer (momentum > 0 only). */
  momentum_buffer?: number[] | undefined;
  /** The running average of gradients (centered only). */
  grad_avg?: number[] | undefined;
}

/** One parameter group of `TorchStateDict.param_groups`, with `torch.optim.RMSprop`'s option names. */
export interface TorchParamGroup {
  /** Learning rate (a schedule's next value). */
  lr: number;
  /** The decay of the averages (`decay` here). */
  alpha: number;
  /** ε. */
  eps: number;
  /** Weight decay. */
  weight_decay: number;
  /** Momentum μ. */
  momentum: number;
  /** Centered variant. */
  centered: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
  /** PyTorch's implementation choice: null (its default) in the dicts written here; torch writes the value it was given. */
  foreach: boolean | null;
  /** PyTorch's autograd flag; always false here. */
  differentiable: boolean;
  /** PyTorch's CUDA-graph flag; always false here. */
  capturable: boolean;
  /** The indices of the group's parameters, numbered in order across groups. */
  params: number[];
}

/** The JSON form of PyTorch's `optimizer.state_dict()` for `torch.optim.RMSprop`. */
export interface TorchStateDict {
  /** Per parameter index (as a string): its state. */
  state: Record<string, TorchParamState>;
  /** The parameter groups, in order. */
  param_groups: TorchParamGroup[];
}

const TORCH_KEYS = { squareAvg: 'square_avg', momentum: 'momentum_buffer', gradAvg: 'grad_avg' } as const;

/**
 * The most numbers the torch form holds, in one array and in all: its arrays are plain JS arrays of
 * numbers, and V8 refuses an array past about 2^27 numbers ("Invalid array length": Array.from of a
 * 125 M-element Float32Array works on Node 20, of 130 M does not); in all, at 8 bytes a number, more
 * outgrows V8's default heap on a smaller machine and aborts the process (2 × 90 M, centered and
 * momentum: out of memory at 8 GB). saveState and encodeState have no such limit.
 */
const TORCH_MAX_ELEMENTS = 125_000_000;
const USE_INSTEAD = 'Use saveState() or encodeState(), which have no such limit';

function checkTorchLength(t: TensorArrays, what: string): void {
  if (t.length > TORCH_MAX_ELEMENTS) {
    throw new RangeError(
      `${what}: parameter '${t.name}' has ${t.length} elements; the torch state dict's number arrays hold at most ${TORCH_MAX_ELEMENTS} (V8's longest array). ${USE_INSTEAD}`,
    );
  }
}

/** A torch param group's fields by our option names, as toTorch writes them: fromTorch checks centered and momentum, and restoreOptions loads them. @internal */
export const TORCH_OPTIONS = {
  lr: 'lr',
  decay: 'alpha',
  eps: 'eps',
  weightDecay: 'weight_decay',
  momentum: 'momentum',
  centered: 'centered',
  maximize: 'maximize',
} as const;

/** The state dict of an optimizer's groups and tensors at `stepCount`. @internal */
export function toTorch(
  stepCount: number,
  groups: readonly GroupInfo[],
  tensors: readonly TensorArrays[],
): TorchStateDict {
  // A schedule's rate as the next step would take it (a bad one refused as there, before anything)
  const lrs = learningRates(
    groups.map((options) => ({ options })),
    stepCount,
    new Float64Array(groups.length),
  );
  // PyTorch creates a parameter's state at its first step; before any, state set another way is kept.
  const stateful = tensors.map((t) => stepCount > 0 || !isFresh(t, groups[t.group].initialSquareAvg));
  tensors.forEach((t, i) => stateful[i] && checkTorchLength(t, 'toTorchStateDict'));
  const numbers = tensors.reduce((sum, t, i) => sum + (stateful[i] ? t.length * t.kinds.length : 0), 0);
  if (numbers > TORCH_MAX_ELEMENTS) {
    throw new RangeError(
      `toTorchStateDict: the state is ${numbers} numbers in all; the torch state dict holds at most ${TORCH_MAX_ELEMENTS} (plain arrays of 8-byte numbers in JavaScript's heap, which more would outgrow). ${USE_INSTEAD}`,
    );
  }
  const state: Record<string, TorchParamState> = {};
  tensors.forEach((t, i) => {
    if (!stateful[i]) return;
    const arrays = Object.entries(TORCH_KEYS).flatMap(([kind, key]) => {
      const values = stateArray(t, kind as StateKind);
      return values ? [[key, Array.from(values)] as const] : [];
    });
    state[String(i)] = { step: stepCount, ...Object.fromEntries(arrays) } as TorchParamState;
  });
  let index = 0;
  const param_groups = groups.map((g, i) => ({
    ...(Object.fromEntries(
      Object.entries(TORCH_OPTIONS).map(([ours, theirs]) => [theirs, g[ours as keyof GroupInfo]]),
    ) as Omit<TorchParamGroup, 'lr' | 'foreach' | 'differentiable' | 'capturable' | 'params'>),
    lr: lrs[i], // a schedule's, as the next step takes it
    foreach: null,
    differentiable: false,
    capturable: false,
    params: g.params.map(() => index++),
  }));
  return { state, param_groups };
}

/** A torch state id: the decimal index of a parameter, as PyTorch numbers them ('0', '1', …, no sign, no leading zero). */
const INDEX = /^(0|[1-9][0-9]*)$/;

/** An entry's arrays are those PyTorch's RMSprop keeps for the parameter's options, as loadState's are. */
function checkTorchKeys(entry: object, id: string, t: TensorArrays): void {
  for (const key of Object.keys(entry)) {
    if (key === 'step' || own(entry, key) === undefined) continue; // (as loadState skips an undefined array)
    const kind = Object.keys(TORCH_KEYS).find((k) => TORCH_KEYS[k as keyof typeof TORCH_KEYS] === key);
    if (kind === undefined)
      throw new TypeError(
        `torch state dict: state['${id}'] has '${key}'; RMSprop's state is step, ${Object.values(TORCH_KEYS).join(', ')}`,
      );
    if (!t.kinds.includes(kind as StateKind))
      throw new RangeError(
        `torch state dict: state['${id}'] has '${key}', which this optimizer does not keep for '${t.name}'`,
      );
  }
}

/** Converts a PyTorch state dict into a saved state for this optimizer (then checked by loadState). @internal */
export function fromTorch(dict: unknown, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]): SavedState {
  if (!isRecord(dict)) throw new TypeError(`a torch state dict must be an object, got ${describe(dict)}`);
  const paramGroups = own(dict, 'param_groups');
  const state = own(dict, 'state');
  if (!Array.isArray(paramGroups))
    throw new TypeError(`torch state dict: param_groups must be an array, got ${describe(paramGroups)}`);
  if (paramGroups.length !== groups.length) {
    throw new RangeError(
      `torch state dict has ${paramGroups.length} param_groups, this optimizer has ${groups.length} groups`,
    );
  }
  if (!isRecord(state)) throw new TypeError(`torch state dict: 'state' must be an object, got ${describe(state)}`);
  let index = 0;
  const options = paramGroups.map((group: unknown, g) => {
    if (!isRecord(group))
      throw new TypeError(`torch state dict: param_groups[${g}] must be an object, got ${describe(group)}`);
    const expected = groups[g].params.map(() => index++);
    const params = own(group, 'params');
    if (!Array.isArray(params))
      throw new TypeError(
        `torch state dict: param_groups[${g}].params must be an array of indices, got ${describe(params)}`,
      );
    if (params.length !== expected.length || params.some((p, i) => p !== expected[i])) {
      throw new RangeError(
        `torch state dict: param_groups[${g}].params is [${params.map((p) => describe(p)).join(', ')}], this optimizer numbers that group [${expected.join(', ')}]`,
      );
    }
    const options = record(Object.entries(TORCH_OPTIONS).map(([ours, theirs]) => [ours, own(group, theirs)] as const));
    checkSameArrays(options.centered, options.momentum, g, groups[g], `torch state dict: param_groups[${g}]`);
    return options;
  });
  // PyTorch keeps a step per parameter (one that got no gradient lags behind); the optimizer's is the largest.
  let stepCount = 0;
  for (const id of Object.keys(state)) {
    const i = INDEX.test(id) ? Number(id) : -1;
    if (!(i >= 0 && i < tensors.length)) {
      throw new RangeError(
        `torch state dict: state has an entry '${id}', but this optimizer's parameters are numbered 0 to ${tensors.length - 1}`,
      );
    }
    const entry = own(state, id);
    if (!isRecord(entry))
      throw new TypeError(`torch state dict: state['${id}'] must be an object, got ${describe(entry)}`);
    const step = own(entry, 'step');
    checkStepCount(step, `torch state dict: state['${id}'].step`);
    if (step > stepCount) stepCount = step;
    checkTorchKeys(entry, id, tensors[i]);
  }
  const saved = tensors.map((t, i) => {
    const entry = own(state, String(i)) as object | undefined;
    return [
      t.name,
      Object.fromEntries(
        Object.entries(TORCH_KEYS).flatMap(([kind, key]) => {
          if (!t.kinds.includes(kind as StateKind)) return [];
          // A parameter PyTorch never stepped has no state yet: it starts from this optimizer's initial values.
          if (entry !== undefined) checkTorchLength(t, 'fromTorchStateDict');
          const array =
            entry === undefined
              ? initial(t, kind as keyof typeof TORCH_KEYS, groups[t.group])
              : toFloat32(own(entry, key), `state['${i}'].${key}`, t.length, kind === 'squareAvg');
          return [[kind, array]];
        }),
      ),
    ] as const;
  });
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    stepCount,
    groups: options.map((o, g) => ({ params: [...groups[g].params], options: o })),
    state: Object.fromEntries(saved), // defines every name as its own property, '__proto__' included
  };
}

/**
 * Whether `t`'s state is what create gave it: squareAvg `initial`, the rest 0, as its format stores
 * them (compressed state compared as codes and scales, without decoding it).
 */
function isFresh(t: TensorArrays, initial: number): boolean {
  const c = t.compressed;
  return t.kinds.every((kind) => {
    const value = kind === 'squareAvg' ? initial : 0;
    const codes = c?.codes[kind];
    if (!c || !codes) return (stateArray(t, kind) ?? []).every((x) => x === Math.fround(value));
    const [code, scale] = encodedConstant(c.format, kind, value);
    return codes.every((x) => x === code) && c.scales[kind]!.every((x) => x === scale);
  });
}

function initial(t: TensorArrays, kind: 'squareAvg' | 'gradAvg' | 'momentum', group: GroupInfo): Float32Array {
  return new Float32Array(t.length).fill(kind === 'squareAvg' ? group.initialSquareAvg : 0);
}

/** A dict's values as float32: a flat list, or nested ones as `tensor.tolist()` gives them (see rowMajor). */
function toFloat32(given: unknown, where: string, length: number, squares: boolean): Float32Array {
  if (!Array.isArray(given))
    throw new TypeError(`torch state dict: ${where} must be an array of numbers, got ${describe(given)}`);
  const values = rowMajor(given, where);
  if (values.length !== length)
    throw new RangeError(`torch state dict: ${where} has ${values.length} elements, the parameter has ${length}`);
  const array = new Float32Array(length);
  for (let k = 0; k < length; k++) {
    const v: unknown = values[k]; // a hole reads as undefined, not skipped as .some() would skip it
    if (typeof v !== 'number') {
      // JSON writes NaN and ±∞ as null, which cannot be told apart again
      const hint = v === null ? ' (JSON writes NaN and ±Infinity as null: keep such a state with saveState)' : '';
      throw new TypeError(`torch state dict: ${where}[${k}] must be a number, got ${describe(v)}${hint}`);
    }
    if (squares && v < 0)
      throw new RangeError(`torch state dict: ${where}[${k}] is negative (${v}); a square average is ≥ 0`);
    array[k] = v;
  }
  return array;
}

/** Deeper nesting than any tensor's tolist() gives: a list that holds itself nests forever. */
const MAX_NESTING = 1000;

/** Nested lists as `tensor.tolist()` gives them, rectangular, read row-major (a flat list as it is). */
function rowMajor(list: unknown[], where: string): unknown[] {
  if (!list.some(Array.isArray)) return list;
  const shape: number[] = [];
  for (let x: unknown = list; Array.isArray(x); x = x[0]) {
    // (V8 aborts the process, uncatchably, when the shape of a list that holds itself outgrows memory)
    if (shape.push(x.length) > MAX_NESTING)
      throw new RangeError(
        `torch state dict: ${where} is lists nested over ${MAX_NESTING} deep (one that holds itself?)`,
      );
  }
  const out: unknown[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth === shape.length ? Array.isArray(x) : !Array.isArray(x) || x.length !== shape[depth])
      throw new TypeError(
        `torch state dict: ${where} is nested lists that are not all of shape [${shape.join(', ')}], as tensor.tolist() gives them`,
      );
    if (depth === shape.length) out.push(x);
    else for (let k = 0; k < (x as unknown[]).length; k++) walk((x as unknown[])[k], depth + 1);
  };
  walk(list, 0);
  return out;
}

// The JSON form of PyTorch's `optimizer.state_dict()` for torch.optim.RMSprop: parameters are
// numbered in order across groups, tensors become plain number arrays.
import { encodeBase64 } from './base64.js';
import { describe, type GroupInfo } from './options.js';
import { STATE_FORMAT, STATE_VERSION, type SavedState, type TensorArrays } from './state.js';

export interface TorchParamState {
  step: number;
  square_avg: number[];
  momentum_buffer?: number[];
  grad_avg?: number[];
}

export interface TorchParamGroup {
  lr: number;
  alpha: number;
  eps: number;
  weight_decay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
  foreach: null;
  differentiable: boolean;
  capturable: boolean;
  params: number[];
}

export interface TorchStateDict {
  state: Record<string, TorchParamState>;
  param_groups: TorchParamGroup[];
}

const TORCH_KEYS = { squareAvg: 'square_avg', momentum: 'momentum_buffer', gradAvg: 'grad_avg' } as const;

export function toTorch(stepCount: number, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]): TorchStateDict {
  const state: Record<string, TorchParamState> = {};
  // PyTorch creates per-parameter state at the first step.
  if (stepCount > 0) {
    tensors.forEach((t, i) => {
      const entry: TorchParamState = { step: stepCount, square_avg: Array.from(t.state.squareAvg!) };
      if (t.state.momentum) entry.momentum_buffer = Array.from(t.state.momentum);
      if (t.state.gradAvg) entry.grad_avg = Array.from(t.state.gradAvg);
      state[String(i)] = entry;
    });
  }
  let index = 0;
  const param_groups = groups.map((g) => ({
    lr: typeof g.lr === 'function' ? g.lr(stepCount) : g.lr,
    alpha: g.decay,
    eps: g.eps,
    weight_decay: g.weightDecay,
    momentum: g.momentum,
    centered: g.centered,
    maximize: g.maximize,
    foreach: null,
    differentiable: false,
    capturable: false,
    params: g.params.map(() => index++),
  }));
  return { state, param_groups };
}

/** Converts a PyTorch state dict into a saved state for this optimizer (then checked by loadState). */
export function fromTorch(dict: unknown, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]): SavedState {
  if (dict === null || typeof dict !== 'object') throw new TypeError(`a torch state dict must be an object, got ${describe(dict)}`);
  const d = dict as Partial<TorchStateDict>;
  if (!Array.isArray(d.param_groups) || d.param_groups.length !== groups.length) {
    throw new RangeError(`torch state dict has ${Array.isArray(d.param_groups) ? d.param_groups.length : describe(d.param_groups)} param_groups, this optimizer has ${groups.length} groups`);
  }
  if (d.state === null || typeof d.state !== 'object') throw new TypeError(`torch state dict: 'state' must be an object, got ${describe(d.state)}`);
  let index = 0;
  d.param_groups.forEach((group, g) => {
    const expected = groups[g].params.map(() => index++);
    const params = Array.isArray(group?.params) ? group.params : [];
    if (params.length !== expected.length || params.some((p, i) => p !== expected[i])) {
      throw new RangeError(`torch state dict: param_groups[${g}].params is [${params.join(', ')}], this optimizer numbers that group [${expected.join(', ')}]`);
    }
  });
  const steps = Object.values(d.state).map((entry) => entry?.step);
  for (const step of steps) {
    if (!Number.isSafeInteger(step) || (step as number) < 0) throw new RangeError(`torch state dict: step must be an integer ≥ 0, got ${describe(step)}`);
  }
  const state: SavedState['state'] = {};
  tensors.forEach((t, i) => {
    const entry = d.state![String(i)];
    state[t.name] = {};
    for (const [kind, key] of Object.entries(TORCH_KEYS) as Array<[keyof typeof TORCH_KEYS, string]>) {
      if (!t.state[kind]) continue;
      const values = entry ? (entry as unknown as Record<string, unknown>)[key] : undefined;
      // A parameter PyTorch never stepped has no state yet: it starts from this optimizer's initial values.
      const array = values === undefined && !entry ? initial(t, kind, groups[t.group]) : toFloat32(values, `state['${i}'].${key}`, t.length);
      state[t.name][kind] = encodeBase64(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    }
  });
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    stepCount: steps.length ? Math.max(...(steps as number[])) : 0,
    groups: d.param_groups.map((group, g) => ({
      params: [...groups[g].params],
      options: { centered: group.centered, momentum: group.momentum },
    })),
    state,
  };
}

function initial(t: TensorArrays, kind: 'squareAvg' | 'gradAvg' | 'momentum', group: GroupInfo): Float32Array {
  return new Float32Array(t.length).fill(kind === 'squareAvg' ? group.initialSquareAvg : 0);
}

function toFloat32(values: unknown, where: string, length: number): Float32Array {
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'number')) {
    throw new TypeError(`torch state dict: ${where} must be an array of numbers, got ${describe(values)}`);
  }
  if (values.length !== length) throw new RangeError(`torch state dict: ${where} has ${values.length} elements, the parameter has ${length}`);
  return Float32Array.from(values);
}

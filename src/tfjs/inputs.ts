// What TF.js hands the optimizer, read and checked before anything changes: options, the gradients of
// `applyGradients`, the weights of `setWeights`, and tensors' float32 values.
// (each export @internal: no declarations shipped for a module the public types never name)
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from './index.js';
import { type LoadedSlot, matchLoaded, ownerOf, STOCK, type Slot, type StateKind, stockNames } from './slots.js';

/** What setWeights reads: the step count, and each variable's state with its names and shape. @internal */
export interface LoadedWeights {
  iter: number;
  slots: LoadedSlot[];
}

/** @internal */
export type HeapView = (tensor: tf.Tensor) => Float32Array;

/**
 * A zero-copy view of a tensor's bytes in tfjs-backend-wasm's heap, when the current backend has
 * its (undocumented) `typedArrayFromHeap`; undefined otherwise, and `dataSync()` is used instead.
 * @internal
 */
export function heapViewOf(backend: unknown): HeapView | undefined {
  const view = (backend as { typedArrayFromHeap?: unknown }).typedArrayFromHeap;
  if (typeof view !== 'function') return undefined;
  return (tensor) => view.call(backend, tensor) as Float32Array;
}

/** A value as an error message names it (as the core's messages do, whose helper is not public). @internal */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length <= 80
      ? JSON.stringify(value)
      : `a string of ${value.length} characters (${JSON.stringify(value.slice(0, 32))}…)`;
  if (Object.is(value, -0)) return '-0';
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return 'an array';
  try {
    const name = value.constructor?.name ?? 'object';
    const thenable = typeof (value as { then?: unknown }).then === 'function'; // a Promise of any realm
    return `${/^[AEIO]/i.test(name) ? 'an' : 'a'} ${name}${thenable ? ' (await it first)' : ''}`;
  } catch {
    return 'an object'; // a Proxy whose trap throws
  }
}

/** @internal */
const isTensor = (value: unknown): value is tf.Tensor => value instanceof tf.Tensor;

/** The options actually given: one given as undefined is not (in setOptions: left as it is, as in RMSProp.setOptions). @internal */
export const given = (options: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));

const KEYLESS_TAGS = new Set(
  ['Map', 'Set', 'WeakMap', 'WeakSet', 'Date', 'RegExp', 'Promise'].map((name) => `[object ${name}]`),
);

/**
 * Whether `value` is an object whose own keys are what it holds, as the core's records and options
 * are: not a typed array, Map, Set, WeakMap, WeakSet, Date, RegExp or Promise (a forgotten `await`),
 * which would read as empty. The core's holdsKeys, copied: the drop-in imports only the public entry.
 * @internal
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

/** Whether `value` can be options: one that holds keys, not an array (the core's isRecord). @internal */
export const isOptionsObject = (value: unknown): value is object => holdsKeys(value) && !Array.isArray(value);

/** setWeights' error for weight `name` that does not fit its match: another size, or a seen variable's other shape. @internal */
export function misfit(
  name: string,
  loaded: { readonly shape: readonly number[]; readonly length: number },
  { slot, byName }: { slot: Slot; byName: boolean },
  order: readonly Slot[],
): RangeError | undefined {
  const which = slot.name === undefined ? 'state loaded earlier' : `variable '${slot.name}'`;
  const where = `the ${which} it goes to (${byName ? 'by name' : `by position, ${order.indexOf(slot)}`})`;
  if (loaded.length !== slot.length)
    return new RangeError(`setWeights: '${name}' has ${loaded.length} elements, ${where} has ${slot.length}`);
  // (as stock TF.js, whose next step would fail on it; state still waiting for its variable has no shape to match)
  if (slot.variable && `${loaded.shape}` !== `${slot.shape}`)
    return new RangeError(`setWeights: '${name}' has shape [${loaded.shape}], ${where} has shape [${slot.shape}]`);
  return undefined;
}

/** `applyGradients`' argument as [name, gradient] pairs, checked: names once each, tensors or null. @internal */
export function gradientEntries(
  variableGradients: tf.NamedTensorMap | NamedTensor[],
): Array<[string, tf.Tensor | null | undefined]> {
  // (a Map or a Promise has no own properties: read as a record it would be a step that updates nothing)
  if (!holdsKeys(variableGradients)) {
    throw new TypeError(
      `applyGradients: variableGradients must be a map of variable name to gradient, or an array of { name, tensor }, got ${describe(variableGradients)}`,
    );
  }
  const entries: Array<[string, tf.Tensor | null | undefined]> = [];
  if (Array.isArray(variableGradients)) {
    for (const [i, item] of variableGradients.entries()) {
      if (item === null || typeof item !== 'object' || typeof item.name !== 'string') {
        throw new TypeError(
          `applyGradients: variableGradients[${i}] must be { name: string, tensor }, got ${describe(item)}`,
        );
      }
      entries.push([item.name, item.tensor]);
    }
  } else {
    entries.push(...Object.entries(variableGradients));
  }
  // (a map cannot name a variable twice; an array can)
  const seen = Array.isArray(variableGradients) ? new Set<string>() : undefined;
  for (const [name, tensor] of entries) {
    if (seen?.has(name)) throw new TypeError(`applyGradients: variable '${name}' has two gradients`);
    seen?.add(name);
    if (tensor != null && !isTensor(tensor))
      throw new TypeError(
        `applyGradients: the gradient of '${name}' must be a tf.Tensor or null, got ${describe(tensor)}`,
      );
    if (tensor?.isDisposed) throw new TypeError(`applyGradients: the gradient of '${name}' is disposed`);
  }
  return entries;
}

/**
 * applyGradients' variables, checked against TF.js' registered ones and the optimizer's slots: the names
 * seen for the first time, and the slots whose variable was re-created under its name. @internal
 */
export function readVariables(
  entries: ReadonlyArray<readonly [string, tf.Tensor | null | undefined]>,
  registered: Readonly<Record<string, tf.Variable>>,
  slots: readonly Slot[],
  bySlotName: ReadonlyMap<string, number>,
): { fresh: string[]; recreated: Array<[number, tf.Variable]> } {
  const fresh: string[] = [];
  const recreated: Array<[number, tf.Variable]> = [];
  for (const [name, gradient] of entries) {
    const variable = Object.hasOwn(registered, name) ? registered[name] : undefined;
    const index = bySlotName.get(name);
    if (!variable) {
      if (index === undefined) throw new TypeError(`applyGradients: '${name}' is not the name of a tf.Variable`);
      if (gradient == null) continue; // nothing to update, as in stock TF.js
      throw new TypeError(
        `applyGradients: variable '${name}' was disposed (no tf.Variable has that name now); nothing was changed`,
      );
    }
    if (variable.dtype !== 'float32' && gradient == null) continue; // no update asked, as in stock TF.js
    if (variable.dtype !== 'float32')
      throw new TypeError(`applyGradients: variable '${name}' is ${variable.dtype}; RMSProp updates float32 variables`);
    if (gradient != null) {
      if (gradient.dtype !== 'float32')
        throw new TypeError(`applyGradients: gradient '${name}' is ${gradient.dtype}; RMSProp takes float32`);
      if (gradient.size !== variable.size)
        throw new RangeError(
          `applyGradients: gradient '${name}' has ${gradient.size} elements, its parameter has ${variable.size}`,
        );
      if (!broadcastsTo(gradient.shape, variable.shape))
        throw new RangeError(
          `applyGradients: gradient '${name}' has shape [${gradient.shape}], its variable [${variable.shape}] (stock TF.js refuses it too)`,
        );
    }
    if (index === undefined) {
      fresh.push(name);
    } else if (slots[index].variable !== variable) {
      // Re-created under a known name: it takes the state kept for that name, as in stock TF.js.
      const { length } = slots[index];
      if (variable.size !== length) {
        throw new RangeError(
          `applyGradients: variable '${name}' was re-created with ${variable.size} elements; the state kept for that name has ${length} (use a new optimizer)`,
        );
      }
      recreated.push([index, variable]);
    }
  }
  return { fresh, recreated };
}

/**
 * Whether a gradient of `shape` broadcasts to its variable's `target` unchanged, as stock TF.js' update
 * needs (a [1, n] variable takes an [n] gradient; a [3, 2] gradient for a [2, 3] one is a mistake).
 */
function broadcastsTo(shape: readonly number[], target: readonly number[]): boolean {
  const extra = target.length - shape.length;
  return extra >= 0 && shape.every((size, i) => size === target[extra + i] || size === 1);
}

/** A tensor's float32 values: a view into the wasm backend's heap, or `dataSync()` (the cpu backend's own array). @internal */
export function floats(tensor: tf.Tensor, heapView: HeapView | undefined): Float32Array {
  if (heapView) {
    try {
      return heapView(tensor);
    } catch {
      // not in the wasm backend's memory (a tensor of another backend): the public path
    }
  }
  return tensor.dataSync() as Float32Array;
}

/**
 * `setWeights`' argument checked (the stock layout for `centered`, sizes, square averages finite and
 * ≥ 0) and copied, each variable's weights matched to the optimizer's slots by name or position (as
 * matchLoaded does; `seen` gives the slots in their saved order and the names of the variables the
 * optimizer has seen, read after the awaits); changes nothing. @internal
 */
export async function readStockWeights(
  given: NamedTensor[],
  centered: boolean,
  seen: () => { order: readonly Slot[]; known: ReadonlySet<string> },
): Promise<LoadedWeights> {
  const weightValues = readWeightList(given);
  const kinds = STOCK.slice(0, centered ? 3 : 2);
  const layout = `${centered ? 'centered' : 'not centered'}: 'iter', then ${kinds.map(([, suffix]) => `'<var>/${suffix}'`).join(', ')} for every variable`;
  const count = (weightValues.length - 1) / kinds.length;
  if (!Number.isInteger(count)) {
    throw new RangeError(`setWeights: ${weightValues.length} weights do not fit this optimizer's layout (${layout})`);
  }
  const iter = await readIter(weightValues[0]);
  checkStockNames(weightValues, kinds, count, centered, layout);
  const slots: LoadedWeights['slots'] = [];
  const { order, known } = seen();
  const targets = matchLoaded(
    weightValues.slice(1, 1 + count).map(({ name }) => ({ stateNames: { squareAvg: name } })),
    order,
    tf.engine().registeredVariables,
    known,
  );
  for (let i = 0; i < count; i++) {
    const first = weightValues[1 + i];
    const slot = {
      shape: first.tensor.shape.slice(),
      length: first.tensor.size,
      stateNames: {} as Record<StateKind, string>,
      pending: {} as Partial<Record<StateKind, Float32Array>>,
    };
    const existing = targets[i];
    for (const [k, [kind]] of kinds.entries()) {
      const at = 1 + k * count + i;
      const { name, tensor } = weightValues[at];
      if (tensor.dtype !== 'float32')
        throw new TypeError(`setWeights: '${name}' is ${tensor.dtype}; RMSProp state is float32`);
      if (tensor.size !== slot.length)
        throw new RangeError(
          `setWeights: '${name}' has ${tensor.size} elements, '${first.name}' (the same variable's) has ${slot.length}`,
        );
      const error = existing && misfit(name, { shape: tensor.shape, length: tensor.size }, existing, order);
      if (error) throw error;
      // a copy: the loader disposes the tensors at once
      const values = new Float32Array(await valuesOf(name, tensor, at));
      if (kind === 'squareAvg') {
        const bad = values.findIndex((x) => !(x >= 0 && x < Infinity));
        if (bad >= 0)
          throw new RangeError(
            `setWeights: '${name}' (a square average) has ${values[bad]} at index ${bad}; it must be finite and ≥ 0`,
          );
      }
      slot.stateNames[kind] = name;
      slot.pending[kind] = values;
    }
    slot.stateNames.gradAvg ??= stockNames(ownerOf(slot)).gradAvg;
    slots.push(slot);
  }
  return { iter, slots };
}

/** setWeights' list, each weight read once (a getter that answers otherwise later cannot pass the checks) and checked. */
function readWeightList(given: unknown): NamedTensor[] {
  if (!Array.isArray(given) || given.length === 0) {
    throw new TypeError(
      `setWeights: weightValues must be a non-empty array of { name, tensor }, got ${describe(given)}`,
    );
  }
  const weightValues = Array.from(given, (w: unknown) =>
    w !== null && typeof w === 'object' ? { name: (w as NamedTensor).name, tensor: (w as NamedTensor).tensor } : w,
  ) as NamedTensor[];
  for (const [i, w] of weightValues.entries()) {
    if (w === null || typeof w !== 'object' || typeof w.name !== 'string' || !isTensor(w.tensor)) {
      throw new TypeError(
        `setWeights: weightValues[${i}] must be { name: string, tensor: tf.Tensor }, got ${describe(w)}`,
      );
    }
    if (w.tensor.isDisposed)
      throw new TypeError(`setWeights: the tensor of '${w.name}' (weightValues[${i}]) is disposed`);
  }
  return weightValues;
}

/** The step count, weightValues[0]: one int32 (or float32) value, a safe integer ≥ 0. */
async function readIter({ name, tensor }: NamedTensor): Promise<number> {
  if (tensor.size !== 1)
    throw new RangeError(
      `setWeights: '${name}' (weightValues[0], the step count) has ${tensor.size} elements; it must be one value (a scalar, or one element as tf.train.rmsprop reads it)`,
    );
  if (tensor.dtype !== 'int32' && tensor.dtype !== 'float32')
    throw new TypeError(`setWeights: '${name}' (the step count) is ${tensor.dtype}; it must be int32 (or float32)`);
  const iter = (await valuesOf(name, tensor, 0))[0];
  if (!Number.isSafeInteger(iter) || iter < 0)
    throw new RangeError(`setWeights: '${name}' (the step count) must be an integer from 0 to 2^53 − 1, got ${iter}`);
  return iter + 0; // (−0 as 0)
}

/** Checks the names against the stock layout, before any value is read: a layout saved with other options is refused. */
function checkStockNames(
  weightValues: readonly NamedTensor[],
  kinds: typeof STOCK,
  count: number,
  centered: boolean,
  layout: string,
): void {
  for (const [k, [, suffix]] of kinds.entries()) {
    for (let i = 0; i < count; i++) {
      const at = 1 + k * count + i;
      const { name } = weightValues[at];
      if (name.endsWith(`/${suffix}`)) continue;
      const other = centered ? 'non-centered' : 'centered';
      const hint = /\/(rms|momentum|mg)$/.test(name)
        ? ` (a ${other} optimizer's layout, or weights out of order?)`
        : '';
      throw new RangeError(
        `setWeights: weightValues[${at}] is '${name}' where variable ${i}'s '/${suffix}' belongs${hint}; this optimizer's layout is ${layout}`,
      );
    }
  }
}

/** The values of weightValues[i] (as read once); a tensor disposed meanwhile (by a caller that did not await) is named. */
async function valuesOf(name: string, tensor: tf.Tensor, i: number) {
  try {
    return await tensor.data();
  } catch (error) {
    if (!tensor.isDisposed) throw error;
    throw new TypeError(
      `setWeights: the tensor of '${name}' (weightValues[${i}]) was disposed while setWeights read it: await setWeights() before disposing them; nothing was changed`,
      { cause: error },
    );
  }
}

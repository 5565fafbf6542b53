// setState: one parameter's state written from float32 values, each checked (read once) before any
// is written; compressed state encoded.
import { describe, isRecord } from './options.js';
import { isFloat32Array, isGone, plainView } from './typed-arrays.js';
import { STATE_KINDS, type StateKind } from './layout.js';
import { encodeCompressed, stateKeys, type TensorState } from './tensors.js';
import type { TensorArrays } from './state.js';
import { checkNotNegative } from './state-load.js';

/** setState: checks `values` (read once) for tensor `name`, then writes them (see RMSProp.setState). @internal */
export function writeTensorState(tensors: readonly TensorArrays[], name: unknown, values: unknown): void {
  if (typeof name !== 'string')
    throw new TypeError(
      `setState: name must be a parameter's name, a string (an array's are '0', '1', …), got ${describe(name)}`,
    );
  const tensor = tensors.find((t) => t.name === name);
  if (!tensor) throw new RangeError(`setState: no parameter is named ${describe(name)}`);
  if (!isRecord(values))
    throw new TypeError(`setState: values must be an object of Float32Arrays, got ${describe(values)}`);
  const kept: readonly string[] = stateKeys(tensor);
  const writes: Array<[keyof TensorState, Float32Array]> = [];
  for (const kind of Object.keys(values)) {
    const value = (values as Record<string, unknown>)[kind];
    if (value === undefined) continue;
    if (!kept.includes(kind)) {
      // a misspelt kind is a bad name (TypeError); a kind this parameter does not keep, a bad value
      const Refusal = [...STATE_KINDS, 'average'].includes(kind) ? RangeError : TypeError;
      throw new Refusal(`setState: '${name}' keeps ${kept.join(', ')}, not ${describe(kind)}`);
    }
    if (!isFloat32Array(value))
      throw new TypeError(`setState: ${kind} of '${name}' must be a Float32Array, got ${describe(value)}`);
    if (isGone(value))
      throw new TypeError(
        `setState: ${kind} of '${name}' is a Float32Array whose buffer was detached or shrunk below it`,
      );
    const copy = plainView(value).slice();
    if (copy.length !== tensor.length)
      throw new RangeError(
        `setState: ${kind} of '${name}' has ${copy.length} elements, the parameter has ${tensor.length}`,
      );
    if (kind === 'squareAvg') checkNotNegative(copy, 'setState', name as string);
    writes.push([kind as keyof TensorState, copy]);
  }
  const encoded: Partial<Record<StateKind, Float32Array>> = {}; // together: a centered S is stored as S − ḡ²
  for (const [kind, copy] of writes) {
    if (kind === 'average') {
      tensor.average!.set(copy);
      tensor.averageStarts = false; // the next step continues from it
    } else if (tensor.compressed) encoded[kind] = copy;
    else (tensor.state[kind] as Float32Array).set(copy);
  }
  if (tensor.compressed) encodeCompressed(tensor.compressed, encoded);
}

// Moving values between TF.js variables and a core's parameters: read in where a variable changed,
// written back as new tensors after a step.
// (each export @internal: no declarations shipped for a module the public types never name)
import * as tf from '@tensorflow/tfjs-core';
import type { RMSProp } from '../index.js';
import { floats, type HeapView, heapViewOf } from './inputs.js';
import type { Slot } from './slots.js';

/** A view into tfjs-backend-wasm's heap, where that backend runs and `heapViews` allows it (see floats). @internal */
export const currentHeapView = (heapViews: boolean): HeapView | undefined =>
  tf.getBackend() === 'wasm' && heapViews ? heapViewOf(tf.backend()) : undefined;

/** Reads into `core` each live variable of `slots` whose data changed since this optimizer last wrote or read it. @internal */
export function readVariablesInto(core: RMSProp, slots: readonly Slot[], heapView: HeapView | undefined): void {
  for (const slot of slots) readVariable(core, slot, heapView);
}

/** Reads `slot`'s variable into `core` if it is live and its data changed since this optimizer last wrote or read it. @internal */
export function readVariable(core: RMSProp, slot: Slot, heapView: HeapView | undefined): void {
  const variable = slot.variable;
  if (slot.name === undefined || !variable || variable.isDisposed || variable.dataId === slot.dataId) return;
  core.params[slot.name].set(floats(variable, heapView));
  slot.dataId = variable.dataId;
}

/**
 * Gives each live variable of `slots` its parameters' values from `core`. tfjs-backend-wasm copies a
 * new tensor's values into its heap at once; the other backends keep the array they are given, which
 * must then not be the optimizer's memory. Never written in place: TF.js tensors are immutable (a
 * `dataSync()` array on cpu is the data itself, and the wasm backend caches XNNPACK's packed weights
 * by tensor; tried, model.fit went wrong). A new tensor per step, then, as tf.train.rmsprop makes one
 * per operation. @internal
 */
export function writeVariables(core: RMSProp, slots: readonly Slot[]): void {
  const copies = tf.getBackend() !== 'wasm';
  for (const slot of slots) {
    const variable = slot.variable;
    if (slot.name === undefined || !variable || variable.isDisposed) continue;
    const params = core.params[slot.name];
    const value = tf.tensor(copies ? params.slice() : params, slot.shape, 'float32');
    variable.assign(value);
    value.dispose();
    slot.dataId = variable.dataId;
  }
}

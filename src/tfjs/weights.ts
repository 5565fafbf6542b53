// What the TF.js optimizer's getWeights returns: the stock RMSPropOptimizer's weights, as variables
// this optimizer owns and gives the state's values again only when the state changed.
// (each export @internal: no declarations shipped for a module the public types never name)
import * as tf from '@tensorflow/tfjs-core';
import type { RMSProp, TensorState } from '../index.js';
import { type Slot, STOCK } from './slots.js';

/** A weight as getWeights gives it (TF.js' NamedTensor, with the variable this optimizer owns). @internal */
export interface Weight {
  name: string;
  tensor: tf.Variable;
}

/**
 * The weights `getWeights` returns: variables of this optimizer, as the stock optimizer's weights are
 * its own, given the state's values again by a call after it changed (a step, `setWeights`, a change
 * through `core`) and disposed with the optimizer, so that a save still reading them as training goes
 * on never finds one disposed, and none leaks. @internal
 */
export class StockWeights {
  #weights: Weight[] = [];
  /** Variables a refresh replaced (a name gone, a new shape): disposed at the next one, not while a save may read them. */
  #retired: tf.Variable[] = [];
  /** The slots `#weights` holds the state of, in its order. */
  #order: readonly Slot[] = [];
  #stale = true;
  /** The core and its revision the weights were read from (a change made through `core` shows). */
  #read: { core: RMSProp | undefined; revision: number } = { core: undefined, revision: 0 };

  /** The state changed (or may have: a step, a new layout, a load): the next `get` reads it again. */
  invalidate(): void {
    this.#stale = true;
  }

  /**
   * The weights of `order`'s slots (`iter`, then each kind of state for every slot; `/mg` only when
   * `centered`), from `core`'s state or a slot's pending one, zeros where there is none.
   */
  get(order: readonly Slot[], core: RMSProp | undefined, iterations: number, centered: boolean): Weight[] {
    const moved = order.length !== this.#order.length || order.some((slot, i) => slot !== this.#order[i]);
    const read = this.#read;
    const changed = read.core !== core || (core !== undefined && core.revision !== read.revision);
    if (this.#stale || changed || moved || this.#weights.some((w) => w.tensor.isDisposed))
      this.#refresh(order, core, iterations, centered);
    return this.#weights.slice();
  }

  dispose(): void {
    tf.dispose([...this.#weights.map((w) => w.tensor), ...this.#retired]);
    this.#weights = [];
    this.#retired = [];
  }

  #refresh(order: readonly Slot[], core: RMSProp | undefined, iterations: number, centered: boolean): void {
    const values: Array<{ name: string; tensor: tf.Tensor }> = [
      { name: 'iter', tensor: tf.scalar(iterations, 'int32') },
    ];
    for (const [kind] of STOCK) {
      if (kind === 'gradAvg' && !centered) continue;
      for (const slot of order) {
        const state =
          slot.name !== undefined && core ? (core.state[slot.name] as TensorState)[kind] : slot.pending?.[kind];
        const tensor = state ? tf.tensor(state.slice(), slot.shape, 'float32') : tf.zeros(slot.shape, 'float32');
        values.push({ name: slot.stateNames[kind], tensor });
      }
    }
    // by name: the order changes with the last step, and an array returned before keeps its names
    const old = this.#weights.map((w) => w.tensor);
    const kept = new Map(this.#weights.map((w) => [w.name, w.tensor]));
    tf.dispose(this.#retired);
    this.#weights = values.map(({ name, tensor }) => {
      const variable = kept.get(name);
      kept.delete(name); // (a second weight of that name gets a variable of its own)
      const fits =
        variable &&
        !variable.isDisposed &&
        variable.dtype === tensor.dtype &&
        variable.shape.join() === tensor.shape.join();
      if (fits) variable.assign(tensor);
      const weight = { name, tensor: fits ? variable : tf.variable(tensor, false) };
      tensor.dispose();
      return weight;
    });
    const reused = new Set(this.#weights.map((w) => w.tensor));
    this.#retired = old.filter((variable) => !reused.has(variable));
    this.#order = order;
    this.#stale = false;
    this.#read = { core, revision: core?.revision ?? 0 };
  }
}

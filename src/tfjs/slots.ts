// A variable's place in the TF.js optimizer and how a variable seen for the first time finds the
// state loaded for it: the bookkeeping of src/tfjs/index.ts, apart from the optimizer's own steps.
// (each export @internal: no declarations shipped for a module the public types never name)
import type * as tf from '@tensorflow/tfjs-core';
import type { TensorState } from '../index.js';

/** The kinds of state a variable's saved weights hold (stock's: no average, which is not saved). @internal */
export type StateKind = Exclude<keyof TensorState, 'average'>;
/** The stock `RMSPropOptimizer`'s weight names and order: `<var>/rms`, `<var>/momentum`, `<var>/mg`. @internal */
export const STOCK: ReadonlyArray<readonly [StateKind, string]> = [
  ['squareAvg', 'rms'],
  ['momentum', 'momentum'],
  ['gradAvg', 'mg'],
];
/** A variable's weight names as the stock optimizer names them: `<var>/rms`, `<var>/momentum`, `<var>/mg`. @internal */
export const stockNames = (name: string) =>
  Object.fromEntries(STOCK.map(([kind, suffix]) => [kind, `${name}/${suffix}`])) as Record<StateKind, string>;
/** The variable a slot's state was named after (its `/rms` name less the suffix). @internal */
export const ownerOf = (slot: { stateNames: { squareAvg: string } }) => slot.stateNames.squareAvg.replace(/\/rms$/, '');
/** One variable's place in the optimizer (kept in the order first seen; saved in the optimizer's saved order). @internal */
export interface Slot {
  /** The variable's name once seen; undefined for state loaded by `setWeights` before its variable. */
  name: string | undefined;
  /** The variable last updated under that name: one re-created under it replaces it. */
  variable: tf.Variable | undefined;
  shape: number[];
  length: number;
  /** Names for `getWeights`: the loaded ones, or `<var>/rms`… */
  stateNames: Record<StateKind, string>;
  /** State loaded before this slot's variable was seen, copied into the core when it is. */
  pending: Partial<Record<StateKind, Float32Array>> | undefined;
  /** The `dataId` this optimizer last gave the variable: another one means it was assigned from outside. */
  dataId: object | undefined;
  /**
   * Loaded state that waits for its variable by name (one alive, or known to the optimizer, when it
   * was loaded): dropped once no variable of that name (or a tfjs-layers `_1` copy) is registered.
   */
  waits?: boolean;
}

/** A tfjs-layers name less the `_1` it adds to a loaded model's variables whose names the process has (`<layer>/<weight>` only: a name of one's own such as `w_1` is not a renamed `w`). */
const unsuffixed = (name: string) => (name.includes('/') ? name.replace(/_\d+$/, '') : name);

/**
 * The names a variable's state is saved under once it took loaded state (`loaded`: the names it came
 * with): by name (or by a tfjs-layers `_1`: a loaded copy saves under its original's names), those;
 * by position, its own variable's (`variable`). @internal
 */
export const savedNames = (byName: boolean, loaded: Record<StateKind, string>, variable: string) =>
  byName ? loaded : stockNames(variable);

/**
 * The names of the variables of the process less a tfjs-layers `_1` (`registered`:
 * tf.engine().registeredVariables): loaded state named after one of them waits for it. @internal
 */
export const liveNames = (registered: Readonly<Record<string, tf.Variable>>): Set<string> =>
  new Set(Object.keys(registered).map(unsuffixed));

/**
 * Whether loaded state named after `owner` waits for its variable: one of that name (or a `_1`
 * copy) is alive (`live`: liveNames), or the optimizer knew it (`known`: disposed, and may be
 * re-created). @internal
 */
export const waitsFor = (owner: string, live: ReadonlySet<string>, known: ReadonlySet<string>): boolean =>
  known.has(owner) || live.has(unsuffixed(owner));

/**
 * Which slots' state is kept: a slot's variable alive or re-created under its name; loaded state
 * waiting for its variable while one of that name (or a `_1` copy) is alive; or loaded for a
 * variable not seen yet, taken by position (`registered`: tf.engine().registeredVariables).
 * @internal
 */
export function aliveIn(registered: Readonly<Record<string, tf.Variable>>): (slot: Slot) => boolean {
  let live: Set<string> | undefined; // made once, on the first waiting slot
  return (slot) => {
    if (slot.name !== undefined) return !slot.variable?.isDisposed || Object.hasOwn(registered, slot.name);
    if (!slot.waits) return true;
    live ??= liveNames(registered);
    return live.has(unsuffixed(ownerOf(slot)));
  };
}

/** Each bound slot's index by its variable's name. @internal */
export function indexByName(slots: readonly Slot[]): Map<string, number> {
  return new Map(slots.flatMap((slot, i) => (slot.name === undefined ? [] : [[slot.name, i] as const])));
}

/**
 * Binds each variable of `fresh` (seen for the first time) to a slot of `slots`, the caller's copies
 * (dropped if this throws), or to a new one at the end. State loaded for a variable's name goes to
 * it (a model loaded in a new process has its saved names), then to the name without the `_1`
 * tfjs-layers adds (it renames a loaded model's variables whose names the process has), then by
 * position to one of its size, as TF.js matches it, but not state that a variable of the process
 * could claim by name: a frozen layer's waits for it, and a new head starts afresh. Linear in the
 * slots and variables (a model of thousands of variables joins at once after a load).
 * @internal
 */
export function bindJoining(
  slots: Slot[],
  fresh: readonly string[],
  registered: Readonly<Record<string, tf.Variable>>,
): void {
  const pending = slots.filter((s) => s.name === undefined);
  const owners = new Map(pending.map((s) => [s, ownerOf(s)]));
  const group = (key: (s: Slot) => string | number) => {
    const groups = new Map<string | number, Slot[]>();
    for (const s of pending) {
      const k = key(s);
      const list = groups.get(k);
      if (list) list.push(s);
      else groups.set(k, [s]);
    }
    return groups;
  };
  const byOwner = group((s) => owners.get(s)!);
  const byRenamedOwner = group((s) => unsuffixed(owners.get(s)!));
  const taken = new Set<Slot>();
  const named = new Map<string, Slot>();
  const claim = (name: string, slot: Slot | undefined) => {
    if (!slot) return;
    named.set(name, slot);
    taken.add(slot);
  };
  for (const name of fresh) claim(name, byOwner.get(name)?.[0]);
  for (const name of fresh) {
    if (named.has(name)) continue;
    const size = registered[name].size;
    claim(
      name,
      byRenamedOwner.get(unsuffixed(name))?.find((s) => s.length === size && !taken.has(s)),
    );
  }
  // By position: each size's slots in order, less those taken and those a live variable could claim.
  const claimable = named.size < fresh.length ? liveNames(registered) : undefined;
  const bySize = group((s) => s.length);
  const next = new Map<number, number>();
  const nextOfSize = (size: number) => {
    const list = bySize.get(size) ?? [];
    let i = next.get(size) ?? 0;
    while (i < list.length && (taken.has(list[i]) || claimable?.has(unsuffixed(owners.get(list[i])!)))) i++;
    next.set(size, i + 1);
    return list[i];
  };
  for (const name of fresh) {
    const variable = registered[name] as tf.Variable;
    const byName = named.get(name);
    let slot = byName ?? nextOfSize(variable.size);
    if (slot && slot.length !== variable.size) {
      throw new RangeError(
        `applyGradients: variable '${name}' has ${variable.size} elements, but the state loaded under its name ('${slot.stateNames.squareAvg}') has ${slot.length}: another variable's (of a model that shared the optimizer when it was saved?); nothing was changed`,
      );
    }
    if (!slot) {
      slot = {
        name,
        variable,
        shape: [],
        length: 0,
        stateNames: stockNames(name),
        pending: undefined,
        dataId: undefined,
      };
      slots.push(slot);
    }
    taken.add(slot);
    Object.assign(slot, { name, variable, shape: variable.shape.slice(), length: variable.size, dataId: undefined });
    slot.stateNames = savedNames(byName !== undefined, slot.stateNames, name);
  }
  // Names stay unique: a slot holding the name of a variable that has joined now takes its own.
  const joined = new Set(fresh);
  for (const s of slots) {
    if (s.name === undefined) continue;
    const owner = ownerOf(s);
    if (owner !== s.name && joined.has(owner)) s.stateNames = stockNames(s.name);
  }
}

/**
 * Where each slot `setWeights` loaded goes among `order`, the slots the optimizer saves (undefined:
 * it waits for its variable), and whether by name. By the name `getWeights` gives a slot's state
 * (`<var>/rms`) where the name is once in each, so that restoring a checkpoint does not depend on
 * the last step's order; the rest by position, as TF.js matches it, but not state named after a
 * variable not among `order` that is alive (a frozen layer's) or that the optimizer knew (`known`:
 * one disposed now, which may be re-created): that waits for it, as in `bindJoining`. @internal
 */
export function matchLoaded(
  loaded: ReadonlyArray<{ stateNames: { squareAvg: string } }>,
  order: readonly Slot[],
  registered: Readonly<Record<string, tf.Variable>>,
  known: ReadonlySet<string>,
): Array<{ slot: Slot; byName: boolean } | undefined> {
  const owners = loaded.map(ownerOf);
  const counts = (names: readonly string[]) => {
    const count = new Map<string, number>();
    for (const name of names) count.set(name, (count.get(name) ?? 0) + 1);
    return count;
  };
  const loadedCount = counts(owners);
  const orderCount = counts(order.map(ownerOf));
  const byOwner = new Map(order.map((slot) => [ownerOf(slot), slot]));
  const taken = new Set<Slot>();
  const named = owners.map((owner) => {
    const target = byOwner.get(owner);
    if (!target || loadedCount.get(owner) !== 1 || orderCount.get(owner) !== 1) return undefined;
    taken.add(target);
    return target;
  });
  const seen = new Set(order.map((slot) => slot.name));
  const waits = (owner: string) => (Object.hasOwn(registered, owner) || known.has(owner)) && !seen.has(owner);
  const rest = order.filter((slot) => !taken.has(slot));
  let next = 0;
  return named.map((target, i) => {
    if (target) return { slot: target, byName: true };
    const slot = waits(owners[i]) ? undefined : rest[next++];
    return slot && { slot, byName: false };
  });
}

/** A variable's state as setWeights read it: its names, shape and values. @internal */
export type LoadedSlot = Pick<Slot, 'shape' | 'length' | 'stateNames'> & {
  pending: Partial<Record<StateKind, Float32Array>>;
};

/** What `placeLoaded` needs besides the slots. @internal */
export interface Placing {
  /** liveNames now; the names the optimizer has seen. */
  live: ReadonlySet<string>;
  known: ReadonlySet<string>;
  /** Momentum off: loaded momentum is dropped (as copyState drops it: getWeights gives zeros). */
  momentumOff: boolean;
  /** The square average a variable beyond the weights loaded starts from. */
  initialSquareAvg: number;
  /** Copies state into the core under a variable's name; undefined before the core exists. */
  write: ((state: Partial<Record<StateKind, Float32Array>>, name: string) => void) | undefined;
}

/**
 * setWeights' new slots, once everything is checked: those of `order` (a disposed variable's are
 * dropped); each loaded state written to the variable `targets` matched (if seen and the core exists)
 * or pending until its variable joins (while one of its name is alive, if it waits for one); the
 * variables matched by nothing start afresh, as stock state is replaced whole. @internal
 */
export function placeLoaded(
  slots: readonly Slot[],
  order: readonly Slot[],
  loaded: readonly LoadedSlot[],
  targets: ReadonlyArray<{ slot: Slot; byName: boolean } | undefined>,
  { live, known, momentumOff, initialSquareAvg, write }: Placing,
): Slot[] {
  const kept = new Set(order);
  const placed = slots.filter((slot) => kept.has(slot));
  for (const [i, slot] of loaded.entries()) {
    if (momentumOff) delete slot.pending.momentum;
    const target = targets[i];
    if (target?.slot.name !== undefined && write) {
      write(slot.pending, target.slot.name);
      target.slot.stateNames = savedNames(target.byName, slot.stateNames, target.slot.name);
      continue;
    }
    const waits = waitsFor(ownerOf(slot), live, known);
    if (target) Object.assign(target.slot, slot, { waits });
    else placed.push({ name: undefined, variable: undefined, dataId: undefined, waits, ...slot });
  }
  const matched = new Set(targets.map((target) => target?.slot));
  for (const slot of order.filter((s) => !matched.has(s))) {
    if (slot.name === undefined || !write) {
      placed.splice(placed.indexOf(slot), 1);
      continue;
    }
    const zeros = new Float32Array(slot.length);
    write({ squareAvg: zeros.slice().fill(initialSquareAvg), momentum: zeros, gradAvg: zeros }, slot.name);
  }
  return placed;
}

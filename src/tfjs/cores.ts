// The library's optimizers (cores) under the TF.js optimizer: made, moved off the js backend, laid out.
// (each export @internal: no declarations shipped for a module the public types never name)
import { NotReadyError, type ResolvedOptions, RMSProp, type RMSPropOptions } from '../index.js';
import { STOCK, type Slot, type StateKind } from './slots.js';

/**
 * Makes one TF.js optimizer's cores: on the options' backend once its wasm has compiled (started
 * here), before that on the js backend (the same bits), a stand-in that the next step moves. @internal
 */
export class Cores {
  readonly ready: Promise<void>;
  /** How the compile ended (`error`: how it failed); undefined while it runs. */
  #compiled: { error?: unknown } | undefined;
  /** The stand-ins made while the wasm compiled (a WeakSet: one whose successor's step failed stays one). */
  readonly #standIns = new WeakSet<RMSProp>();

  constructor(options: RMSPropOptions) {
    this.ready = RMSProp.ready(options);
    this.ready.then(
      () => void (this.#compiled = {}),
      (error: unknown) => void (this.#compiled = { error }), // reported by ready() and by the next step
    );
  }

  /** Whether `core` is a stand-in to replace now (the compile has ended; if it failed, the step fails with its error). */
  replaces(core: RMSProp | undefined): boolean {
    return core !== undefined && this.#standIns.has(core) && this.#compiled !== undefined;
  }

  /** A core of these lengths on the options' backend, or, while its wasm is still compiling, a js stand-in. */
  create(lengths: Record<string, number>, options: RMSPropOptions): RMSProp {
    try {
      return RMSProp.createSync(lengths, options);
    } catch (error) {
      if (!(error instanceof NotReadyError)) throw error;
      if (this.#compiled) throw this.#compiled.error ?? error; // (a build ready() did not make: not expected)
      const standIn = RMSProp.createSync(lengths, { ...options, backend: 'js' });
      this.#standIns.add(standIn);
      return standIn;
    }
  }

  /** A core on `backend` with everything stand-in `old` holds, exactly: its options (as changed), state as stored, parameters. */
  moved(old: RMSProp, backend: RMSPropOptions['backend']): RMSProp {
    const lengths = Object.fromEntries(Object.entries(old.params).map(([name, a]) => [name, a.length]));
    const core = this.create(lengths, { ...old.options, backend }); // (undefined: the default)
    try {
      core.loadState(old.stateViews());
      for (const [name, values] of Object.entries(old.params)) core.params[name].set(values);
    } catch (error) {
      core.dispose();
      throw error;
    }
    return core;
  }
}

/** What a new core takes over from the one it replaces, beside the state of the variables both have. @internal */
export interface Carried {
  /** The core replaced (none at the first step). */
  old: RMSProp | undefined;
  /**
   * The names of the slots `old`'s layout still keeps: not `old.params`, which also holds a variable
   * whose state setWeights dropped (re-created, it starts afresh).
   */
  kept: { has(name: string): boolean };
  /** The averages (ema) to carry: those under way in `old`, less the re-created variables'. */
  averages: ReadonlySet<string>;
}

/**
 * Fills a new core with its slots' values: a slot bound under the old core keeps its state, parameters
 * and average; one just bound takes the state loaded for it, or starts afresh (a variable whose state
 * setWeights dropped, re-created under its name). @internal
 */
export function fillLayout(core: RMSProp, slots: readonly Slot[], { old, kept, averages }: Carried): void {
  for (const slot of slots) {
    const name = slot.name;
    if (name === undefined) continue;
    if (slot.pending) {
      copyState(slot.pending, core, name);
    } else if (old && kept.has(name)) {
      copyState(old.state[name], core, name);
      core.params[name].set(old.params[name]);
      const { average } = old.state[name];
      if (average && averages.has(name)) core.setState(name, { average });
    }
  }
}

/**
 * Copies a variable's state into `core` (setState: with compressed state, `core.state` holds
 * decoded copies, and setState encodes; a new core's layout re-encodes, rounded to nearest). @internal
 */
export function copyState(from: Partial<Record<StateKind, Float32Array>>, core: RMSProp, name: string): void {
  const kept = core.state[name];
  const values: Partial<Record<StateKind, Float32Array>> = {};
  for (const [kind] of STOCK) if (kind in kept && from[kind]) values[kind] = from[kind];
  core.setState(name, values);
}

/** A one-element core of these options on the js backend (which needs no wasm): they are checked as `create` checks them. @internal */
export const coreForChecking = (options: RMSPropOptions) =>
  RMSProp.createSync({ check: 0 }, { ...options, backend: 'js' });

/**
 * Checks every option as `RMSProp.create` does, synchronously: a one-element core on the js backend,
 * then the backend's name alone (a NotReadyError there means a valid name whose wasm is still
 * compiling). @internal
 */
export function checkOptions(options: RMSPropOptions): ResolvedOptions {
  const core = coreForChecking(options);
  const resolved = core.options;
  core.dispose();
  try {
    RMSProp.createSync({ check: 0 }, { backend: options.backend, threads: 1 }).dispose();
  } catch (error) {
    if (!(error instanceof NotReadyError)) throw error;
  }
  return resolved;
}

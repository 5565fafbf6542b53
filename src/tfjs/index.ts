/**
 * `rmsprop-wasm/tfjs`: this library's RMSProp as a TensorFlow.js optimizer, for `model.compile`,
 * `model.fit`, `model.trainOnBatch`, `optimizer.minimize` and `optimizer.applyGradients`.
 *
 * ```ts
 * import { rmsprop } from 'rmsprop-wasm/tfjs';
 * const optimizer = await rmsprop({ lr: 1e-3 }); // any option of RMSProp.create; preset 'tfjs'
 * model.compile({ optimizer, loss: 'categoricalCrossentropy' });
 * ```
 *
 * Saved models: `model.save(..., { includeOptimizer: true })` records the class name `'RMSProp'`,
 * the name of TF.js' own `tf.train.rmsprop`, with its config keys (`learningRate`, `decay`,
 * `momentum`, `epsilon`, `centered`) plus `rmspropWasm` (this optimizer's other options), and the
 * state in the stock layout. A program without this package that loads the model gets a stock
 * `RMSPropOptimizer` with the same hyperparameters and state, and continues with TF.js' own update
 * (which ignores `rmspropWasm`: no clipping or schedule, and its centered variant returns NaN for a
 * zero gradient). A program with this package gets this optimizer back after
 * `tf.serialization.registerClass(RMSPropWasmOptimizer)`, which replaces the stock class under that
 * name for every model loaded afterwards (stock-saved ones included, on the `tfjs` preset).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { PRESETS, RMSProp, type RMSPropOptions, type TensorState } from '../index.js';

/** Options of the TF.js optimizer: every option of `RMSProp.create`, with preset `'tfjs'` by default. */
export type TfjsRMSPropOptions = RMSPropOptions;

/** TF.js' `NamedTensor` (tfjs-core does not export the type). */
export interface NamedTensor {
  /** The variable's name (`<variable>/rms`, …, as TF.js names optimizer weights). */
  name: string;
  /** Its value. */
  tensor: tf.Tensor;
}

type StateKind = 'squareAvg' | 'momentum' | 'gradAvg';
/** The stock `RMSPropOptimizer`'s weight names and order: `<var>/rms`, `<var>/momentum`, `<var>/mg`. */
const STOCK: ReadonlyArray<readonly [StateKind, string]> = [['squareAvg', 'rms'], ['momentum', 'momentum'], ['gradAvg', 'mg']];

/** One variable's place in the optimizer, by position of first appearance (as TF.js matches state). */
interface Slot {
  /** The variable's name once seen; undefined for state loaded by `setWeights` before its variable. */
  name: string | undefined;
  variable: tf.Variable | undefined;
  shape: number[];
  length: number;
  /** Names for `getWeights`: the loaded ones, or `<var>/rms`… */
  stateNames: Record<StateKind, string>;
  /** State loaded before this slot's variable was seen, copied into the core when it is. */
  pending: Partial<Record<StateKind, Float32Array>> | undefined;
  /** The `dataId` this optimizer last gave the variable: another one means it was assigned from outside. */
  dataId: object | undefined;
}

type HeapView = (tensor: tf.Tensor) => Float32Array;

/**
 * A zero-copy view of a tensor's bytes in tfjs-backend-wasm's heap, when the current backend has
 * its (undocumented) `typedArrayFromHeap`; undefined otherwise, and `dataSync()` is used instead.
 */
function heapViewOf(backend: unknown): HeapView | undefined {
  const view = (backend as { typedArrayFromHeap?: unknown }).typedArrayFromHeap;
  if (typeof view !== 'function') return undefined;
  return (tensor) => view.call(backend, tensor) as Float32Array;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : `a ${value.constructor?.name ?? 'object'}`;
}

/**
 * RMSProp for TensorFlow.js, computed by this library's wasm SIMD kernel on the CPU. Variables are
 * taken when first seen by `applyGradients` (no list to give), and one seen later joins without the
 * others losing their state. State is matched to variables by position of first appearance, as
 * TF.js' own `RMSPropOptimizer` does, and `getWeights`/`setWeights` use its layout: `iter`, then
 * `<var>/rms` for every variable, `<var>/momentum` for every variable (zeros at momentum 0), then
 * `<var>/mg` when centered. Create it with `await rmsprop(options)`, which compiles the wasm that
 * the synchronous `applyGradients` needs. See the module comment for what a saved model carries.
 */
export class RMSPropWasmOptimizer extends tf.Optimizer {
  /** The name saved models carry: the stock optimizer's, so that any TF.js program can load them. */
  static get className(): string {
    return 'RMSProp';
  }

  /** @internal For tests: false makes every optimizer take the public `dataSync()` path on the wasm backend too. */
  static heapViews = true;

  /** The options as given (preset `'tfjs'` unless given). */
  readonly options: Readonly<TfjsRMSPropOptions>;
  #core: RMSProp | undefined;
  #slots: Slot[] = [];
  #bySlotName = new Map<string, number>();
  /** Steps taken before the core existed (from `setWeights`). */
  #steps = 0;
  /** Tensors handed out by the last `getWeights`, disposed by the next call, so saving leaks nothing. */
  #lent: tf.Tensor[] = [];
  /** Reused by every step, so that a step allocates no record. */
  #grads: Record<string, Float32Array | null> = {};
  #ready: Promise<void>;
  #disposed = false;

  /**
   * Prefer `await rmsprop(options)`. The constructor is synchronous for `fromConfig`; it starts
   * compiling the wasm, and `applyGradients` throws until that has finished (`await opt.ready()`).
   */
  constructor(options: TfjsRMSPropOptions = {}) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    this.options = Object.freeze({ preset: 'tfjs', ...options });
    this.#ready = RMSProp.ready(this.options);
    this.#ready.catch(() => {}); // reported by ready() and by the first step
  }

  /** Resolves when the wasm this optimizer needs is compiled; rejects if the options are invalid. */
  async ready(): Promise<void> {
    await this.#ready;
    // Every option checked now, not at the first step: a one-element optimizer on one thread.
    RMSProp.createSync({ check: 0 }, { ...this.options, threads: 1 }).dispose();
  }

  /**
   * The library's optimizer underneath (`saveState`/`loadState`, `stepCount`, `state`, …), its
   * parameters named after the variables; undefined before the first step, and a new one (the old
   * one disposed) whenever a variable joins.
   */
  get core(): RMSProp | undefined {
    return this.#core;
  }

  /** Steps taken (a step skipped for a non-finite gradient, `nonFinite: 'skip'`, does not count). */
  override get iterations(): number {
    return this.#core?.stepCount ?? this.#steps;
  }

  /** The variables in the order their state is kept (and saved). */
  get variables(): readonly tf.Variable[] {
    return this.#slots.flatMap((slot) => (slot.variable ? [slot.variable] : []));
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.#live();
    const entries: Array<[string, tf.Tensor | null | undefined]> = Array.isArray(variableGradients)
      ? variableGradients.map((item) => [item.name, item.tensor])
      : Object.entries(variableGradients);
    this.#take(entries.map(([name]) => name));
    const core = this.#core!;
    const backend = tf.backend();
    const heapView = tf.getBackend() === 'wasm' && RMSPropWasmOptimizer.heapViews ? heapViewOf(backend) : undefined;
    const grads = this.#grads;
    for (const name in grads) grads[name] = null;
    const updated: Slot[] = [];
    for (const [name, tensor] of entries) {
      if (tensor == null) continue;
      const slot = this.#slots[this.#bySlotName.get(name)!];
      if (slot.variable!.dataId !== slot.dataId) core.params[name].set(floats(slot.variable!, heapView, `variable '${name}'`));
      grads[name] = floats(tensor, heapView, `gradient '${name}'`);
      updated.push(slot);
    }
    if (!core.step(grads)) return;
    // tfjs-backend-wasm copies a new tensor's values into its heap at once; the other backends keep
    // the array they are given, which must then not be the optimizer's memory. Never written in
    // place: TF.js tensors are immutable (a `dataSync()` array on cpu is the data itself, and the
    // wasm backend caches XNNPACK's packed weights by tensor; tried, model.fit went wrong).
    // A new tensor per step, then, as tf.train.rmsprop makes one per operation.
    const copies = tf.getBackend() !== 'wasm';
    for (const slot of updated) {
      const params = core.params[slot.name!];
      const value = tf.tensor(copies ? params.slice() : params, slot.shape, 'float32');
      slot.variable!.assign(value);
      value.dispose();
      slot.dataId = slot.variable!.dataId;
    }
  }

  /**
   * The stock `RMSPropOptimizer`'s weights: `iter`, `<var>/rms`…, `<var>/momentum`… (zeros at
   * momentum 0), `<var>/mg`… when centered. The tensors are copies owned by this optimizer, valid
   * until the next `getWeights`, `setWeights` or `dispose` (so that repeated saves leak nothing).
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.#live();
    tf.dispose(this.#lent);
    const core = this.#core;
    const centered = this.#resolved('centered');
    const out: NamedTensor[] = [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }];
    for (const [kind] of STOCK) {
      if (kind === 'gradAvg' && !centered) continue;
      for (const slot of this.#slots) {
        const values = slot.name !== undefined && core ? (core.state[slot.name] as TensorState)[kind] : slot.pending?.[kind];
        const tensor = values ? tf.tensor(values.slice(), slot.shape, 'float32') : tf.zeros(slot.shape, 'float32');
        out.push({ name: slot.stateNames[kind], tensor });
      }
    }
    this.#lent = out.map((w) => tf.keep(w.tensor));
    return out;
  }

  /**
   * Loads weights in the stock layout (from `getWeights` of this or of `tf.train.rmsprop`, or from a
   * saved model), matched to variables by position. Copies before returning; may come before the
   * first step (as `tf.loadLayersModel` does), in which case each state waits for its variable.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.#live();
    if (!Array.isArray(weightValues) || weightValues.length === 0) {
      throw new TypeError(`setWeights: weightValues must be a non-empty array of { name, tensor }, got ${describe(weightValues)}`);
    }
    const centered = this.#resolved('centered');
    const perVariable = centered ? 3 : 2;
    const count = (weightValues.length - 1) / perVariable;
    if (!Number.isInteger(count)) {
      throw new RangeError(`setWeights: ${weightValues.length} weights do not make 'iter' and ${perVariable} arrays per variable (centered: ${centered})`);
    }
    const iter = (await weightValues[0].tensor.data())[0];
    if (!Number.isSafeInteger(iter) || iter < 0) throw new RangeError(`setWeights: 'iter' must be an integer ≥ 0, got ${iter}`);
    const loaded: Array<Pick<Slot, 'shape' | 'length' | 'stateNames' | 'pending'>> = [];
    for (let i = 0; i < count; i++) {
      const first = weightValues[1 + i].tensor;
      const slot = { shape: first.shape.slice(), length: first.size, stateNames: {} as Record<StateKind, string>, pending: {} as Partial<Record<StateKind, Float32Array>> };
      for (const [k, [kind]] of STOCK.slice(0, perVariable).entries()) {
        const { name, tensor } = weightValues[1 + k * count + i];
        if (tensor.dtype !== 'float32' || tensor.size !== slot.length) {
          throw new RangeError(`setWeights: '${name}' has ${tensor.size} ${tensor.dtype} elements, '${weightValues[1 + i].name}' has ${slot.length}`);
        }
        const existing = this.#slots[i];
        if (existing && existing.length !== slot.length) {
          throw new RangeError(`setWeights: '${name}' has ${tensor.size} elements, the variable in position ${i} ('${existing.name}') has ${existing.length}`);
        }
        slot.stateNames[kind] = name;
        slot.pending[kind] = new Float32Array(await tensor.data()); // a copy: the loader disposes the tensors at once
      }
      slot.stateNames.gradAvg ??= slot.stateNames.squareAvg.replace(/\/rms$/, '') + '/mg';
      loaded.push(slot);
    }
    // Everything read and checked: now change the optimizer.
    tf.dispose(this.#lent);
    this.#lent = [];
    for (const [i, slot] of loaded.entries()) {
      const existing = this.#slots[i];
      if (existing?.name !== undefined && this.#core) {
        copyState(slot.pending!, this.#core.state[existing.name]);
        existing.stateNames = slot.stateNames;
      } else if (existing) {
        Object.assign(existing, slot);
      } else {
        this.#slots.push({ name: undefined, variable: undefined, dataId: undefined, ...slot });
      }
    }
    this.#setSteps(iter);
  }

  getConfig(): tf.serialization.ConfigDict {
    const { lr, ...rest } = this.options;
    const stock = {
      learningRate: typeof lr === 'function' ? lr(this.iterations) : this.#resolved('lr') as number,
      decay: this.#resolved('decay'),
      momentum: this.#resolved('momentum'),
      epsilon: this.#resolved('eps'),
      centered: this.#resolved('centered'),
    };
    // Infinity (no clipping) is not JSON; left out, it means the same.
    const own = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined && v !== Infinity && typeof v !== 'function'));
    return { ...stock, rmspropWasm: own } as tf.serialization.ConfigDict;
  }

  /** Builds the optimizer from `getConfig()`, or from a stock `RMSPropOptimizer`'s config (preset `'tfjs'`). */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    const own = (config.rmspropWasm ?? {}) as Record<string, unknown>;
    const options = Object.fromEntries(Object.entries(own).filter(([, v]) => v != null)) as TfjsRMSPropOptions;
    const given = (key: string) => (config[key] == null ? undefined : config[key]);
    return new (cls as unknown as new (o: TfjsRMSPropOptions) => T)({
      ...options,
      lr: given('learningRate') as number | undefined,
      decay: given('decay') as number | undefined,
      momentum: given('momentum') as number | undefined,
      eps: given('epsilon') as number | undefined,
      centered: given('centered') as boolean | undefined,
    });
  }

  override dispose(): void {
    tf.dispose(this.#lent);
    this.#lent = [];
    this.#core?.dispose();
    this.#core = undefined;
    this.#disposed = true;
  }

  /** An option after the preset, before the core exists too. */
  #resolved<K extends keyof RMSPropOptions>(key: K): NonNullable<RMSPropOptions[K]> {
    if (this.#core) return this.#core.options[key] as NonNullable<RMSPropOptions[K]>;
    const given = this.options[key];
    const preset = PRESETS[this.options.preset ?? 'tfjs'] as Record<string, unknown>;
    return (given ?? preset[key]) as NonNullable<RMSPropOptions[K]>;
  }

  /** Binds new variable names to slots and, if there are any, lays the core out again with them. */
  #take(names: readonly string[]): void {
    const fresh = names.filter((name) => !this.#bySlotName.has(name));
    if (fresh.length === 0 && this.#core) return;
    const registered = tf.engine().registeredVariables;
    for (const name of new Set(fresh)) {
      const variable = registered[name];
      if (!variable) throw new TypeError(`applyGradients: '${name}' is not the name of a tf.Variable`);
      if (variable.dtype !== 'float32') throw new TypeError(`applyGradients: variable '${name}' is ${variable.dtype}; RMSProp updates float32 variables`);
      let slot = this.#slots.find((s) => s.name === undefined);
      if (slot && slot.length !== variable.size) {
        throw new RangeError(`applyGradients: variable '${name}' has ${variable.size} elements, the state loaded for its position has ${slot.length}`);
      }
      if (!slot) {
        slot = { name: undefined, variable: undefined, shape: [], length: 0, stateNames: {} as Record<StateKind, string>, pending: undefined, dataId: undefined };
        this.#slots.push(slot);
        slot.stateNames = { squareAvg: `${name}/rms`, momentum: `${name}/momentum`, gradAvg: `${name}/mg` };
      }
      Object.assign(slot, { name, variable, shape: variable.shape.slice(), length: variable.size, dataId: undefined });
    }
    this.#relayout();
  }

  /** A new core for every bound slot, carrying over the old core's state and step count, and loaded state. */
  #relayout(): void {
    const bound = this.#slots.filter((slot) => slot.name !== undefined);
    let core: RMSProp;
    try {
      core = RMSProp.createSync(Object.fromEntries(bound.map((slot) => [slot.name!, slot.length])), this.options);
    } catch (error) {
      if ((error as Error).message.includes('ready')) {
        throw new Error('this optimizer is not ready: create it with `await rmsprop(options)`, or `await optimizer.ready()` before its first step', { cause: error });
      }
      throw error;
    }
    const old = this.#core;
    this.#setStepsOf(core, this.iterations);
    for (const slot of bound) {
      if (old && slot.name! in old.state) {
        copyState(old.state[slot.name!], core.state[slot.name!]);
        core.params[slot.name!].set(old.params[slot.name!]);
      } else if (slot.pending) {
        copyState(slot.pending, core.state[slot.name!]);
        slot.pending = undefined;
      }
    }
    old?.dispose();
    this.#core = core;
    this.#bySlotName = new Map(bound.map((slot) => [slot.name!, this.#slots.indexOf(slot)] as const));
    this.#grads = Object.fromEntries(bound.map((slot) => [slot.name!, null]));
  }

  #setSteps(steps: number): void {
    this.#steps = steps;
    if (this.#core) this.#setStepsOf(this.#core, steps);
    this.iterations_ = steps;
  }

  /** The public way to set a step count: a saved state of the optimizer itself, with that count. */
  #setStepsOf(core: RMSProp, steps: number): void {
    if (core.stepCount === steps) return;
    const saved = core.saveState();
    saved.stepCount = steps;
    core.loadState(saved);
  }

  #live(): void {
    if (this.#disposed) throw new Error('this RMSPropWasmOptimizer was disposed');
  }
}

function copyState(from: Partial<Record<StateKind, Float32Array>>, to: TensorState): void {
  for (const [kind] of STOCK) {
    const target = to[kind];
    const source = from[kind];
    if (target && source) target.set(source);
  }
}

/** A tensor's float32 values: a view into the wasm backend's heap, or `dataSync()` (the cpu backend's own array). */
function floats(tensor: tf.Tensor, heapView: HeapView | undefined, what: string): Float32Array {
  if (tensor.dtype !== 'float32') throw new TypeError(`${what} is ${tensor.dtype}; RMSProp takes float32`);
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
 * An optimizer for `model.compile({ optimizer })`, after compiling the wasm it needs and checking
 * `options` (any option of `RMSProp.create`; preset `'tfjs'` unless given, which follows
 * `tf.train.rmsprop` except that its centered variant stays finite).
 */
export async function rmsprop(options: TfjsRMSPropOptions = {}): Promise<RMSPropWasmOptimizer> {
  const optimizer = new RMSPropWasmOptimizer(options);
  await optimizer.ready();
  return optimizer;
}

/**
 * `rmsprop-wasm/tfjs`: this library's RMSProp as a TensorFlow.js optimizer, for `model.compile`,
 * `model.fit`, `model.trainOnBatch`, `optimizer.minimize` and `optimizer.applyGradients`.
 *
 * ```ts
 * import '@tensorflow/tfjs-backend-cpu'; // or any TF.js backend
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { rmsprop } from 'rmsprop-wasm/tfjs';
 *
 * const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4], activation: 'softmax' })] });
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
 * zero gradient). A program that imports this entry gets this optimizer back, and TF.js' own for
 * models TF.js saved; `tf.serialization.registerClass(RMSPropWasmOptimizer)` loads those into this
 * optimizer too (on the `tfjs` preset).
 * @module rmsprop-wasm/tfjs
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type LearningRate,
  type OptionChanges,
  PRESETS,
  type ResolvedOptions,
  type RMSProp,
  type RMSPropOptions,
} from '../index.js';
import { coreForChecking, checkOptions, copyState, Cores, fillLayout } from './cores.js';
import {
  describe,
  floats,
  given,
  gradientEntries,
  isOptionsObject,
  readStockWeights,
  readVariables,
  misfit,
} from './inputs.js';
import { aliveIn, bindJoining, indexByName, liveNames, matchLoaded, placeLoaded, type Slot } from './slots.js';
import { currentHeapView, readVariable, readVariablesInto, writeVariables } from './variables.js';
import { StockWeights } from './weights.js';

/** Options of the TF.js optimizer: every option of `RMSProp.create`, with preset `'tfjs'` by default. */
export type TfjsRMSPropOptions = RMSPropOptions;

/** TF.js' `NamedTensor` (tfjs-core does not export the type). */
export interface NamedTensor {
  /** The variable's name (`<variable>/rms`, …, as TF.js names optimizer weights). */
  name: string;
  /** Its value. */
  tensor: tf.Tensor;
}

const DURING_STEP = 'was refused: it came during a step of this optimizer (from a schedule)';

/** The stock config's keys and the options they carry (left out of `rmspropWasm`). */
const STOCK_CONFIG = [
  ['learningRate', 'lr'],
  ['decay', 'decay'],
  ['momentum', 'momentum'],
  ['epsilon', 'eps'],
  ['centered', 'centered'],
] as const;

/**
 * RMSProp for TensorFlow.js, computed by this library's wasm SIMD kernel on the CPU. Variables are
 * taken when first seen by `applyGradients` (no list to give), and one seen later joins without the
 * others losing their state. `getWeights`/`setWeights` use the layout of TF.js' own
 * `RMSPropOptimizer`, matched to variables by position (the last step's order) or by name: `iter`, then
 * `<var>/rms` for every variable, `<var>/momentum` for every variable (zeros at momentum 0), then
 * `<var>/mg` when centered. A variable disposed and re-created under the same name is updated with
 * the state kept for that name, as the stock optimizer does. `await rmsprop(options)` starts on
 * the wasm backend; `new` starts on js and moves there once the wasm has compiled (bit for bit the
 * same). A call that throws changes nothing. See the module comment for what a saved model carries.
 */
export class RMSPropWasmOptimizer extends tf.Optimizer {
  /** The name saved models carry: the stock optimizer's, so that any TF.js program can load them. */
  static get className(): string {
    return 'RMSProp';
  }

  /**
   * Whether `value` is one of these optimizers (tf.Optimizer's own test takes any object with its
   * three methods, which would make every TF.js optimizer an RMSPropWasmOptimizer).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && #options in value;
  }

  /** @internal For tests: false makes every optimizer take the public `dataSync()` path on the wasm backend too. */
  static heapViews = true;

  #options: Readonly<TfjsRMSPropOptions>;
  /** The options after the preset, as a core resolves them (the core's own once it exists). */
  #resolvedOptions: ResolvedOptions;
  #core: RMSProp | undefined;
  #slots: Slot[] = [];
  #bySlotName = new Map<string, number>();
  /** Steps counted without a core: before it exists (from `setWeights`, or steps with no variable) and after dispose. */
  #steps = 0;
  /** What `getWeights` returns (the stock layout's weights, as variables of this optimizer). */
  #weights = new StockWeights();
  /** The variables of the last step, in its order: the order a loaded model's gradients will come in. */
  #lastStep: string[] = [];
  /** Reused by every step, so that a step allocates no record. */
  #grads: Record<string, Float32Array | null> = {};
  /** Makes the cores, on the js backend while the wasm compiles (the constructor starts it). */
  readonly #cores: Cores;
  #disposed = false;
  /** Inside applyGradients: a schedule calling back in is refused, as the core refuses it. */
  #stepping = false;
  /** Set by setWeights with ema: the next step lays out a new core, whose averages start there. */
  #averagesRestart = false;

  /**
   * Synchronous, as `tf.train.rmsprop` is (and as `fromConfig` needs): it checks every option (a
   * TypeError or RangeError naming it: a saved model with a bad one fails to load, not at its first
   * step) and starts compiling the wasm. Steps taken before that has finished run on the js backend,
   * bit for bit what the wasm gives, and the step after it moves everything to the options' backend
   * (and threads) exactly; `await rmsprop(options)` (or `opt.ready()`) starts on it. `setWeights` (so
   * `tf.loadLayersModel`) waits for the compile.
   */
  constructor(options: TfjsRMSPropOptions = {}) {
    super();
    if (!isOptionsObject(options)) throw new TypeError(`options must be an object, got ${describe(options)}`);
    const withPreset: TfjsRMSPropOptions = { preset: 'tfjs', ...given(options) }; // (given drops undefined)
    this.#options = Object.freeze(
      withPreset.preset === 'tfjs' && withPreset.eps === undefined
        ? { ...withPreset, eps: backendEpsilon() }
        : withPreset,
    );
    this.#resolvedOptions = checkOptions(this.#options);
    this.#cores = new Cores(this.#options);
  }

  /**
   * The options as given (preset `'tfjs'` unless given, and then `eps` the backend's unless given, as
   * tf.train.rmsprop takes it), with the changes of `setOptions`.
   */
  get options(): Readonly<TfjsRMSPropOptions> {
    return this.#options;
  }

  /**
   * Changes options between steps (say, `{ lr: 1e-4 }`) as `RMSProp.setOptions` does, in the core and
   * in every core laid out later, when a variable joins (a change made on `core` itself lasts until
   * then). Checked first: a call that throws changes nothing.
   */
  setOptions(changes: OptionChanges): void {
    this.#live();
    // (during a step that lays out a new core, the core being stepped is not yet #core)
    if (this.#stepping) throw new Error(`setOptions() ${DURING_STEP}; it changed nothing`);
    // Read once: what is checked is what both the core and the options keep (a getter may answer otherwise twice).
    const read = isOptionsObject(changes) ? { ...changes } : changes; // (anything else goes on as it is, to be refused)
    const target = this.#core ?? coreForChecking(this.#options);
    try {
      target.setOptions(0, read);
      this.#resolvedOptions = target.options;
    } finally {
      if (target !== this.#core) target.dispose();
    }
    this.#options = Object.freeze({ ...this.#options, ...given(read) });
  }

  // The stock optimizer's fields, which it reads at every step and TF.js programs assign
  // (`model.optimizer.learningRate = 1e-4` in a callback): here each assignment is a setOptions.
  /** The learning rate (a schedule's value at this step); assigning it is `setOptions({ lr })`. */
  get learningRate(): number {
    const lr = this.#resolved('lr');
    return typeof lr === 'function' ? lr(this.iterations) : lr;
  }
  /** `setOptions({ lr })`. */
  set learningRate(lr: LearningRate) {
    this.setOptions({ lr });
  }
  /** The square average's decay; assigning it is `setOptions({ decay })`. */
  get decay(): number {
    return this.#resolved('decay');
  }
  /** `setOptions({ decay })`. */
  set decay(decay: number) {
    this.setOptions({ decay });
  }
  /** Momentum (0: none); assigning it is `setOptions({ momentum })`, which cannot turn it on or off. */
  get momentum(): number {
    return this.#resolved('momentum');
  }
  /** `setOptions({ momentum })`. */
  set momentum(momentum: number) {
    this.setOptions({ momentum });
  }
  /** ε; assigning it is `setOptions({ eps })`. */
  get epsilon(): number {
    return this.#resolved('eps');
  }
  /** `setOptions({ eps })`. */
  set epsilon(eps: number) {
    this.setOptions({ eps });
  }
  /** Whether the variance is centered (fixed at create). */
  get centered(): boolean {
    return this.#resolved('centered');
  }

  /** Resolves when the wasm this optimizer needs is compiled (the options were checked by the constructor). */
  async ready(): Promise<void> {
    await this.#cores.ready;
  }

  /**
   * The library's optimizer underneath (`saveState`/`loadState`, `stepCount`, `state`, …), its
   * parameters named after the variables; undefined before the first step, and a new one (the old
   * one disposed) whenever a variable joins, and at the first step after the wasm has compiled if
   * steps came before (their core was on the js backend). What its methods change shows in the next
   * `getWeights` (writes into its `state` views do not: call `setState`).
   */
  get core(): RMSProp | undefined {
    return this.#core;
  }

  /** Steps taken (a step skipped for a non-finite gradient, `nonFinite: 'skip'`, does not count). */
  override get iterations(): number {
    return this.#core?.stepCount ?? this.#steps;
  }

  /** The variables, in the order first seen (saved weights follow the last step's order: see getWeights). */
  get variables(): readonly tf.Variable[] {
    return this.#slots.flatMap((slot) => (slot.variable && !slot.variable.isDisposed ? [slot.variable] : []));
  }

  /**
   * Everything is checked, and a variable that joins laid out in a new core, before any state,
   * variable or slot changes: a call that throws changes nothing.
   */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.#live();
    if (this.#stepping) throw new Error(`applyGradients() ${DURING_STEP}; it changed nothing`);
    this.#stepping = true;
    try {
      this.#applyGradients(variableGradients);
    } finally {
      this.#stepping = false;
    }
  }

  #applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries = gradientEntries(variableGradients);
    const registered = tf.engine().registeredVariables;
    const { fresh, recreated } = readVariables(entries, registered, this.#slots, this.#bySlotName);
    // A re-created variable takes the state kept for its name (as in stock TF.js), but an average of
    // its own values: a new core, which starts it; and after setWeights every one starts again.
    const relayout = this.#averagesRestart || (this.#resolved('ema') !== 0 && recreated.length > 0);
    // Slots change on copies, kept only if the step succeeds (a new core reads variables into them).
    const changed = fresh.length > 0 || recreated.length > 0 || !this.#core || relayout;
    let slots = changed ? this.#slots.map((slot) => ({ ...slot })) : this.#slots;
    for (const [index, variable] of recreated)
      Object.assign(slots[index], { variable, shape: variable.shape.slice(), dataId: undefined });
    // A new core leaves out the state of variables disposed and not re-created (a rebuilt model's
    // old ones), so that an optimizer outliving the models it trains does not grow with them.
    if (fresh.length > 0) slots = slots.filter(aliveIn(registered));
    bindJoining(slots, fresh, registered);
    const old = this.#core;
    if (!old && fresh.length === 0) {
      this.#steps++; // no variable yet: a step that updates nothing, which stock TF.js counts too
      this.#weights.invalidate(); // (getWeights' iter)
      return;
    }
    // (a new core's slots may have lost the disposed: indexed again, not by the old places)
    const bySlotName = fresh.length > 0 ? indexByName(slots) : this.#bySlotName;
    // A js stand-in is replaced once the compile has ended (or fails the step, with its error).
    const replacing = this.#cores.replaces(old);
    const layingOut = fresh.length > 0 || !old || relayout || replacing;
    const carry = layingOut
      ? this.#carriedAverages(
          old,
          recreated.map(([index]) => slots[index].name!),
        )
      : NONE;
    // The same tensors (a re-created variable keeps its state): moved as they are, options changed on
    // the stand-in too, as a wasm core made at the start would have kept them.
    const moveAll = replacing && fresh.length === 0 && !relayout;
    const core = layingOut
      ? moveAll
        ? this.#cores.moved(old!, this.options.backend)
        : this.#layout(slots, carry)
      : old!;
    // A new core is kept only if its step ran: one that threw or was skipped (nonFinite: 'skip')
    // changes nothing, no variable joins and the saved order stays.
    let stepped = false;
    try {
      stepped = this.#step(core, slots, bySlotName, entries);
    } finally {
      if (!stepped && core !== old) core.dispose();
    }
    if (!stepped) return;
    if (core !== old) {
      this.#averagesRestart = false;
      old?.dispose();
      this.#core = core;
      this.#bySlotName = bySlotName;
      this.#grads = Object.fromEntries(slots.flatMap((slot) => (slot.name === undefined ? [] : [[slot.name, null]])));
      for (const slot of slots) if (slot.name !== undefined) slot.pending = undefined;
    }
    this.#slots = slots;
    this.#lastStep = entries.map(([name]) => name);
  }

  /**
   * Reads the gradients (and any variable assigned from outside) into `core`, steps, and gives each
   * stepped variable its new values (every variable, on a step that overwrote them with their
   * averages); none on a step skipped for a non-finite gradient, which returns false.
   */
  #step(
    core: RMSProp,
    slots: readonly Slot[],
    bySlotName: ReadonlyMap<string, number>,
    entries: ReadonlyArray<readonly [string, tf.Tensor | null | undefined]>,
  ): boolean {
    const heapView = heapViewNow();
    const grads =
      core === this.#core ? this.#grads : Object.fromEntries(Object.keys(core.params).map((name) => [name, null]));
    for (const name in grads) grads[name] = null;
    const { ema } = core.options;
    // with ema every variable is averaged, with a gradient or not: each must be read in
    if (ema !== 0) readVariablesInto(core, slots, heapView);
    const updated: Slot[] = [];
    for (const [name, tensor] of entries) {
      if (tensor == null) continue;
      const slot = slots[bySlotName.get(name)!];
      readVariable(core, slot, heapView);
      grads[name] = floats(tensor, heapView);
      updated.push(slot);
    }
    const stepped = core.step(grads);
    for (const name in grads) grads[name] = null; // hold no gradient's array between steps
    this.#weights.invalidate(); // the state changed (or may have: a new layout, a variable re-created)
    if (stepped) writeVariables(core, core.overwroteWithAverages ? slots : updated);
    return stepped;
  }

  /**
   * Swaps every variable with its moving average (the `ema` option), bit for bit, as
   * `RMSProp.swapAverages` does: call it to evaluate or save the averaged weights and again to swap
   * back, or once when training ends (Keras' `finalize_variable_values`). tfjs-layers never calls it.
   * A `RangeError`, changing nothing, without `ema`, before the first step, or while an average has
   * not started (a variable that joined, or a `setWeights`, starts its average at the next step).
   */
  swapAverages(): void {
    this.#live();
    if (this.#stepping) throw new Error(`swapAverages() ${DURING_STEP}; it changed nothing`);
    const core = this.#core;
    if (!core)
      throw new RangeError(
        this.#resolved('ema') === 0
          ? "swapAverages: no variable keeps an average (create the optimizer with option 'ema' > 0)"
          : 'swapAverages: no variable has an average yet (the first step starts them)',
      );
    if (this.#averagesRestart)
      throw new RangeError(
        'swapAverages: the averages start again at the next step (setWeights loaded weights without them)',
      );
    readVariablesInto(core, this.#slots, heapViewNow()); // (assigned from outside since the last step)
    core.swapAverages();
    writeVariables(core, this.#slots);
  }

  /**
   * `tf.Optimizer.minimize`, except that a variable listed twice in `varList` (tfjs-layers lists a
   * layer shared by two sub-models so) is updated once, with its gradient, which sums every use (the
   * stock one updates it twice), and that the gradients and the loss are disposed when
   * `applyGradients` throws too (the stock one leaves them), so that a refused call leaks nothing.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    const { value, grads } = this.computeGradients(f, varList);
    try {
      const names = varList && new Set(varList.map((v) => v.name));
      this.applyGradients(names ? [...names].map((name) => ({ name, tensor: grads[name] })) : grads);
    } catch (error) {
      value.dispose();
      throw error;
    } finally {
      tf.dispose(grads);
    }
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  /**
   * The stock `RMSPropOptimizer`'s weights: `iter`, `<var>/rms`…, `<var>/momentum`… (zeros at
   * momentum 0), `<var>/mg`… when centered, for the variables of the last step in its order (the
   * order a loaded model's gradients come in), then the others still alive. The tensors are
   * variables owned by this optimizer, which a call after the state changed gives the new values
   * (the stock optimizer's are its state itself), and which `dispose` disposes. Clone one to keep
   * its values.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.#live();
    // (the order changes without a step too: a variable disposed leaves it)
    return this.#weights.get(this.#savedOrder(), this.#core, this.iterations, this.#resolved('centered'));
  }

  /** The names of the variables this optimizer has seen, disposed ones included. */
  #knownNames(): Set<string> {
    return new Set(this.#slots.flatMap((slot) => (slot.name === undefined ? [] : [slot.name])));
  }

  /**
   * The slots in the order weights are saved and loaded: the last step's variables as it gave them,
   * then the other slots in the order first seen, less those whose variable was disposed and not
   * re-created under its name (one re-created keeps its state, before its next step too).
   */
  #savedOrder(): Slot[] {
    const alive = aliveIn(tf.engine().registeredVariables);
    const last = this.#lastStep.flatMap((name) => {
      const slot = this.#slots[this.#bySlotName.get(name) ?? -1];
      return slot && alive(slot) ? [slot] : [];
    });
    const first = new Set(last);
    return [...last, ...this.#slots.filter((slot) => !first.has(slot) && alive(slot))];
  }

  /**
   * Loads weights in the stock layout (from `getWeights` of this or of `tf.train.rmsprop`, or from a
   * saved model). Checked as `RMSProp.loadState` checks a state (the layout and each name's `/rms`,
   * `/momentum`, `/mg` against this optimizer's options, sizes, square averages finite and ≥ 0)
   * before anything changes; copies before returning. Matched to the variables this optimizer has
   * seen by the names `getWeights` gives (where each is once), the rest by position (in `getWeights`'
   * order; see `matchLoaded`); a disposed variable's state is dropped. State beyond them waits for its variable (as after
   * `tf.loadLayersModel`, before the first step), which takes the state named after it (`<var>/rms`,
   * or its name less a tfjs-layers `_1`) or else the next of its size by position (docs/tfjs.md).
   * Waits until the wasm is compiled, so that the step after it can run.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.#live();
    const loaded = await readStockWeights(weightValues, this.#resolved('centered'), () => ({
      order: this.#savedOrder(),
      known: this.#knownNames(),
    }));
    await this.#cores.ready.catch(() => {}); // invalid options are reported by ready() and by the first step
    this.#live();
    // A variable may have joined while this call awaited: match and check again, synchronously.
    const order = this.#savedOrder();
    const known = this.#knownNames();
    const targets = matchLoaded(loaded.slots, order, tf.engine().registeredVariables, known);
    for (const [i, slot] of loaded.slots.entries()) {
      const error = targets[i] && misfit(slot.stateNames.squareAvg, slot, targets[i], order);
      if (error) throw error;
    }
    // Everything read and checked: now change the optimizer.
    this.#weights.invalidate();
    const core = this.#core;
    this.#slots = placeLoaded(this.#slots, order, loaded.slots, targets, {
      live: liveNames(tf.engine().registeredVariables),
      known,
      momentumOff: this.#resolved('momentum') === 0,
      initialSquareAvg: this.#resolved('initialSquareAvg'),
      write: core && ((state, name) => copyState(state, core, name)),
    });
    this.#bySlotName = indexByName(this.#slots);
    this.#steps = loaded.iter;
    if (this.#core) this.#core.stepCount = loaded.iter;
    this.iterations_ = loaded.iter;
    // Averages are not among the weights: as after RMSProp.loadState of a state without them, they
    // start again at the next step (in a new core, which starts them as create does).
    if (this.#core && this.#resolved('ema') !== 0) this.#averagesRestart = true;
  }

  getConfig(): tf.serialization.ConfigDict {
    const stock = Object.fromEntries(STOCK_CONFIG.map(([key]) => [key, this[key]]));
    // The stock keys carry lr, decay, momentum, eps and centered (resolved), so that a config built
    // from this one gives this one again. Infinity (no clipping) is not JSON; left out, it means the same.
    const own = Object.fromEntries(
      Object.entries(this.options).filter(
        ([key, v]) =>
          !STOCK_CONFIG.some(([, option]) => option === key) &&
          v !== undefined &&
          v !== Infinity &&
          typeof v !== 'function',
      ),
    );
    return { ...stock, rmspropWasm: own } as tf.serialization.ConfigDict;
  }

  /** Builds the optimizer from `getConfig()`, or from a stock `RMSPropOptimizer`'s config (preset `'tfjs'`). */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const own = (config.rmspropWasm ?? {}) as Record<string, unknown>;
    if (!isOptionsObject(own))
      throw new TypeError(`the config's rmspropWasm must be an object of options, got ${describe(own)}`);
    const options = Object.fromEntries(Object.entries(own).filter(([, v]) => v != null)) as TfjsRMSPropOptions;
    // (a stock key missing or null leaves its option to the preset, whatever rmspropWasm says)
    const stock = Object.fromEntries(STOCK_CONFIG.map(([key, option]) => [option, config[key] ?? undefined]));
    return new (cls as unknown as new (o: TfjsRMSPropOptions) => T)({ ...options, ...stock });
  }

  override dispose(): void {
    if (this.#stepping) throw new Error(`dispose() ${DURING_STEP}; it was not disposed`);
    this.#weights.dispose();
    if (this.#core) this.#resolvedOptions = this.#core.options; // (changes made on core too)
    this.#steps = this.iterations; // still readable
    this.#core?.dispose();
    this.#core = undefined;
    this.#disposed = true;
  }

  /** An option after the preset, before the core exists too. */
  #resolved<K extends keyof ResolvedOptions>(key: K): ResolvedOptions[K] {
    return (this.#core?.options ?? this.#resolvedOptions)[key];
  }

  /**
   * The averages a new core carries over from `old`: those under way there (a step's, or loaded
   * through `core`), less the re-created variables'; none after setWeights.
   */
  #carriedAverages(old: RMSProp | undefined, recreated: readonly string[]): ReadonlySet<string> {
    if (this.#averagesRestart || !old) return NONE;
    const again = new Set(recreated);
    return new Set(old.startedAverages().filter((name) => !again.has(name)));
  }

  /**
   * A new core for every bound slot of `slots`, with the current core's state, parameters and step
   * count (and the averages in `carry`), and state loaded by `setWeights`. The caller commits it
   * (disposing the old one) or disposes it.
   */
  #layout(slots: readonly Slot[], carry: ReadonlySet<string>): RMSProp {
    const bound = slots.filter((slot) => slot.name !== undefined);
    const core = this.#cores.create(Object.fromEntries(bound.map((slot) => [slot.name!, slot.length])), this.options);
    core.stepCount = this.iterations;
    fillLayout(core, bound, { old: this.#core, kept: this.#bySlotName, averages: carry });
    return core;
  }

  #live(): void {
    if (this.#disposed) throw new Error('this RMSPropWasmOptimizer was disposed');
  }
}

/**
 * What 'RMSProp' loads as where this entry is imported: this optimizer for a model it saved (its
 * config has `rmspropWasm`), TF.js' own for the rest. Without it, forgetting registerClass resumed
 * this optimizer's models with TF.js' update, silently. Left alone where someone else took the name.
 */
class SavedRMSProp extends tf.RMSPropOptimizer {
  static override fromConfig<T extends tf.serialization.Serializable>(
    _: unknown,
    config: tf.serialization.ConfigDict,
  ): T {
    const cls = config.rmspropWasm != null ? RMSPropWasmOptimizer : tf.RMSPropOptimizer;
    return cls.fromConfig(cls as never, config);
  }
}
if (tf.serialization.SerializationMap.getMap().classNameMap[SavedRMSProp.className]?.[0] === tf.RMSPropOptimizer)
  tf.serialization.registerClass(SavedRMSProp);

/**
 * The ε tf.train.rmsprop takes when given none: its backend's (1e-4 on webgl, whose float32
 * rendering it reports as 16-bit precision; 1e-7 elsewhere), or the float32 one (the tfjs preset's),
 * where the backend is still starting (wasm, webgpu: float32 both).
 */
function backendEpsilon(): number {
  try {
    return tf.backend().epsilon();
  } catch {
    return PRESETS.tfjs.eps;
  }
}

const NONE: ReadonlySet<string> = new Set();

/** A view into tfjs-backend-wasm's heap where that backend runs now (see RMSPropWasmOptimizer.heapViews). */
const heapViewNow = () => currentHeapView(RMSPropWasmOptimizer.heapViews);

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

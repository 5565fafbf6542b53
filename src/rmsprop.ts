// RMSProp coordinates: `create` assembles (assemble.ts), `step` reads and checks its input
// (gradients.ts), clips (clipping.ts) and sends the kernel calls (kernel-calls.ts) on one thread or
// the pool's (threads.ts), save goes through state.ts, load through state-load.ts, and both through
// torch.ts for PyTorch's dict; its lifecycle (busy, broken, disposed) is lifecycle.ts's.
import {
  assembleAsync,
  assembleSync,
  compileForOptions,
  releaseParts,
  type Parts,
  type ReadyOptions,
} from './assemble.js';
import { releaseBackend, type Backend } from './backends.js';
import { Clipping } from './clipping.js';
import { StepGradients } from './gradients.js';
import { STEP_LOAD_AHEAD } from './kernel.js';
import { type LoadsAhead, loadsAheadFor } from './loads-ahead.js';
import {
  checkGroupIndex,
  readOptionChanges,
  type GradsInput,
  type CheckedGroups,
  type GroupNamesOf,
  type NamesOf,
  type ParamGroup,
  type ParamsInput,
} from './inputs.js';
import { overwriteWithAverages, setAverageStarts, startAverages, swapAverages } from './averages.js';
import {
  describeGroups,
  emptyViews,
  placeTensors,
  setGroupOptions,
  tensorViews,
  type Group,
  type Tensor,
  type TensorState,
  type TensorViews,
} from './tensors.js';
import {
  learningRates,
  type BackendName,
  type GroupInfo,
  type OptionChanges,
  type ResolvedOptions,
  type RMSPropOptions,
} from './options.js';
import { savedState, type LoadOptions, type SaveOptions, type SavedState } from './state.js';
import { checkCanStep, checkStepCount, readLoadOptions, readSavedState, restoredOptions } from './state-load.js';
import { writeTensorState } from './set-state.js';
import { DirectCalls, issueUpdates, JobQueue, type KernelCalls } from './kernel-calls.js';
import type { ThreadPool } from './threads.js';
import { fromTorch, toTorch, TORCH_OPTIONS, type TorchStateDict } from './torch.js';
import { Lifecycle } from './lifecycle.js';

/**
 * RMSProp over float32 parameters, updated by a wasm SIMD, scalar wasm or JS kernel. `Name` is the
 * union of its parameter names, inferred by `create` from the record (or array) you pass.
 */
export class RMSProp<Name extends string = string> {
  /** The backend in use. */
  readonly backend: BackendName;
  /** Why `backend: 'auto'` took a slower backend than `simd`, if it did. */
  readonly backendReason: string | undefined;
  /** Threads that share each large enough step (1: the calling thread alone); with `threads: 'auto'`, the most a step uses. */
  readonly threads: number;
  /** Why fewer threads than asked for are used, if they are. */
  readonly threadsReason: string | undefined;
  /**
   * Bytes the optimizer state takes: S, ḡ and m of every parameter, with the 8-bit format's block
   * scales (padding excluded). Depends on `stateFormat`, `centered` and `momentum`.
   */
  readonly stateBytes: number;
  /**
   * `stateBytes` per value of state (per element of S, ḡ or m): 4 with float32 state, 2 with
   * bfloat16, 1 + 4/1024 with 8 bits (a centered group's ḡ: 2), between them when small tensors
   * keep float32.
   */
  readonly stateBytesPerValue: number;

  #backend: Backend | undefined;
  #steps = 0;
  /** Counts the changes of state made through this object (steps, loads, setState, swapAverages, stepCount). */
  #revision = 0;
  /** Whether the last step that ran overwrote parameters with their averages. */
  #overwroteWithAverages = false;
  /** Whether an average waits for the next step to start it (Tensor.averageStarts): if not, a step skips the loop over the tensors that starts them. */
  #averagesWaiting = false;
  readonly #life = new Lifecycle();
  #pool: ThreadPool | undefined;
  /** Where a step's kernel calls go: run at once on this thread, or (a step the pool shares) into its job queue. */
  #direct: DirectCalls | undefined;
  #queue: JobQueue | undefined;
  #groupInfo: readonly GroupInfo[];
  #groups: readonly Group[];
  #tensors: readonly Tensor[];
  #heap: Float32Array;
  #heapWords: Uint32Array;
  #heap64: Float64Array;
  #views: TensorViews<Name>;
  // Per-step scratch, allocated once so that step() allocates nothing.
  readonly #gradients: StepGradients;
  readonly #clipping: Clipping;
  readonly #lrs: Float64Array;
  /** This call's learning rate, clip scale and whether it loads ahead, for writeStepConstants (see there why an array). */
  readonly #stepScalars = new Float64Array(3);
  /** Whether compressed state loads ahead, when its steps are worth timing for it. */
  readonly #loadsAhead: LoadsAhead | undefined;

  /**
   * Creates an optimizer for `params`: a record or an array (named '0', '1', …) of Float32Arrays,
   * which stay yours and are updated in place by every step, or of element counts, for parameters
   * that live in the optimizer's memory (`opt.params`) and are never copied. An array of
   * `{ params, ...options }` makes parameter groups (arrays in them numbered across the groups, as
   * PyTorch numbers them); `options` are then every group's defaults.
   * Async only because compiling wasm and starting worker threads are.
   */
  static async create<const P extends ParamsInput>(params: P, options?: RMSPropOptions): Promise<RMSProp<NamesOf<P>>>;
  static async create<const G extends readonly ParamGroup[]>(
    groups: CheckedGroups<G>,
    options?: RMSPropOptions,
  ): Promise<RMSProp<GroupNamesOf<G>>>;
  static async create(params: ParamsInput | readonly ParamGroup[], options?: RMSPropOptions): Promise<RMSProp> {
    return RMSProp.#construct(await assembleAsync(params, options));
  }

  /** The constructor, ending the workers (and freeing the heap) if it throws: a failed create leaves nothing running. */
  static #construct(parts: Parts): RMSProp {
    try {
      RMSProp.#constructing = true;
      return new RMSProp(parts);
    } catch (error) {
      releaseParts(parts);
      throw error;
    } finally {
      RMSProp.#constructing = false;
    }
  }

  /** True only while #construct calls `new`: the constructor is private in TypeScript, not in JavaScript. */
  static #constructing = false;

  /**
   * Compiles, once per runtime, every wasm build that `createSync` with these `options` can need at
   * any size: the backend's single-thread build (for `threads: 1`, for `'auto'` below its threshold,
   * and where threads are unavailable or do not fit), and its shared-memory build when `threads` is not 1, when
   * it also starts a worker once to learn whether this runtime refuses them. Each option is checked as
   * `create` checks it (the rules between options wait for `create`, where a group's may complete them). With `modules` (Cloudflare Workers: `import simd from 'rmsprop-wasm/simd.wasm'`),
   * the builds given run from then on, for every optimizer, in place of compiling the inlined bytes.
   */
  static async ready(options?: ReadyOptions): Promise<void> {
    await compileForOptions(options);
  }

  /**
   * `create`, synchronously, once `await RMSProp.ready(options)` has compiled its wasm (it throws
   * a `NotReadyError` saying so otherwise). For frameworks whose hooks are synchronous (TF.js'
   * `applyGradients`). Worker threads start in the background and join steps once running. Where
   * `ready` found workers refused, it takes one thread and `threadsReason` says why, as `create`
   * does; a worker that fails later makes steps throw (`create` waits for its workers, 10 s at most).
   */
  static createSync<const P extends ParamsInput>(params: P, options?: RMSPropOptions): RMSProp<NamesOf<P>>;
  static createSync<const G extends readonly ParamGroup[]>(
    groups: CheckedGroups<G>,
    options?: RMSPropOptions,
  ): RMSProp<GroupNamesOf<G>>;
  static createSync(params: ParamsInput | readonly ParamGroup[], options?: RMSPropOptions): RMSProp {
    return RMSProp.#construct(assembleSync(params, options));
  }

  private constructor(parts: Parts) {
    if (!RMSProp.#constructing) {
      throw new TypeError(
        'RMSProp has no public constructor: use `await RMSProp.create(params, options)` (or `RMSProp.createSync(params, options)` after `await RMSProp.ready(options)`)',
      );
    }
    RMSProp.#constructing = false; // one `new` per #construct
    const { backend, pool } = parts;
    this.#backend = backend;
    this.backend = backend.name;
    this.backendReason = parts.backendReason;
    this.#pool = pool;
    pool?.endWhenDropped(this); // an optimizer dropped without dispose() ends its workers when collected
    if (parts.specs[0].options.threads === 'auto') pool?.decideByTiming();
    this.threads = pool?.threads ?? 1;
    this.threadsReason = parts.threadsReason;
    this.#heap = new Float32Array(backend.buffer);
    this.#heapWords = new Uint32Array(backend.buffer);
    this.#heap64 = new Float64Array(backend.buffer, 0, Math.floor(backend.buffer.byteLength / 8));
    const { tensors, groups } = placeTensors(backend.buffer, parts.specs, parts.layout);
    this.#tensors = tensors;
    this.#groups = groups;
    this.#queue = pool && new JobQueue(pool, parts.layout.scratchAt);
    this.#direct = new DirectCalls(backend.kernel, parts.layout.scratchAt);
    this.stateBytes = parts.layout.stateBytes;
    this.stateBytesPerValue = parts.layout.stateBytesPerValue;
    this.#gradients = new StepGradients(tensors);
    this.#clipping = new Clipping(tensors.length);
    this.#lrs = new Float64Array(groups.length);
    this.#groupInfo = describeGroups(groups, tensors);
    this.#loadsAhead = loadsAheadFor(backend.name, groups);
    this.#views = tensorViews(tensors);
    this.#averagesWaiting = tensors.some((t) => t.averageStarts);
  }

  /**
   * Parameters by name: your arrays (bring-your-own) or views into the optimizer's memory
   * (zero-copy). After `dispose()`, zero-copy ones are empty (see there).
   */
  get params(): Readonly<Record<Name, Float32Array>> {
    this.#life.whole();
    return this.#views.params;
  }

  /** Gradient buffers by name, views into the optimizer's memory: `step()` without arguments reads them. */
  get grads(): Readonly<Record<Name, Float32Array>> {
    this.#life.whole();
    return this.#views.grads;
  }

  /** Optimizer state by name, views into the optimizer's memory (decoded copies where compressed). */
  get state(): Readonly<Record<Name, TensorState>> {
    this.#life.whole();
    return this.#views.state;
  }

  /**
   * Steps taken so far (skipped steps do not count). Setting it (an integer from 0 to 2^53 − 1,
   * else a TypeError or RangeError that changes nothing) restores a count kept elsewhere, as a
   * framework's checkpoint does; it is what bias correction and schedules read.
   */
  get stepCount(): number {
    this.#life.live();
    return this.#steps;
  }

  /** Restores a step count (see the getter); checked first, so that a refused one changes nothing. */
  set stepCount(count: number) {
    this.#life.exclusive('setting stepCount', () => {
      checkStepCount(count, 'stepCount');
      this.#steps = count + 0; // −0 counts as 0 (a schedule would be handed −0)
      this.#revision++;
    });
  }

  /** The first group's resolved options (all of them, for an optimizer without groups): options `create` takes. */
  get options(): ResolvedOptions {
    this.#life.live();
    return this.#groups[0].options;
  }

  /** Each group's resolved options, with the names of its parameters. */
  get groups(): readonly GroupInfo[] {
    this.#life.live();
    return this.#groupInfo;
  }

  /**
   * Changes options of group `groupIndex` between steps (say, `{ lr: 1e-4 }`). Options that fix the
   * memory layout or the meaning of the state (centered, momentum on/off, ema on/off,
   * initialSquareAvg, stateFormat, preset, the optimizer-wide ones) cannot change. A call that throws
   * changes nothing.
   */
  setOptions(groupIndex: number, changes: OptionChanges): void {
    this.#life.exclusive('setOptions()', () => {
      const index = checkGroupIndex(groupIndex, this.#groups.length);
      const group = this.#groups[index];
      setGroupOptions(group, readOptionChanges(group.options, changes, this.#groups.length > 1 ? index : undefined));
      this.#groupInfo = describeGroups(this.#groups, this.#tensors);
    });
  }

  /**
   * One RMSProp step. With `grads`, each named gradient is used for its parameter (a missing or
   * `null` one skips it); without, gradients are read from `opt.grads`. Input is checked before
   * anything is written, so a call that throws changes nothing. Returns false when the step was
   * skipped for a non-finite gradient (`nonFinite: 'skip'`), true otherwise.
   */
  step(grads?: GradsInput<Name>): boolean {
    this.#life.enter('step()');
    try {
      return this.#step(this.#backend!, grads);
    } finally {
      this.#life.leave();
      this.#gradients.forget();
    }
  }

  /**
   * The step, all or nothing: everything the caller gives (each gradient, the schedules' values,
   * the lengths of gradients and of bring-your-own parameters) is read once and checked before the
   * first write; from the first write on, nothing can throw.
   */
  #step(backend: Backend, grads: GradsInput<Name> | undefined): boolean {
    const tensors = this.#tensors;
    const gradients = this.#gradients;
    const present = gradients.present;
    gradients.read(grads);
    // Schedules are the caller's code: they run before the lengths are checked, since they could resize a buffer.
    const lrs = learningRates(this.#groups, this.#steps, this.#lrs);
    const elements = gradients.checkLengths();
    this.#pool?.check();
    checkCanStep(this.#steps);
    const pool = this.#pool;
    const threads = pool === undefined ? 1 : pool.beginStep(elements);
    const queue = threads > 1 ? this.#queue : undefined;
    const wide = this.#groups[0].options; // optimizer-wide options are the same in every group
    if (wide.nonFinite !== 'propagate' && !gradients.finite(backend.kernel, queue, wide.nonFinite === 'throw'))
      return false;
    gradients.copyIn(this.#heap.buffer);
    const clipping = this.#clipping.compute(backend.kernel, this.#heap64, tensors, this.#groups, present);
    const clipScale = this.#clipping.scale;
    const calls: KernelCalls = queue ?? this.#direct!;
    const loadsAhead = this.#loadsAhead;
    this.#stepScalars[STEP_LOAD_AHEAD] = loadsAhead === undefined ? 0 : loadsAhead.beforeStep(threads);
    issueUpdates(
      calls,
      this.#heap,
      this.#heapWords,
      this.#groups,
      tensors,
      present,
      lrs,
      clipping,
      clipScale,
      this.#steps + 1,
      this.#stepScalars,
    );
    if (queue) this.#runPool(queue);
    loadsAhead?.ran(elements);
    pool?.endStep(elements);
    gradients.copyOut();
    this.#steps++;
    this.#revision++;
    if (this.#averagesWaiting) {
      startAverages(tensors);
      this.#averagesWaiting = false;
    }
    this.#overwroteWithAverages = overwriteWithAverages(this.#groups, tensors, this.#steps);
    return true;
  }

  /**
   * Swaps every parameter with its moving average (the `ema` option), bit for bit: call it to
   * evaluate with the averaged weights and again to swap back, or once when training ends (Keras'
   * `finalize_variable_values`). Throws a RangeError, changing nothing, if no parameter keeps an average
   * or one has not started (before the first step, or the first after a load without it).
   */
  swapAverages(): void {
    this.#life.exclusive('swapAverages()', () => {
      swapAverages(this.#tensors);
      this.#revision++;
    });
  }

  /**
   * A versioned snapshot: step count, options and every state array. By default JSON-serialisable
   * (base64, in pieces past 48 MiB an array); with `{ arrays: 'float32' }` typed-array copies
   * (compressed state: its codes), for `encodeState` or a `loadState` elsewhere without any string.
   */
  saveState(options?: SaveOptions): SavedState {
    this.#life.live();
    return savedState(this.#steps, this.#groupInfo, this.#tensors, options);
  }

  /** @internal `encodeState(opt)`'s snapshot: views of this optimizer's memory, not copies, to be read at once. */
  stateViews(): SavedState {
    this.#life.live();
    return savedState(this.#steps, this.#groupInfo, this.#tensors, undefined, true);
  }

  /**
   * Restores a snapshot from `saveState()` (or `decodeState`). Everything is checked first (format
   * version, names, lengths, centered and momentum per group); on any mismatch it throws a
   * TypeError or RangeError saying what differs and changes nothing. Options stay as they are,
   * unless `{ restoreOptions: true }` (see `LoadOptions`).
   */
  loadState(saved: SavedState, options?: LoadOptions): void {
    this.#life.exclusive('loadState()', () => this.#load(saved, readLoadOptions(options, 'loadState')));
  }

  /** loadState's work; `where` and `savedNames` name a saved group and its options in errors (a torch dict's). */
  #load(
    saved: unknown,
    { restoreOptions }: Required<LoadOptions>,
    where?: (g: number) => string,
    savedNames?: Readonly<Record<string, string>>,
  ): void {
    const read = readSavedState(saved, this.#groupInfo, this.#tensors);
    const current = this.#groups.map((group) => group.options);
    const groupOptions = restoreOptions ? restoredOptions(read.options, current, where, savedNames) : undefined;
    for (const write of read.writes) write();
    this.#averagesWaiting = setAverageStarts(this.#tensors, read.averageStarts);
    this.#steps = read.stepCount;
    this.#revision++;
    if (groupOptions) {
      this.#groups.forEach((group, g) => setGroupOptions(group, groupOptions[g]));
      this.#groupInfo = describeGroups(this.#groups, this.#tensors);
    }
  }

  /**
   * Writes parameter `name`'s state from float32 values (`{ squareAvg?, gradAvg?, momentum?, average? }`,
   * each as long as the parameter; `average` with the ema option): copied with float32 state, encoded (rounded to nearest) with
   * compressed state, whose `state` views are copies. Checked first (the name, each array's kind and
   * length, squareAvg not negative: a NaN, which a run can make, is taken as `loadState` takes it): a
   * call that throws changes nothing.
   */
  setState(name: Name, values: { readonly [K in keyof TensorState]?: TensorState[K] | undefined }): void {
    this.#life.exclusive('setState()', () => {
      writeTensorState(this.#tensors, name, values);
      this.#revision++;
    });
  }

  /**
   * @internal Whether the last step that ran gave some parameters their averages (emaOverwriteEvery):
   * the TF.js drop-in then writes every variable back, not only those with a gradient.
   */
  get overwroteWithAverages(): boolean {
    return this.#overwroteWithAverages;
  }

  /**
   * @internal Counts the changes of state made through this object's methods (a step, loadState,
   * setState, swapAverages, fromTorchStateDict, setting stepCount), for a cache of the state to tell it is stale;
   * writes into the `state` views do not count.
   */
  get revision(): number {
    return this.#revision;
  }

  /**
   * @internal The parameters whose moving average (ema) is under way: started by a step, or loaded
   * (not one whose load had none, until the next step). The TF.js drop-in carries these to a new core.
   */
  startedAverages(): Name[] {
    this.#life.live();
    return this.#tensors.filter((t) => t.average && !t.averageStarts).map((t) => t.name as Name);
  }

  /** The state in the JSON form of PyTorch's `optimizer.state_dict()` (parameters numbered in order). */
  toTorchStateDict(): TorchStateDict {
    this.#life.live();
    return toTorch(this.#steps, this.#groupInfo, this.#tensors);
  }

  /**
   * Loads the JSON form of a PyTorch `optimizer.state_dict()`; checked like `loadState`. With
   * `{ restoreOptions: true }`, each group's lr, alpha (decay), eps, weight_decay, momentum and maximize too.
   */
  fromTorchStateDict(dict: TorchStateDict, options?: LoadOptions): void {
    this.#life.exclusive('fromTorchStateDict()', () => {
      const read = readLoadOptions(options, 'fromTorchStateDict');
      const saved = fromTorch(dict, this.#groupInfo, this.#tensors);
      this.#load(saved, read, (g) => `torch state dict: param_groups[${g}]`, TORCH_OPTIONS);
    });
  }

  /**
   * Ends the worker threads and lets the optimizer's memory go, even while this object is still
   * referenced; any later call throws, and so do `options`, `groups` and `stepCount` (a second
   * dispose does nothing; what create fixed, such as backend, threads and stateBytes, stays
   * readable). Without threads the memory is detached: every view the optimizer handed out
   * (zero-copy `params`, `grads`, `state`) becomes empty (length 0), so none keeps it alive. With threads it is a SharedArrayBuffer, which cannot
   * be detached: views you kept keep their values, and the memory, until you drop them.
   */
  dispose(): void {
    if (!this.#life.dispose()) return;
    const backend = this.#backend!;
    this.#backend = undefined;
    this.#pool?.dispose();
    this.#pool = undefined;
    this.#direct = undefined;
    this.#queue = undefined;
    releaseBackend(backend);
    // Drop every reference into the heap, so that this object keeps none of it alive.
    this.#views = emptyViews(this.#tensors);
    this.#tensors = [];
    this.#groups = [];
    this.#gradients.release();
    this.#heap = new Float32Array(0);
    this.#heapWords = new Uint32Array(0);
    this.#heap64 = new Float64Array(0);
  }

  /** @internal For tests of threads: the worker pool (undefined on one thread), with its test hooks. */
  get poolForTest(): ThreadPool | undefined {
    return this.#pool;
  }

  /** Runs the queued calls on the threads; a worker that fails among them leaves a torn step, which breaks this optimizer. */
  #runPool(queue: JobQueue): void {
    try {
      queue.run();
    } catch (error) {
      this.#life.break(`step ${this.#steps + 1} failed part way (${(error as Error).message})`);
      throw error;
    }
  }
}

import {
  backendChoice,
  compileBackend,
  createBackend,
  MAX_HEAP_BYTES,
  releaseBackend,
  type Backend,
} from './backends.js';
import { Clipping } from './clipping.js';
import { kernelMode, STEP_CLIP_SCALE, STEP_LR, transformBit, writeStepConstants } from './kernel.js';
import {
  checkFinite,
  checkLengths,
  copyIn,
  readGrads,
  readOptionChanges,
  readGroups,
  setArray,
  stagingViews,
  type GroupSpec,
  type ParamGroup,
  type ParamsInput,
} from './inputs.js';
import {
  describeGroups,
  placeTensors,
  planLayout,
  type Group,
  type Layout,
  type Tensor,
  type TensorState,
} from './layout.js';
import {
  checkLearningRate,
  MAX_THREADS,
  readOptions,
  type BackendName,
  type GroupInfo,
  type OptimizerWideOption,
  type ResolvedOptions,
  type RMSPropOptions,
} from './options.js';
import {
  checkStepCount,
  readSavedState,
  savedState,
  type SaveOptions,
  type SavedState,
  type TensorArrays,
} from './state.js';
import { CONTROL_BYTES, DirectCalls, JobQueue, threadSupport, ThreadPool, type KernelCalls } from './threads.js';
import { fromTorch, toTorch, type TorchStateDict } from './torch.js';

export type { ParamGroup, ParamInput, ParamsInput } from './inputs.js';
export type { TensorState } from './layout.js';

/** The parameter names of `P`: a record's keys, or an array's indices ('0', '1', …). */
export type NamesOf<P> = P extends readonly unknown[]
  ? number extends P['length']
    ? `${number}`
    : Exclude<keyof P, keyof unknown[]> & string
  : keyof P & string;
/** The parameter names of every group in `G`. */
export type GroupNamesOf<G extends readonly ParamGroup[]> = {
  [I in keyof G]: G[I] extends ParamGroup<infer P> ? NamesOf<P> : never;
}[number];

/** Gradients by parameter name; `null` or a missing name skips that parameter for this step. */
export type GradsInput<Name extends string = string> =
  | { readonly [N in Name]?: Float32Array | null | undefined }
  | readonly (Float32Array | null | undefined)[];

/** Below this, `threads: 'auto'` starts no workers: a step makes at most 4 chunks of MIN_CHUNK elements. */
const AUTO_THREADS_MIN_ELEMENTS = 16384;

function chooseThreads(
  requested: number | 'auto',
  backend: BackendName,
  elements: number,
): { threads: number; reason?: string } {
  if (requested === 1) return { threads: 1 };
  if (backend === 'js') return { threads: 1, reason: 'the js backend runs on the calling thread only' };
  if (requested === 'auto' && elements < AUTO_THREADS_MIN_ELEMENTS) {
    return {
      threads: 1,
      reason: `'auto' uses one thread below ${AUTO_THREADS_MIN_ELEMENTS} elements (this optimizer has ${elements}): too few to share`,
    };
  }
  const { cores, unavailable } = threadSupport();
  if (unavailable) return { threads: 1, reason: unavailable };
  if (requested !== 'auto') return { threads: requested };
  return cores > 1
    ? { threads: Math.min(cores, MAX_THREADS) }
    : { threads: 1, reason: 'this machine reports one core' };
}

/** Everything `create` decides before memory exists: the groups, the layout, the backend and threads. */
interface Plan {
  readonly specs: readonly GroupSpec[];
  readonly layout: Layout;
  readonly name: BackendName;
  readonly backendReason: string | undefined;
  readonly threads: number;
  readonly threadsReason: string | undefined;
}

function plan(params: unknown, options: RMSPropOptions | undefined): Plan {
  const specs = readGroups(params, options);
  const layout = planLayout(specs);
  if (layout.bytes > MAX_HEAP_BYTES) {
    throw new RangeError(
      `these parameters need ${layout.bytes} bytes of optimizer memory; WebAssembly memory holds at most ${MAX_HEAP_BYTES} bytes (4 GiB)`,
    );
  }
  const wide = specs[0].options;
  const { name, reason: backendReason } = backendChoice(wide.backend);
  const { threads, reason: threadsReason } = chooseThreads(wide.threads, name, layout.elements);
  return { specs, layout, name, backendReason, threads, threadsReason };
}

/** What the constructor takes: the plan, with its memory and its workers (if any). */
interface Parts extends Plan {
  readonly backend: Backend;
  readonly pool: ThreadPool | undefined;
}

/** Creates the plan's memory and starts its workers, if it has more than one thread; `ready` settles once they run. */
function assemble(planned: Plan): { parts: Parts; ready: Promise<void> | undefined } {
  const backend = createBackend(planned.name, planned.layout.bytes, planned.threads > 1);
  if (planned.threads === 1) return { parts: { ...planned, backend, pool: undefined }, ready: undefined };
  const { pool, ready } = ThreadPool.start(
    planned.threads,
    backend.shared!.module,
    backend.shared!.memory,
    backend.kernel,
    0,
    CONTROL_BYTES,
    planned.layout.jobInts,
  );
  return { parts: { ...planned, backend, pool }, ready };
}

/**
 * A frozen record of `pick(tensor)` by tensor name, with a null prototype: a parameter may be named
 * 'constructor' or '__proto__', and a name that is not a parameter finds nothing.
 */
function recordByName<Name extends string, T>(
  tensors: readonly Tensor[],
  pick: (t: Tensor) => T,
): Readonly<Record<Name, T>> {
  return Object.freeze(Object.setPrototypeOf(Object.fromEntries(tensors.map((t) => [t.name, pick(t)])), null));
}

/** What `setOptions` may change: every option but those fixed at create (see there). */
export type OptionChanges = Omit<RMSPropOptions, 'preset' | 'centered' | 'initialSquareAvg' | OptimizerWideOption>;

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

  #backend: Backend | undefined;
  #steps = 0;
  /** True while a step, loadState or setOptions runs: a schedule or getter that calls back in is refused. */
  #busy = false;
  /** Why a step was left part-written, after which only dispose() works: no torn state can leave. */
  #broken: string | undefined;
  #pool: ThreadPool | undefined;
  /** Where a step's kernel calls go: run at once on this thread, or (a step the pool shares) into its job queue. */
  #direct: DirectCalls | undefined;
  #queue: JobQueue | undefined;
  #groupInfo: readonly GroupInfo[];
  #groups: readonly Group[];
  #tensors: readonly Tensor[];
  readonly #byName: ReadonlyMap<string, number>;
  #heap: Float32Array;
  #heap64: Float64Array;
  #params: Readonly<Record<Name, Float32Array>>;
  #grads: Readonly<Record<Name, Float32Array>>;
  #state: Readonly<Record<Name, TensorState>>;
  // Per-step scratch, allocated once so that step() allocates nothing.
  readonly #present: Uint8Array;
  /** This step's gradient per tensor, read once from the caller (undefined: skipped). */
  readonly #sources: Array<Float32Array | undefined>;
  /** Per tensor, room for a gradient that is a view of this heap (see stagingViews). */
  #staging: readonly Float32Array[];
  readonly #clipping: Clipping;
  readonly #lrs: Float64Array;
  /** This call's learning rate and clip scale, for writeStepConstants (see there why an array). */
  readonly #stepScalars = new Float64Array(2);

  /**
   * Creates an optimizer for `params`: a record or an array (named '0', '1', …) of Float32Arrays,
   * which stay yours and are updated in place by every step, or of element counts, for parameters
   * that live in the optimizer's memory (`opt.params`) and are never copied. An array of
   * `{ params, ...options }` makes parameter groups; `options` are then every group's defaults.
   * Async only because compiling wasm and starting worker threads are.
   */
  static async create<const P extends ParamsInput>(params: P, options?: RMSPropOptions): Promise<RMSProp<NamesOf<P>>>;
  static async create<const G extends readonly ParamGroup[]>(
    groups: G,
    options?: RMSPropOptions,
  ): Promise<RMSProp<GroupNamesOf<G>>>;
  static async create(params: ParamsInput | readonly ParamGroup[], options?: RMSPropOptions): Promise<RMSProp> {
    let planned = plan(params, options);
    try {
      await compileBackend(planned.name, planned.threads > 1);
    } catch (error) {
      // A runtime may refuse to compile wasm although it validates it (a page's CSP without
      // 'wasm-unsafe-eval'): compileBackend records why, and 'auto' then falls back to js.
      if (planned.specs[0].options.backend !== 'auto') throw error;
      planned = {
        ...planned,
        name: 'js',
        backendReason: (error as Error).message,
        threads: 1,
        threadsReason: undefined,
      };
    }
    const { parts, ready } = assemble(planned);
    try {
      await ready;
    } catch (error) {
      // Workers refused (a page's CSP, a sandbox): one thread, saying why. ThreadPool has ended them.
      await compileBackend(planned.name);
      return RMSProp.#construct(assemble({ ...planned, threads: 1, threadsReason: (error as Error).message }).parts);
    }
    return RMSProp.#construct(parts);
  }

  /** The constructor, ending the workers (and freeing the heap) if it throws: a failed create leaves nothing running. */
  static #construct(parts: Parts): RMSProp {
    try {
      RMSProp.#constructing = true;
      return new RMSProp(parts);
    } catch (error) {
      parts.pool?.dispose();
      releaseBackend(parts.backend);
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
   * and where threads are unavailable), and its shared-memory build when `threads` is not 1. Options
   * are checked as `create` checks them.
   */
  static async ready(options?: Pick<RMSPropOptions, 'backend' | 'threads'>): Promise<void> {
    const read = readOptions(options ?? {});
    const { name } = backendChoice(read.backend ?? 'auto');
    const threads = read.threads ?? 1;
    const shared = threads !== 1 && threadSupport().unavailable === undefined;
    const single = threads === 1 || threads === 'auto' || !shared;
    await Promise.all([shared && compileBackend(name, true), single && compileBackend(name, false)]);
  }

  /**
   * `create`, synchronously, once `await RMSProp.ready(options)` has compiled its wasm (it throws
   * a `NotReadyError` saying so otherwise). For frameworks whose hooks are synchronous (TF.js'
   * `applyGradients`). Worker threads start in the background and join steps once running; if the
   * runtime refuses them, steps throw (use `create` to fall back to one thread instead).
   */
  static createSync<const P extends ParamsInput>(params: P, options?: RMSPropOptions): RMSProp<NamesOf<P>>;
  static createSync<const G extends readonly ParamGroup[]>(
    groups: G,
    options?: RMSPropOptions,
  ): RMSProp<GroupNamesOf<G>>;
  static createSync(params: ParamsInput | readonly ParamGroup[], options?: RMSPropOptions): RMSProp {
    const { parts, ready } = assemble(plan(params, options));
    ready?.catch(() => {}); // a refusal marks the pool dead, and the next step says why
    return RMSProp.#construct(parts);
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
    this.#heap64 = new Float64Array(backend.buffer, 0, Math.floor(backend.buffer.byteLength / 8));
    const { tensors, groups } = placeTensors(backend.buffer, parts.specs, parts.layout);
    this.#tensors = tensors;
    this.#groups = groups;
    this.#queue = pool && new JobQueue(pool);
    this.#direct = new DirectCalls(backend.kernel);
    this.#byName = new Map(tensors.map((t, i) => [t.name, i]));
    this.#present = new Uint8Array(tensors.length);
    this.#sources = new Array<Float32Array | undefined>(tensors.length).fill(undefined);
    this.#staging = stagingViews(tensors);
    this.#clipping = new Clipping(tensors.length);
    this.#lrs = new Float64Array(groups.length);
    this.#groupInfo = describeGroups(this.#groups, this.#tensors);
    this.#params = recordByName(tensors, (t) => t.external ?? t.param);
    this.#grads = recordByName(tensors, (t) => t.grad);
    this.#state = recordByName(tensors, (t) => t.state);
  }

  /**
   * Parameters by name: your arrays (bring-your-own) or views into the optimizer's memory
   * (zero-copy). After `dispose()`, zero-copy ones are empty (see there).
   */
  get params(): Readonly<Record<Name, Float32Array>> {
    this.#whole();
    return this.#params;
  }

  /** Gradient buffers by name, views into the optimizer's memory: `step()` without arguments reads them. */
  get grads(): Readonly<Record<Name, Float32Array>> {
    this.#whole();
    return this.#grads;
  }

  /** Optimizer state by name, views into the optimizer's memory. */
  get state(): Readonly<Record<Name, TensorState>> {
    this.#whole();
    return this.#state;
  }

  /**
   * Steps taken so far (skipped steps do not count). Setting it (an integer from 0 to 2^53 − 1,
   * else a TypeError or RangeError that changes nothing) restores a count kept elsewhere, as a
   * framework's checkpoint does; it is what bias correction and schedules read.
   */
  get stepCount(): number {
    this.#live();
    return this.#steps;
  }

  /** Restores a step count (see the getter); checked first, so that a refused one changes nothing. */
  set stepCount(count: number) {
    this.#enter('stepCount');
    try {
      checkStepCount(count, 'stepCount');
      this.#steps = count;
    } finally {
      this.#busy = false;
    }
  }

  /** The first group's resolved options (all of them, for an optimizer without groups). */
  get options(): ResolvedOptions {
    return this.groups[0];
  }

  /** Each group's resolved options, with the names of its parameters. */
  get groups(): readonly GroupInfo[] {
    this.#live();
    return this.#groupInfo;
  }

  /**
   * Changes options of group `groupIndex` between steps (say, `{ lr: 1e-4 }`). Options that fix the
   * memory layout or the meaning of the state (centered, momentum on/off, initialSquareAvg, preset,
   * and the optimizer-wide ones) cannot change. Checked first: a call that throws changes nothing.
   */
  setOptions(groupIndex: number, changes: OptionChanges): void {
    this.#enter('setOptions');
    try {
      if (!Number.isInteger(groupIndex) || groupIndex < 0 || groupIndex >= this.#groups.length) {
        throw new RangeError(`groupIndex must be an integer from 0 to ${this.#groups.length - 1}, got ${groupIndex}`);
      }
      const group = this.#groups[groupIndex];
      const next = readOptionChanges(group.options, changes);
      group.options = next;
      group.mode = kernelMode(next);
      group.clipValueArg = next.clipValue;
      this.#groupInfo = describeGroups(this.#groups, this.#tensors);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * One RMSProp step. With `grads`, each named gradient is used for its parameter (a missing or
   * `null` one skips it); without, gradients are read from `opt.grads`. Input is checked before
   * anything is written, so a call that throws changes nothing. Returns false when the step was
   * skipped for a non-finite gradient (`nonFinite: 'skip'`), true otherwise.
   */
  step(grads?: GradsInput<Name>): boolean {
    const backend = this.#enter('step');
    try {
      return this.#step(backend, grads);
    } finally {
      this.#busy = false;
      this.#sources.fill(undefined); // hold no caller array between steps
    }
  }

  /**
   * The step, all or nothing: everything the caller gives (each gradient, the schedules' values,
   * the lengths of gradients and of bring-your-own parameters) is read once and checked before the
   * first write; from the first write on, nothing can throw.
   */
  #step(backend: Backend, grads: GradsInput<Name> | undefined): boolean {
    const tensors = this.#tensors;
    const present = this.#present;
    const sources = this.#sources;
    if (grads === undefined) {
      for (let i = 0; i < tensors.length; i++) sources[i] = tensors[i].grad;
    } else {
      readGrads(grads, tensors, this.#byName, sources);
    }
    // Schedules are the caller's code: they run before the lengths are checked, since they could resize a buffer.
    const lrs = this.#learningRates();
    checkLengths(tensors, sources);
    this.#pool?.check();
    if (this.#steps === Number.MAX_SAFE_INTEGER) {
      throw new RangeError(
        `stepCount is ${this.#steps} (2^53 − 1), the largest a number counts exactly; load a saved state with a smaller stepCount to go on`,
      );
    }
    let elements = 0;
    for (let i = 0; i < tensors.length; i++) {
      present[i] = sources[i] === undefined ? 0 : 1;
      elements += present[i] * tensors[i].length;
    }
    const pool = this.#pool;
    const queue = pool !== undefined && pool.beginStep(elements) > 1 ? this.#queue : undefined;
    const wide = this.#groups[0].options; // optimizer-wide options are the same in every group
    if (
      wide.nonFinite !== 'propagate' &&
      !checkFinite(tensors, sources, backend.kernel, queue, wide.nonFinite === 'throw')
    )
      return false;
    copyIn(tensors, sources, this.#staging, this.#heap.buffer);
    const clipping = this.#clipping.compute(backend.kernel, this.#heap64, tensors, this.#groups, present);
    const clipScale = this.#clipping.scale;
    const calls: KernelCalls = queue ?? this.#direct!;
    const stepNumber = this.#steps + 1;
    const scalars = this.#stepScalars;
    for (let g = 0; g < this.#groups.length; g++) {
      const group = this.#groups[g];
      scalars[STEP_LR] = lrs[g];
      scalars[STEP_CLIP_SCALE] = clipping === 'global' ? clipScale[group.first] : 1;
      writeStepConstants(this.#heap, group.constantsAt / 4, group.options, stepNumber, scalars);
      let whole = clipping !== 'per tensor';
      for (let i = group.first; i < group.first + group.count; i++) if (!present[i]) whole = false;
      if (whole) {
        calls.update(
          group.mode | transformBit(group.options, scalars),
          group.base,
          0,
          group.paddedLength,
          group.constantsAt,
        );
        continue;
      }
      for (let i = group.first; i < group.first + group.count; i++) {
        if (!present[i]) continue;
        const tensor = tensors[i];
        let constantsAt = group.constantsAt;
        if (clipping === 'per tensor') {
          scalars[STEP_CLIP_SCALE] = clipScale[i];
          writeStepConstants(this.#heap, tensor.constantsAt / 4, group.options, stepNumber, scalars);
          constantsAt = tensor.constantsAt;
        }
        calls.update(
          group.mode | transformBit(group.options, scalars),
          group.base,
          tensor.offset,
          tensor.length,
          constantsAt,
        );
      }
    }
    if (queue) this.#runPool(queue);
    pool?.endStep(elements);
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      if (present[i] && t.external) setArray(t.external, t.param);
    }
    this.#steps++;
    return true;
  }

  /**
   * A versioned snapshot: step count, options and every state array. By default JSON-serialisable
   * (base64 float32, in pieces past 192 MiB an array); with `{ arrays: 'float32' }` the arrays are
   * Float32Array copies, for `encodeState` or a `loadState` elsewhere without any string.
   */
  saveState(options?: SaveOptions): SavedState {
    this.#live();
    return savedState(this.#steps, this.#groupInfo, this.#tensorArrays(), options);
  }

  /**
   * Restores a snapshot from `saveState()` (or `decodeState`). Everything is checked first (format
   * version, names, lengths, centered and momentum per group); on any mismatch it throws a
   * TypeError or RangeError saying what differs and changes nothing. Options stay as they are.
   */
  loadState(saved: SavedState): void {
    this.#enter('loadState');
    try {
      const { stepCount, arrays } = readSavedState(saved, this.#groupInfo, this.#tensorArrays());
      for (const [target, source] of arrays) target.set(source);
      this.#steps = stepCount;
    } finally {
      this.#busy = false;
    }
  }

  /** The state in the JSON form of PyTorch's `optimizer.state_dict()` (parameters numbered in order). */
  toTorchStateDict(): TorchStateDict {
    this.#live();
    return toTorch(this.#steps, this.#groupInfo, this.#tensorArrays());
  }

  /** Loads the JSON form of a PyTorch `optimizer.state_dict()`; checked like `loadState`. */
  fromTorchStateDict(dict: TorchStateDict): void {
    this.#enter('fromTorchStateDict');
    let saved: SavedState;
    try {
      saved = fromTorch(dict, this.#groupInfo, this.#tensorArrays());
    } finally {
      this.#busy = false;
    }
    this.loadState(saved);
  }

  /**
   * Ends the worker threads and lets the optimizer's memory go, even while this object is still
   * referenced; any later use throws (a second dispose does nothing). Without threads the memory is
   * detached: every view the optimizer handed out (zero-copy `params`, `grads`, `state`) becomes
   * empty (length 0), so none keeps it alive. With threads it is a SharedArrayBuffer, which cannot
   * be detached: views you kept keep their values, and the memory, until you drop them.
   */
  dispose(): void {
    if (this.#busy)
      throw new Error(
        'dispose() was called during a step, loadState or setOptions of this optimizer (from a schedule or a getter); it was not disposed',
      );
    const backend = this.#backend;
    if (!backend) return;
    this.#backend = undefined;
    this.#broken = undefined;
    this.#pool?.dispose();
    this.#pool = undefined;
    this.#direct = undefined;
    this.#queue = undefined;
    releaseBackend(backend);
    // Drop every reference into the heap, so that this object keeps none of it alive.
    const empty = new Float32Array(0);
    const tensors = this.#tensors;
    this.#params = recordByName(tensors, (t) => t.external ?? empty);
    this.#grads = recordByName(tensors, () => empty);
    this.#state = recordByName(tensors, (t) =>
      Object.freeze({
        squareAvg: empty,
        ...(t.state.gradAvg && { gradAvg: empty }),
        ...(t.state.momentum && { momentum: empty }),
      }),
    );
    this.#tensors = [];
    this.#groups = [];
    this.#staging = [];
    this.#heap = empty;
    this.#heap64 = new Float64Array(0);
  }

  /** @internal For tests: chunks of steps that worker threads have run. */
  get workerChunksForTest(): number {
    return this.#pool?.workerChunks ?? 0;
  }

  /**
   * @internal For tests of threads: 'auto': every step runs on `threads` threads (1 or `this.threads`;
   * 0: as its timing decides). Returns how many trials its timing has made so far.
   */
  forceThreadsForTest(threads: number): number {
    this.#pool?.forceThreadsForTest(threads);
    return this.#pool?.trialsForTest ?? 0;
  }

  /** @internal For tests of a crashed worker: ends worker thread `index` (1-based). */
  async killWorkerForTest(index: number): Promise<void> {
    await this.#pool?.killWorkerForTest(index);
  }

  /**
   * @internal For tests of a slow worker: worker thread `index` (1-based) sleeps `ms` inside the
   * next chunk it takes (with `ms` < 0, throws there). Returns whether it has taken that chunk yet.
   */
  stallWorkerForTest(index: number, ms: number): () => boolean {
    const pool = this.#pool!;
    pool.stallWorkerForTest(index, ms);
    return () => pool.stalledForTest;
  }

  /** Runs the queued calls on the threads; a worker that fails among them leaves a torn step, which breaks this optimizer. */
  #runPool(queue: JobQueue): void {
    try {
      queue.run();
    } catch (error) {
      this.#broken = `step ${this.#steps + 1} failed part way (${(error as Error).message})`;
      throw error;
    }
  }

  /** Fills #lrs with this step's learning rate per group, evaluating schedules once and checking their values. */
  #learningRates(): Float64Array {
    for (let g = 0; g < this.#groups.length; g++) {
      const { options } = this.#groups[g];
      const lr = options.lr;
      this.#lrs[g] = typeof lr === 'number' ? lr : checkLearningRate(lr(this.#steps), options, g, this.#steps);
    }
    return this.#lrs;
  }

  #tensorArrays(): TensorArrays[] {
    return this.#tensors.map((t) => ({ name: t.name, group: t.group, length: t.length, state: t.state }));
  }

  #live(): Backend {
    if (!this.#backend) throw new Error('this RMSProp optimizer was disposed');
    this.#whole();
    return this.#backend;
  }

  /** Throws once a step was left part-written (see #runPool). */
  #whole(): void {
    if (this.#broken !== undefined) {
      throw new Error(
        `this RMSProp optimizer is broken: its ${this.#broken}, so its parameters and state are torn; every use but dispose() throws. Dispose it and restore a state saved before`,
      );
    }
  }

  /**
   * Starts a call that writes (step, loadState, setOptions): one that comes from inside another
   * (a schedule or a getter of the caller's calling back in) is refused before it reads anything,
   * and the outer call goes on as if it had not been made. The caller resets #busy in a finally.
   */
  #enter(what: string): Backend {
    const backend = this.#live();
    if (this.#busy) {
      throw new Error(
        `${what}() was called during a step, loadState or setOptions of this optimizer (from a schedule or a getter); it changed nothing`,
      );
    }
    this.#busy = true;
    return backend;
  }
}

import { backendChoice, compileBackend, createBackend, MAX_HEAP_BYTES, releaseBackend, type Backend } from './backends.js';
import { kernelMode, REDUCTION_BLOCK, STEP_CLIP_SCALE, STEP_LR, transformBit, writeStepConstants } from './kernel.js';
import {
  allFinite, arrayBuffer, arrayLength, checkLengths, firstNonFinite, readGrads, readGroups, setArray,
  type GroupSpec, type ParamGroup, type ParamsInput,
} from './inputs.js';
import { planLayout, type Layout, type Region } from './layout.js';
import {
  checkLearningRate, MAX_THREADS, OPTIMIZER_WIDE, readOptions, resolveOptions,
  type BackendName, type GroupInfo, type OptimizerWideOption, type ResolvedOptions, type RMSPropOptions,
} from './options.js';
import { checkStepCount, readSavedState, savedState, type SaveOptions, type SavedState, type TensorArrays } from './state.js';
import { CALL_INTS, CONTROL_BYTES, SCAN_MODE, threadSupport, ThreadPool } from './threads.js';
import { fromTorch, toTorch, type TorchStateDict } from './torch.js';

export type { ParamGroup, ParamInput, ParamsInput } from './inputs.js';

/** The parameter names of `P`: a record's keys, or an array's indices ('0', '1', …). */
export type NamesOf<P> = P extends readonly unknown[]
  ? number extends P['length'] ? `${number}` : Exclude<keyof P, keyof unknown[]> & string
  : keyof P & string;
/** The parameter names of every group in `G`. */
export type GroupNamesOf<G extends readonly ParamGroup[]> = { [I in keyof G]: G[I] extends ParamGroup<infer P> ? NamesOf<P> : never }[number];

/** Gradients by parameter name; `null` or a missing name skips that parameter for this step. */
export type GradsInput<Name extends string = string> =
  | { readonly [N in Name]?: Float32Array | null | undefined }
  | readonly (Float32Array | null | undefined)[];

/** One parameter's optimizer state: views into the optimizer's memory. */
export interface TensorState {
  /** The running average of squared gradients, S. */
  readonly squareAvg: Float32Array;
  /** The running average of gradients, ḡ (`centered` only). */
  readonly gradAvg?: Float32Array;
  /** The momentum buffer (`momentum` > 0 only). */
  readonly momentum?: Float32Array;
}

interface Tensor {
  readonly name: string;
  readonly length: number;
  readonly group: number;
  /** Element offset inside each region of its group (a multiple of 4: every array is 16-byte aligned). */
  readonly offset: number;
  /** The caller's array for a bring-your-own parameter; the heap copy is synced around each step. */
  readonly external: Float32Array | undefined;
  readonly param: Float32Array;
  readonly grad: Float32Array;
  readonly state: TensorState;
  /** Byte offsets of this tensor's own constants block and of its reduction block sums. */
  readonly constantsAt: number;
  readonly sumsAt: number;
}

interface Group {
  options: ResolvedOptions;
  mode: number;
  /**
   * options.clipValue as sumSquares' argument, kept as a heap number: a double passed to a call V8
   * does not inline (the js kernel's) is boxed anew at every call, 16 bytes, unless it is one
   * already. The field first holds null, so that V8 keeps it tagged rather than unboxed.
   */
  clipValueArg: number | null;
  /** Tensors first … first + count − 1 belong to this group. */
  readonly first: number;
  readonly count: number;
  readonly paddedLength: number;
  /** Byte offset of each region: the group's tensors back to back, so one kernel call covers them all. */
  readonly base: Readonly<Record<Region, number>>;
  readonly constantsAt: number;
}

/**
 * With `threads: 'auto'`, an optimizer of fewer elements runs on the calling thread alone (no
 * workers, no shared memory): its steps make at most 4 chunks of MIN_CHUNK elements. From this
 * size 'auto' starts workers, and each step takes one thread or all, whichever timing its own
 * steps found faster (see AutoThreads in threads.ts).
 */
const AUTO_THREADS_MIN_ELEMENTS = 16384;

function chooseThreads(requested: number | 'auto', backend: BackendName, elements: number): { threads: number; reason?: string } {
  if (requested === 1) return { threads: 1 };
  if (backend === 'js') return { threads: 1, reason: 'the js backend runs on the calling thread only' };
  if (requested === 'auto' && elements < AUTO_THREADS_MIN_ELEMENTS) {
    return { threads: 1, reason: `'auto' uses one thread below ${AUTO_THREADS_MIN_ELEMENTS} elements (this optimizer has ${elements}): too few to share` };
  }
  const { cores, unavailable } = threadSupport();
  if (unavailable) return { threads: 1, reason: unavailable };
  if (requested !== 'auto') return { threads: requested };
  return cores > 1 ? { threads: Math.min(cores, MAX_THREADS) } : { threads: 1, reason: 'this machine reports one core' };
}

/** Everything `create` decides before memory exists: the groups, the layout, the backend and threads. */
function plan(params: unknown, options: RMSPropOptions | undefined) {
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

/**
 * A frozen record of `pick(tensor)` by tensor name, with a null prototype: a parameter may be named
 * 'constructor' or '__proto__', and a name that is not a parameter finds nothing.
 */
function recordByName<Name extends string, T>(tensors: readonly Tensor[], pick: (t: Tensor) => T): Readonly<Record<Name, T>> {
  return Object.freeze(Object.setPrototypeOf(Object.fromEntries(tensors.map((t) => [t.name, pick(t)])), null));
}

/** Options whose change would change the memory layout or the meaning of the state. */
type FixedOption = 'preset' | 'centered' | 'initialSquareAvg' | OptimizerWideOption;
const FIXED_AFTER_CREATE: readonly FixedOption[] = ['preset', 'centered', 'initialSquareAvg', ...OPTIMIZER_WIDE];
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
  /** Kernel calls queued for the thread pool in this step; -1 when calls run at once. */
  #queued = -1;
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
  /**
   * Per tensor, room for a gradient that is a view of this optimizer's own memory, copied aside
   * before any gradient is written (see #copyIn). Reserved at create, so that memory never grows in
   * a step; untouched until such a step, it takes address space rather than memory.
   */
  #staging: readonly Float32Array[];
  readonly #clipScale: Float64Array;
  /** Per tensor: its gradient norm was NaN or ∞, so clipping leaves it unscaled (see #clip). */
  readonly #unscaled: Uint8Array;
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
  static async create<const G extends readonly ParamGroup[]>(groups: G, options?: RMSPropOptions): Promise<RMSProp<GroupNamesOf<G>>>;
  static async create(params: ParamsInput | readonly ParamGroup[], options?: RMSPropOptions): Promise<RMSProp> {
    const planned = plan(params, options);
    const { specs, layout, name } = planned;
    let { backendReason, threads, threadsReason } = planned;
    let backendName = name;
    try {
      await compileBackend(name, threads > 1);
    } catch (error) {
      // A runtime may refuse to compile wasm although it validates it (a page's CSP without
      // 'wasm-unsafe-eval'): compileBackend records why, and 'auto' then falls back to js.
      if (specs[0].options.backend !== 'auto') throw error;
      backendName = 'js';
      backendReason = (error as Error).message;
      threads = 1;
      threadsReason = undefined;
    }
    const backend = createBackend(backendName, layout.bytes, threads > 1);
    if (threads === 1) return RMSProp.#construct(backend, specs, layout, undefined, threadsReason, backendReason);
    const { pool, ready } = ThreadPool.start(threads, backend.shared!.module, backend.shared!.memory, backend.kernel, 0, CONTROL_BYTES, layout.jobInts);
    try {
      await ready;
    } catch (error) {
      // Workers refused (a page's CSP, a sandbox): one thread, saying why. ThreadPool has ended them.
      await compileBackend(backend.name);
      const single = createBackend(backend.name, layout.bytes);
      return RMSProp.#construct(single, specs, layout, undefined, (error as Error).message, backendReason);
    }
    return RMSProp.#construct(backend, specs, layout, pool, threadsReason, backendReason);
  }

  /** The constructor, ending the workers (and freeing the heap) if it throws: a failed create leaves nothing running. */
  static #construct(
    backend: Backend, specs: readonly GroupSpec[], layout: Layout,
    pool: ThreadPool | undefined, threadsReason: string | undefined, backendReason: string | undefined,
  ): RMSProp {
    try {
      RMSProp.#constructing = true;
      return new RMSProp(backend, specs, layout, pool, threadsReason, backendReason);
    } catch (error) {
      pool?.dispose();
      releaseBackend(backend);
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
  static createSync<const G extends readonly ParamGroup[]>(groups: G, options?: RMSPropOptions): RMSProp<GroupNamesOf<G>>;
  static createSync(params: ParamsInput | readonly ParamGroup[], options?: RMSPropOptions): RMSProp {
    const { specs, layout, name, backendReason, threads, threadsReason } = plan(params, options);
    const backend = createBackend(name, layout.bytes, threads > 1);
    if (threads === 1) return RMSProp.#construct(backend, specs, layout, undefined, threadsReason, backendReason);
    const { pool, ready } = ThreadPool.start(threads, backend.shared!.module, backend.shared!.memory, backend.kernel, 0, CONTROL_BYTES, layout.jobInts);
    ready.catch(() => {}); // a refusal marks the pool dead, and the next step says why
    return RMSProp.#construct(backend, specs, layout, pool, threadsReason, backendReason);
  }

  private constructor(
    backend: Backend, specs: readonly GroupSpec[], layout: Layout,
    pool: ThreadPool | undefined, threadsReason: string | undefined, backendReason: string | undefined,
  ) {
    if (!RMSProp.#constructing) {
      throw new TypeError('RMSProp has no public constructor: use `await RMSProp.create(params, options)` (or `RMSProp.createSync(params, options)` after `await RMSProp.ready(options)`)');
    }
    RMSProp.#constructing = false; // one `new` per #construct
    this.#backend = backend;
    this.backend = backend.name;
    this.backendReason = backendReason;
    this.#pool = pool;
    pool?.endWhenDropped(this); // an optimizer dropped without dispose() ends its workers when collected
    if (specs[0].options.threads === 'auto') pool?.decideByTiming();
    this.threads = pool?.threads ?? 1;
    this.threadsReason = threadsReason;
    this.#heap = new Float32Array(backend.buffer);
    this.#heap64 = new Float64Array(backend.buffer, 0, Math.floor(backend.buffer.byteLength / 8));
    const tensors: Tensor[] = [];
    this.#groups = specs.map((spec, g) => {
      const { base, paddedLength, constantsAt, tensors: placed } = layout.groups[g];
      const view = (region: Region, offset: number, length: number) => new Float32Array(backend.buffer, base[region] + offset * 4, length);
      const first = tensors.length;
      spec.entries.forEach(([name, value], i) => {
        const { offset, length } = placed[i];
        // The caller's code ran while create awaited: an array may have been detached or resized since it was read.
        if (typeof value !== 'number' && arrayLength(value) !== length) {
          throw new RangeError(`parameter '${name}' now has ${arrayLength(value)} elements, it had ${length} when create read it: its buffer was detached, shrunk or grown`);
        }
        const tensor: Tensor = {
          name, length, group: g, offset,
          external: typeof value === 'number' ? undefined : value,
          param: view('param', offset, length),
          grad: view('grad', offset, length),
          state: Object.freeze({
            squareAvg: view('squareAvg', offset, length),
            ...(spec.options.centered && { gradAvg: view('gradAvg', offset, length) }),
            ...(spec.options.momentum !== 0 && { momentum: view('momentum', offset, length) }),
          }),
          constantsAt: placed[i].constantsAt,
          sumsAt: placed[i].sumsAt,
        };
        if (tensor.external) tensor.param.set(tensor.external);
        tensors.push(tensor);
      });
      // Fresh memory is zero already: filling it anyway would touch every page of a large optimizer.
      if (spec.options.initialSquareAvg !== 0) this.#heap.fill(spec.options.initialSquareAvg, base.squareAvg / 4, base.squareAvg / 4 + paddedLength);
      const group: Group = { options: spec.options, mode: kernelMode(spec.options), clipValueArg: null, first, count: tensors.length - first, paddedLength, base, constantsAt };
      group.clipValueArg = spec.options.clipValue;
      return group;
    });
    this.#tensors = tensors;
    this.#byName = new Map(tensors.map((t, i) => [t.name, i]));
    this.#present = new Uint8Array(tensors.length);
    this.#sources = new Array<Float32Array | undefined>(tensors.length).fill(undefined);
    const staging = new ArrayBuffer(tensors.reduce((sum, t) => sum + t.length, 0) * 4);
    let stagedAt = 0;
    this.#staging = tensors.map((t) => new Float32Array(staging, (stagedAt += t.length * 4) - t.length * 4, t.length));
    this.#clipScale = new Float64Array(tensors.length);
    this.#unscaled = new Uint8Array(tensors.length);
    this.#lrs = new Float64Array(this.#groups.length);
    this.#groupInfo = this.#describeGroups();
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
      const read = readOptions(changes, 'changes');
      for (const name of FIXED_AFTER_CREATE) {
        if (Object.hasOwn(read, name)) throw new TypeError(`option '${name}' is fixed when the optimizer is created`);
      }
      const group = this.#groups[groupIndex];
      const next = resolveOptions({ ...group.options, ...read });
      if ((next.momentum === 0) !== (group.options.momentum === 0)) {
        throw new RangeError(`option 'momentum' cannot switch between 0 and non-zero after create (got ${next.momentum}, was ${group.options.momentum})`);
      }
      group.options = next;
      group.mode = kernelMode(next);
      group.clipValueArg = next.clipValue;
      this.#groupInfo = this.#describeGroups();
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
      throw new RangeError(`stepCount is ${this.#steps} (2^53 − 1), the largest a number counts exactly; load a saved state with a smaller stepCount to go on`);
    }
    for (let i = 0; i < tensors.length; i++) present[i] = sources[i] === undefined ? 0 : 1;
    const wide = this.#groups[0].options; // optimizer-wide options are the same in every group
    if (wide.nonFinite !== 'propagate' && !this.#allFinite(backend, wide.nonFinite === 'throw')) return false;
    this.#copyIn();
    const clipping = this.#clip(backend);
    const stepNumber = this.#steps + 1;
    this.#queued = this.#pool ? 0 : -1;
    const scalars = this.#stepScalars;
    for (let g = 0; g < this.#groups.length; g++) {
      const group = this.#groups[g];
      scalars[STEP_LR] = lrs[g];
      scalars[STEP_CLIP_SCALE] = clipping === 'global' ? this.#clipScale[group.first] : 1;
      writeStepConstants(this.#heap, group.constantsAt / 4, group.options, stepNumber, scalars);
      let whole = clipping !== 'per tensor';
      for (let i = group.first; i < group.first + group.count; i++) if (!present[i]) whole = false;
      if (whole) {
        this.#run(backend, group, group.mode | transformBit(group.options, scalars), 0, group.paddedLength, group.constantsAt);
        continue;
      }
      for (let i = group.first; i < group.first + group.count; i++) {
        if (!present[i]) continue;
        const tensor = tensors[i];
        let constantsAt = group.constantsAt;
        if (clipping === 'per tensor') {
          scalars[STEP_CLIP_SCALE] = this.#clipScale[i];
          writeStepConstants(this.#heap, tensor.constantsAt / 4, group.options, stepNumber, scalars);
          constantsAt = tensor.constantsAt;
        }
        this.#run(backend, group, group.mode | transformBit(group.options, scalars), tensor.offset, tensor.length, constantsAt);
      }
    }
    if (this.#queued > 0) this.#runPool(this.#queued);
    this.#queued = -1;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      if (present[i] && t.external) setArray(t.external, t.param);
    }
    this.#steps++;
    return true;
  }

  /**
   * Copies this step's gradients and bring-your-own parameters into the heap, as if every one were
   * read before any is written: a gradient that is a view of this optimizer's memory (another
   * tensor's `opt.grads`, as in `step({ a: opt.grads.b, b: opt.grads.a })`) is staged first, since
   * writing a gradient slot could overwrite it. A caller's own arrays are never written here.
   */
  #copyIn(): void {
    const tensors = this.#tensors;
    const sources = this.#sources;
    const heap = this.#heap.buffer;
    for (let i = 0; i < tensors.length; i++) {
      const source = sources[i];
      if (source !== undefined && source !== tensors[i].grad && arrayBuffer(source) === heap) this.#staging[i].set(source);
    }
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      const source = sources[i];
      if (source === undefined) continue;
      if (source !== t.grad) t.grad.set(arrayBuffer(source) === heap ? this.#staging[i] : source);
      if (t.external) t.param.set(t.external);
    }
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
    if (this.#busy) throw new Error('dispose() was called during a step, loadState or setOptions of this optimizer (from a schedule or a getter); it was not disposed');
    const backend = this.#backend;
    if (!backend) return;
    this.#backend = undefined;
    this.#broken = undefined;
    this.#pool?.dispose();
    this.#pool = undefined;
    releaseBackend(backend);
    // Drop every reference into the heap, so that this object keeps none of it alive.
    const empty = new Float32Array(0);
    const tensors = this.#tensors;
    this.#params = recordByName(tensors, (t) => t.external ?? empty);
    this.#grads = recordByName(tensors, () => empty);
    this.#state = recordByName(tensors, (t) => Object.freeze({ squareAvg: empty, ...(t.state.gradAvg && { gradAvg: empty }), ...(t.state.momentum && { momentum: empty }) }));
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

  /** Runs the update (`mode`, see src/kernel.ts) over `length` elements of every region of `group`, starting at element `offset`. */
  #run(backend: Backend, group: Group, mode: number, offset: number, length: number, constantsAt: number): void {
    const { base } = group;
    const at = offset * 4;
    if (this.#queued < 0) {
      backend.kernel.step(mode, length, base.param + at, base.grad + at, base.squareAvg + at, base.gradAvg + at, base.momentum + at, constantsAt);
      return;
    }
    const jobs = this.#pool!.jobs;
    const j = this.#queued++ * CALL_INTS;
    jobs[j] = mode;
    jobs[j + 1] = length;
    jobs[j + 2] = base.param + at;
    jobs[j + 3] = base.grad + at;
    jobs[j + 4] = base.squareAvg + at;
    jobs[j + 5] = base.gradAvg + at;
    jobs[j + 6] = base.momentum + at;
    jobs[j + 7] = constantsAt;
  }

  /** Runs the queued calls on the threads; a worker that fails among them leaves a torn step, which breaks this optimizer. */
  #runPool(calls: number): void {
    try {
      this.#pool!.run(calls);
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

  /**
   * Scans the present gradients for NaN or ±∞, before anything is copied, so that a skipped or
   * refused step leaves even `opt.grads` as it was; throws (naming the first) or reports false.
   * Gradients already in `opt.grads` are scanned by the kernel (with threads, every thread scans
   * chunks first, and this thread looks for the first bad value only if one was found); a caller's
   * array, outside the heap, is scanned here in JS.
   */
  #allFinite(backend: Backend, throwOnBad: boolean): boolean {
    const tensors = this.#tensors;
    const sources = this.#sources;
    let heapFinite = false;
    if (this.#pool) {
      const jobs = this.#pool.jobs;
      let calls = 0;
      for (let i = 0; i < tensors.length; i++) {
        if (sources[i] !== tensors[i].grad) continue;
        const j = calls++ * CALL_INTS;
        jobs[j] = SCAN_MODE;
        jobs[j + 1] = tensors[i].length;
        jobs[j + 3] = this.#gradAt(i);
      }
      heapFinite = calls === 0 || this.#pool.run(calls);
    }
    for (let i = 0; i < tensors.length; i++) {
      const source = sources[i];
      if (source === undefined) continue;
      let index: number;
      if (source === tensors[i].grad) {
        if (heapFinite) continue;
        index = backend.kernel.firstNonFinite(tensors[i].length, this.#gradAt(i));
      } else {
        index = allFinite(source, tensors[i].length) ? -1 : firstNonFinite(source, tensors[i].length);
      }
      if (index < 0) continue;
      if (!throwOnBad) return false;
      throw new RangeError(`gradient '${tensors[i].name}' has ${source[index]} at index ${index} (nonFinite: 'throw'); nothing was changed`);
    }
    return true;
  }

  /** The byte offset of tensor i's gradients in the heap. */
  #gradAt(i: number): number {
    const t = this.#tensors[i];
    return this.#groups[t.group].base.grad + t.offset * 4;
  }

  /**
   * Computes each present tensor's clipping scale into #clipScale. Norms come from the kernel's
   * block sums, added in block order, then across tensors in order, all in float64. A tensor whose
   * norm is NaN or ∞ (a NaN or ±∞ gradient under 'propagate') is left unscaled and out of the global
   * norm: scaling by such a norm would make the whole tensor NaN, or zero it, and through the global
   * norm every tensor; unscaled, its NaN and ∞ stay in their own elements.
   */
  #clip(backend: Backend): 'none' | 'global' | 'per tensor' {
    // Read here, not passed in: a double argument to a call V8 does not inline is boxed every step.
    const globalClipNorm = this.#groups[0].options.globalClipNorm;
    let perTensor = false;
    for (let g = 0; g < this.#groups.length; g++) if (this.#groups[g].options.clipNorm !== Infinity) perTensor = true;
    if (!perTensor && globalClipNorm === Infinity) return 'none';
    let globalSum = 0;
    for (let i = 0; i < this.#tensors.length; i++) {
      this.#clipScale[i] = 1;
      this.#unscaled[i] = 0;
      if (!this.#present[i]) continue;
      const t = this.#tensors[i];
      const group = this.#groups[t.group];
      const { options } = group;
      backend.kernel.sumSquares(t.length, this.#gradAt(i), group.clipValueArg!, t.sumsAt);
      let sum = 0;
      const blocks = Math.ceil(t.length / REDUCTION_BLOCK);
      for (let b = 0; b < blocks; b++) sum += this.#heap64[t.sumsAt / 8 + b];
      if (!(sum < Infinity)) {
        this.#unscaled[i] = 1;
        perTensor = true; // this tensor's scale differs from its group's
        continue;
      }
      if (options.clipNorm !== Infinity) {
        const norm = Math.sqrt(sum);
        this.#clipScale[i] = options.clipNorm / Math.max(norm, options.clipNorm);
      }
      globalSum += this.#clipScale[i] * this.#clipScale[i] * sum;
    }
    if (globalClipNorm !== Infinity) {
      const globalScale = globalClipNorm / Math.max(Math.sqrt(globalSum), globalClipNorm);
      for (let i = 0; i < this.#tensors.length; i++) if (!this.#unscaled[i]) this.#clipScale[i] *= globalScale;
    }
    return perTensor ? 'per tensor' : 'global';
  }

  #tensorArrays(): TensorArrays[] {
    return this.#tensors.map((t) => ({ name: t.name, group: t.group, length: t.length, state: t.state }));
  }

  #describeGroups(): readonly GroupInfo[] {
    return Object.freeze(this.#groups.map((group) => Object.freeze({
      ...group.options,
      params: Object.freeze(this.#tensors.slice(group.first, group.first + group.count).map((t) => t.name)),
    })));
  }

  #live(): Backend {
    if (!this.#backend) throw new Error('this RMSProp optimizer was disposed');
    this.#whole();
    return this.#backend;
  }

  /** Throws once a step was left part-written (see #runPool). */
  #whole(): void {
    if (this.#broken !== undefined) {
      throw new Error(`this RMSProp optimizer is broken: its ${this.#broken}, so its parameters and state are torn; every use but dispose() throws. Dispose it and restore a state saved before`);
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
      throw new Error(`${what}() was called during a step, loadState or setOptions of this optimizer (from a schedule or a getter); it changed nothing`);
    }
    this.#busy = true;
    return backend;
  }
}

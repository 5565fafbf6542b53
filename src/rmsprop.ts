import { createBackend, MAX_HEAP_BYTES, pickBackend, type Backend } from './backends.js';
import { CONSTANTS_BYTES, kernelMode, writeStepConstants } from './kernel.js';
import { describe, resolveOptions, type BackendName, type ResolvedOptions, type RMSPropOptions } from './options.js';

/** A parameter: its initial values (your array, updated in place) or an element count (zero-copy). */
export type ParamInput = Float32Array | number;
export type ParamsInput = Record<string, ParamInput> | readonly ParamInput[];
/** Gradients by parameter name; `null` or a missing name skips that parameter for this step. */
export type GradsInput = Record<string, Float32Array | null | undefined> | readonly (Float32Array | null | undefined)[];

export interface TensorState {
  readonly squareAvg: Float32Array;
  readonly gradAvg?: Float32Array;
  readonly momentum?: Float32Array;
}

interface Tensor {
  readonly name: string;
  readonly length: number;
  /** Element offset inside each region of the heap (a multiple of 4, so every array is 16-byte aligned). */
  readonly offset: number;
  /** The caller's array for a bring-your-own parameter; the heap copy is synced around each step. */
  readonly external: Float32Array | undefined;
  readonly param: Float32Array;
  readonly grad: Float32Array;
  readonly state: TensorState;
}

type Region = 'param' | 'grad' | 'squareAvg' | 'gradAvg' | 'momentum';

/**
 * The heap: a constants block, then one region per array kind, each holding every tensor back to
 * back. One kernel call therefore covers all tensors (padding elements stay zero and are harmless).
 */
interface Layout {
  readonly bytes: number;
  readonly paddedLength: number;
  readonly base: Readonly<Record<Region, number>>;
}

function planLayout(lengths: readonly number[], o: ResolvedOptions): Layout {
  const paddedLength = lengths.reduce((sum, n) => sum + padded(n), 0);
  const regions: Region[] = ['param', 'grad', 'squareAvg'];
  if (o.centered) regions.push('gradAvg');
  if (o.momentum !== 0) regions.push('momentum');
  const base = { param: 0, grad: 0, squareAvg: 0, gradAvg: 0, momentum: 0 };
  let bytes = CONSTANTS_BYTES;
  for (const region of regions) {
    base[region] = bytes;
    bytes += paddedLength * 4;
  }
  return { bytes, paddedLength, base };
}

const padded = (n: number) => (n + 3) & ~3;

export function isFloat32Array(value: unknown): value is Float32Array {
  return ArrayBuffer.isView(value) && (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Float32Array';
}

function readParams(params: ParamsInput): Array<[string, ParamInput]> {
  if (params === null || typeof params !== 'object' || isFloat32Array(params)) {
    throw new TypeError(`params must be a record or an array of Float32Arrays or element counts, got ${describe(params)}`);
  }
  const entries = Object.entries(params) as Array<[string, ParamInput]>;
  if (entries.length === 0) throw new TypeError('params is empty: give at least one parameter');
  for (const [name, value] of entries) {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`parameter '${name}': a zero-copy size must be a non-negative integer, got ${value}`);
      }
    } else if (!isFloat32Array(value)) {
      throw new TypeError(`parameter '${name}' must be a Float32Array or an element count, got ${describe(value)}`);
    }
  }
  const arrays = entries.filter((entry): entry is [string, Float32Array] => typeof entry[1] !== 'number');
  for (let i = 0; i < arrays.length; i++) {
    for (let j = i + 1; j < arrays.length; j++) {
      if (overlap(arrays[i][1], arrays[j][1])) {
        throw new TypeError(`parameters '${arrays[i][0]}' and '${arrays[j][0]}' share memory; give each its own array`);
      }
    }
  }
  return entries;
}

function overlap(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.length > 0 && b.length > 0 &&
    a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** RMSProp over float32 parameters, updated by a wasm SIMD, scalar wasm or JS kernel. */
export class RMSProp {
  /** The backend in use. */
  readonly backend: BackendName;
  /** Options after the preset was applied. */
  readonly options: ResolvedOptions;
  /** Parameters by name: your arrays (bring-your-own) or views into the optimizer's memory (zero-copy). */
  readonly params: Readonly<Record<string, Float32Array>>;
  /** Gradient buffers by name, views into the optimizer's memory: `step()` without arguments reads them. */
  readonly grads: Readonly<Record<string, Float32Array>>;
  /** Optimizer state by name, views into the optimizer's memory. */
  readonly state: Readonly<Record<string, TensorState>>;

  #backend: Backend | undefined;
  #steps = 0;
  readonly #tensors: readonly Tensor[];
  readonly #byName: ReadonlyMap<string, number>;
  readonly #layout: Layout;
  readonly #mode: number;
  readonly #heap: Float32Array;
  /** Per tensor, whether this step has its gradient; reused so that `step()` allocates nothing. */
  readonly #present: Uint8Array;

  /**
   * Creates an optimizer for `params`: a record or an array (named '0', '1', …) of Float32Arrays,
   * which stay yours and are updated in place by every step, or of element counts, for parameters
   * that live in the optimizer's memory (`opt.params`) and are never copied.
   */
  static async create(params: ParamsInput, options?: RMSPropOptions): Promise<RMSProp> {
    const resolved = resolveOptions(options);
    const entries = readParams(params);
    const lengths = entries.map(([, value]) => (typeof value === 'number' ? value : value.length));
    const layout = planLayout(lengths, resolved);
    if (layout.bytes > MAX_HEAP_BYTES) {
      throw new RangeError(
        `these parameters need ${layout.bytes} bytes of optimizer memory; WebAssembly can address at most ${MAX_HEAP_BYTES}`,
      );
    }
    const backend = await createBackend(pickBackend(resolved.backend), layout.bytes);
    return new RMSProp(backend, resolved, entries, layout);
  }

  private constructor(backend: Backend, options: ResolvedOptions, entries: Array<[string, ParamInput]>, layout: Layout) {
    this.#backend = backend;
    this.backend = backend.name;
    this.options = options;
    this.#layout = layout;
    this.#mode = kernelMode(options);
    this.#heap = new Float32Array(backend.buffer);
    const view = (region: Region, offset: number, length: number) =>
      new Float32Array(backend.buffer, layout.base[region] + offset * 4, length);
    let offset = 0;
    this.#tensors = entries.map(([name, value]) => {
      const length = typeof value === 'number' ? value : value.length;
      const tensor: Tensor = {
        name,
        length,
        offset,
        external: typeof value === 'number' ? undefined : value,
        param: view('param', offset, length),
        grad: view('grad', offset, length),
        state: Object.freeze({
          squareAvg: view('squareAvg', offset, length),
          ...(options.centered && { gradAvg: view('gradAvg', offset, length) }),
          ...(options.momentum !== 0 && { momentum: view('momentum', offset, length) }),
        }),
      };
      offset += padded(length);
      if (tensor.external) tensor.param.set(tensor.external);
      return tensor;
    });
    this.#heap.fill(options.initialSquareAvg, layout.base.squareAvg / 4, layout.base.squareAvg / 4 + layout.paddedLength);
    this.#byName = new Map(this.#tensors.map((t, i) => [t.name, i]));
    this.#present = new Uint8Array(this.#tensors.length);
    const record = <T>(pick: (t: Tensor) => T) => Object.freeze(Object.fromEntries(this.#tensors.map((t) => [t.name, pick(t)])));
    this.params = record((t) => t.external ?? t.param);
    this.grads = record((t) => t.grad);
    this.state = record((t) => t.state);
  }

  /** Steps taken so far. */
  get stepCount(): number {
    this.#live();
    return this.#steps;
  }

  /**
   * One RMSProp step. With `grads`, each named gradient is used for its parameter (a missing or
   * `null` one skips it); without, gradients are read from `opt.grads`. Input is checked before
   * anything is written, so a call that throws changes nothing. Returns true (the step was taken).
   */
  step(grads?: GradsInput): boolean {
    const backend = this.#live();
    const tensors = this.#tensors;
    const present = this.#present;
    let skipped = false;
    if (grads === undefined) {
      present.fill(1);
    } else {
      this.#checkGrads(grads);
      for (let i = 0; i < tensors.length; i++) {
        present[i] = (grads as Record<string, unknown>)[tensors[i].name] == null ? 0 : 1;
        if (!present[i]) skipped = true;
      }
    }
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      if (!present[i]) continue;
      if (t.external) t.param.set(t.external);
      if (grads !== undefined) {
        const g = (grads as Record<string, Float32Array>)[t.name];
        if (g !== t.grad) t.grad.set(g);
      }
    }
    writeStepConstants(this.#heap, 0, this.options, this.#steps + 1);
    if (!skipped) {
      this.#run(backend, 0, this.#layout.paddedLength);
    } else {
      for (let i = 0; i < tensors.length; i++) if (present[i]) this.#run(backend, tensors[i].offset, tensors[i].length);
    }
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      if (present[i] && t.external) t.external.set(t.param);
    }
    this.#steps++;
    return true;
  }

  /** Releases the optimizer's memory. Any later use throws. */
  dispose(): void {
    this.#backend = undefined;
  }

  /** Runs the kernel over `length` elements of every region, starting at element `offset`. */
  #run(backend: Backend, offset: number, length: number): void {
    const { base } = this.#layout;
    const at = offset * 4;
    backend.kernel(this.#mode, length, base.param + at, base.grad + at, base.squareAvg + at, base.gradAvg + at, base.momentum + at, 0);
  }

  #live(): Backend {
    if (!this.#backend) throw new Error('this RMSProp optimizer was disposed');
    return this.#backend;
  }

  #checkGrads(grads: GradsInput): void {
    if (grads === null || typeof grads !== 'object' || isFloat32Array(grads)) {
      throw new TypeError(`grads must be a record or an array of Float32Arrays, got ${describe(grads)}`);
    }
    for (const name in grads) {
      if (!this.#byName.has(name)) {
        throw new TypeError(`unknown gradient '${name}' (parameters: ${[...this.#byName.keys()].join(', ')})`);
      }
    }
    for (const t of this.#tensors) {
      const g = (grads as Record<string, unknown>)[t.name];
      if (g == null) continue;
      if (!isFloat32Array(g)) throw new TypeError(`gradient '${t.name}' must be a Float32Array, got ${describe(g)}`);
      if (g.length !== t.length) {
        throw new RangeError(`gradient '${t.name}' has ${g.length} elements, its parameter has ${t.length}`);
      }
    }
  }
}

// A step's gradients: read once from the caller, checked before anything is written, then copied
// into the optimizer's memory. Its scratch is allocated once, at create: a step allocates nothing.
import { describe } from './options.js';
import { checkRecord, own } from './inputs.js';
import {
  arrayBuffer,
  arrayLength,
  asLongAs,
  isFloat32Array,
  isShared,
  setArray,
  sharesMemory,
} from './typed-arrays.js';
import type { Kernel } from './kernel.js';
import { checkOwnArray, type Tensor } from './tensors.js';
import type { JobQueue } from './kernel-calls.js';

/** @internal */
export class StepGradients {
  /** Per tensor, 1 if this step updates it (it has a gradient), set by `checkLengths`. */
  readonly present: Uint8Array;
  #tensors: readonly Tensor[];
  readonly #byName: ReadonlyMap<string, number>;
  /** This step's gradient per tensor, read once from the caller (undefined: skipped). */
  readonly #sources: Array<Float32Array | undefined>;
  /**
   * Per tensor, room for a gradient that is a view of the optimizer's own memory, copied aside
   * before any gradient is written (see copyIn). Reserved at create, so that memory never grows in a
   * step; untouched until such a step, it takes address space rather than memory.
   */
  #staging: readonly Float32Array[];
  /** Per tensor, 1 if this step's gradient is a view of the optimizer's memory (set by copyIn). */
  readonly #viewsHeap: Uint8Array;
  /**
   * With threads, whether each other SharedArrayBuffer a gradient came in is the optimizer's memory
   * (posted to a worker and back), probed once through a byte of the first gradient slot.
   */
  #sharedHeapSeen?: {
    byBuffer: WeakMap<ArrayBufferLike, boolean>;
    idle: Uint8Array;
    asLongAsHeap: (buffer: ArrayBufferLike) => boolean;
  };

  constructor(tensors: readonly Tensor[]) {
    this.#tensors = tensors;
    this.#byName = new Map(tensors.map((t, i) => [t.name, i]));
    this.present = new Uint8Array(tensors.length);
    this.#sources = new Array<Float32Array | undefined>(tensors.length).fill(undefined);
    const staging = new ArrayBuffer(tensors.reduce((sum, t) => sum + t.length, 0) * 4);
    let stagedAt = 0;
    this.#staging = tensors.map((t) => new Float32Array(staging, (stagedAt += t.length * 4) - t.length * 4, t.length));
    this.#viewsHeap = new Uint8Array(tensors.length);
    const first = tensors.find((t) => t.length > 0)?.grad; // a byte of its own (an empty one may have none)
    const heap = first && arrayBuffer(first);
    if (heap && isShared(heap)) {
      const idle = new Uint8Array(heap, first.byteOffset, 1);
      this.#sharedHeapSeen = { byBuffer: new WeakMap(), idle, asLongAsHeap: asLongAs(heap) };
    }
  }

  /**
   * Reads `step`'s gradients once (per tensor: the array, or undefined to skip it; without `grads`,
   * every tensor's `opt.grads`), checking what cannot change afterwards: a record or array, names
   * that are parameters (own properties only), Float32Arrays. Lengths are checked later (`checkLengths`),
   * after the schedules ran: a schedule could shrink a resizable buffer. Allocates nothing for a record.
   */
  read(grads: unknown): void {
    const tensors = this.#tensors;
    const out = this.#sources;
    if (grads === undefined) {
      for (let i = 0; i < tensors.length; i++) out[i] = tensors[i].grad;
      return;
    }
    const byName = this.#byName;
    checkRecord(grads, 'grads', 'Float32Arrays');
    if (Array.isArray(grads)) {
      // Indices rather than for-in, which allocates an array's element keys at every step.
      for (let k = 0; k < grads.length; k++) {
        if (Object.hasOwn(grads, k) && !byName.has(String(k))) unknownGradient(String(k), byName);
      }
    } else {
      for (const name in grads) if (Object.hasOwn(grads, name) && !byName.has(name)) unknownGradient(name, byName);
    }
    for (let i = 0; i < tensors.length; i++) {
      const g = own(grads, tensors[i].name);
      if (g == null) {
        out[i] = undefined;
        continue;
      }
      if (!isFloat32Array(g))
        throw new TypeError(`gradient '${tensors[i].name}' must be a Float32Array, got ${describe(g)}`);
      out[i] = g;
    }
  }

  /**
   * Checks the length of every gradient read, and of every bring-your-own parameter (a detached,
   * shrunk or grown buffer changes it), naming the first that does not fit; then marks the present
   * tensors and returns their elements.
   */
  checkLengths(): number {
    const tensors = this.#tensors;
    const sources = this.#sources;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      const g = sources[i];
      if (g === undefined) {
        if (t.average) checkOwnArray(t); // averaged even without a gradient (issueUpdates)
        continue;
      }
      const length = arrayLength(g);
      if (length !== t.length) {
        throw new RangeError(
          `gradient '${t.name}' has ${length} elements, its parameter has ${t.length}${length === 0 ? ' (is its buffer detached or shrunk?)' : ''}`,
        );
      }
      checkOwnArray(t);
    }
    const present = this.present;
    let elements = 0;
    for (let i = 0; i < tensors.length; i++) {
      present[i] = sources[i] === undefined ? 0 : 1;
      elements += present[i] * tensors[i].length;
    }
    return elements;
  }

  /**
   * Scans the present gradients for NaN or ±∞, before anything is copied, so that a skipped or
   * refused step leaves even `opt.grads` as it was; throws (naming the first) or returns false.
   * Gradients already in `opt.grads` are scanned by the kernel (with threads, `queue` has every
   * thread scan chunks first, and this thread looks for the first bad value only if one was found);
   * a caller's array, outside the heap, is scanned here in JS.
   */
  finite(kernel: Pick<Kernel, 'firstNonFinite'>, queue: JobQueue | undefined, throwOnBad: boolean): boolean {
    const tensors = this.#tensors;
    const sources = this.#sources;
    let heapFinite = false;
    if (queue) {
      for (let i = 0; i < tensors.length; i++)
        if (sources[i] === tensors[i].grad) queue.scan(tensors[i].length, tensors[i].gradAt);
      heapFinite = queue.run();
    }
    for (let i = 0; i < tensors.length; i++) {
      const source = sources[i];
      if (source === undefined) continue;
      let index: number;
      if (source === tensors[i].grad) {
        if (heapFinite) continue;
        index = kernel.firstNonFinite(tensors[i].length, tensors[i].gradAt);
      } else {
        index = allFinite(source, tensors[i].length) ? -1 : firstNonFinite(source, tensors[i].length);
      }
      if (index < 0) continue;
      if (!throwOnBad) return false;
      throw new RangeError(
        `gradient '${tensors[i].name}' has ${source[index]} at index ${index} (nonFinite: 'throw'); nothing was changed`,
      );
    }
    return true;
  }

  /**
   * Copies this step's gradients and bring-your-own parameters into the heap, as if every one were
   * read before any is written: a gradient that is a view of the optimizer's memory (another
   * tensor's `opt.grads`, as in `step({ a: opt.grads.b, b: opt.grads.a })`) is staged first, since
   * writing a gradient slot could overwrite it. A caller's own arrays are never written here.
   */
  copyIn(heap: ArrayBufferLike): void {
    const tensors = this.#tensors;
    const sources = this.#sources;
    const staging = this.#staging;
    const viewsHeap = this.#viewsHeap;
    for (let i = 0; i < tensors.length; i++) {
      const source = sources[i];
      viewsHeap[i] = source !== undefined && source !== tensors[i].grad && this.#inHeap(source, heap) ? 1 : 0;
      if (viewsHeap[i]) staging[i].set(source!);
    }
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      const source = sources[i];
      if (source === undefined) {
        if (t.average && t.external) t.param.set(t.external); // its average moves toward it all the same
        continue;
      }
      if (source !== t.grad) t.grad.set(viewsHeap[i] ? staging[i] : source);
      if (t.external) t.param.set(t.external);
    }
  }

  /**
   * Whether `source` views the optimizer's memory, `heap`. Only a buffer of the heap's kind and length
   * can be another object over it (see asLongAs); such a buffer is probed once (allocating), then
   * found in a WeakMap.
   */
  #inHeap(source: Float32Array, heap: ArrayBufferLike): boolean {
    const buffer = arrayBuffer(source);
    const seen = this.#sharedHeapSeen;
    if (buffer === heap || !seen || !seen.asLongAsHeap(buffer)) return buffer === heap;
    let shares = seen.byBuffer.get(buffer);
    if (shares === undefined) seen.byBuffer.set(buffer, (shares = sharesMemory(buffer, seen.idle)));
    return shares;
  }

  /** After a step, copies the updated bring-your-own parameters back into the caller's arrays. */
  copyOut(): void {
    const tensors = this.#tensors;
    const present = this.present;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      if (present[i] && t.external) setArray(t.external, t.param);
    }
  }

  /** After each step: holds no caller array until the next. */
  forget(): void {
    // A loop: Array.prototype.fill over an array that held objects allocates 48 bytes a call in Deno 2.9's V8.
    const sources = this.#sources;
    for (let i = 0; i < sources.length; i++) sources[i] = undefined;
  }

  /** At dispose: drops every view of the heap and the staging memory. */
  release(): void {
    this.#tensors = [];
    this.#staging = [];
    this.#sharedHeapSeen = undefined;
  }
}

function unknownGradient(name: string, byName: ReadonlyMap<string, number>): never {
  throw new TypeError(`unknown gradient '${name}' (parameters: ${[...byName.keys()].join(', ')})`);
}

/**
 * Whether the first `length` elements of `a` (its real length, checked by checkLengths) hold no NaN or
 * ±∞: x·0 is ±0 for every finite x and NaN otherwise. Four sums and no branch, where testing each
 * element would branch on every one.
 */
function allFinite(a: Float32Array, length: number): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < length; k += 4) {
    s0 += a[k] * 0;
    s1 += a[k + 1] * 0;
    s2 += a[k + 2] * 0;
    s3 += a[k + 3] * 0;
  }
  for (; k < length; k++) s0 += a[k] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

/** The index of the first NaN or ±∞ among `a`'s first `length`, or -1 (x − x is 0 for every finite x, NaN otherwise). */
function firstNonFinite(a: Float32Array, length: number): number {
  for (let k = 0; k < length; k++) {
    const x = a[k];
    if (x - x !== 0) return k;
  }
  return -1;
}

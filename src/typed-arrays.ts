// Typed arrays read as the engine sees them, through %TypedArray%.prototype's own getters: a
// caller's subclass (or an own property) may redefine length, byteOffset or buffer to lie.
// Calling a cached getter allocates nothing, so step() may use them.
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (key: PropertyKey) => Object.getOwnPropertyDescriptor(TYPED_ARRAY, key)!.get!;
const LENGTH = intrinsic('length');
const BYTE_OFFSET = intrinsic('byteOffset');
const BUFFER = intrinsic('buffer');
const TAG = intrinsic(Symbol.toStringTag);
const SET = (TYPED_ARRAY as Float32Array).set;

/** A typed array's real element count (0 once detached). @internal */
export const arrayLength = (a: ArrayBufferView): number => LENGTH.call(a);
/** A typed array's real byte offset. @internal */
export const arrayByteOffset = (a: ArrayBufferView): number => BYTE_OFFSET.call(a);
/** A typed array's real buffer. @internal */
export const arrayBuffer = (a: ArrayBufferView): ArrayBufferLike => BUFFER.call(a);
/** The kind of typed array `value` is ('Float32Array', …), or undefined for anything else. @internal */
export const typedArrayKind = (value: unknown): string | undefined => TAG.call(value);
/** `target.set(source)` as the engine defines it, whatever `target`'s class says. @internal */
export const setArray = (target: Float32Array, source: Float32Array): void => SET.call(target, source);
/** A float32 array's bits, as the engine sees its memory (a subclass's getters may lie). @internal */
export const bitsOf = (a: Float32Array): Uint32Array =>
  new Uint32Array(arrayBuffer(a), arrayByteOffset(a), arrayLength(a));
/** The typed arrays of saved state and of its checks (plainView), by kind. @internal */
export const TYPED = { Float32Array, Uint16Array, Uint8Array } as const;
/**
 * A plain typed array of `a`'s kind over exactly the memory it covers, whatever getters its class
 * defines; empty once detached, where no view can be made (allocates: not for step()).
 * @internal
 */
export function plainView<T extends Float32Array | Uint16Array | Uint8Array>(a: T): T {
  const Kind = TYPED[typedArrayKind(a) as keyof typeof TYPED];
  const length = arrayLength(a);
  return (length === 0 ? new Kind(0) : new Kind(arrayBuffer(a) as ArrayBuffer, arrayByteOffset(a), length)) as T;
}

const NO_FLOATS = new Float32Array(0);
/**
 * Whether none of `a` can be read or written: its buffer was detached (transferred) or, resizable,
 * shrunk below it. Either reads as length 0, as an empty array does; only setting into it tells.
 * @internal
 */
export function isGone(a: Float32Array | Uint16Array | Uint8Array): boolean {
  try {
    SET.call(a, NO_FLOATS);
    return false;
  } catch {
    return true;
  }
}

/** Whether `value` is a Float32Array as the engine sees it. @internal */
export function isFloat32Array(value: unknown): value is Float32Array {
  return typedArrayKind(value) === 'Float32Array';
}

/** An ArrayBuffer that is neither shared nor resizable: views of it stay as they were made. @internal */
export const isPlainArrayBuffer = (buffer: ArrayBufferLike): buffer is ArrayBuffer =>
  Object.prototype.toString.call(buffer) === '[object ArrayBuffer]' && !(buffer as { resizable?: boolean }).resizable;

/** Whether `buffer` is a SharedArrayBuffer (threads' memory, or a caller's). @internal */
export const isShared = (buffer: ArrayBufferLike) =>
  Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';

/**
 * A test of whether a buffer has `heap`'s kind and length, as another object over the same memory
 * has (it never grows), read through the kind's getter (own properties may lie). It allocates nothing. @internal
 */
export function asLongAs(heap: ArrayBufferLike): (buffer: ArrayBufferLike) => boolean {
  const kind = Object.getPrototypeOf(heap);
  const byteLength = Object.getOwnPropertyDescriptor(kind, 'byteLength')!.get!;
  const bytes = byteLength.call(heap);
  return (buffer) => Object.getPrototypeOf(buffer) === kind && byteLength.call(buffer) === bytes;
}

/**
 * Whether `buffer` is the memory `idle` views (a byte nothing else uses meanwhile): the same object, or
 * another SharedArrayBuffer over that memory (one posted to a worker and back), which no comparison of
 * objects can tell; a byte written through `idle` then shows through `buffer`. The byte is restored.
 * @internal
 */
export function sharesMemory(buffer: ArrayBufferLike, idle: Uint8Array): boolean {
  const heap = arrayBuffer(idle);
  if (buffer === heap) return true;
  if (!isShared(heap) || !asLongAs(heap)(buffer)) return false;
  const seen = new Uint8Array(buffer, arrayByteOffset(idle), 1);
  const kept = idle[0];
  let same = true;
  for (const probe of [0x5a, 0xa5]) {
    idle[0] = probe;
    same &&= seen[0] === probe;
  }
  idle[0] = kept;
  return same;
}

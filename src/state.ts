// Saved optimizer state: a versioned JSON form (float arrays as base64 of little-endian float32, so
// NaN, ±∞ and −0 survive JSON.stringify; or typed arrays); loading it is in state-load.ts. Nothing here
// builds a string longer than one base64 piece (PIECE_BYTES): V8 aborts the process, uncatchably,
// past its longest string (2^29 − 24 characters). Its binary form is in state-binary.ts.
import { encodeBase64 } from './base64.js';
import { own } from './inputs.js';
import { arrayBuffer, arrayByteOffset, arrayLength, TYPED, typedArrayKind } from './typed-arrays.js';
import {
  type CompressedFormat,
  describe,
  type GroupInfo,
  isRecord,
  type ResolvedOptions,
  type StateFormat,
} from './options.js';
import { arrayFormat, SCALES_OF, STATE_KINDS, type StateKind } from './layout.js';
import { STATE_FORMATS } from './kernel.js';
import type { CompressedState } from './tensors.js';

/** The state formats saved as codes (a saved state's `compressed` names them). */
const COMPRESSED_FORMATS = Object.keys(STATE_FORMATS).filter((format) => format !== 'float32');

/** The `format` field of every saved state. */
export const STATE_FORMAT = 'rmsprop-wasm-state';
/**
 * The version of the saved-state format this package writes (3: compressed state saved as stored;
 * 4: a centered parameter's compressed squareAvg holds its variance S − ḡ²; 5: an 8-bit parameter's
 * gradAvg is bfloat16 codes, without scales). It reads versions 1 to 5.
 */
export const STATE_VERSION = 5;

/** The first version whose 8-bit parameters keep ḡ as bfloat16 (layout.ts' arrayFormat); before, as 8-bit codes. @internal */
export const HALF_GRAD_AVG_VERSION = 5;

/**
 * The format of saved array `kind` of a parameter saved compressed in `format` (undefined: float32
 * values) by a state of `version`. @internal
 */
export const savedArrayFormat = (format: CompressedFormat | undefined, kind: StateKind, version: number) =>
  format === undefined ? undefined : version >= HALF_GRAD_AVG_VERSION ? arrayFormat(format, kind) : format;

/**
 * Bytes per base64 piece of a state array in the JSON form: 48 MiB, whose base64 is 2^26 characters.
 * A larger array is saved as an array of pieces. (JSON.stringify of one 2^28-character piece aborted
 * Deno 2.9 and crashed Chromium's tab, though V8's longest string is twice that.)
 * @internal
 */
const PIECE_BYTES = 3 * 2 ** 24;

/**
 * The names of a parameter's state arrays (see `TensorState`), and, for 8-bit state, of their
 * block scales.
 */
export type ArrayKind =
  | 'squareAvg'
  | 'gradAvg'
  | 'momentum'
  | 'squareAvgScales'
  | 'gradAvgScales'
  | 'momentumScales'
  | 'average';
/** @internal */
export const KINDS: readonly ArrayKind[] = [...STATE_KINDS, ...STATE_KINDS.map((kind) => SCALES_OF[kind]), 'average'];

/**
 * One state array: base64 of its little-endian bytes (one string, or pieces that concatenate, for
 * arrays over `PIECE_BYTES`), or the values themselves as a typed array: float32 values, or the
 * codes of compressed state (Uint16Array for bfloat16, Uint8Array for 8 bits; see `compressed`).
 */
export type StateArray = string | string[] | Float32Array | Uint16Array | Uint8Array;

/** Options of `saveState`. */
export interface SaveOptions {
  /**
   * `'base64'` (default): JSON-serialisable text. `'float32'`: typed-array copies (Float32Array, or
   * compressed state's codes), which `encodeState` and `loadState` take without making any string.
   */
  arrays?: 'base64' | 'float32' | undefined;
}

/** Options of `loadState` (and `fromTorchStateDict`). */
export interface LoadOptions {
  /**
   * Also restore each group's options as saved, as PyTorch's `load_state_dict` and Keras do: those
   * `setOptions` may change, such as an lr lowered mid-run. A group's lr schedule stays (functions
   * are not saved; its position is the step count). Default false: options stay as they are.
   */
  restoreOptions?: boolean | undefined;
}

/** A versioned snapshot of an optimizer (`saveState()`), JSON-serialisable unless its arrays are Float32Arrays. */
export interface SavedState {
  /** Always `STATE_FORMAT`. */
  format: typeof STATE_FORMAT;
  /** The format version, `STATE_VERSION` when written by this package. */
  version: number;
  /** Steps taken. */
  stepCount: number;
  /** Per group: its parameter names, and its options (informative, except centered and momentum, which must match on load). */
  groups: Array<{
    /** The group's parameter names, in order. */
    params: string[];
    /** The group's options as JSON (a schedule as "schedule", Infinity as null). */
    options: Record<string, unknown>;
  }>;
  /** Per parameter: each state array (see `StateArray`), and its moving average (`average`, float32) with `ema`. */
  state: Record<string, { [K in ArrayKind]?: StateArray | undefined }>;
  /**
   * Version 3: the parameters whose state is saved compressed, as stored, with their format: their
   * squareAvg, gradAvg, momentum hold codes (2 bytes an element for bfloat16, 1 for 8 bits; version
   * 5 on, gradAvg is bfloat16 in both) and, for 8-bit arrays, squareAvgScales… one float32 per block
   * of 1024 elements. Others hold float32 values.
   */
  compressed?: Record<string, Exclude<StateFormat, 'float32'>> | undefined;
}

/** What the state code needs to know of a tensor. @internal */
export interface TensorArrays {
  readonly name: string;
  readonly group: number;
  readonly length: number;
  /** The state arrays it keeps. */
  readonly kinds: readonly StateKind[];
  /** Float32 values (views, or decoded copies when compressed). */
  readonly state: Readonly<Partial<Record<StateKind, Float32Array>>>;
  /** Its state as stored, when compressed. */
  readonly compressed?: CompressedState;
  /** Its parameters' moving average (ema; not saved while it waits to start: Tensor.averageStarts), and where the parameters are (your own array, or the heap's). */
  readonly average?: Float32Array;
  averageStarts?: boolean;
  readonly external?: Float32Array;
  readonly param?: Float32Array;
}

/** @internal */
export type Typed = Float32Array | Uint16Array | Uint8Array;
/** The bytes `a` covers, as the engine sees them (a subclass's getters may lie). @internal */
export const bytesOf = (a: Typed) =>
  new Uint8Array(
    arrayBuffer(a),
    arrayByteOffset(a),
    arrayLength(a) * TYPED[typedArrayKind(a) as keyof typeof TYPED].BYTES_PER_ELEMENT,
  );
/** Options as JSON: a schedule becomes "schedule" and "off" (Infinity) becomes null. */
function jsonOptions(options: ResolvedOptions): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(options).map(([key, value]) => [
      key,
      typeof value === 'function' ? 'schedule' : value === Infinity ? null : value,
    ]),
  );
}

/** Option `name` of a method's options: not an object, or another (misspelt) key, is refused. @internal */
export function methodOption(options: unknown, method: string, name: string): unknown {
  if (options === undefined) return undefined;
  if (!isRecord(options)) throw new TypeError(`${method} options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (key !== name) throw new TypeError(`${method}: unknown option '${key}' (known: ${name})`);
  return own(options, name);
}

/**
 * The fields every saved state has, each read once and checked (`where` prefixes the messages):
 * format, a version this library reads, 'state' an object, and 'compressed' absent or naming each
 * compressed parameter's format. @internal
 */
export function readSavedFields(
  saved: object,
  where: string,
): { version: number; state: object; compressed: Record<string, CompressedFormat> } {
  const format = own(saved, 'format');
  const version = own(saved, 'version');
  if (format !== STATE_FORMAT)
    throw new TypeError(`${where}: format must be '${STATE_FORMAT}', got ${describe(format)}`);
  if (typeof version !== 'number') throw new TypeError(`${where}: version must be a number, got ${describe(version)}`);
  checkVersion(version, `${where}: `);
  const state = own(saved, 'state');
  if (!isRecord(state)) throw new TypeError(`${where}: 'state' must be an object, got ${describe(state)}`);
  const given = own(saved, 'compressed');
  if (given !== undefined && !isRecord(given))
    throw new TypeError(`${where}: 'compressed' must be an object, got ${describe(given)}`);
  const compressed = record(Object.keys(given ?? {}).map((name) => [name, own(given!, name)] as const));
  for (const [name, format] of Object.entries(compressed))
    if (!COMPRESSED_FORMATS.includes(format as string))
      throw new TypeError(
        `${where}: compressed[${quote(name)}] must be ${COMPRESSED_FORMATS.map(quote).join(' or ')}, got ${describe(format)}`,
      );
  return { version, state, compressed: compressed as Record<string, CompressedFormat> };
}

/** A tensor's state array of this kind, if it keeps one (own property: nothing from Object.prototype). @internal */
export const stateArray = (t: TensorArrays, kind: StateKind) => own(t.state, kind) as Float32Array | undefined;
/** What a saved state given as a string probably is (JSON text not parsed), for its error. @internal */
export const jsonHint = (saved: unknown) => (typeof saved === 'string' ? ' (JSON text? pass JSON.parse(text))' : '');
/** Object.fromEntries defines each name as an own data property, '__proto__' included (`o[name] = v` would not). @internal */
export const record = <T>(entries: Iterable<readonly [string, T]>): Record<string, T> => Object.fromEntries(entries);
/** @internal */
export const quote = (name: string) => `'${name}'`;

/** Refuses an array name no saved parameter has (`entry`: where the parameter's arrays are, for the message). @internal */
export function checkArrayName(kind: string, entry: string): void {
  if (!KINDS.includes(kind as ArrayKind))
    throw new TypeError(`${entry} has ${quote(kind)}; a parameter's arrays are ${KINDS.join(', ')}`);
}

/**
 * A saved group's parameter names and options, checked to be an array of names and an object
 * (`where` starts the messages: loadState's and encodeState's). @internal
 */
export function savedGroup(group: unknown, g: number, where: string): { names: string[]; options: object } {
  if (!isRecord(group)) throw new TypeError(`${where}: groups[${g}] must be an object, got ${describe(group)}`);
  const names = own(group, 'params');
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string'))
    throw new TypeError(`${where}: groups[${g}].params must be an array of names, got ${describe(names)}`);
  const options = own(group, 'options');
  if (!isRecord(options))
    throw new TypeError(`${where}: groups[${g}].options must be an object, got ${describe(options)}`);
  return { names, options };
}

/** Refuses a format version this library cannot read (`prefix` starts the message). @internal */
export function checkVersion(version: number, prefix: string): void {
  if (!(Number.isInteger(version) && version >= 1 && version <= STATE_VERSION))
    throw new RangeError(
      `${prefix}format version ${version} is not supported; this library reads versions 1 to ${STATE_VERSION}`,
    );
}
/** @internal */
export const listNames = (names: readonly unknown[]) =>
  names.map((n) => (typeof n === 'string' ? n : describe(n))).join(', ');

/** Base64 of `bytes`: one string, or pieces of PIECE_BYTES bytes each for a larger array. */
function base64Pieces(bytes: Uint8Array): string | string[] {
  if (bytes.length <= PIECE_BYTES) return encodeBase64(bytes);
  const pieces: string[] = [];
  const scratch = new Uint8Array((PIECE_BYTES / 3) * 4);
  for (let at = 0; at < bytes.length; at += PIECE_BYTES)
    pieces.push(encodeBase64(bytes.subarray(at, at + PIECE_BYTES), scratch));
  return pieces;
}

/** @internal */
export function savedState(
  stepCount: number,
  groups: readonly GroupInfo[],
  tensors: readonly TensorArrays[],
  options?: SaveOptions,
  views = false, // encodeState(opt): the arrays as they are in the optimizer's memory, read at once
): SavedState {
  const arrays = methodOption(options, 'saveState', 'arrays');
  if (arrays !== undefined && arrays !== 'base64' && arrays !== 'float32') {
    throw new TypeError(`saveState option 'arrays' must be 'base64' or 'float32', got ${describe(arrays)}`);
  }
  const save = (array: Typed) => (views ? array : arrays === 'float32' ? array.slice() : base64Pieces(bytesOf(array)));
  const state = record(
    tensors.map((t) => {
      const c = t.compressed;
      return [
        t.name,
        record([
          ...t.kinds.flatMap((kind) => {
            if (!c) return [[kind, save(stateArray(t, kind)!)] as const];
            const entries: Array<readonly [ArrayKind, StateArray]> = [[kind, save(c.codes[kind]!)]];
            if (arrayFormat(c.format, kind) === '8bit') entries.push([SCALES_OF[kind], save(c.scales[kind]!)]);
            return entries;
          }),
          ...(t.average && !t.averageStarts ? [['average', save(t.average)] as const] : []),
        ]),
      ];
    }),
  );
  const compressed = record(tensors.flatMap((t) => (t.compressed ? [[t.name, t.compressed.format] as const] : [])));
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    stepCount,
    groups: groups.map(({ params, ...options }) => ({
      params: [...params],
      options: jsonOptions(options as ResolvedOptions),
    })),
    state,
    compressed,
  };
}

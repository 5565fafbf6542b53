// Saved optimizer state: a versioned JSON form (float arrays as base64 of little-endian float32, so
// NaN, ±∞ and −0 survive JSON.stringify) and a compact binary form of the same thing.
import { decodeBase64, encodeBase64 } from './base64.js';
import { own } from './inputs.js';
import { describe, type GroupInfo, type ResolvedOptions } from './options.js';

/** The `format` field of every saved state. */
export const STATE_FORMAT = 'rmsprop-wasm-state';
/** The version of the saved-state format this package writes and reads. */
export const STATE_VERSION = 1;

/** The names of a parameter's state arrays (see `TensorState`). */
export type ArrayKind = 'squareAvg' | 'gradAvg' | 'momentum';
const KINDS: readonly ArrayKind[] = ['squareAvg', 'gradAvg', 'momentum'];

/** A versioned, JSON-serialisable snapshot of an optimizer (`saveState()`). */
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
  /** Per parameter: each state array as base64 of little-endian float32. */
  state: Record<string, Partial<Record<ArrayKind, string>>>;
}

/** What the state code needs to know of a tensor. */
export interface TensorArrays {
  readonly name: string;
  readonly group: number;
  readonly length: number;
  readonly state: Readonly<Partial<Record<ArrayKind, Float32Array>>>;
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Options as JSON: a schedule becomes "schedule" and "off" (Infinity) becomes null. */
function jsonOptions(options: ResolvedOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).map(([key, value]) => [
    key, typeof value === 'function' ? 'schedule' : value === Infinity ? null : value,
  ]));
}

/** A tensor's state array of this kind, if it keeps one (own property: nothing from Object.prototype). */
export const stateArray = (t: TensorArrays, kind: ArrayKind) => own(t.state, kind) as Float32Array | undefined;
export const isRecord = (value: unknown): value is object => value !== null && typeof value === 'object' && !Array.isArray(value);
/** Object.fromEntries defines each name as an own data property, '__proto__' included (`o[name] = v` would not). */
const record = <T>(entries: Iterable<readonly [string, T]>): Record<string, T> => Object.fromEntries(entries);
const quote = (name: string) => `'${name}'`;
const listNames = (names: readonly unknown[]) => names.map((n) => (typeof n === 'string' ? n : describe(n))).join(', ');

export function savedState(stepCount: number, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]): SavedState {
  const state = record(tensors.map((t) => [t.name, record(KINDS.flatMap((kind) => {
    const array = stateArray(t, kind);
    return array ? [[kind, encodeBase64(bytesOf(array))] as const] : [];
  }))]));
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    stepCount,
    groups: groups.map(({ params, ...options }) => ({ params: [...params], options: jsonOptions(options as ResolvedOptions) })),
    state,
  };
}

/**
 * Checks `saved` against this optimizer and returns what to copy where. Throws a TypeError (wrong
 * kind of value) or RangeError (a value that does not fit) naming the first bad field.
 */
export function readSavedState(saved: unknown, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]): { stepCount: number; arrays: Array<[target: Float32Array, source: Float32Array]> } {
  if (!isRecord(saved)) throw new TypeError(`saved state must be an object, got ${describe(saved)}`);
  const format = own(saved, 'format');
  const version = own(saved, 'version');
  const stepCount = own(saved, 'stepCount');
  const savedGroups = own(saved, 'groups');
  const state = own(saved, 'state');
  if (format !== STATE_FORMAT) throw new TypeError(`saved state: format must be '${STATE_FORMAT}', got ${describe(format)}`);
  if (typeof version !== 'number') throw new TypeError(`saved state: version must be a number, got ${describe(version)}`);
  if (version !== STATE_VERSION) {
    throw new RangeError(`saved state: format version ${version} is not supported; this library reads version ${STATE_VERSION}`);
  }
  checkStepCount(stepCount, 'saved state: stepCount');
  if (!Array.isArray(savedGroups)) throw new TypeError(`saved state: groups must be an array, got ${describe(savedGroups)}`);
  if (savedGroups.length !== groups.length) {
    throw new RangeError(`saved state has ${savedGroups.length} groups, this optimizer has ${groups.length}`);
  }
  groups.forEach((ours, g) => {
    const theirs: unknown = savedGroups[g];
    if (!isRecord(theirs)) throw new TypeError(`saved state: groups[${g}] must be an object, got ${describe(theirs)}`);
    const names = own(theirs, 'params');
    if (!Array.isArray(names)) throw new TypeError(`saved state: groups[${g}].params must be an array of names, got ${describe(names)}`);
    if (names.length !== ours.params.length || names.some((name, i) => name !== ours.params[i])) {
      throw new RangeError(`saved state: group ${g} holds parameters [${listNames(names)}], this optimizer's holds [${ours.params.join(', ')}]`);
    }
    const options = own(theirs, 'options');
    if (!isRecord(options)) throw new TypeError(`saved state: groups[${g}].options must be an object, got ${describe(options)}`);
    const centered = own(options, 'centered');
    if (centered !== ours.centered) {
      throw new RangeError(`saved state: group ${g} was saved with centered = ${describe(centered)}, this optimizer has centered = ${ours.centered}`);
    }
    const momentum = own(options, 'momentum');
    const savedMomentum = typeof momentum === 'number' ? momentum : NaN;
    if (!(savedMomentum >= 0) || (savedMomentum === 0) !== (ours.momentum === 0)) {
      throw new RangeError(`saved state: group ${g} was saved with momentum = ${describe(momentum)}, this optimizer has momentum = ${ours.momentum} (a momentum buffer must exist in both or neither)`);
    }
  });
  if (!isRecord(state)) throw new TypeError(`saved state: 'state' must be an object, got ${describe(state)}`);
  const known = new Set(tensors.map((t) => t.name));
  for (const name of Object.keys(state)) {
    if (!known.has(name)) throw new RangeError(`saved state has an array for parameter ${quote(name)}, which this optimizer does not have`);
  }
  const arrays: Array<[Float32Array, Float32Array]> = [];
  for (const t of tensors) {
    const entry = own(state, t.name);
    if (entry === undefined) throw new RangeError(`saved state is missing parameter '${t.name}'`);
    if (!isRecord(entry)) throw new TypeError(`saved state: state[${quote(t.name)}] must be an object, got ${describe(entry)}`);
    for (const kind of Object.keys(entry)) {
      if (!KINDS.includes(kind as ArrayKind)) throw new RangeError(`saved state: state[${quote(t.name)}] has ${quote(kind)}; a parameter's arrays are ${KINDS.join(', ')}`);
    }
    for (const kind of KINDS) {
      const target = stateArray(t, kind);
      const text = own(entry, kind);
      if (!target) {
        if (text !== undefined) throw new RangeError(`saved state has ${kind} for '${t.name}', which this optimizer does not keep`);
        continue;
      }
      if (typeof text !== 'string') throw new TypeError(`saved state: ${kind} of '${t.name}' must be a base64 string, got ${describe(text)}`);
      const bytes = decodeField(text, `saved state: ${kind} of '${t.name}'`);
      if (bytes.length !== t.length * 4) {
        throw new RangeError(`saved state: ${kind} of '${t.name}' has ${bytes.length / 4} elements, the parameter has ${t.length}`);
      }
      const values = new Float32Array(bytes.buffer, bytes.byteOffset, t.length);
      // The kernels rely on S ≥ 0 (its subnormal flush skips |S|); NaN is allowed, as a run can make it.
      const negative = kind === 'squareAvg' ? values.findIndex((x) => x < 0) : -1;
      if (negative >= 0) throw new RangeError(`saved state: squareAvg of '${t.name}' is negative (${values[negative]}) at index ${negative}`);
      arrays.push([target, values]);
    }
  }
  return { stepCount: stepCount as number, arrays };
}

/** A step count is a safe integer ≥ 0: beyond 2^53 a step could not be counted exactly. */
export function checkStepCount(value: unknown, where: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${where} must be a number, got ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${where} must be an integer from 0 to 2^53 − 1, got ${value}`);
}

function decodeField(text: string, where: string): Uint8Array {
  try {
    return decodeBase64(text);
  } catch {
    throw new TypeError(`${where} is not valid base64`);
  }
}

// Binary form: 'RMSP', u32 version, u32 header length, UTF-8 JSON header (the saved state with each
// base64 array replaced by [byte offset, element count] into the data), padding to 4, float32 data.
const MAGIC = [0x52, 0x4d, 0x53, 0x50];

/** The compact binary form of a saved state. Throws a TypeError/RangeError naming a malformed field. */
export function encodeState(saved: SavedState): Uint8Array {
  if (!isRecord(saved)) throw new TypeError(`encodeState needs a saved state object, got ${describe(saved)}`);
  const format = own(saved, 'format');
  const version = own(saved, 'version');
  const savedState = own(saved, 'state');
  if (format !== STATE_FORMAT) throw new TypeError(`encodeState: format must be '${STATE_FORMAT}', got ${describe(format)}`);
  if (version !== STATE_VERSION) throw new RangeError(`encodeState: version must be ${STATE_VERSION}, got ${describe(version)}`);
  if (!isRecord(savedState)) throw new TypeError(`encodeState: 'state' must be an object, got ${describe(savedState)}`);
  const chunks: Uint8Array[] = [];
  let dataBytes = 0;
  const state = record(Object.keys(savedState).map((name) => {
    const entry = own(savedState, name);
    if (!isRecord(entry)) throw new TypeError(`encodeState: state[${quote(name)}] must be an object, got ${describe(entry)}`);
    return [name, record(Object.keys(entry).map((kind) => {
      const text = own(entry, kind);
      const where = `encodeState: state[${quote(name)}].${kind}`;
      if (!KINDS.includes(kind as ArrayKind)) throw new RangeError(`encodeState: state[${quote(name)}] has ${quote(kind)}; a parameter's arrays are ${KINDS.join(', ')}`);
      if (typeof text !== 'string') throw new TypeError(`${where} must be a base64 string, got ${describe(text)}`);
      const bytes = decodeField(text, where);
      if (bytes.length % 4 !== 0) throw new RangeError(`${where} holds ${bytes.length} bytes, not a whole number of float32s`);
      const ref: [number, number] = [dataBytes, bytes.length / 4];
      chunks.push(bytes);
      dataBytes += bytes.length;
      return [kind, ref] as const;
    }))] as const;
  }));
  const header = new TextEncoder().encode(JSON.stringify({
    format, version, stepCount: own(saved, 'stepCount'), groups: own(saved, 'groups'), state,
  }));
  const dataStart = (12 + header.length + 3) & ~3;
  const out = new Uint8Array(dataStart + dataBytes);
  out.set(MAGIC);
  const view = new DataView(out.buffer);
  view.setUint32(4, version, true);
  view.setUint32(8, header.length, true);
  out.set(header, 12);
  let at = dataStart;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Reads the binary form back into the JSON form; throws on anything malformed or truncated. */
export function decodeState(bytes: Uint8Array): SavedState {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`decodeState needs a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 12) throw new RangeError(`state bytes are truncated: ${bytes.length} bytes, the header alone needs 12`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new TypeError('these bytes are not an rmsprop-wasm state (the magic number is wrong)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== STATE_VERSION) throw new RangeError(`state format version ${version} is not supported; this library reads version ${STATE_VERSION}`);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) {
    throw new RangeError(`state bytes are truncated: the header needs ${12 + headerLength} bytes, only ${bytes.length} are present`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch {
    throw new TypeError('state bytes: the header is not valid JSON');
  }
  if (!isRecord(header)) throw new TypeError(`state bytes: the header must be a JSON object, got ${describe(header)}`);
  const refs = own(header, 'state');
  if (!isRecord(refs)) throw new TypeError(`state bytes: the header's 'state' must be an object, got ${describe(refs)}`);
  const dataStart = (12 + headerLength + 3) & ~3;
  const state = record(Object.keys(refs).map((name) => {
    const entry = own(refs, name);
    if (!isRecord(entry)) throw new TypeError(`state bytes: state[${quote(name)}] must be an object, got ${describe(entry)}`);
    return [name, record(Object.keys(entry).map((kind) => {
      const ref = own(entry, kind);
      const [offset, count] = Array.isArray(ref) && ref.length === 2 ? ref : [NaN, NaN];
      if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(count) && offset >= 0 && count >= 0)) {
        throw new TypeError(`state bytes: the reference to ${kind} of ${quote(name)} must be [byte offset, element count], got ${describe(ref)}`);
      }
      const end = dataStart + offset + count * 4;
      if (end > bytes.length) {
        throw new RangeError(`state bytes are truncated: ${kind} of ${quote(name)} ends at byte ${end}, only ${bytes.length} are present`);
      }
      return [kind, encodeBase64(bytes.subarray(dataStart + offset, end))] as const;
    }))] as const;
  }));
  return { ...(header as SavedState), state } as SavedState;
}

// Saved optimizer state: a versioned JSON form (float arrays as base64 of little-endian float32, so
// NaN, ±∞ and −0 survive JSON.stringify) and a compact binary form of the same thing.
import { decodeBase64, encodeBase64 } from './base64.js';
import { describe, type GroupInfo, type ResolvedOptions } from './options.js';

export const STATE_FORMAT = 'rmsprop-wasm-state';
export const STATE_VERSION = 1;

type ArrayKind = 'squareAvg' | 'gradAvg' | 'momentum';
const KINDS: readonly ArrayKind[] = ['squareAvg', 'gradAvg', 'momentum'];

export interface SavedState {
  format: typeof STATE_FORMAT;
  version: number;
  stepCount: number;
  /** Per group: its parameter names, and its options (informative, except centered and momentum, which must match on load). */
  groups: Array<{ params: string[]; options: Record<string, unknown> }>;
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

export function savedState(stepCount: number, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]): SavedState {
  const state: SavedState['state'] = {};
  for (const t of tensors) {
    state[t.name] = {};
    for (const kind of KINDS) {
      const array = t.state[kind];
      if (array) state[t.name][kind] = encodeBase64(bytesOf(array));
    }
  }
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
 * kind of value) or RangeError (a value that does not fit) naming the first mismatch.
 */
export function readSavedState(saved: unknown, groups: readonly GroupInfo[], tensors: readonly TensorArrays[]) {
  if (saved === null || typeof saved !== 'object') throw new TypeError(`saved state must be an object, got ${describe(saved)}`);
  const s = saved as Partial<SavedState>;
  if (s.format !== STATE_FORMAT) throw new TypeError(`saved state: format must be '${STATE_FORMAT}', got ${describe(s.format)}`);
  if (s.version !== STATE_VERSION) {
    throw new RangeError(`saved state: format version ${describe(s.version)} is not supported; this library reads version ${STATE_VERSION}`);
  }
  if (!Number.isSafeInteger(s.stepCount) || (s.stepCount as number) < 0) {
    throw new RangeError(`saved state: stepCount must be an integer ≥ 0, got ${describe(s.stepCount)}`);
  }
  if (!Array.isArray(s.groups) || s.groups.length !== groups.length) {
    throw new RangeError(`saved state has ${Array.isArray(s.groups) ? s.groups.length : describe(s.groups)} groups, this optimizer has ${groups.length}`);
  }
  groups.forEach((ours, g) => {
    const theirs = s.groups![g] ?? {};
    const names = Array.isArray(theirs.params) ? theirs.params : [];
    if (names.length !== ours.params.length || names.some((name, i) => name !== ours.params[i])) {
      throw new RangeError(`saved state: group ${g} holds parameters [${names.join(', ')}], this optimizer's holds [${ours.params.join(', ')}]`);
    }
    const options = theirs.options ?? {};
    if (options.centered !== ours.centered) {
      throw new RangeError(`saved state: group ${g} was saved with centered = ${describe(options.centered)}, this optimizer has centered = ${ours.centered}`);
    }
    const savedMomentum = typeof options.momentum === 'number' ? options.momentum : NaN;
    if (!(savedMomentum >= 0) || (savedMomentum === 0) !== (ours.momentum === 0)) {
      throw new RangeError(`saved state: group ${g} was saved with momentum = ${describe(options.momentum)}, this optimizer has momentum = ${ours.momentum} (a momentum buffer must exist in both or neither)`);
    }
  });
  if (s.state === null || typeof s.state !== 'object') throw new TypeError(`saved state: 'state' must be an object, got ${describe(s.state)}`);
  const known = new Set(tensors.map((t) => t.name));
  for (const name of Object.keys(s.state)) {
    if (!known.has(name)) throw new RangeError(`saved state has an array for parameter '${name}', which this optimizer does not have`);
  }
  const arrays: Array<[Float32Array, Float32Array]> = [];
  for (const t of tensors) {
    const entry = s.state[t.name];
    if (entry === undefined) throw new RangeError(`saved state is missing parameter '${t.name}'`);
    for (const kind of KINDS) {
      const target = t.state[kind];
      const text = entry[kind];
      if (!target) {
        if (text !== undefined) throw new RangeError(`saved state has ${kind} for '${t.name}', which this optimizer does not keep`);
        continue;
      }
      if (typeof text !== 'string') throw new TypeError(`saved state: ${kind} of '${t.name}' must be a base64 string, got ${describe(text)}`);
      let bytes: Uint8Array;
      try {
        bytes = decodeBase64(text);
      } catch {
        throw new TypeError(`saved state: ${kind} of '${t.name}' is not valid base64`);
      }
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
  return { stepCount: s.stepCount as number, arrays };
}

// Binary form: 'RMSP', u32 version, u32 header length, UTF-8 JSON header (the saved state with each
// base64 array replaced by [byte offset, element count] into the data), padding to 4, float32 data.
const MAGIC = [0x52, 0x4d, 0x53, 0x50];

/** The compact binary form of a saved state. */
export function encodeState(saved: SavedState): Uint8Array {
  const chunks: Uint8Array[] = [];
  let dataBytes = 0;
  const state: Record<string, Record<string, [number, number]>> = {};
  for (const [name, entry] of Object.entries(saved.state)) {
    state[name] = {};
    for (const [kind, text] of Object.entries(entry)) {
      const bytes = decodeBase64(text as string);
      state[name][kind] = [dataBytes, bytes.length / 4];
      chunks.push(bytes);
      dataBytes += bytes.length;
    }
  }
  const header = new TextEncoder().encode(JSON.stringify({ ...saved, state }));
  const dataStart = (12 + header.length + 3) & ~3;
  const out = new Uint8Array(dataStart + dataBytes);
  out.set(MAGIC);
  const view = new DataView(out.buffer);
  view.setUint32(4, saved.version, true);
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
  let header: SavedState & { state: Record<string, Record<string, [number, number]>> };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch {
    throw new TypeError('state bytes: the header is not valid JSON');
  }
  const dataStart = (12 + headerLength + 3) & ~3;
  const state: SavedState['state'] = {};
  for (const [name, entry] of Object.entries(header.state ?? {})) {
    state[name] = {};
    for (const [kind, ref] of Object.entries(entry)) {
      const [offset, count] = Array.isArray(ref) ? ref : [NaN, NaN];
      const end = dataStart + offset + count * 4;
      if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(count) && offset >= 0 && count >= 0)) {
        throw new TypeError(`state bytes: the reference to ${kind} of '${name}' is malformed`);
      }
      if (end > bytes.length) {
        throw new RangeError(`state bytes are truncated: ${kind} of '${name}' ends at byte ${end}, only ${bytes.length} are present`);
      }
      state[name][kind as ArrayKind] = encodeBase64(bytes.subarray(dataStart + offset, end));
    }
  }
  return { ...header, state };
}

// The binary form of a saved state: 'RMSP', u32 version, u32 header length, UTF-8 JSON header (the
// saved state with each array replaced by [byte offset into the data, element count], and for
// compressed state's codes (version 3) [offset, count, 2 or 1]), zero padding to a multiple of 4,
// the data (every array 4-byte aligned), then the CRC-32 of every byte before it (from version 2).
// All integers little-endian.
import { own } from './inputs.js';
import { RMSProp } from './rmsprop.js';
import { isGone, isPlainArrayBuffer, plainView, TYPED, typedArrayKind } from './typed-arrays.js';
import { type CompressedFormat, describe, isRecord, type StateFormat } from './options.js';
import { STATE_KINDS } from './layout.js';
import { FORMAT_OF_ELEMENT_BYTES, STATE_ARRAY, STATE_ELEMENT_BYTES } from './kernel.js';
import {
  checkArrayName,
  checkVersion,
  jsonHint,
  quote,
  readSavedFields,
  savedGroup,
  record,
  type SavedState,
  STATE_FORMAT,
  type Typed,
  savedArrayFormat,
} from './state.js';
import { checkArrayKind, checkStepCount, type ReadArray, readStateArray } from './state-load.js';

const MAGIC = [0x52, 0x4d, 0x53, 0x50];
/**
 * The binary layout's version, which the envelope carries (the JSON header keeps the saved state's
 * own): 4 since version 3 added code arrays' [offset, count, bytes per code]; saved-state versions
 * that change only what arrays mean (5: 8-bit ḡ as bfloat16) leave it, and no single flipped bit
 * turns 4 into 1, the version without a CRC.
 */
const BINARY_VERSION = 4;

/** Magic, version and header length. */
const HEADER_BYTES = 12;
const CRC_BYTES = 4;
const roundUp4 = (bytes: number) => Math.ceil(bytes / 4) * 4;

/** CRC-32 (IEEE 802.3, as zip and PNG), eight bytes at a time (slicing-by-8: checkpoints are large). */
const CRC_TABLE = (() => {
  const table = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++)
      table[t * 256 + n] = (table[(t - 1) * 256 + n] >>> 8) ^ table[table[(t - 1) * 256 + n] & 255];
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  const T = CRC_TABLE;
  let c = -1;
  let i = 0;
  for (; i + 7 < bytes.length; i += 8) {
    const low = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      T[1792 + (low & 255)] ^
      T[1536 + ((low >>> 8) & 255)] ^
      T[1280 + ((low >>> 16) & 255)] ^
      T[1024 + (low >>> 24)] ^
      T[768 + bytes[i + 4]] ^
      T[512 + bytes[i + 5]] ^
      T[256 + bytes[i + 6]] ^
      T[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = T[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * A Uint8Array over a plain ArrayBuffer, as TypeScript 5.7 and later can say (Blob, fetch and
 * crypto.subtle take it as it is), written so that earlier compilers read a Uint8Array.
 */
type PlainBytes = ReturnType<Uint8Array['slice']>;

/** A value parsed from a header, as JSON up to 80 characters (a reference's numbers are the point). */
const shown = (value: unknown) => {
  const json = JSON.stringify(value);
  return json !== undefined && json.length <= 80 ? json : describe(value);
};

/** A saved state's groups as loadState reads them: an array of { params: names, options: object }. */
function checkGroupsShape(groups: unknown): void {
  if (!Array.isArray(groups))
    throw new TypeError(`encodeState: groups must be an array of { params, options }, got ${describe(groups)}`);
  groups.forEach((group: unknown, g) => savedGroup(group, g, 'encodeState'));
}

/**
 * The compact binary form of an optimizer's state, or of a saved state (any version this library
 * reads, its arrays in any form). Given the optimizer, `encodeState(opt)`, it reads the state where
 * it lies, so a big checkpoint needs memory for its bytes alone; `saveState({ arrays: 'float32' })`
 * first makes a copy of every array. Throws a TypeError/RangeError naming a malformed field.
 */
export function encodeState(source: SavedState | RMSProp): PlainBytes {
  const saved = source instanceof RMSProp ? source.stateViews() : source;
  if (!isRecord(saved))
    throw new TypeError(`encodeState needs a saved state object, got ${describe(saved)}${jsonHint(saved)}`);
  const { version, state: savedArrays, compressed } = readSavedFields(saved, 'encodeState');
  const stepCount = own(saved, 'stepCount');
  checkStepCount(stepCount, 'encodeState: stepCount');
  const groups = own(saved, 'groups');
  checkGroupsShape(groups);
  const arrays: Array<[at: number, read: ReadArray]> = [];
  let dataBytes = 0;
  const state = record(
    Object.keys(savedArrays).map((name) => {
      const entry = own(savedArrays, name);
      if (!isRecord(entry))
        throw new TypeError(`encodeState: state[${quote(name)}] must be an object, got ${describe(entry)}`);
      return [
        name,
        record(
          Object.keys(entry).map((kind) => {
            const where = `encodeState: state[${quote(name)}].${kind}`;
            checkArrayName(kind, `encodeState: state[${quote(name)}]`);
            const read = readStateArray(own(entry, kind), where);
            // codes of compressed state (bfloat16: 2 bytes, 8 bits: 1); scales and averages float32
            const stateKind = STATE_KINDS.find((stateKind) => stateKind === kind);
            const format =
              (stateKind && savedArrayFormat(own(compressed, name) as CompressedFormat, stateKind, version)) ??
              'float32';
            const elementBytes = STATE_ELEMENT_BYTES[format as StateFormat];
            checkArrayKind(read, STATE_ARRAY[format as StateFormat], where);
            if (read.bytes % elementBytes !== 0)
              throw new RangeError(
                `${where} holds ${read.bytes} bytes, not a whole number of ${elementBytes}-byte elements`,
              );
            const count = read.bytes / elementBytes;
            const ref = elementBytes === 4 ? [dataBytes, count] : [dataBytes, count, elementBytes];
            arrays.push([dataBytes, read]);
            dataBytes += roundUp4(read.bytes); // every array starts 4-byte aligned
            return [kind, ref] as const;
          }),
        ),
      ] as const;
    }),
  );
  let json: string;
  try {
    // the saved state's own version, which says what its codes mean (version 3's centered S is S, not
    // its variance); the envelope's version is the binary layout's
    json = JSON.stringify({ format: STATE_FORMAT, version, stepCount, groups, state, compressed });
  } catch (error) {
    throw new TypeError(`encodeState: groups hold a value JSON cannot write (${(error as Error).message})`);
  }
  const header = new TextEncoder().encode(json);
  const dataStart = roundUp4(HEADER_BYTES + header.length);
  const out = new Uint8Array(dataStart + dataBytes + CRC_BYTES);
  out.set(MAGIC);
  const view = new DataView(out.buffer);
  view.setUint32(4, BINARY_VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, HEADER_BYTES);
  for (const [at, read] of arrays) read.write(out, dataStart + at);
  const end = dataStart + dataBytes;
  view.setUint32(end, crc32(out.subarray(0, end)), true);
  return out;
}

/**
 * Reads the binary form back into a saved state whose arrays are typed arrays, for `loadState`:
 * views of `input`'s own memory (so that loading a checkpoint of gigabytes does not need it twice;
 * change `input` and they change), or of one copy of the data when `input` starts off a 4-byte
 * boundary or its buffer is shared or resizable. No string is made of them; `JSON.stringify` does
 * not serialise Float32Arrays as base64, so for the JSON form load it and call `saveState()`.
 * Before allocating anything it checks the CRC-32 (version 2 on), and that the arrays cover the
 * data exactly once: no reference past the end, none overlapping or aliasing another, no byte left
 * over. Throws a TypeError/RangeError on anything malformed, truncated or corrupt.
 */
export function decodeState(input: Uint8Array): SavedState {
  if (typedArrayKind(input) !== 'Uint8Array')
    throw new TypeError(
      `decodeState needs a Uint8Array, got ${describe(input)}${typeof input === 'string' ? ' (base64 or text? decode it to bytes first)' : ''}`,
    );
  if (isGone(input)) throw new TypeError("decodeState: the Uint8Array's buffer was detached or shrunk below it");
  const bytes = plainView(input);
  const { version, header, dataStart, end } = readEnvelope(bytes);
  const refs = own(header, 'state');
  if (!isRecord(refs))
    throw new TypeError(`state bytes: the header's 'state' must be an object, got ${describe(refs)}`);
  const places = readPlaces(refs, version, dataStart, end);
  checkCoverage(places, end - dataStart);
  const inPlace = bytes.byteOffset % 4 === 0 && isPlainArrayBuffer(bytes.buffer);
  const data = inPlace ? bytes.buffer : bytes.slice(dataStart, end).buffer;
  const first = inPlace ? bytes.byteOffset + dataStart : 0;
  const state: Record<string, Record<string, Typed>> = record(Object.keys(refs).map((name) => [name, {}]));
  for (const { name, kind, offset, count, element } of places) {
    const Kind = TYPED[STATE_ARRAY[FORMAT_OF_ELEMENT_BYTES.get(element)!]];
    Object.defineProperty(state[name], kind, {
      value: count === 0 ? new Kind(0) : new Kind(data, first + offset, count), // (an empty array's offset is free)
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { ...(header as SavedState), state };
}

/**
 * The envelope around the arrays: magic, version, header length, the JSON header, and (version 2
 * on) the CRC-32 of every byte before it, checked before anything else is read. `end` is where the
 * data stops (the checksum's first byte).
 */
function readEnvelope(bytes: Uint8Array): {
  version: number;
  header: object;
  dataStart: number;
  end: number;
} {
  if (bytes.length < HEADER_BYTES)
    throw new RangeError(`state bytes are truncated: ${bytes.length} bytes, the header alone needs ${HEADER_BYTES}`);
  if (MAGIC.some((b, i) => bytes[i] !== b))
    throw new TypeError('these bytes are not an rmsprop-wasm state (the magic number is wrong)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  checkVersion(version, 'state ');
  let end = bytes.length;
  if (version >= 2) {
    end -= CRC_BYTES;
    if (end < HEADER_BYTES)
      throw new RangeError(
        `state bytes are truncated: ${bytes.length} bytes, the header and checksum alone need ${HEADER_BYTES + CRC_BYTES}`,
      );
    const stored = view.getUint32(end, true);
    const actual = crc32(bytes.subarray(0, end));
    if (stored !== actual) {
      throw new RangeError(
        `state bytes are corrupt: their CRC-32 is 0x${actual.toString(16).padStart(8, '0')}, the file says 0x${stored.toString(16).padStart(8, '0')} (truncated, changed or damaged)`,
      );
    }
  }
  const headerLength = view.getUint32(8, true);
  if (HEADER_BYTES + headerLength > end) {
    throw new RangeError(
      `state bytes are truncated: the header needs ${HEADER_BYTES + headerLength} bytes, only ${end} are present`,
    );
  }
  let header: unknown;
  try {
    // A copy: TextDecoder refuses a view of shared memory (the optimizer's own, with threads).
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.slice(HEADER_BYTES, HEADER_BYTES + headerLength)),
    );
  } catch {
    throw new TypeError('state bytes: the header is not valid UTF-8 JSON');
  }
  if (!isRecord(header)) throw new TypeError(`state bytes: the header must be a JSON object, got ${describe(header)}`);
  return { version, header, dataStart: roundUp4(HEADER_BYTES + headerLength), end };
}

/** Where an array lies in the data; `bytes`: its elements' bytes rounded up to a multiple of 4. */
interface Place {
  name: string;
  kind: string;
  offset: number;
  count: number;
  element: number;
  bytes: number;
}

/** The header's references to the arrays, each checked to lie before `end`. */
function readPlaces(refs: object, version: number, dataStart: number, end: number): Place[] {
  const places: Place[] = [];
  for (const name of Object.keys(refs)) {
    const entry = own(refs, name);
    if (!isRecord(entry))
      throw new TypeError(`state bytes: state[${quote(name)}] must be an object, got ${describe(entry)}`);
    for (const kind of Object.keys(entry)) {
      const ref = own(entry, kind);
      // [offset, count] of float32, or (version 3) [offset, count, 2 or 1] of compressed state's codes
      const [offset, count, element = 4] =
        Array.isArray(ref) && (ref.length === 2 || (version >= 3 && ref.length === 3))
          ? (ref as unknown[])
          : [NaN, NaN];
      if (
        !(
          Number.isSafeInteger(offset) &&
          Number.isSafeInteger(count) &&
          (offset as number) >= 0 &&
          (count as number) >= 0 &&
          FORMAT_OF_ELEMENT_BYTES.has(element as number)
        )
      ) {
        throw new TypeError(
          `state bytes: the reference to ${kind} of ${quote(name)} must be [byte offset, element count] (or, for compressed state, [byte offset, element count, 2 or 1]), got ${shown(ref)}`,
        );
      }
      const place = {
        name,
        kind,
        offset: offset as number,
        count: count as number,
        element: element as number,
        bytes: roundUp4((count as number) * (element as number)),
      };
      const stop = dataStart + place.offset + place.bytes;
      if (stop > end)
        throw new RangeError(
          `state bytes are truncated: ${kind} of ${quote(name)} ends at byte ${stop}, only ${end} are present`,
        );
      places.push(place);
    }
  }
  return places;
}

/** Checks that each of the `dataBytes` data bytes belongs to exactly one array. */
function checkCoverage(places: readonly Place[], dataBytes: number): void {
  const sorted = places.filter((p) => p.count > 0).sort((a, b) => a.offset - b.offset);
  let covered = 0;
  for (let i = 0; i < sorted.length; i++) {
    const { name, kind, offset, bytes: size } = sorted[i];
    if (offset < covered) {
      const other = sorted[i - 1];
      throw new RangeError(
        `state bytes: ${kind} of ${quote(name)} (data bytes ${offset} to ${offset + size}) overlaps ${other.kind} of ${quote(other.name)} (bytes ${other.offset} to ${covered}): each array must have bytes of its own`,
      );
    }
    if (offset > covered) throw new RangeError(`state bytes: data bytes ${covered} to ${offset} belong to no array`);
    covered = offset + size;
  }
  if (covered !== Math.max(dataBytes, 0))
    throw new RangeError(`state bytes: data bytes ${covered} to ${Math.max(dataBytes, 0)} belong to no array`);
}

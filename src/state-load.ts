// Loading saved state (RMSProp.loadState, and the PyTorch dict through it): every field read and
// checked against the optimizer before anything is written, then the writes to run.
import { decodeBase64Into, decodedLength } from './base64.js';
import { own, readOptionChanges } from './inputs.js';
import {
  arrayBuffer,
  arrayByteOffset,
  bitsOf,
  setArray,
  isGone,
  plainView,
  sharesMemory,
  TYPED,
  typedArrayKind,
} from './typed-arrays.js';
import { STATE_ARRAY, STATE_BLOCK, STATE_ELEMENT_BYTES } from './kernel.js';
import { arrayFormat, SCALES_OF, STATE_KINDS, type StateKind } from './layout.js';
import { addSquares, checkOwnArray, encodeCompressed, encodeInChunks } from './tensors.js';
import {
  describe,
  FIXED_AFTER_CREATE,
  type CompressedFormat,
  type GroupInfo,
  isRecord,
  type ResolvedOptions,
  readOptions,
} from './options.js';
import {
  bytesOf,
  checkArrayName,
  type LoadOptions,
  methodOption,
  jsonHint,
  KINDS,
  listNames,
  quote,
  readSavedFields,
  HALF_GRAD_AVG_VERSION,
  savedArrayFormat,
  savedGroup,
  record,
  stateArray,
  type TensorArrays,
  type Typed,
} from './state.js';
import { decodeArray, decodeChunk, fromBits, isScaleBits } from './state-codecs.js';

/** A state array as read: its size in bytes, and a writer of those bytes (which throws on bad base64). @internal */
export interface ReadArray {
  readonly bytes: number;
  /** The array itself, when it was given as a typed array. */
  readonly typed: Typed | undefined;
  write(out: Uint8Array, at: number): void;
}

/** Reads one state array in any of its forms (see StateArray), checking all but base64's characters. @internal */
export function readStateArray(value: unknown, where: string): ReadArray {
  const kind = typedArrayKind(value);
  if (kind === 'Float32Array' || kind === 'Uint16Array' || kind === 'Uint8Array') {
    if (isGone(value as Typed))
      throw new TypeError(`${where} is a ${kind} whose buffer was detached or shrunk below it`);
    const typed = plainView(value as Typed);
    return { bytes: typed.byteLength, typed, write: (out, at) => out.set(bytesOf(typed), at) };
  }
  const pieces =
    typeof value === 'string' ? [value] : Array.isArray(value) && value.length > 0 ? (value as unknown[]) : undefined;
  if (!pieces)
    throw new TypeError(
      `${where} must be a base64 string, an array of base64 pieces or a typed array (Float32Array values; Uint16Array or Uint8Array codes), got ${describe(value)}`,
    );
  let bytes = 0;
  pieces.forEach((piece, k) => {
    const size = typeof piece === 'string' ? decodedLength(piece) : -1;
    if (typeof piece !== 'string')
      throw new TypeError(`${where}[${k}] must be a base64 string, got ${describe(piece)}`);
    if (size < 0) throw new TypeError(`${where}${pieces.length > 1 ? `[${k}]` : ''} is not valid base64`);
    bytes += size;
  });
  return {
    bytes,
    typed: undefined,
    write(out, at) {
      pieces.forEach((piece, k) => {
        if (!decodeBase64Into(piece as string, out, at))
          throw new TypeError(`${where}${pieces.length > 1 ? `[${k}]` : ''} is not valid base64`);
        at += decodedLength(piece as string);
      });
    },
  };
}

/**
 * Each group's options as `saved` holds them (loadState's `restoreOptions`), of those setOptions may
 * change; null is off. A schedule is a function, never saved: a group's own stays (its position is the
 * step count), and one saved ("schedule") leaves the group's lr as it is. Throws before any change.
 * @internal
 */
export function restoredOptions(
  saved: ReadonlyArray<Record<string, unknown>>,
  current: readonly ResolvedOptions[],
  where = (g: number) => `saved state: groups[${g}].options`,
  savedNames: Readonly<Record<string, string>> = {},
): ResolvedOptions[] {
  return current.map((options, g) => {
    const entries = Object.entries(saved[g]).map(
      ([key, value]) => [key, value === null && CLIPPING.includes(key) ? Infinity : value] as const,
    );
    const isFixed = ([key]: readonly [string, unknown]) => (FIXED_AFTER_CREATE as readonly string[]).includes(key);
    const changes = entries.filter(
      (entry) =>
        !isFixed(entry) && !(entry[0] === 'lr' && (entry[1] === 'schedule' || typeof options.lr === 'function')),
    );
    try {
      readOptions(record(entries.filter(isFixed))); // those fixed at create are kept, but a bad one is refused too
      return readOptionChanges(options, record(changes));
    } catch (error) {
      if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
      const name = Object.keys(savedNames).find((ours) => error.message.startsWith(`option '${ours}'`));
      const message = name ? `'${savedNames[name]}' (${error.message})` : error.message;
      error.message = `${where(g)}: ${message}`;
      throw error;
    }
  });
}

/** The options saved as null when off (Infinity is not JSON). */
const CLIPPING = ['clipValue', 'clipNorm', 'globalClipNorm'];

/** loadState's options, checked. @internal */
export function readLoadOptions(options: unknown, method: string): Required<LoadOptions> {
  const restoreOptions = methodOption(options, method, 'restoreOptions') ?? false;
  if (typeof restoreOptions !== 'boolean')
    throw new TypeError(`${method} option 'restoreOptions' must be a boolean, got ${describe(restoreOptions)}`);
  return { restoreOptions };
}

/**
 * Checks `saved` against this optimizer and returns what to copy where. Throws a TypeError (wrong
 * kind of value) or RangeError (a value that does not fit) naming the first bad field.
 * @internal
 */
export function readSavedState(
  saved: unknown,
  groups: readonly GroupInfo[],
  tensors: readonly TensorArrays[],
): {
  stepCount: number;
  options: Array<Record<string, unknown>>;
  writes: Array<() => void>;
  /** Per tensor: whether it keeps an average and had none saved (Tensor.averageStarts). */
  averageStarts: boolean[];
} {
  if (!isRecord(saved)) throw new TypeError(`saved state must be an object, got ${describe(saved)}${jsonHint(saved)}`);
  const { version, state, compressed: formats } = readSavedFields(saved, 'saved state');
  const stepCount = own(saved, 'stepCount');
  const savedGroups = own(saved, 'groups');
  checkStepCount(stepCount, 'saved state: stepCount');
  if (!Array.isArray(savedGroups))
    throw new TypeError(`saved state: groups must be an array, got ${describe(savedGroups)}`);
  if (savedGroups.length !== groups.length) {
    throw new RangeError(`saved state has ${savedGroups.length} groups, this optimizer has ${groups.length}`);
  }
  const options = readGroupOptions(savedGroups, groups);
  const known = new Set(tensors.map((t) => t.name));
  for (const name of Object.keys(state)) {
    if (!known.has(name))
      throw new RangeError(`saved state has an array for parameter ${quote(name)}, which this optimizer does not have`);
  }
  for (const name of Object.keys(formats)) {
    if (!known.has(name))
      throw new RangeError(
        `saved state: 'compressed' names parameter ${quote(name)}, which this optimizer does not have`,
      );
  }
  const writes: Array<() => void> = [];
  const first = tensors.find((t) => t.length > 0);
  const firstState = first && (first.compressed?.codes.squareAvg ?? stateArray(first, 'squareAvg')!);
  // a byte of the optimizer's memory that nothing else uses meanwhile, to tell its views (see copyOf)
  const idle = firstState && new Uint8Array(arrayBuffer(firstState), arrayByteOffset(firstState), 1);
  // Every field read first, so that a caller's getter or proxy runs now, never between a check and
  // its write (it could detach, shrink or change an array already checked); pieces' arrays copied.
  const entries = tensors.map((t) => {
    const entry = own(state, t.name);
    if (entry === undefined) throw new RangeError(`saved state is missing parameter '${t.name}'`);
    if (!isRecord(entry))
      throw new TypeError(`saved state: state[${quote(t.name)}] must be an object, got ${describe(entry)}`);
    const format = own(formats, t.name) as CompressedFormat | undefined;
    for (const kind of Object.keys(entry)) {
      checkArrayName(kind, `saved state: state[${quote(t.name)}]`);
      if (kind.endsWith('Scales') && format !== '8bit')
        throw new RangeError(
          `saved state: state[${quote(t.name)}] has ${quote(kind)}, which only 8-bit state keeps (its format is ${format ?? 'float32'})`,
        );
    }
    const fields = KINDS.map((kind) => {
      const value = own(entry, kind);
      return [kind, Array.isArray(value) ? Array.from(value as unknown[]) : value] as const;
    });
    return { t, format, fields: record(fields) };
  });
  for (const { t, format, fields } of entries) writes.push(...tensorWrites(t, format, fields, idle, version));
  const averageStarts = entries.map(({ t, fields }) => t.average !== undefined && fields.average === undefined);
  return { stepCount: (stepCount as number) + 0, options, writes, averageStarts }; // (−0 as 0)
}

const NONE = new Float32Array(0);

/** Each saved group's options (read once), after checking its parameters' names and state arrays against ours. */
function readGroupOptions(savedGroups: unknown[], groups: readonly GroupInfo[]): Array<Record<string, unknown>> {
  return groups.map((ours, g) => {
    const { names, options: given } = savedGroup(savedGroups[g], g, 'saved state');
    if (names.length !== ours.params.length || names.some((name, i) => name !== ours.params[i])) {
      throw new RangeError(
        `saved state: group ${g} holds parameters [${listNames(names)}], this optimizer's holds [${ours.params.join(', ')}]`,
      );
    }
    const options = record(Object.keys(given).map((key) => [key, own(given, key)] as const)); // each read once
    checkSameArrays(own(options, 'centered'), own(options, 'momentum'), g, ours, `saved state: groups[${g}].options`);
    return options;
  });
}

/** The first version whose compressed state of a centered tensor holds v = S − ḡ² in its S codes (before: S). */
const VARIANCE_VERSION = 4;

/**
 * The writes that load `fields` (one parameter's saved arrays, of `format`, by a state of `version`)
 * into tensor `t`: copied as stored, or converted between formats; every array checked first.
 */
function tensorWrites(
  t: TensorArrays,
  format: CompressedFormat | undefined,
  fields: Record<string, unknown>,
  idle: Uint8Array | undefined,
  version: number,
): Array<() => void> {
  const writes: Array<() => void> = [];
  const target = t.compressed;
  const savedVariance = version >= VARIANCE_VERSION;
  // A centered tensor's S is stored compressed as its variance v = S − ḡ² (tensors.ts): where the
  // saved S and ours mean different things, S and ḡ are decoded and written together.
  const centered = t.kinds.includes('gradAvg');
  const sameMeaning = !centered || (format !== undefined && savedVariance) === (target !== undefined);
  const decoded: Partial<Record<StateKind, Float32Array>> = {}; // float32 values, encoded together
  for (const kind of STATE_KINDS) {
    const keeps = t.kinds.includes(kind);
    const value = fields[kind];
    if (!keeps) {
      for (const stored of [kind, SCALES_OF[kind]])
        if (fields[stored] !== undefined)
          throw new RangeError(`saved state has ${stored} for '${t.name}', which this optimizer does not keep`);
      continue;
    }
    const where = `saved state: ${kind} of '${t.name}'`;
    const read = readStateArray(value, where);
    // this array's format as saved, and as we keep it
    const saved = savedArrayFormat(format, kind, version);
    const kept = target && arrayFormat(target.format, kind);
    if (saved !== '8bit' && fields[SCALES_OF[kind]] !== undefined)
      throw new RangeError(
        `saved state: state[${quote(t.name)}] has ${quote(SCALES_OF[kind])}, but its ${kind} is ${saved} codes, which have no scales (8-bit state keeps ḡ as bfloat16 from version ${HALF_GRAD_AVG_VERSION})`,
      );
    const elementBytes = STATE_ELEMENT_BYTES[saved ?? 'float32'];
    if (read.bytes !== t.length * elementBytes) {
      throw new RangeError(
        `${where} has ${sizeText(read.bytes, elementBytes)}${saved ? ` (${saved} codes)` : ''}, the parameter has ${t.length} elements`,
      );
    }
    const codes = copyOf(read, STATE_ARRAY[saved ?? 'float32'], where, idle);
    let scales: Float32Array | undefined;
    if (saved === '8bit') {
      const scaleWhere = `saved state: ${SCALES_OF[kind]} of '${t.name}'`;
      const readScales = readStateArray(fields[SCALES_OF[kind]], scaleWhere);
      const blocks = Math.ceil(t.length / STATE_BLOCK);
      if (readScales.bytes !== blocks * 4)
        throw new RangeError(
          `${scaleWhere} has ${readScales.bytes / 4} scales, the parameter's ${t.length} elements need ${blocks}`,
        );
      scales = copyOf(readScales, 'Float32Array', scaleWhere, idle) as Float32Array;
      checkScales(scales, scaleWhere);
    }
    // The kernels rely on S ≥ 0 (its subnormal flush skips |S|); NaN is allowed, as a run can make it.
    // (8-bit S is unsigned, and its scales are checked.)
    if (kind === 'squareAvg' && saved === 'bfloat16') {
      const negative = firstNegativeHalf(codes as Uint16Array);
      if (negative >= 0)
        refuseNegative('saved state', t.name, fromBits((codes as Uint16Array)[negative] << 16), negative);
    }
    if (kind === 'squareAvg' && !saved) checkNotNegative(codes as Float32Array, 'saved state', t.name);
    const source = { half: saved === 'bfloat16', codes: codes as Uint16Array | Uint8Array, scales: scales ?? NONE };
    if (target && saved === kept && sameMeaning) {
      // as stored, bit for bit
      const to = target.codes[kind]!;
      const toScales = target.scales[kind]!;
      writes.push(() => {
        to.set(codes as typeof to);
        if (scales) toScales.set(scales);
      });
    } else if (target && (!saved || !sameMeaning)) {
      // float32 values into compressed state (rounded to nearest), decoded first if need be
      decoded[kind] = saved
        ? decodeArray(source.half, kind === 'squareAvg', source.codes, source.scales, new Float32Array(t.length))
        : (codes as Float32Array);
    } else if (!saved) {
      const values = codes as Float32Array;
      writes.push(() => stateArray(t, kind)!.set(values));
    } else writes.push(() => convertInto(t, kind, source));
  }
  // a saved variance into float32 state: S = v + ḡ², once both are decoded
  if (!sameMeaning && !target) writes.push(() => addSquares(stateArray(t, 'squareAvg')!, stateArray(t, 'gradAvg')!));
  if (target && Object.keys(decoded).length > 0) writes.push(() => encodeCompressed(target, decoded));
  writes.push(...averageWrites(t, fields.average, idle));
  return writes;
}

/** Decodes compressed `source` into `t`'s array `kind`: float32 directly, another format a chunk at a time (rounded to nearest). */
function convertInto(
  t: TensorArrays,
  kind: StateKind,
  source: { half: boolean; codes: Uint16Array | Uint8Array; scales: Float32Array },
): void {
  const isS = kind === 'squareAvg';
  const target = t.compressed;
  if (!target) {
    decodeChunk(stateArray(t, kind)!, source.codes, source.scales, 0, t.length, source.half, isS);
    return;
  }
  encodeInChunks(target, kind, t.length, (values, first) =>
    decodeChunk(values, source.codes, source.scales, first, values.length, source.half, isS),
  );
}

/**
 * The write that loads a tensor's saved average; one saved without (a state of an optimizer without
 * ema, or a PyTorch dict) is the parameters as they are now, until the next step starts it at w.
 */
function averageWrites(t: TensorArrays, saved: unknown, idle: Uint8Array | undefined): Array<() => void> {
  const to = t.average;
  if (!to) {
    if (saved !== undefined)
      throw new RangeError(`saved state has average for '${t.name}', which this optimizer does not keep (ema is 0)`);
    return [];
  }
  if (saved === undefined) {
    checkOwnArray(t);
    const from = t.external ?? t.param!;
    return [() => setArray(to, from)];
  }
  const where = `saved state: average of '${t.name}'`;
  const read = readStateArray(saved, where);
  if (read.bytes !== t.length * 4)
    throw new RangeError(`${where} has ${sizeText(read.bytes, 4)}, the parameter has ${t.length}`);
  const values = copyOf(read, 'Float32Array', where, idle) as Float32Array;
  return [() => to.set(values)];
}

/** `bytes` as elements of `elementBytes` each, or as bytes where they do not make whole elements. */
const sizeText = (bytes: number, elementBytes: number) =>
  bytes % elementBytes ? `${bytes} bytes` : `${bytes / elementBytes} elements`;

/** 8-bit scales as the encoding writes them (isScaleBits): a negative one would make S negative, which the kernels take for 0. */
function checkScales(scales: Float32Array, where: string): void {
  const bits = bitsOf(scales);
  const bad = bits.findIndex((b) => !isScaleBits(b));
  if (bad >= 0)
    throw new RangeError(
      `${where}: block ${bad}'s scale is ${Object.is(scales[bad], -0) ? '-0' : scales[bad]} (bits 0x${bits[bad].toString(16).padStart(8, '0')}); 8-bit state's scales are +0, a power of two or NaN (0x7fc00000)`,
    );
}

/** Refuses a square average with a value below 0 (`where`: the call, for the message); NaN passes, as a run can make it. @internal */
export function checkNotNegative(values: Float32Array, where: string, name: string): void {
  const negative = values.findIndex((x) => x < 0);
  if (negative >= 0) refuseNegative(where, name, values[negative], negative);
}

/** The first bfloat16 code of a negative value (−0 and NaN are not), or -1: read as bits, with no decoded copy. */
function firstNegativeHalf(codes: Uint16Array): number {
  for (let i = 0; i < codes.length; i++) if (codes[i] > 0x8000 && codes[i] <= 0xff80) return i;
  return -1;
}

function refuseNegative(where: string, name: string, value: number, index: number): never {
  throw new RangeError(`${where}: squareAvg of '${name}' is negative (${value}) at index ${index}`);
}

/** Refuses a saved typed array of another kind than its slot holds (float32 values, or a format's codes). @internal */
export function checkArrayKind(read: ReadArray, kind: keyof typeof TYPED, where: string): void {
  if (read.typed && typedArrayKind(read.typed) !== kind)
    throw new TypeError(`${where} must be a ${kind} or base64, got ${describe(read.typed)}`);
}

/**
 * A read array as a typed array of `kind`: a copy, unless it was given as one outside the memory
 * `idle` is a byte of (in this optimizer's own memory, loading one array could overwrite another's
 * source). A typed array given must be of that kind.
 */
function copyOf(read: ReadArray, kind: keyof typeof TYPED, where: string, idle: Uint8Array | undefined): Typed {
  checkArrayKind(read, kind, where);
  if (read.typed && !(idle && sharesMemory(arrayBuffer(read.typed), idle))) return read.typed;
  const bytes = new Uint8Array(read.bytes);
  read.write(bytes, 0);
  return new TYPED[kind](bytes.buffer, 0, read.bytes / TYPED[kind].BYTES_PER_ELEMENT);
}

/**
 * Refuses a group `g` saved with `centered` and `momentum` that give other state arrays than this
 * optimizer's group keeps (`where`: the saved group's options, for the message).
 * @internal
 */
export function checkSameArrays(centered: unknown, momentum: unknown, g: number, ours: GroupInfo, where: string): void {
  if (centered !== ours.centered)
    throw new RangeError(
      `${where}.centered is ${describe(centered)}, this optimizer's group ${g} has centered = ${ours.centered}`,
    );
  const saved = typeof momentum === 'number' ? momentum : NaN;
  if (!(saved >= 0) || (saved === 0) !== (ours.momentum === 0)) {
    throw new RangeError(
      `${where}.momentum is ${describe(momentum)}, this optimizer's group ${g} has momentum = ${ours.momentum} (a momentum buffer must exist in both or neither)`,
    );
  }
}

/** Before a step: throws if the count cannot grow (a step past 2^53 − 1 would not count exactly). @internal */
export function checkCanStep(stepCount: number): void {
  if (stepCount === Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `stepCount is ${stepCount} (2^53 − 1), the largest a number counts exactly; load a saved state with a smaller stepCount to go on`,
    );
  }
}

/** A step count is a safe integer ≥ 0: beyond 2^53 a step could not be counted exactly. @internal */
export function checkStepCount(value: unknown, where: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${where} must be a number, got ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${where} must be an integer from 0 to 2^53 − 1, got ${value}`);
}

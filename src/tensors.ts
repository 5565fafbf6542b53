// The tensors placed in the planned memory (layout.ts): each one's views (parameter, gradient, state,
// compressed state's codes and scales), its group's kernel mode, and the records handed out by name.
import { kernelMode, STATE_ARRAY, STATE_BLOCK } from './kernel.js';
import { TYPED } from './typed-arrays.js';
import type { GroupSpec } from './inputs.js';
import { arrayLength } from './typed-arrays.js';
import { ARRAY_KEYS, type Codes, decodeArray, encodeArray, tensorKey } from './state-codecs.js';
import type { CompressedFormat, GroupInfo, ResolvedOptions } from './options.js';
import type { Layout, Region, Segment } from './layout.js';
import { arrayFormat, keptKinds, SCALES_OF, STATE_KINDS, type StateKind } from './layout.js';
import { fromVariance, toVariance } from './float32.js';

/**
 * One parameter's optimizer state: views into the optimizer's memory with float32 state; with
 * compressed state (stateFormat 'bfloat16' or '8bit', tensors from 4 096 elements), each read
 * returns a new Float32Array of the decoded values, which writing to does not change the state
 * (`setState` does).
 */
export interface TensorState {
  /** The running average of squared gradients, S. */
  readonly squareAvg: Float32Array;
  /** The running average of gradients, ḡ (`centered` only). */
  readonly gradAvg?: Float32Array;
  /** The momentum buffer (`momentum` > 0 only). */
  readonly momentum?: Float32Array;
  /** The parameters' moving average (`ema` > 0 only): always float32, a view. */
  readonly average?: Float32Array;
}

/** A tensor's compressed state as stored: codes and (8 bits) block scales of each array it keeps. @internal */
export interface CompressedState {
  readonly format: CompressedFormat;
  /** Each array's codes, in its arrayFormat (layout.ts: ḡ's are bfloat16 with 8 bits too). */
  readonly codes: Readonly<Partial<Record<StateKind, Codes>>>;
  /** 8-bit arrays: one float32 scale per STATE_BLOCK elements; bfloat16 ones: empty arrays. */
  readonly scales: Readonly<Partial<Record<StateKind, Float32Array>>>;
}

/** A parameter as placed in the heap: its views and offsets. @internal */
export interface Tensor {
  readonly name: string;
  readonly length: number;
  readonly group: number;
  /** Its group's segment, and its element offset inside each region of it (a multiple of 4, or of STATE_BLOCK when compressed). */
  readonly segment: number;
  readonly offset: number;
  /** The caller's array for a bring-your-own parameter; the heap copy is synced around each step. */
  readonly external: Float32Array | undefined;
  readonly param: Float32Array;
  readonly grad: Float32Array;
  readonly state: TensorState;
  /** The state arrays it keeps, in STATE_KINDS order (its group's centered and momentum). */
  readonly kinds: readonly StateKind[];
  /** The stored state when compressed (`state` then decodes it at each read). */
  readonly compressed: CompressedState | undefined;
  /** The parameters' moving average (ema), in the heap; undefined without ema. */
  readonly average: Float32Array | undefined;
  /**
   * Whether the next step starts the average at w (Keras' first step): from create, and after a load
   * that had none for it, so that it never starts from parameters filled in later, whatever the step
   * count; such an average is not saved.
   */
  averageStarts: boolean;
  /** Byte offset of its gradients in the heap. */
  readonly gradAt: number;
  /** Byte offsets of this tensor's own constants block and of its reduction block sums. */
  readonly constantsAt: number;
  readonly sumsAt: number;
}

/** A parameter group as placed in the heap, with its current options. @internal */
export interface Group {
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
  /** One kernel call each (see Segment). */
  readonly segments: readonly Segment[];
  readonly constantsAt: number;
  /**
   * With compressed state, what issueUpdates adds to the step's constants: the rounding keys of S,
   * ḡ and m less the step's key (ARRAY_KEYS less the segment's codes' random address: groupKeys), and
   * the bytes from the square scales to the block keys (Segment.base.blockKeys: each block's tensorKey
   * less its tensor's offset in S's codes). A code's random bits, a hash of its random address plus
   * these keys, so depend on its tensor's size and its index there, not on where the tensor lies.
   */
  readonly roundingKeys: Uint32Array | undefined;
}

/**
 * Whether a compressed tensor's S codes hold its variance v = S − ḡ² rather than S: a centered
 * tensor's, whose S and ḡ rounded apart would wipe out their difference (assembly/quantized.ts).
 */
const storesVariance = (c: CompressedState) => c.codes.gradAvg !== undefined;

/** A compressed tensor's array `kind` as stored (a centered one's S codes: v), decoded into a new Float32Array. */
function decodeStored(c: CompressedState, kind: StateKind, length: number): Float32Array {
  return decodeArray(
    arrayFormat(c.format, kind) === 'bfloat16',
    kind === 'squareAvg',
    c.codes[kind]!,
    c.scales[kind]!,
    new Float32Array(length),
  );
}

/** A compressed tensor's array `kind` decoded into a new Float32Array (a centered one's S rebuilt as v + ḡ²). */
function decodeCompressed(c: CompressedState, kind: StateKind, length: number): Float32Array {
  // no codes once dispose() detached the memory: empty, as the float32 views are then
  if (c.codes[kind]!.length === 0) return new Float32Array(0);
  const values = decodeStored(c, kind, length);
  if (kind === 'squareAvg' && storesVariance(c)) addSquares(values, decodeStored(c, 'gradAvg', length));
  return values;
}

/** S from a centered tensor's variance `values` and its ḡ, in place, as the kernels rebuild it. @internal */
export function addSquares(values: Float32Array, gradAvg: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i] = fromVariance(values[i], gradAvg[i]);
}

/**
 * Writes float32 arrays into a compressed tensor's state, rounded to nearest; a centered tensor's S
 * as its variance, from the S and ḡ given (either one not given: its present value). @internal
 */
export function encodeCompressed(c: CompressedState, given: Readonly<Partial<Record<StateKind, Float32Array>>>): void {
  const asVariance = storesVariance(c) && (given.squareAvg !== undefined || given.gradAvg !== undefined);
  // (S and ḡ as they are, read before ḡ is written)
  const length = c.codes.squareAvg!.length;
  const gradAvg = asVariance ? (given.gradAvg ?? decodeCompressed(c, 'gradAvg', length)) : undefined;
  const squareAvg = asVariance ? (given.squareAvg ?? decodeCompressed(c, 'squareAvg', length)) : undefined;
  for (const kind of STATE_KINDS) {
    const values = given[kind];
    if (values && !(asVariance && kind === 'squareAvg'))
      encodeArray(
        arrayFormat(c.format, kind) === 'bfloat16',
        kind === 'squareAvg',
        values,
        c.codes[kind]!,
        c.scales[kind]!,
      );
  }
  if (squareAvg && gradAvg)
    encodeInChunks(c, 'squareAvg', length, (values, first) => {
      for (let j = 0; j < values.length; j++) values[j] = toVariance(squareAvg[first + j], gradAvg[first + j]);
    });
}

/** Elements encoded at a time by encodeInChunks: whole blocks, so that each chunk's first scale is its first / STATE_BLOCK. */
const CHUNK = 64 * STATE_BLOCK;

/**
 * Encodes a compressed tensor's array `kind` (`length` values, rounded to nearest) a chunk at a time,
 * each chunk's float32 values written by `fill(values, first)`: a whole array of them would take 4
 * bytes a value at the peak of a big load. @internal
 */
export function encodeInChunks(
  c: CompressedState,
  kind: StateKind,
  length: number,
  fill: (values: Float32Array, first: number) => void,
): void {
  const chunk = new Float32Array(Math.min(CHUNK, length));
  for (let first = 0; first < length; first += CHUNK) {
    const values = chunk.subarray(0, Math.min(CHUNK, length - first));
    fill(values, first);
    const codes = c.codes[kind]!.subarray(first, first + values.length);
    encodeArray(
      arrayFormat(c.format, kind) === 'bfloat16',
      kind === 'squareAvg',
      values,
      codes,
      c.scales[kind]!.subarray(first / STATE_BLOCK),
    );
  }
}

/**
 * The code and 8-bit scale that `value` takes in every element and block of an array of `format`
 * filled with it (blocks of equal values encode alike, at any length). @internal
 */
export function encodedConstant(
  format: CompressedFormat,
  kind: StateKind,
  value: number,
): [code: number, scale: number] {
  const codes = new Uint16Array(1);
  const scales = new Float32Array(1);
  encodeArray(arrayFormat(format, kind) === 'bfloat16', kind === 'squareAvg', Float32Array.of(value), codes, scales);
  return [codes[0], scales[0]];
}

/**
 * Builds every tensor's views over `buffer` as `layout` places them, copies bring-your-own
 * parameters in and fills squareAvg with initialSquareAvg. Throws a RangeError if a caller's array
 * changed length since `planLayout` read it (the caller's code runs while create awaits).
 * @internal
 */
export function placeTensors(
  buffer: ArrayBufferLike,
  specs: readonly GroupSpec[],
  layout: Layout,
): { tensors: Tensor[]; groups: Group[] } {
  const tensors: Tensor[] = [];
  const groups = specs.map((spec, g): Group => {
    const { segments, constantsAt, tensors: placed } = layout.groups[g];
    const kinds = keptKinds(spec.options);
    const first = tensors.length;
    spec.entries.forEach(([name, value], i) => {
      const { offset, length, segment: s } = placed[i];
      const { base } = segments[s];
      const view = (region: Region) => new Float32Array(buffer, base[region] + offset * 4, length);
      // (create read the caller's arrays before compiling: one could have changed since)
      if (typeof value !== 'number') checkOwnArray({ name, length, external: value }, '', 'when create read it');
      const average = base.average === 0 ? undefined : view('average');
      const { state, compressed } = tensorState(
        buffer,
        segments[s],
        offset,
        length,
        kinds,
        spec.options.initialSquareAvg,
        average,
      );
      const tensor: Tensor = {
        name,
        length,
        group: g,
        segment: s,
        offset,
        external: typeof value === 'number' ? undefined : value,
        param: view('param'),
        grad: view('grad'),
        state,
        kinds,
        compressed,
        average,
        averageStarts: average !== undefined,
        gradAt: base.grad + offset * 4,
        constantsAt: placed[i].constantsAt,
        sumsAt: placed[i].sumsAt,
      };
      if (tensor.external) tensor.param.set(tensor.external);
      average?.set(tensor.param); // until the first step sets it
      tensors.push(tensor);
    });
    const compressed = segments.find((segment) => segment.format !== 'float32');
    if (compressed) writeBlockKeys(buffer, compressed, tensors.slice(first));
    const group: Group = {
      options: spec.options,
      mode: 0,
      clipValueArg: null,
      first,
      count: tensors.length - first,
      segments,
      constantsAt,
      roundingKeys: compressed && groupKeys(compressed),
    };
    setGroupOptions(group, spec.options);
    return group;
  });
  return { tensors, groups };
}

const NONE = new Float32Array(0);

/**
 * Group.roundingKeys of a compressed segment. The block keys cancel offsets in bytes of S's codes, so
 * a code's random bits are drawn at its byte address scaled to S's width: half of it for ḡ's 2-byte
 * codes in an 8-bit segment (assembly/quantized.ts' encodeHalves).
 */
const groupKeys = ({ base, elementBytes }: Segment) =>
  Uint32Array.of(
    ARRAY_KEYS[0] - base.squareAvg,
    ARRAY_KEYS[1] - (base.gradAvg * elementBytes.squareAvg) / elementBytes.gradAvg,
    ARRAY_KEYS[2] - base.momentum,
    base.blockKeys - base.squareAvgScales,
  );

/**
 * A tensor's state at `offset` of `segment`: float32 views, or (compressed) its codes and scales with
 * getters that decode copies; S starts at `initialSquareAvg`. The average, if any, is a view either way.
 */
function tensorState(
  buffer: ArrayBufferLike,
  { base, format, elementBytes }: Segment,
  offset: number,
  length: number,
  kinds: readonly StateKind[],
  initialSquareAvg: number,
  average: Float32Array | undefined,
): { state: TensorState; compressed: CompressedState | undefined } {
  const averageEntry = average ? [['average', average] as const] : [];
  if (format === 'float32') {
    const views = kinds.map((kind) => [kind, new Float32Array(buffer, base[kind] + offset * 4, length)]);
    const state = Object.freeze(Object.fromEntries([...views, ...averageEntry]) as unknown as TensorState);
    // Fresh memory is zero already: filling it anyway would touch every page of a large optimizer.
    if (initialSquareAvg !== 0) state.squareAvg.fill(initialSquareAvg);
    return { state, compressed: undefined };
  }
  const blocks = Math.ceil(length / STATE_BLOCK);
  // each array at the width the layout gave it (Segment.elementBytes)
  const codes = (kind: StateKind) => {
    const CodeArray = TYPED[STATE_ARRAY[arrayFormat(format, kind)]] as new (
      ...at: [ArrayBufferLike, number, number]
    ) => Codes;
    return new CodeArray(buffer, base[kind] + offset * elementBytes[kind], length);
  };
  const scales = (kind: StateKind) =>
    arrayFormat(format, kind) === '8bit'
      ? new Float32Array(buffer, base[SCALES_OF[kind]] + (offset / STATE_BLOCK) * 4, blocks)
      : NONE;
  const compressed: CompressedState = {
    format,
    codes: Object.fromEntries(kinds.map((kind) => [kind, codes(kind)])),
    scales: Object.fromEntries(kinds.map((kind) => [kind, scales(kind)])),
  };
  const getters = Object.fromEntries([
    ...kinds.map((kind) => [kind, { get: () => decodeCompressed(compressed, kind, length), enumerable: true }]),
    ...averageEntry.map(([kind, value]) => [kind, { value, enumerable: true }]),
  ]);
  if (initialSquareAvg !== 0) {
    // filled with its code: an array of float32 values to encode would take 4 bytes an element
    const [code, scale] = encodedConstant(format, 'squareAvg', initialSquareAvg);
    compressed.codes.squareAvg!.fill(code);
    compressed.scales.squareAvg!.fill(scale);
  }
  return { state: Object.freeze(Object.defineProperties({}, getters) as TensorState), compressed };
}

/** Each block key of a compressed `segment`: its tensor's key less the tensor's offset in bytes of codes. */
function writeBlockKeys(buffer: ArrayBufferLike, segment: Segment, tensors: readonly Tensor[]): void {
  const keys = new Uint32Array(buffer, segment.base.blockKeys, segment.paddedLength / STATE_BLOCK);
  const stride = segment.elementBytes.squareAvg; // block keys cancel offsets in S's codes
  for (const t of tensors) {
    if (!t.compressed) continue;
    const first = t.offset / STATE_BLOCK;
    keys.fill(tensorKey(t.length) - t.offset * stride, first, first + Math.ceil(t.length / STATE_BLOCK));
  }
}

/** Each group's options, with the names of its parameters (frozen). @internal */
export function describeGroups(groups: readonly Group[], tensors: readonly Tensor[]): readonly GroupInfo[] {
  return Object.freeze(
    groups.map((group) =>
      Object.freeze({
        ...group.options,
        params: Object.freeze(tensors.slice(group.first, group.first + group.count).map((t) => t.name)),
      }),
    ),
  );
}

/** A group's options changed by setOptions (already checked): the kernel mode and clipValue follow. @internal */
export function setGroupOptions(group: Group, options: ResolvedOptions): void {
  group.options = options;
  group.mode = kernelMode(options);
  group.clipValueArg = options.clipValue;
}

/** What an optimizer hands out by parameter name: its parameters, gradients and state. @internal */
export interface TensorViews<Name extends string> {
  readonly params: Readonly<Record<Name, Float32Array>>;
  readonly grads: Readonly<Record<Name, Float32Array>>;
  readonly state: Readonly<Record<Name, TensorState>>;
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

/** The tensors' views: bring-your-own parameters are the caller's arrays, everything else is in the heap. @internal */
export function tensorViews<Name extends string>(tensors: readonly Tensor[]): TensorViews<Name> {
  return {
    params: recordByName(tensors, (t) => t.external ?? t.param),
    grads: recordByName(tensors, (t) => t.grad),
    state: recordByName(tensors, (t) => t.state),
  };
}

/** The arrays a tensor's `state` holds: the kinds it keeps, then its average (ema). @internal */
export const stateKeys = (t: { kinds: readonly StateKind[]; average?: Float32Array }): Array<keyof TensorState> =>
  t.average ? [...t.kinds, 'average'] : [...t.kinds];

/** The views after dispose: the same names and arrays, empty, so that none keeps the heap alive. @internal */
export function emptyViews<Name extends string>(tensors: readonly Tensor[]): TensorViews<Name> {
  const empty = new Float32Array(0);
  return {
    params: recordByName(tensors, (t) => t.external ?? empty),
    grads: recordByName(tensors, () => empty),
    state: recordByName(tensors, (t) =>
      Object.freeze(Object.fromEntries(stateKeys(t).map((kind) => [kind, empty])) as unknown as TensorState),
    ),
  };
}

/** Refuses a bring-your-own parameter whose buffer was detached, shrunk or grown since create (or `since`). @internal */
export function checkOwnArray(
  t: Pick<Tensor, 'name' | 'length'> & { readonly external?: Float32Array },
  where = '',
  since = 'at create',
): void {
  if (t.external !== undefined && arrayLength(t.external) !== t.length)
    throw new RangeError(
      `${where}parameter '${t.name}' now has ${arrayLength(t.external)} elements, it had ${t.length} ${since}: its buffer was detached, shrunk or grown`,
    );
}

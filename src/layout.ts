// The memory plan: where each group's regions, each tensor's constants and reduction sums, and the
// threads' control block sit in the optimizer's heap. Sizes reach 4 GiB, past int32: every size and
// offset here is plain arithmetic on numbers (exact up to 2^53), never a bitwise operator.
import {
  CONSTANTS_BYTES,
  FORMAT_BITS,
  REDUCTION_BLOCK,
  STATE_BLOCK,
  STATE_ELEMENT_BYTES,
  STATE_SCRATCH_BYTES,
} from './kernel.js';
import { lengthOf, type GroupSpec } from './inputs.js';
import type { ResolvedOptions, StateFormat } from './options.js';
import type { TensorState } from './tensors.js';
import { CALL_INTS, CONTROL_BYTES } from './chunks.js';

export type Region = 'param' | 'grad' | 'squareAvg' | 'gradAvg' | 'momentum' | 'average';
/** The 8-bit state's block scales (float32, one per STATE_BLOCK elements) of S and m (ḡ's: saved states before version 5). */
export type ScaleRegion = 'squareAvgScales' | 'gradAvgScales' | 'momentumScales';

/** The kinds of state the update reads: S always, ḡ when centered, m with momentum. */
export type StateKind = Exclude<keyof TensorState, 'average'>;
/** The kinds of state, in the order they are laid out and saved. @internal */
export const STATE_KINDS: readonly StateKind[] = ['squareAvg', 'gradAvg', 'momentum'];
/** The 8-bit block scales of each kind. @internal */
export const SCALES_OF: Readonly<Record<StateKind, ScaleRegion>> = {
  squareAvg: 'squareAvgScales',
  gradAvg: 'gradAvgScales',
  momentum: 'momentumScales',
};

/**
 * The format a state array of `kind` is kept in, in a segment of state format `format`: ḡ is never
 * 8 bits (bfloat16 instead), since its rounding enters a centered tensor's variance as (g − ḡ)² and,
 * in 8 bits, outweighs it where a gradient's mean outweighs its noise (BENCHMARKS.md, "State formats").
 * @internal
 */
export const arrayFormat = (format: StateFormat, kind: StateKind): StateFormat =>
  format === '8bit' && kind === 'gradAvg' ? 'bfloat16' : format;

/** The state kinds a group's options keep. @internal */
export const keptKinds = (o: Pick<ResolvedOptions, 'centered' | 'momentum'>): StateKind[] =>
  STATE_KINDS.filter((kind) => kind === 'squareAvg' || (kind === 'gradAvg' ? o.centered : o.momentum !== 0));

/** Elements rounded up to a multiple of 4, so that every array starts 16-byte aligned (one f32x4). */
const padded = (n: number) => Math.ceil(n / 4) * 4;
const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * Bytes between one region and the next: a few cache lines, so that arrays a power of two apart do
 * not map to the same cache sets; past 1 MiB, 32 KiB more, so that they do not share DRAM rows or
 * banks (measured in commit 4321e02). Exported for bench/stream-threads.ts and bench/loops.ts, which lay out the same.
 * @internal
 */
export function regionGap(regionBytes: number): number {
  return 5 * 64 + (regionBytes >= 1 << 20 ? 32 * 1024 : 0);
}

/** Tensors with fewer elements keep float32 state whatever the stateFormat (bitsandbytes' rule for its 8-bit optimizers). */
const COMPRESSED_MIN_ELEMENTS = 4096;
/** Whether a tensor of `length` elements in a group of stateFormat `format` keeps compressed state. */
const isCompressed = (format: StateFormat, length: number) => format !== 'float32' && length >= COMPRESSED_MIN_ELEMENTS;

/**
 * Part of a group whose tensors one kernel call updates: its tensors back to back in each region.
 * A group has a float32 segment (its small tensors, or all of them with float32 state) and, with
 * compressed state, a compressed one, where each tensor starts on a STATE_BLOCK boundary (padded),
 * so that no 8-bit block straddles two tensors.
 * @internal
 */
export interface Segment {
  readonly format: StateFormat;
  /** The mode bits of its format (or'ed into the group's mode). */
  readonly formatBits: number;
  /** Elements of its tensors back to back, each padded (to 4, or STATE_BLOCK when compressed). */
  readonly paddedLength: number;
  /** Bytes of an element of each state array (arrayFormat's). */
  readonly elementBytes: Readonly<Record<StateKind, number>>;
  /**
   * Byte offset of each region (codes for compressed S, ḡ, m), of the 8-bit block scales and of the
   * compressed blocks' rounding keys (Group.roundingKeys; u32 per block); 0 when none.
   */
  readonly base: Readonly<Record<Region | ScaleRegion | 'blockKeys', number>>;
}

interface GroupLayout {
  /** The group's segments: float32 first, then compressed (either may be absent). */
  readonly segments: readonly Segment[];
  /** Byte offset of the group's constants block. */
  readonly constantsAt: number;
  /** Per tensor of the group: its segment, element offset there, and byte offsets of its constants and block sums. */
  readonly tensors: ReadonlyArray<{
    readonly segment: number;
    readonly offset: number;
    readonly length: number;
    readonly constantsAt: number;
    readonly sumsAt: number;
  }>;
}

/** @internal */
export interface Layout {
  /** The heap size in bytes. */
  readonly bytes: number;
  readonly groups: readonly GroupLayout[];
  /** Int32 slots of the threads' job table: at most one kernel call per segment or tensor. */
  readonly jobInts: number;
  /** Elements updated by a step over every tensor (padding included). */
  readonly elements: number;
  /** Byte offset of the compressed state's scratch areas, STATE_SCRATCH_BYTES per thread (0: none needed). */
  readonly scratchAt: number;
  /** Bytes of state: S, ḡ, m and the 8-bit scales, padding excluded. */
  readonly stateBytes: number;
  /** stateBytes per value of state (element of S, ḡ or m); 4 when there is none. */
  readonly stateBytesPerValue: number;
  /** Byte offset of the threads' control block (chunks.ts). */
  readonly controlAt: number;
  /** Byte offset of the step's job table (jobInts 32-bit words). */
  readonly jobsAt: number;
}

/**
 * The heap: the threads' control block and job table, a constants block per group and per tensor,
 * the reduction block sums, each group's segments' regions (param, grad, squareAvg, gradAvg?,
 * momentum?, average?, then compressed state's block keys and 8-bit scales), then the compressed state's scratch
 * areas (one per thread).
 * @internal
 */
export function planLayout(specs: readonly GroupSpec[], threads = 1): Layout {
  const tensorCount = specs.reduce((sum, spec) => sum + spec.entries.length, 0);
  const jobInts = (2 * specs.length + tensorCount) * CALL_INTS;
  const [controlAt, jobsAt] = [0, CONTROL_BYTES];
  const groupConstantsAt = align16(jobsAt + jobInts * 4);
  let tensorConstantsAt = groupConstantsAt + specs.length * CONSTANTS_BYTES;
  let bytes = tensorConstantsAt + tensorCount * CONSTANTS_BYTES;
  const tensors = specs.map((spec) =>
    spec.entries.map(([, value]) => {
      const sumsAt = bytes;
      bytes += Math.ceil(lengthOf(value) / REDUCTION_BLOCK) * 8;
      return { sumsAt, constantsAt: (tensorConstantsAt += CONSTANTS_BYTES) - CONSTANTS_BYTES };
    }),
  );
  bytes = align16(bytes);
  let stateBytes = 0;
  let stateValues = 0;
  const groups = specs.map((spec, g): GroupLayout => {
    const { stateFormat, ema } = spec.options;
    const kinds = keptKinds(spec.options);
    const stateArrays = kinds.length;
    const lengths = [0, 0];
    const groupTensors = spec.entries.map(([, value], i) => {
      const length = lengthOf(value);
      const compressed = isCompressed(stateFormat, length);
      const segment = compressed ? 1 : 0;
      const offset = lengths[segment];
      lengths[segment] += compressed ? Math.ceil(length / STATE_BLOCK) * STATE_BLOCK : padded(length);
      stateValues += stateArrays * length;
      for (const kind of kinds) {
        const format = arrayFormat(compressed ? stateFormat : 'float32', kind);
        stateBytes += length * STATE_ELEMENT_BYTES[format];
        if (format === '8bit') stateBytes += Math.ceil(length / STATE_BLOCK) * 4;
      }
      return { segment, offset, length, ...tensors[g][i] };
    });
    const formats: StateFormat[] = ['float32', stateFormat];
    const segments: Segment[] = [];
    const segmentIndex = [-1, -1];
    // A segment for each kind that holds a tensor (an empty one too), and the float32 one for a group of none.
    const holds = [0, 1].map((k) => groupTensors.some((t) => t.segment === k));
    for (const k of [0, 1]) {
      if (!holds[k] && !(k === 0 && !holds[1])) continue;
      const format = formats[k];
      const paddedLength = lengths[k];
      const { base, end } = placeSegment(bytes, format, paddedLength, kinds, ema !== 0);
      bytes = end;
      segmentIndex[k] = segments.length;
      const elementBytes = Object.fromEntries(
        STATE_KINDS.map((kind) => [kind, STATE_ELEMENT_BYTES[arrayFormat(format, kind)]]),
      ) as Record<StateKind, number>;
      segments.push({ format, formatBits: FORMAT_BITS[format], paddedLength, elementBytes, base });
    }
    return {
      segments,
      constantsAt: groupConstantsAt + g * CONSTANTS_BYTES,
      tensors: groupTensors.map((t) => ({ ...t, segment: segmentIndex[t.segment] })),
    };
  });
  // Last, so that no state moves with the threads.
  const anyCompressed = groups.some((group) => group.segments.some((segment) => segment.format !== 'float32'));
  const scratchAt = anyCompressed ? bytes : 0;
  if (anyCompressed) bytes += threads * STATE_SCRATCH_BYTES;
  const elements = groups.reduce(
    (sum, group) => sum + group.segments.reduce((total, segment) => total + segment.paddedLength, 0),
    0,
  );
  const stateBytesPerValue = stateValues === 0 ? 4 : stateBytes / stateValues;
  return {
    bytes,
    groups,
    jobInts,
    elements,
    scratchAt,
    stateBytes,
    stateBytesPerValue,
    controlAt,
    jobsAt,
  };
}

/**
 * A segment's regions placed from byte `at`, each 16-byte aligned with a gap after the arrays:
 * param, grad, S, ḡ (centered), m (momentum) at their arrays' widths (arrayFormat), the parameters'
 * average (ema, float32), then compressed state's block keys and 8-bit arrays' scales. Returns their
 * byte offsets (0: none) and the first byte after them.
 */
function placeSegment(
  at: number,
  format: StateFormat,
  paddedLength: number,
  kinds: readonly StateKind[],
  average: boolean,
): { base: Segment['base']; end: number } {
  const base = {
    param: 0,
    grad: 0,
    squareAvg: 0,
    gradAvg: 0,
    momentum: 0,
    average: 0,
    squareAvgScales: 0,
    gradAvgScales: 0,
    momentumScales: 0,
    blockKeys: 0,
  };
  let bytes = at;
  const regions: Array<[Region, number]> = [
    ['param', 4],
    ['grad', 4],
    ...kinds.map((kind): [Region, number] => [kind, STATE_ELEMENT_BYTES[arrayFormat(format, kind)]]),
    ...(average ? [['average', 4] as [Region, number]] : []),
  ];
  for (const [region, elementBytes] of regions) {
    base[region] = bytes;
    bytes += align16(paddedLength * elementBytes) + regionGap(paddedLength * elementBytes);
  }
  const blockBytes = align16((paddedLength / STATE_BLOCK) * 4);
  if (format !== 'float32') {
    base.blockKeys = bytes;
    bytes += blockBytes;
  }
  for (const kind of kinds) {
    if (arrayFormat(format, kind) !== '8bit') continue;
    base[SCALES_OF[kind]] = bytes;
    bytes += blockBytes;
  }
  return { base, end: bytes };
}

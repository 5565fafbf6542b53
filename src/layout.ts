// The memory plan: where each group's regions, each tensor's constants and reduction sums, and the
// threads' control block sit in the optimizer's heap. Sizes reach 4 GiB, past int32: every size and
// offset here is plain arithmetic on numbers (exact up to 2^53), never a bitwise operator.
import { CONSTANTS_BYTES, kernelMode, REDUCTION_BLOCK } from './kernel.js';
import { arrayLength, lengthOf, type GroupSpec } from './inputs.js';
import type { GroupInfo, ResolvedOptions } from './options.js';
import { CALL_INTS, CONTROL_BYTES } from './threads.js';

export type Region = 'param' | 'grad' | 'squareAvg' | 'gradAvg' | 'momentum';

/** Elements rounded up to a multiple of 4, so that every array starts 16-byte aligned (one f32x4). */
export const padded = (n: number) => Math.ceil(n / 4) * 4;
const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * Bytes between one region and the next: a few cache lines, so that arrays a power of two apart do
 * not map to the same cache sets; past 1 MiB, 32 KiB more, so that they do not share DRAM rows or
 * banks (measured in commit 4321e02). Exported for bench/stream-threads.ts, which lays out the same.
 */
export function regionGap(regionBytes: number): number {
  return 5 * 64 + (regionBytes >= 1 << 20 ? 32 * 1024 : 0);
}

export interface GroupLayout {
  /** Elements of the group's tensors back to back, each padded to a multiple of 4. */
  readonly paddedLength: number;
  /** Byte offset of each region: the group's tensors back to back, so one kernel call covers them all. */
  readonly base: Readonly<Record<Region, number>>;
  /** Byte offset of the group's constants block. */
  readonly constantsAt: number;
  /** Per tensor of the group: element offset in each region, and byte offsets of its constants and block sums. */
  readonly tensors: ReadonlyArray<{
    readonly offset: number;
    readonly length: number;
    readonly constantsAt: number;
    readonly sumsAt: number;
  }>;
}

export interface Layout {
  /** The heap size in bytes. */
  readonly bytes: number;
  readonly groups: readonly GroupLayout[];
  /** Int32 slots of the threads' job table: at most one kernel call per group or tensor. */
  readonly jobInts: number;
  /** Elements updated by a step over every tensor (padding included). */
  readonly elements: number;
}

/**
 * The heap: the threads' control block and job table, a constants block per group and per tensor,
 * the reduction block sums, then each group's regions (param, grad, squareAvg, gradAvg?, momentum?).
 */
export function planLayout(specs: readonly GroupSpec[]): Layout {
  const tensorCount = specs.reduce((sum, spec) => sum + spec.entries.length, 0);
  const jobInts = (specs.length + tensorCount) * CALL_INTS;
  const groupConstantsAt = align16(CONTROL_BYTES + jobInts * 4);
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
  const groups = specs.map((spec, g): GroupLayout => {
    let paddedLength = 0;
    const groupTensors = spec.entries.map(([, value], i) => {
      const offset = paddedLength;
      const length = lengthOf(value);
      paddedLength += padded(length);
      return { offset, length, ...tensors[g][i] };
    });
    const regions: Region[] = ['param', 'grad', 'squareAvg'];
    if (spec.options.centered) regions.push('gradAvg');
    if (spec.options.momentum !== 0) regions.push('momentum');
    const base = { param: 0, grad: 0, squareAvg: 0, gradAvg: 0, momentum: 0 };
    for (const region of regions) {
      base[region] = bytes;
      bytes += paddedLength * 4 + regionGap(paddedLength * 4);
    }
    return { paddedLength, base, constantsAt: groupConstantsAt + g * CONSTANTS_BYTES, tensors: groupTensors };
  });
  const elements = groups.reduce((sum, group) => sum + group.paddedLength, 0);
  return { bytes, groups, jobInts, elements };
}

/** One parameter's optimizer state: views into the optimizer's memory. */
export interface TensorState {
  /** The running average of squared gradients, S. */
  readonly squareAvg: Float32Array;
  /** The running average of gradients, ḡ (`centered` only). */
  readonly gradAvg?: Float32Array;
  /** The momentum buffer (`momentum` > 0 only). */
  readonly momentum?: Float32Array;
}

/** A parameter as placed in the heap: its views and offsets. */
export interface Tensor {
  readonly name: string;
  readonly length: number;
  readonly group: number;
  /** Element offset inside each region of its group (a multiple of 4: every array is 16-byte aligned). */
  readonly offset: number;
  /** The caller's array for a bring-your-own parameter; the heap copy is synced around each step. */
  readonly external: Float32Array | undefined;
  readonly param: Float32Array;
  readonly grad: Float32Array;
  readonly state: TensorState;
  /** Byte offset of its gradients in the heap. */
  readonly gradAt: number;
  /** Byte offsets of this tensor's own constants block and of its reduction block sums. */
  readonly constantsAt: number;
  readonly sumsAt: number;
}

/** A parameter group as placed in the heap, with its current options. */
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
  readonly paddedLength: number;
  /** Byte offset of each region: the group's tensors back to back, so one kernel call covers them all. */
  readonly base: Readonly<Record<Region, number>>;
  readonly constantsAt: number;
}

/**
 * Builds every tensor's views over `buffer` as `layout` places them, copies bring-your-own
 * parameters in and fills squareAvg with initialSquareAvg. Throws a RangeError if a caller's array
 * changed length since `planLayout` read it (the caller's code runs while create awaits).
 */
export function placeTensors(
  buffer: ArrayBufferLike,
  specs: readonly GroupSpec[],
  layout: Layout,
): { tensors: Tensor[]; groups: Group[] } {
  const heap = new Float32Array(buffer);
  const tensors: Tensor[] = [];
  const groups = specs.map((spec, g): Group => {
    const { base, paddedLength, constantsAt, tensors: placed } = layout.groups[g];
    const view = (region: Region, offset: number, length: number) =>
      new Float32Array(buffer, base[region] + offset * 4, length);
    const first = tensors.length;
    spec.entries.forEach(([name, value], i) => {
      const { offset, length } = placed[i];
      if (typeof value !== 'number' && arrayLength(value) !== length) {
        throw new RangeError(
          `parameter '${name}' now has ${arrayLength(value)} elements, it had ${length} when create read it: its buffer was detached, shrunk or grown`,
        );
      }
      const tensor: Tensor = {
        name,
        length,
        group: g,
        offset,
        external: typeof value === 'number' ? undefined : value,
        param: view('param', offset, length),
        grad: view('grad', offset, length),
        state: Object.freeze({
          squareAvg: view('squareAvg', offset, length),
          ...(spec.options.centered && { gradAvg: view('gradAvg', offset, length) }),
          ...(spec.options.momentum !== 0 && { momentum: view('momentum', offset, length) }),
        }),
        gradAt: base.grad + offset * 4,
        constantsAt: placed[i].constantsAt,
        sumsAt: placed[i].sumsAt,
      };
      if (tensor.external) tensor.param.set(tensor.external);
      tensors.push(tensor);
    });
    // Fresh memory is zero already: filling it anyway would touch every page of a large optimizer.
    if (spec.options.initialSquareAvg !== 0)
      heap.fill(spec.options.initialSquareAvg, base.squareAvg / 4, base.squareAvg / 4 + paddedLength);
    const group: Group = {
      options: spec.options,
      mode: kernelMode(spec.options),
      clipValueArg: null,
      first,
      count: tensors.length - first,
      paddedLength,
      base,
      constantsAt,
    };
    group.clipValueArg = spec.options.clipValue;
    return group;
  });
  return { tensors, groups };
}

/** Each group's options, with the names of its parameters (frozen). */
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

/** A group's options changed by setOptions (already checked): the kernel mode and clipValue follow. */
export function setGroupOptions(group: Group, options: ResolvedOptions): void {
  group.options = options;
  group.mode = kernelMode(options);
  group.clipValueArg = options.clipValue;
}

/** What an optimizer hands out by parameter name: its parameters, gradients and state. */
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

/** The tensors' views: bring-your-own parameters are the caller's arrays, everything else is in the heap. */
export function tensorViews<Name extends string>(tensors: readonly Tensor[]): TensorViews<Name> {
  return {
    params: recordByName(tensors, (t) => t.external ?? t.param),
    grads: recordByName(tensors, (t) => t.grad),
    state: recordByName(tensors, (t) => t.state),
  };
}

/** The views after dispose: the same names and arrays, empty, so that none keeps the heap alive. */
export function emptyViews<Name extends string>(tensors: readonly Tensor[]): TensorViews<Name> {
  const empty = new Float32Array(0);
  return {
    params: recordByName(tensors, (t) => t.external ?? empty),
    grads: recordByName(tensors, () => empty),
    state: recordByName(tensors, (t) =>
      Object.freeze({
        squareAvg: empty,
        ...(t.state.gradAvg && { gradAvg: empty }),
        ...(t.state.momentum && { momentum: empty }),
      }),
    ),
  };
}

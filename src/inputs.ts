// Reading and checking what callers pass to create and setOptions: parameters, groups, option
// changes (a step's gradients: gradients.ts). Only own properties count, so any name works
// (`constructor`, `__proto__`, …) and nothing added to Object.prototype leaks in. Everything here
// throws before the optimizer writes anything.
import {
  describe,
  FIXED_AFTER_CREATE,
  holdsKeys,
  OPTIMIZER_WIDE,
  readOptions,
  resolveOptions,
  type GroupOptions,
  type ResolvedOptions,
  type RMSPropOptions,
} from './options.js';
import { arrayBuffer, arrayByteOffset, arrayLength, isFloat32Array, isGone } from './typed-arrays.js';

/** A parameter: its initial values (your array, updated in place) or an element count (zero-copy). */
export type ParamInput = Float32Array | number;
/** Parameters by name, or an array of them (named '0', '1', …; in groups, numbered on across them). */
export type ParamsInput = Readonly<Record<string, ParamInput>> | readonly ParamInput[];
/** Parameters with options of their own (PyTorch's parameter groups). */
export type ParamGroup<P extends ParamsInput = ParamsInput> = {
  /** The group's parameters. */
  readonly params: P;
} & GroupOptions;

/** The parameter names of `P`: a record's keys, or an array's indices ('0', '1', …). */
export type NamesOf<P> = P extends readonly unknown[]
  ? number extends P['length']
    ? `${number}`
    : Exclude<keyof P, keyof unknown[]> & string
  : keyof P & string;
/**
 * The parameter names of every group in `G`: a record's keys, an array's places counted across the
 * groups (a record's count is not a type, so an array after one, or in a list of unknown length, has
 * `${number}` names). `Before` (the parameters of the groups read so far) and `Names` (their names)
 * carry the recursion, tail-recursive so that many groups stay within the compiler's depth.
 */
export type GroupNamesOf<
  G extends readonly ParamGroup[],
  Before extends readonly unknown[] = [],
  Names extends string = never,
> = G extends readonly [ParamGroup<infer P>, ...infer Rest extends readonly ParamGroup[]]
  ? P extends readonly unknown[]
    ? GroupNamesOf<
        Rest,
        [...Before, ...P],
        | Names
        | (number extends Before['length'] | P['length']
            ? `${number}`
            : Exclude<keyof [...Before, ...P], keyof Before> & string)
      >
    : GroupNamesOf<Rest, unknown[], Names | (keyof P & string)>
  : G extends readonly []
    ? Names
    :
        | Names
        | {
            [I in keyof G]: G[I] extends ParamGroup<infer P>
              ? P extends readonly unknown[]
                ? `${number}`
                : keyof P & string
              : never;
          }[number];

/**
 * Gradients by parameter name; `null` or a missing name skips that parameter for this step. An array
 * (its indices the names) for parameters named '0', '1', … (or not known before run time).
 */
export type GradsInput<Name extends string = string> =
  | { readonly [N in Name]?: Float32Array | null | undefined }
  | ([Name] extends [`${number}`]
      ? readonly (Float32Array | null | undefined)[]
      : string extends Name
        ? readonly (Float32Array | null | undefined)[]
        : never);

/**
 * Groups as given, each with no key a ParamGroup lacks (an optimizer-wide option, a misspelt one):
 * inferring `G` alone checks no excess key, which the runtime then refuses with a TypeError.
 */
export type CheckedGroups<G extends readonly ParamGroup[]> = G & {
  readonly [I in keyof G]: { readonly [K in Exclude<keyof G[I], keyof ParamGroup>]: never };
};

/** A group as read: its parameters in order, and its options with the preset applied. @internal */
export interface GroupSpec {
  readonly entries: ReadonlyArray<readonly [name: string, value: ParamInput]>;
  readonly options: ResolvedOptions;
}

/** @internal */
export const lengthOf = (value: ParamInput) => (typeof value === 'number' ? value : arrayLength(value));

/**
 * The value of own property `name` of `record`, never an inherited one: a parameter may be called
 * '__proto__', 'constructor' or 'toString', and nothing on Object.prototype (or added to it) counts.
 * @internal
 */
export function own(record: object, name: string): unknown {
  return Object.hasOwn(record, name) ? (record as Record<string, unknown>)[name] : undefined;
}

/** A record or array of names → values; a Map, a Promise, a typed array… (see holdsKeys) is refused rather than read as empty. @internal */
export function checkRecord(value: unknown, what: string, expected: string): asserts value is object {
  if (!holdsKeys(value))
    throw new TypeError(`${what} must be a record or an array of ${expected}, got ${describe(value)}`);
}

function isGroup(value: unknown): value is ParamGroup {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && Object.hasOwn(value, 'params');
}

/**
 * A record's or array's parameters as [name, value] entries. An array's are named by their place from
 * `first` on (the parameters of the groups before it: numbered across groups, as PyTorch numbers them).
 */
function readParams(params: unknown, where: string, first = 0): Array<[string, ParamInput]> {
  checkRecord(params, where, 'Float32Arrays or element counts');
  // holes included (Object.keys skips a hole: '0', '2' for [3, , 4])
  const entries = Array.isArray(params)
    ? Array.from(params, (_, i): [string, unknown] => [String(first + i), own(params, String(i))])
    : Object.keys(params).map((name): [string, unknown] => [name, own(params, name)]);
  if (entries.length === 0) throw new TypeError(`${where} is empty: give at least one parameter`);
  entries.forEach(([name, value], i) => {
    // (an array's parameter after the first group's is named by its place across the groups: say where it is)
    const label = first > 0 ? `parameter '${name}' (${where}[${i}])` : `parameter '${name}'`;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`${label}: a zero-copy size must be a non-negative integer, got ${value}`);
      }
    } else if (!isFloat32Array(value)) {
      throw new TypeError(`${label} must be a Float32Array or an element count, got ${describe(value)}`);
    } else if (isGone(value)) {
      throw new TypeError(`${label} is a Float32Array whose buffer was detached (transferred) or shrunk below it`);
    }
  });
  return entries as Array<[string, ParamInput]>;
}

/**
 * Splits `create`'s first argument into groups of [name, value] entries with their own options.
 * Options are read once (readOptions): the defaults once for every group, each group's own once.
 * @internal
 */
export function readGroups(params: unknown, defaults: RMSPropOptions | undefined): GroupSpec[] {
  const base = readOptions(defaults ?? {});
  const list =
    Array.isArray(params) && params.length > 0 && params.some(isGroup) ? (params as readonly unknown[]) : undefined;
  let before = 0; // parameters in the groups read so far
  const specs = list
    ? Array.from(list, (group, i) => {
        if (!isGroup(group)) throw new TypeError(`group ${i} must be { params, ...options }, got ${describe(group)}`);
        const { params: groupParams, ...groupOptions } = group;
        const mine = inGroup(i, () => readOptions(groupOptions, 'options', OPTIMIZER_WIDE));
        for (const name of OPTIMIZER_WIDE) {
          if (Object.hasOwn(mine, name))
            throw new TypeError(
              `group ${i}: option '${name}' applies to the whole optimizer; give it in create's second argument`,
            );
        }
        // (a group of no options of its own has only the defaults' faults, which name no group)
        const resolve = () => resolveOptions({ ...base, ...mine });
        const options = Object.keys(mine).length > 0 ? inGroup(i, resolve) : resolve();
        const entries = readParams(groupParams, `group ${i} params`, before);
        before += entries.length;
        return { entries, options };
      })
    : [{ entries: readParams(params, 'params'), options: resolveOptions(base) }];
  const all = specs.flatMap((spec) => spec.entries);
  const seen = new Set<string>();
  for (const [name] of all) {
    if (seen.has(name)) {
      const why = list?.some((group) => Array.isArray((group as ParamGroup).params))
        ? " (a group's array is numbered by its place across the groups)"
        : '';
      throw new TypeError(`parameter name '${name}' appears in more than one group${why}`);
    }
    seen.add(name);
  }
  const spans = all.flatMap(([name, value], index): Span[] => {
    if (typeof value === 'number' || arrayLength(value) === 0) return [];
    const start = arrayByteOffset(value);
    return [{ name, index, buffer: arrayBuffer(value), start, end: start + arrayLength(value) * 4 }];
  });
  const shared = sharedSpans(spans);
  if (shared) throw new TypeError(`parameters '${shared[0]}' and '${shared[1]}' share memory; give each its own array`);
  return specs;
}

/** A parameter's bytes in its buffer, [start, end), and its place among the parameters. @internal */
export interface Span {
  name: string;
  index: number;
  buffer: ArrayBufferLike;
  start: number;
  end: number;
}

/**
 * Two non-empty spans that share bytes (the one given first, first), if any: sorted by start within
 * a buffer, a span overlaps exactly when it starts before the end reached so far (comparing every
 * pair would be quadratic in the parameters).
 * @internal
 */
export function sharedSpans(spans: readonly Span[]): [string, string] | undefined {
  const byBuffer = new Map<ArrayBufferLike, Span[]>();
  for (const span of spans) {
    const list = byBuffer.get(span.buffer);
    if (list) list.push(span);
    else byBuffer.set(span.buffer, [span]);
  }
  for (const list of byBuffer.values()) {
    list.sort((a, b) => a.start - b.start);
    let reach = list[0];
    for (let i = 1; i < list.length; i++) {
      const span = list[i];
      if (span.start < reach.end) {
        const [first, second] = reach.index < span.index ? [reach, span] : [span, reach];
        return [first.name, second.name];
      }
      if (span.end > reach.end) reach = span;
    }
  }
  return undefined;
}

/**
 * `read()`, naming group `i` in the TypeError or RangeError it throws: a new error of that class, the
 * thrown one its cause (which may be a caller's own, from a getter: not to be rewritten). Another
 * class (a caller's subclass) passes as it is.
 */
function inGroup<T>(i: number, read: () => T): T {
  try {
    return read();
  } catch (error) {
    const Class = (error as Error)?.constructor;
    if (Class !== TypeError && Class !== RangeError) throw error;
    throw new (Class as ErrorConstructor)(`group ${i}: ${(error as Error).message}`, { cause: error });
  }
}

/** setOptions' group index, checked against the optimizer's `groups` groups. @internal */
export function checkGroupIndex(groupIndex: number, groups: number): number {
  if (typeof groupIndex !== 'number') throw new TypeError(`groupIndex must be a number, got ${describe(groupIndex)}`);
  if (!Number.isInteger(groupIndex) || groupIndex < 0 || groupIndex >= groups) {
    throw new RangeError(`groupIndex must be an integer from 0 to ${groups - 1}, got ${groupIndex}`);
  }
  return groupIndex;
}

/**
 * A group's options after `changes` (setOptions' argument): throws if they name an option fixed at
 * create, or switch momentum or ema between 0 and non-zero (which would add or drop a region);
 * errors name `group` if given (an optimizer of several groups). @internal
 */
export function readOptionChanges(current: ResolvedOptions, changes: unknown, group?: number): ResolvedOptions {
  return group === undefined ? optionChanges(current, changes) : inGroup(group, () => optionChanges(current, changes));
}

function optionChanges(current: ResolvedOptions, changes: unknown): ResolvedOptions {
  const read = readOptions(changes, 'changes');
  for (const name of FIXED_AFTER_CREATE) {
    if (Object.hasOwn(read, name)) throw new TypeError(`option '${name}' is fixed when the optimizer is created`);
  }
  // Before the rules between options, which would blame the option that needs this one (nesterov, emaOverwriteEvery).
  for (const name of ['momentum', 'ema'] as const) {
    const value = read[name];
    if (value !== undefined && (value === 0) !== (current[name] === 0)) {
      throw new RangeError(
        `option '${name}' cannot switch between 0 and non-zero after create (got ${value}, was ${current[name]})`,
      );
    }
  }
  return resolveOptions({ ...current, ...read });
}

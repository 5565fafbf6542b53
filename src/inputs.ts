// Reading and checking what callers pass: parameters, groups and gradients. Only own properties
// count, so any name works (`constructor`, `__proto__`, …) and nothing added to Object.prototype
// leaks in. Everything here throws before the optimizer writes anything.
import {
  checkOptions, describe, OPTIMIZER_WIDE, resolveOptions,
  type ResolvedOptions, type RMSPropOptions,
} from './options.js';

/** A parameter: its initial values (your array, updated in place) or an element count (zero-copy). */
export type ParamInput = Float32Array | number;
export type ParamsInput = Readonly<Record<string, ParamInput>> | readonly ParamInput[];
/** Parameters with options of their own (PyTorch's parameter groups). */
export type ParamGroup<P extends ParamsInput = ParamsInput> = { readonly params: P } & Omit<RMSPropOptions, (typeof OPTIMIZER_WIDE)[number]>;

/** A group as read: its parameters in order, and its options with the preset applied. */
export interface GroupSpec {
  readonly entries: ReadonlyArray<readonly [name: string, value: ParamInput]>;
  readonly options: ResolvedOptions;
}

export function isFloat32Array(value: unknown): value is Float32Array {
  return ArrayBuffer.isView(value) && (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Float32Array';
}

export const lengthOf = (value: ParamInput) => (typeof value === 'number' ? value : value.length);

/** The value of own property `name` of `record`, never an inherited one. */
export function own(record: object, name: string): unknown {
  return Object.hasOwn(record, name) ? (record as Record<string, unknown>)[name] : undefined;
}

/** A record or array of names → values; a Map, Set or typed array is refused rather than read as empty. */
export function checkRecord(value: unknown, what: string, expected: string): asserts value is object {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof Map || value instanceof Set) {
    throw new TypeError(`${what} must be a record or an array of ${expected}, got ${describe(value)}`);
  }
}

function isGroup(value: unknown): value is ParamGroup {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && Object.hasOwn(value, 'params');
}

function readParams(params: unknown, where: string): Array<[string, ParamInput]> {
  checkRecord(params, where, 'Float32Arrays or element counts');
  const entries = Object.keys(params).map((name): [string, unknown] => [name, own(params, name)]);
  if (entries.length === 0) throw new TypeError(`${where} is empty: give at least one parameter`);
  for (const [name, value] of entries) {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`parameter '${name}': a zero-copy size must be a non-negative integer, got ${value}`);
      }
    } else if (!isFloat32Array(value)) {
      throw new TypeError(`parameter '${name}' must be a Float32Array or an element count, got ${describe(value)}`);
    }
  }
  return entries as Array<[string, ParamInput]>;
}

/** Splits `create`'s first argument into groups of [name, value] entries with their own options. */
export function readGroups(params: unknown, defaults: RMSPropOptions | undefined): GroupSpec[] {
  if (defaults !== undefined) checkOptions(defaults);
  const list = Array.isArray(params) && params.length > 0 && params.some(isGroup) ? (params as readonly unknown[]) : undefined;
  const specs = list
    ? list.map((group, i) => {
      if (!isGroup(group)) throw new TypeError(`group ${i} must be { params, ...options }, got ${describe(group)}`);
      const { params: groupParams, ...groupOptions } = group;
      checkOptions(groupOptions, `group ${i}`);
      for (const name of OPTIMIZER_WIDE) {
        if (Object.hasOwn(groupOptions, name)) throw new TypeError(`group ${i}: option '${name}' applies to the whole optimizer; give it in create's second argument`);
      }
      return { entries: readParams(groupParams, `group ${i} params`), options: resolveOptions({ ...defaults, ...groupOptions }) };
    })
    : [{ entries: readParams(params, 'params'), options: resolveOptions(defaults) }];
  const all = specs.flatMap((spec) => spec.entries);
  const seen = new Set<string>();
  for (const [name] of all) {
    if (seen.has(name)) throw new TypeError(`parameter name '${name}' appears in more than one group`);
    seen.add(name);
  }
  const arrays = all.filter((entry): entry is [string, Float32Array] => typeof entry[1] !== 'number');
  for (let i = 0; i < arrays.length; i++) {
    for (let j = i + 1; j < arrays.length; j++) {
      if (overlap(arrays[i][1], arrays[j][1])) {
        throw new TypeError(`parameters '${arrays[i][0]}' and '${arrays[j][0]}' share memory; give each its own array`);
      }
    }
  }
  return specs;
}

function overlap(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.length > 0 && b.length > 0 &&
    a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** What gradient checking needs to know of a parameter. */
export interface NamedLength {
  readonly name: string;
  readonly length: number;
}

/**
 * Checks `step`'s gradients: a record or array, names that are parameters, Float32Arrays of the
 * right length. `byName` maps each parameter's name to its index in `tensors`.
 */
export function checkGrads(grads: unknown, tensors: readonly NamedLength[], byName: ReadonlyMap<string, number>): asserts grads is object {
  checkRecord(grads, 'grads', 'Float32Arrays');
  for (const name of Object.keys(grads)) {
    if (!byName.has(name)) {
      throw new TypeError(`unknown gradient '${name}' (parameters: ${[...byName.keys()].join(', ')})`);
    }
  }
  for (const t of tensors) {
    const g = own(grads, t.name);
    if (g == null) continue;
    if (!isFloat32Array(g)) throw new TypeError(`gradient '${t.name}' must be a Float32Array, got ${describe(g)}`);
    if (g.length !== t.length) {
      throw new RangeError(`gradient '${t.name}' has ${g.length} elements, its parameter has ${t.length}`);
    }
  }
}

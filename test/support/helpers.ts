import { availableParallelism } from 'node:os';
import { expect } from 'vitest';
import type { BackendName, RMSProp } from '../../src/index.js';
import { MAX_THREADS } from '../../src/options.js';

export const BACKENDS: readonly BackendName[] = ['simd', 'wasm', 'js'];

/**
 * The threads `threads: 'auto'` starts here from 16 K elements: the machine's cores, at most MAX_THREADS.
 * CI machines have 1, 2, 4 or more, so a test of 'auto' expects this, not the 2 of ours.
 */
export const AUTO_THREADS = Math.min(availableParallelism(), MAX_THREADS);

/** Same bits, except that any NaN equals any NaN (wasm does not fix NaN sign or payload). */
export function sameBits(actual: Float32Array, expected: Float32Array): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === e[i]) continue;
    if (Number.isNaN(actual[i]) && Number.isNaN(expected[i])) continue;
    return `element ${i}: ${actual[i]} (0x${a[i].toString(16)}) ≠ ${expected[i]} (0x${e[i].toString(16)})`;
  }
  return undefined;
}

/** A deterministic PRNG (mulberry32), so failures reproduce. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export function decodeFloat32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const copy = new Uint8Array(bytes); // own, aligned buffer
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

/** Bytes of every array, so a test can assert that a failed call changed nothing. */
export function snapshot(arrays: Iterable<Float32Array>): Uint8Array[] {
  return [...arrays].map((a) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));
}

/**
 * Whether two snapshots hold the same bytes. For large arrays: `toEqual` on them takes seconds,
 * where this takes microseconds (a mismatch is reported as the first differing array and byte).
 */
export function snapshotDifference(actual: Uint8Array[], expected: Uint8Array[]): string | undefined {
  if (actual.length !== expected.length) return `${actual.length} arrays, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (Buffer.compare(actual[i], expected[i]) === 0) continue;
    const byte = actual[i].findIndex((x, j) => x !== expected[i][j]);
    return `array ${i} differs at byte ${byte < 0 ? 'length' : byte}`;
  }
  return undefined;
}

/**
 * Every array an optimizer owns, parameter by parameter: its values, its gradient buffer if
 * `withGradients`, then its state, so that a test can snapshot or compare all of them at once.
 */
export function everything(opt: RMSProp, withGradients = false): Float32Array[] {
  return Object.keys(opt.params).flatMap((name) => [
    opt.params[name],
    ...(withGradients ? [opt.grads[name]] : []),
    ...Object.values(opt.state[name]),
  ]);
}

/** One step of the seed preset from S = 0, in float64: S = (1 − β)·g² = 0.1·g², w − lr·g/√(S + ε). */
export function seedStep(w: number, g: number): number {
  return w - (1e-3 * g) / Math.sqrt(0.1 * g * g + 1e-8);
}

/** Float32Arrays of the given lengths, filled with normal(0, scale) draws from `rng(seed)`. */
export function randomArrays(seed: number, lengths: readonly number[], scale = 1): Float32Array[] {
  const random = rng(seed);
  // a loop: Float32Array.from with a callback took twice as long (seconds over the threads tests)
  return lengths.map((n) => {
    const array = new Float32Array(n);
    for (let i = 0; i < n; i++) array[i] = normal(random) * scale;
    return array;
  });
}

/** The first array and element where two lists of arrays differ in bits (any NaN equals any NaN). */
export function firstDifference(a: Float32Array[], b: Float32Array[]): string | undefined {
  if (a.length !== b.length) return `${a.length} arrays vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const d = sameBits(a[i], b[i]);
    if (d) return `array ${i}: ${d}`;
  }
  return undefined;
}

/** Expects `params` and `squareAvg` to hold the seed preset's first step from `before` with `grads`. */
export function expectFirstStep(
  params: Float32Array,
  squareAvg: Float32Array,
  before: readonly number[],
  grads: readonly number[],
  what: string,
): void {
  grads.forEach((g, i) => {
    expect(params[i], `${what}: w[${i}]`).toBeCloseTo(seedStep(before[i], g), 6);
    expect(squareAvg[i] / (0.1 * g * g), `${what}: S[${i}]`).toBeCloseTo(1, 5);
  });
}

/** Detaches `buffer` (transfers it away): every view of it then has no elements. */
export const detach = (buffer: ArrayBufferLike): void =>
  void structuredClone(buffer, { transfer: [buffer as ArrayBuffer] });

/**
 * The first element outside the agreed bound 1e-5·|expected| + slack (slack: 5e-4·lr·k/(1−momentum)
 * for parameters after k steps; a share of the largest magnitude for state arrays), or undefined.
 */
export function outsideBound(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  slack: number,
): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const bound = 1e-5 * Math.abs(expected[i]) + slack;
    if (!(Math.abs(actual[i] - expected[i]) <= bound))
      return `element ${i}: ${actual[i]} vs ${expected[i]} (bound ${bound})`;
  }
  return undefined;
}

/** torch.optim.RMSprop's options, by torch's names, as a fixture records them. */
export interface TorchOptions {
  lr: number;
  alpha?: number;
  eps?: number;
  momentum?: number;
  centered?: boolean;
  weight_decay?: number;
  maximize?: boolean;
}

/** torch.optim.RMSprop's options (its defaults where absent) as the pytorch preset's. */
export { torchOptions } from './torch-options.mjs';

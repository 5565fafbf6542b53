// The timed steps that run in any JS runtime, shared by `npm run bench` (bench/variants.ts) and the
// browser benchmark (web/bench.ts). The library comes in as an argument, so the page measures the
// package a user installs and Node measures src/. Every variant is set up here, outside the timed body.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName, RMSPropOptions } from '../src/index.js';
import type { RMSPropClass } from '../demo/ravine.js';
import { plainRMSPropStep, SEED } from './plain.js';

export interface Variant {
  key: string;
  label: string;
  /** Bytes one step moves per element (reads + writes of the update's arrays). */
  bytes: number;
  /** One step, in process. */
  step?: () => void;
  /** Or: a self-timed external run of about `ms` milliseconds, returning ns per step. */
  sample?: (ms: number) => number;
  /** Runs before each sample, untimed. */
  prepare?: () => Promise<void>;
  dispose?: () => void;
}

export type { RMSPropClass } from '../demo/ravine.js';

/** Reads w, g, S and writes w, S: 5 float32 per element. */
export const SEED_BYTES = 20;
/** Centered + momentum also reads and writes ḡ and m. */
const CENTERED_MOMENTUM_BYTES = 36;

export function gradient(n: number): Float32Array {
  const g = new Float32Array(n);
  for (let i = 0; i < n; i++) g[i] = Math.sin(i) * 1e-2;
  return g;
}

/** The benchmarks' optimizer: one tensor `w` of `n` elements at 0.5, its own gradients `gradient(n)`. */
export async function benchOptimizer<L extends RMSPropClass>(
  lib: L,
  n: number,
  options: RMSPropOptions,
): Promise<Awaited<ReturnType<L['create']>>> {
  const opt = (await lib.create({ w: n }, options)) as Awaited<ReturnType<L['create']>>;
  opt.params.w.fill(0.5);
  opt.grads.w.set(gradient(n));
  return opt;
}

async function zeroCopy(lib: RMSPropClass, g: Float32Array, backend: BackendName, extra = {}) {
  const opt = await benchOptimizer(lib, g.length, { backend, ...extra });
  return {
    step: () => void opt.step(),
    dispose: () => opt.dispose(),
    threads: opt.threads,
    threadsReason: opt.threadsReason,
  };
}

/** The plain JS loop and the library's variants at one size, in table order (`backends`: those available). */
export async function libraryVariants(
  lib: RMSPropClass,
  g: Float32Array,
  backends: readonly BackendName[] = ['js', 'wasm', 'simd'],
): Promise<Variant[]> {
  const n = g.length;
  const plain = { w: new Float32Array(n).fill(0.5), s: new Float32Array(n) };
  const variants: Variant[] = [
    {
      key: 'plain',
      label: 'plain JS loop',
      bytes: SEED_BYTES,
      step: () => plainRMSPropStep(plain.w, g, plain.s, SEED.lr, SEED.decay, SEED.eps),
    },
  ];
  for (const backend of ['js', 'wasm', 'simd'] as const) {
    if (backends.includes(backend))
      variants.push({
        key: backend,
        label: `${backend} backend`,
        bytes: SEED_BYTES,
        ...(await zeroCopy(lib, g, backend)),
      });
  }
  if (!backends.includes('simd')) return variants;
  const byo = { w: new Float32Array(n).fill(0.5), grads: { w: g } };
  const byoOpt = await lib.create({ w: byo.w }, { backend: 'simd' });
  const cm = await zeroCopy(lib, g, 'simd', { centered: true, momentum: 0.9 });
  return [
    ...variants,
    {
      key: 'simd-byo',
      label: 'simd, your arrays (copies)',
      bytes: SEED_BYTES,
      step: () => void byoOpt.step(byo.grads),
      dispose: () => byoOpt.dispose(),
    },
    { key: 'simd-cm', label: 'simd, centered + momentum', bytes: CENTERED_MOMENTUM_BYTES, ...cm },
  ];
}

/**
 * The simd step on 2 threads and on threads: 'auto' (where the runtime allows shared memory), labelled
 * with what ran: `twoThreads` is how many threads `threads: 2` got, and `reason` why not 2 if it did not;
 * `autoThreads` how many 'auto' took at this size.
 */
export async function threadVariants(
  lib: RMSPropClass,
  g: Float32Array,
): Promise<{ variants: Variant[]; twoThreads: number; reason?: string; autoThreads: number }> {
  const { threadsReason: reason, ...two } = await zeroCopy(lib, g, 'simd', { threads: 2 });
  const { threadsReason: _, ...auto } = await zeroCopy(lib, g, 'simd', { threads: 'auto' });
  const ran =
    two.threads === 2 ? 'simd, 2 threads' : `simd, ${two.threads} thread${two.threads === 1 ? '' : 's'} (2 asked)`;
  return {
    variants: [
      { key: 'threads-2', label: ran, bytes: SEED_BYTES, ...two },
      { key: 'threads-auto', label: `simd, threads 'auto'`, bytes: SEED_BYTES, ...auto },
    ],
    twoThreads: two.threads,
    ...(reason && { reason }),
    autoThreads: auto.threads,
  };
}

/**
 * TF.js as a user runs it: tf.train.rmsprop(...).applyGradients on one variable of n elements on
 * `backend` (registered by the caller), with the seed preset's formula.
 */
export async function tfjsVariant(backend: string, label: string, grad: Float32Array): Promise<Variant> {
  if (!(await tf.setBackend(backend))) throw new Error(`the TF.js ${backend} backend failed to start`);
  const w = tf.variable(tf.fill([grad.length], 0.5));
  const g = tf.tensor1d(grad);
  // TF.js: ms = ρ ms + (1−ρ) g²; w −= lr g / √(ms + ε): the seed formula, given its ε.
  const opt = tf.train.rmsprop(SEED.lr, SEED.decay, 0, SEED.eps, false);
  const grads = { [w.name]: g };
  return {
    key: `tfjs-${backend}`,
    label,
    bytes: SEED_BYTES,
    // Tensors move to whichever backend is active, so each sample switches to its own first.
    prepare: () => tf.setBackend(backend).then(() => undefined),
    // webgl runs asynchronously on the GPU: reading one element back waits for the step to finish.
    step:
      backend === 'webgl'
        ? () => {
            opt.applyGradients(grads);
            const first = tf.slice(w, 0, 1);
            first.dataSync();
            first.dispose();
          }
        : () => opt.applyGradients(grads),
    dispose: () => {
      opt.dispose();
      w.dispose();
      g.dispose();
    },
  };
}

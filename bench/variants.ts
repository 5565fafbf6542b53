// What is timed. Every variant is set up here, outside the timed body; `step` is the timed body.
import { RMSProp, type BackendName } from '../src/index.js';
import { plainRMSPropStep, SEED } from './plain.js';
import { wasmLoop } from './loops.js';
import { tfjsStep } from './tfjs.js';
import type { NativeBuild } from './native.js';

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

/** Reads w, g, S and writes w, S: 5 float32 per element. */
export const SEED_BYTES = 20;
/** Centered + momentum also reads and writes ḡ and m. */
const CENTERED_MOMENTUM_BYTES = 36;

export function gradient(n: number): Float32Array {
  const g = new Float32Array(n);
  for (let i = 0; i < n; i++) g[i] = Math.sin(i) * 1e-2;
  return g;
}

async function zeroCopy(g: Float32Array, backend: BackendName, extra = {}) {
  const opt = await RMSProp.create({ w: g.length }, { backend, ...extra });
  opt.params.w.fill(0.5);
  opt.grads.w.set(g);
  return () => void opt.step();
}

/** Every variant at one size, in table order. */
export async function variantsAt(n: number, native: NativeBuild[]): Promise<Variant[]> {
  const g = gradient(n);
  const plain = { w: new Float32Array(n).fill(0.5), s: new Float32Array(n) };
  const byo = { w: new Float32Array(n).fill(0.5), grads: { w: g } };
  const byoOpt = await RMSProp.create({ w: byo.w }, { backend: 'simd' });
  const tfCpu = await tfjsStep('cpu', n, g);
  const tfWasm = await tfjsStep('wasm', n, g);
  return [
    { key: 'plain', label: 'plain JS loop', bytes: SEED_BYTES, step: () => plainRMSPropStep(plain.w, g, plain.s, SEED.lr, SEED.decay, SEED.eps) },
    { key: 'js', label: 'js backend', bytes: SEED_BYTES, step: await zeroCopy(g, 'js') },
    { key: 'wasm', label: 'wasm backend', bytes: SEED_BYTES, step: await zeroCopy(g, 'wasm') },
    { key: 'simd', label: 'simd backend', bytes: SEED_BYTES, step: await zeroCopy(g, 'simd') },
    { key: 'simd-byo', label: 'simd, your arrays (copies)', bytes: SEED_BYTES, step: () => void byoOpt.step(byo.grads) },
    {
      key: 'simd-cm',
      label: 'simd, centered + momentum',
      bytes: CENTERED_MOMENTUM_BYTES,
      step: await zeroCopy(g, 'simd', { centered: true, momentum: 0.9 }),
    },
    { key: 'tfjs-cpu', label: 'TF.js cpu', bytes: SEED_BYTES, step: tfCpu.step, prepare: tfCpu.prepare, dispose: tfCpu.dispose },
    { key: 'tfjs-wasm', label: 'TF.js wasm', bytes: SEED_BYTES, step: tfWasm.step, prepare: tfWasm.prepare, dispose: tfWasm.dispose },
    { key: 'seed-only', label: 'wasm SIMD seed-only loop', bytes: SEED_BYTES, step: await wasmLoop(n, 'seedOnly') },
    { key: 'stream', label: 'streaming limit (wasm)', bytes: SEED_BYTES, step: await wasmLoop(n, 'stream') },
    ...native.map((b) => ({ key: b.key, label: b.label, bytes: SEED_BYTES, sample: (ms: number) => b.run(n, ms) })),
  ];
}

export const TENSORS = 100;
export const TENSOR_LENGTH = 1024;

/** Per-call overhead: 100 tensors of 1 K against one tensor of the same 100 K, zero-copy and copying. */
export async function overheadVariants(): Promise<Variant[]> {
  const total = TENSORS * TENSOR_LENGTH;
  const many = <T>(make: (i: number) => T) => Object.fromEntries(Array.from({ length: TENSORS }, (_, i) => [`t${i}`, make(i)]));
  const one = await zeroCopy(gradient(total), 'simd');
  const manyOpt = await RMSProp.create(many(() => TENSOR_LENGTH), { backend: 'simd' });
  for (const name in manyOpt.grads) manyOpt.grads[name].set(gradient(TENSOR_LENGTH));
  const oneByo = await RMSProp.create({ w: new Float32Array(total).fill(0.5) }, { backend: 'simd' });
  const oneGrads = { w: gradient(total) };
  const manyByo = await RMSProp.create(many(() => new Float32Array(TENSOR_LENGTH).fill(0.5)), { backend: 'simd' });
  const manyGrads = many(() => gradient(TENSOR_LENGTH));
  return [
    { key: 'one', label: `simd, 1 × ${total / 1024} K`, bytes: SEED_BYTES, step: one },
    { key: 'many', label: `simd, ${TENSORS} × 1 K`, bytes: SEED_BYTES, step: () => void manyOpt.step() },
    { key: 'one-byo', label: `simd, your arrays, 1 × ${total / 1024} K`, bytes: SEED_BYTES, step: () => void oneByo.step(oneGrads) },
    { key: 'many-byo', label: `simd, your arrays, ${TENSORS} × 1 K`, bytes: SEED_BYTES, step: () => void manyByo.step(manyGrads) },
  ];
}

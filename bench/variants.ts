// What `npm run bench` times: the shared steps (bench/steps.ts, also run by the browser page) and
// what only Node runs here (the wasm loops compiled at bench time, native C in a child process).
import { RMSProp } from '../src/index.js';
import { wasmLoop } from './loops.js';
import { tfjsStep } from './tfjs.js';
import type { NativeBuild } from './native.js';
import { benchOptimizer, gradient, libraryVariants, SEED_BYTES, type Variant } from './steps.js';

export { gradient, SEED_BYTES, type Variant } from './steps.js';

/** Every variant at one size, in table order. */
export async function variantsAt(n: number, native: NativeBuild[]): Promise<Variant[]> {
  const g = gradient(n);
  const library = await libraryVariants(RMSProp, g);
  return [
    ...library,
    await tfjsStep('cpu', g),
    await tfjsStep('wasm', g),
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
  const many = <T>(make: (i: number) => T) =>
    Object.fromEntries(Array.from({ length: TENSORS }, (_, i) => [`t${i}`, make(i)]));
  const oneOpt = await benchOptimizer(RMSProp, total, { backend: 'simd' });
  const one = () => void oneOpt.step();
  const manyOpt = await RMSProp.create(
    many(() => TENSOR_LENGTH),
    { backend: 'simd' },
  );
  for (const name in manyOpt.grads) manyOpt.grads[name].set(gradient(TENSOR_LENGTH));
  const oneByo = await RMSProp.create({ w: new Float32Array(total).fill(0.5) }, { backend: 'simd' });
  const oneGrads = { w: gradient(total) };
  const manyByo = await RMSProp.create(
    many(() => new Float32Array(TENSOR_LENGTH).fill(0.5)),
    { backend: 'simd' },
  );
  const manyGrads = many(() => gradient(TENSOR_LENGTH));
  return [
    { key: 'one', label: `simd, 1 × ${total / 1024} K`, bytes: SEED_BYTES, step: one },
    { key: 'many', label: `simd, ${TENSORS} × 1 K`, bytes: SEED_BYTES, step: () => void manyOpt.step() },
    {
      key: 'one-byo',
      label: `simd, your arrays, 1 × ${total / 1024} K`,
      bytes: SEED_BYTES,
      step: () => void oneByo.step(oneGrads),
    },
    {
      key: 'many-byo',
      label: `simd, your arrays, ${TENSORS} × 1 K`,
      bytes: SEED_BYTES,
      step: () => void manyByo.step(manyGrads),
    },
  ];
}

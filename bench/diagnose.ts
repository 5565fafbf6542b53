// `npx tsx bench/diagnose.ts`: the measurements behind BENCHMARKS.md's explanations of missed
// targets, interleaved and pinned like the benchmark.
//  1. The default simd step against wasm loops that isolate what it costs: seedOnly (the seed
//     formula alone, as bench/native/rmsprop.c) and seedLibraryOps (the library's operations with
//     the constants in registers).
//  2. The bring-your-own-arrays step against the zero-copy step plus one and three array copies
//     (it copies the gradient in, the parameters in and the parameters out).
//  3. Centered + momentum at exactly 16 M elements against 16 M + 12 K: before commit c4e3679 the
//     optimizer's arrays sat exactly 64 MiB apart at 16 M (now 64 MiB + 32 KiB + 320 bytes).
import { execFileSync } from 'node:child_process';
import { RMSProp } from '../src/index.js';
import { environment } from './environment.js';
import { measure, type Plan } from './measure.js';
import { wasmLoop } from './loops.js';
import { benchOptimizer } from './steps.js';
import { gradient, type Variant } from './variants.js';

execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
console.log(`Missed targets, measured — ${environment()}; pinned to CPU 0\n`);
const plan: Plan = { rounds: 9, sampleMs: 20, minBatches: 5, warmMs: 50, batchMs: 1, budgetMs: 10_000, minRounds: 3 };

async function step(n: number, options = {}) {
  const opt = await benchOptimizer(RMSProp, n, { backend: 'simd', ...options });
  return () => void opt.step();
}

async function report(title: string, variants: Array<Variant & { n: number }>) {
  const measured = await measure(variants, plan);
  console.log(title);
  for (const v of variants)
    console.log(`  ${v.label.padEnd(44)} ${(measured[v.key].nsPerStep / v.n).toFixed(3)} ns/element`);
}

const n = 64 * 1024;
await report(`The seed step at ${n} elements`, [
  { key: 'simd', label: 'simd backend step()', bytes: 20, n, step: await step(n) },
  {
    key: 'library-ops',
    label: 'its operations, constants in registers',
    bytes: 20,
    n,
    step: await wasmLoop(n, 'seedLibraryOps'),
  },
  { key: 'seed-only', label: 'the seed formula alone', bytes: 20, n, step: await wasmLoop(n, 'seedOnly') },
]);

const mid = 256 * 1024;
{
  const opt = await RMSProp.create({ w: mid }, { backend: 'simd' });
  const user = { w: new Float32Array(mid).fill(0.5), g: gradient(mid) };
  const byo = await RMSProp.create({ w: user.w }, { backend: 'simd' });
  const grads = { w: user.g };
  const copies = (k: number) => () => {
    for (let c = 0; c < k; c++) opt.grads.w.set(user.g);
    opt.step();
  };
  await report(`Copies at ${mid} elements`, [
    { key: 'zero-copy', label: 'zero-copy step()', bytes: 20, n: mid, step: copies(0) },
    { key: 'one', label: 'one Float32Array.set, then step()', bytes: 20, n: mid, step: copies(1) },
    { key: 'three', label: 'three Float32Array.set, then step()', bytes: 20, n: mid, step: copies(3) },
    { key: 'byo', label: 'step(grads) on your arrays', bytes: 20, n: mid, step: () => void byo.step(grads) },
  ]);
}

const big = 16 * 1024 * 1024;
const offset = big + 12 * 1024;
await report('Centered + momentum: power-of-two array spacing', [
  {
    key: 'cm',
    label: `centered + momentum, ${big} elements`,
    bytes: 36,
    n: big,
    step: await step(big, { centered: true, momentum: 0.9 }),
  },
  {
    key: 'cm+',
    label: `centered + momentum, ${offset} elements`,
    bytes: 36,
    n: offset,
    step: await step(offset, { centered: true, momentum: 0.9 }),
  },
  { key: 'plain', label: `plain, ${big} elements`, bytes: 20, n: big, step: await step(big) },
  { key: 'plain+', label: `plain, ${offset} elements`, bytes: 20, n: offset, step: await step(offset) },
]);

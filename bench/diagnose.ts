// `npx tsx bench/diagnose.ts`: the measurements behind BENCHMARKS.md's explanations of missed
// targets, interleaved and pinned like the benchmark.
//  1. The default simd step against wasm loops that isolate what it costs: seedOnly (the seed
//     formula alone, as bench/native/rmsprop.c) and seedLibraryOps (the library's operations with
//     the constants in registers).
//  2. Centered + momentum at exactly 16 M elements against 16 M + 12 K: the optimizer's arrays
//     sit exactly 64 MiB apart at 16 M.
import { execFileSync } from 'node:child_process';
import { RMSProp } from '../src/index.js';
import { measure, type Plan } from './measure.js';
import { wasmLoop } from './loops.js';
import { gradient, type Variant } from './variants.js';

execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const plan: Plan = { rounds: 9, sampleMs: 20, minBatches: 5, warmMs: 50, batchMs: 1, budgetMs: 10_000, minRounds: 3 };

async function step(n: number, options = {}) {
  const opt = await RMSProp.create({ w: n }, { backend: 'simd', ...options });
  opt.params.w.fill(0.5);
  opt.grads.w.set(gradient(n));
  return () => void opt.step();
}

async function report(title: string, variants: Array<Variant & { n: number }>) {
  const measured = await measure(variants, plan);
  console.log(title);
  for (const v of variants) console.log(`  ${v.label.padEnd(44)} ${(measured[v.key].nsPerStep / v.n).toFixed(3)} ns/element`);
}

const n = 64 * 1024;
await report(`The seed step at ${n} elements`, [
  { key: 'simd', label: 'simd backend step()', bytes: 20, n, step: await step(n) },
  { key: 'library-ops', label: "its operations, constants in registers", bytes: 20, n, step: await wasmLoop(n, 'seedLibraryOps') },
  { key: 'seed-only', label: 'the seed formula alone', bytes: 20, n, step: await wasmLoop(n, 'seedOnly') },
]);

const big = 16 * 1024 * 1024;
const offset = big + 12 * 1024;
await report('Centered + momentum: power-of-two array spacing', [
  { key: 'cm', label: `centered + momentum, ${big} elements`, bytes: 36, n: big, step: await step(big, { centered: true, momentum: 0.9 }) },
  { key: 'cm+', label: `centered + momentum, ${offset} elements`, bytes: 36, n: offset, step: await step(offset, { centered: true, momentum: 0.9 }) },
  { key: 'plain', label: `plain, ${big} elements`, bytes: 20, n: big, step: await step(big) },
  { key: 'plain+', label: `plain, ${offset} elements`, bytes: 20, n: offset, step: await step(offset) },
]);

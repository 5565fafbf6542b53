// `npx tsx bench/compare.ts`: one quick look at what the wasm core buys. For each size it
// times a plain JS loop and the js, wasm and simd backends, interleaved round by round so that all
// see the same machine conditions, and prints median ns/element and speed-ups.
import { RMSProp, type BackendName } from '../src/index.js';
import { plainRMSPropStep, SEED } from './plain.js';

const SIZES = [16 * 1024, 256 * 1024, 4 * 1024 * 1024];
const ROUNDS = 15;
const TARGET_MS = 20;

interface Variant {
  name: string;
  step: () => void;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function variants(n: number): Promise<Variant[]> {
  const grad = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e-2);
  const w = new Float32Array(n).fill(0.5);
  const s = new Float32Array(n);
  const out: Variant[] = [
    { name: 'plain JS loop', step: () => plainRMSPropStep(w, grad, s, SEED.lr, SEED.decay, SEED.eps) },
  ];
  for (const backend of ['js', 'wasm', 'simd'] as BackendName[]) {
    const opt = await RMSProp.create({ w: n }, { backend });
    opt.params.w.fill(0.5);
    opt.grads.w.set(grad);
    out.push({ name: `rmsprop-wasm ${backend}`, step: () => opt.step() });
  }
  return out;
}

function timePerStep(variant: Variant, reps: number): number {
  const start = performance.now();
  for (let r = 0; r < reps; r++) variant.step();
  return (performance.now() - start) / reps;
}

console.log(`RMSProp step, zero-copy, seed preset — Node ${process.version}, median of ${ROUNDS} interleaved rounds\n`);
for (const n of SIZES) {
  const vs = await variants(n);
  const reps = vs.map((v) => {
    for (let i = 0; i < 3; i++) v.step(); // warm-up (JIT tiers, page faults)
    return Math.max(1, Math.round(TARGET_MS / Math.max(timePerStep(v, 3), 1e-3)));
  });
  const samples: number[][] = vs.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < vs.length; j++) {
      const i = (j + round) % vs.length; // rotate the order each round
      samples[i].push(timePerStep(vs[i], reps[i]));
    }
  }
  const ms = samples.map(median);
  console.log(`${n.toLocaleString('en-US')} elements`);
  for (let i = 0; i < vs.length; i++) {
    const nsPerElement = (ms[i] * 1e6) / n;
    console.log(
      `  ${vs[i].name.padEnd(20)} ${nsPerElement.toFixed(3).padStart(8)} ns/element   ${(ms[0] / ms[i]).toFixed(2).padStart(6)}× plain JS   ${(ms[1] / ms[i]).toFixed(2).padStart(6)}× js backend`,
    );
  }
}

// `npx tsx bench/training-features.ts`: the costs of the training features on the simd backend,
// interleaved round by round, medians. Pin it on a shared machine: `taskset -c 1 npx tsx bench/training-features.ts`.
import { RMSProp, type RMSPropOptions } from '../src/index.js';
import { environment } from './environment.js';

const ROUNDS = 21;

interface Case {
  name: string;
  step: () => void;
}

/** A percentage with its sign (+3.1, −14.5). */
const signed = (percent: number) => `${percent >= 0 ? '+' : '−'}${Math.abs(percent).toFixed(1)}`;

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}

/** Median ms per step of each case, measured in interleaved rounds of `reps` steps. */
function compare(cases: Case[], reps: number): number[] {
  for (const c of cases) for (let i = 0; i < reps; i++) c.step();
  const samples = cases.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < cases.length; j++) {
      const i = (j + round) % cases.length;
      const start = performance.now();
      for (let r = 0; r < reps; r++) cases[i].step();
      samples[i].push((performance.now() - start) / reps);
    }
  }
  return samples.map(median);
}

async function zeroCopy(
  params: Record<string, number>,
  options: RMSPropOptions = {},
): Promise<Case & { opt: RMSProp }> {
  const opt = await RMSProp.create(params, { backend: 'simd', ...options });
  for (const name of Object.keys(params)) {
    opt.params[name].fill(0.5);
    opt.grads[name].forEach((_, i, g) => (g[i] = Math.sin(i) * 1e-2));
  }
  return { name: '', step: () => opt.step(), opt };
}

console.log(`Training features, simd backend, medians of ${ROUNDS} interleaved rounds — ${environment()}`);
const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`t${i}`, 1024]));
const groupCases = [
  { ...(await zeroCopy(many)), name: '100 tensors × 1 K (one group)' },
  { ...(await zeroCopy({ w: 100 * 1024 })), name: 'one tensor of 100 K' },
];
const [manyMs, oneMs] = compare(groupCases, 200);
console.log(
  `100 × 1 K: ${(manyMs * 1e3).toFixed(1)} µs, 1 × 100 K: ${(oneMs * 1e3).toFixed(1)} µs → ratio ${(manyMs / oneMs).toFixed(3)} (target ≤ 1.3)`,
);

const scanCases = [
  { ...(await zeroCopy({ w: 256 * 1024 }, { nonFinite: 'skip' })), name: 'skip' },
  { ...(await zeroCopy({ w: 256 * 1024 })), name: 'propagate' },
];
const [skipMs, propagateMs] = compare(scanCases, 50);
console.log(
  `256 K, nonFinite skip: ${(skipMs * 1e3).toFixed(1)} µs, propagate: ${(propagateMs * 1e3).toFixed(1)} µs → ${signed((skipMs / propagateMs - 1) * 100)} % (target ≤ 15 %)`,
);

// Subnormals: a step after 10 000 zero-gradient steps against a step on fresh state.
const fresh = await zeroCopy({ w: 256 * 1024 }, { momentum: 0.9, centered: true });
const decayed = await zeroCopy({ w: 256 * 1024 }, { momentum: 0.9, centered: true });
decayed.opt.step();
decayed.opt.grads.w.fill(0);
for (let k = 0; k < 10_000; k++) decayed.opt.step();
const [freshMs, decayedMs] = compare(
  [
    { ...fresh, name: 'fresh' },
    { ...decayed, name: 'after 10 000 zero steps' },
  ],
  50,
);
console.log(
  `256 K centered+momentum: steps from fresh state ${(freshMs * 1e3).toFixed(1)} µs, after 10 000 zero-gradient steps ${(decayedMs * 1e3).toFixed(1)} µs → ratio ${(decayedMs / freshMs).toFixed(3)} (target ≤ 1)`,
);

// `npx tsx bench/many-tensors.ts [--quick] [--json]`: a step over many small tensors with clipNorm
// (one kernel call per tensor), zero-copy, simd, on threads 1, 2 and 'auto', interleaved round by
// round (medians). Run unpinned: npm run bench runs it as a child on every CPU.
import { RMSProp } from '../src/index.js';
import { environment } from './environment.js';

const quick = process.argv.includes('--quick');
const TENSOR_COUNTS = [1_000, 16_000];
const TENSOR_LENGTH = 256;
const ROUNDS = quick ? 5 : 11;
const ROUND_MS = quick ? 40 : 150;
/** 'auto' times its own steps before it settles (bench/threads.ts, SETTLE_MS): stepped this long first. */
const SETTLE_MS = quick ? 1500 : 2500;
export const MANY_THREADS = [1, 2, 'auto'] as const;

export interface ManyTensorsRow {
  tensors: number;
  /** Median ms per step by threads option ('1', '2', 'auto'). */
  ms: Record<string, number>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function optimizer(tensors: number, threads: number | 'auto'): Promise<RMSProp> {
  const opt = await RMSProp.create(
    Array.from({ length: tensors }, () => TENSOR_LENGTH),
    { backend: 'simd', threads, clipNorm: 1 },
  );
  Object.values(opt.grads).forEach((g, t) => g.forEach((_, i) => (g[i] = Math.sin(i + t) * 1e-2)));
  const until = performance.now() + (threads === 'auto' ? SETTLE_MS : 0);
  while (performance.now() < until) opt.step();
  return opt;
}

export async function benchManyTensors(): Promise<ManyTensorsRow[]> {
  const rows: ManyTensorsRow[] = [];
  for (const tensors of TENSOR_COUNTS) {
    const opts: RMSProp[] = [];
    for (const t of MANY_THREADS) opts.push(await optimizer(tensors, t)); // one at a time: 'auto' settles alone
    const samples = opts.map((): number[] => []);
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (let j = 0; j < opts.length; j++) {
        const i = (j + round) % opts.length;
        const start = performance.now();
        let steps = 0;
        while (performance.now() - start < ROUND_MS) {
          opts[i].step();
          steps++;
        }
        if (round > 0) samples[i].push((performance.now() - start) / steps); // the first round warms up
      }
    }
    for (const opt of opts) opt.dispose();
    rows.push({ tensors, ms: Object.fromEntries(MANY_THREADS.map((t, i) => [String(t), median(samples[i])])) });
  }
  return rows;
}

export function manyTensorsTable(rows: ManyTensorsRow[]): { header: string[]; body: string[][] } {
  const header = [
    'tensors × 256, clipNorm',
    '1 thread ms/step',
    '2 threads ms/step',
    'auto ms/step',
    '2 threads / 1',
    'auto / 1',
  ];
  const body = rows.map(({ tensors, ms }) => [
    tensors.toLocaleString('en-US'),
    ms['1'].toFixed(3),
    ms['2'].toFixed(3),
    ms.auto.toFixed(3),
    `${(ms['2'] / ms['1']).toFixed(2)}×`,
    `${(ms.auto / ms['1']).toFixed(2)}×`,
  ]);
  return { header, body };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchManyTensors();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows));
  } else {
    const { header, body } = manyTensorsTable(rows);
    console.log(
      `Many tensors — ${environment()}; medians of ${ROUNDS} interleaved rounds (time ratios: lower is better)`,
    );
    console.log([header, ...body].map((r) => r.map((c) => c.padStart(14)).join(' ')).join('\n'));
  }
}

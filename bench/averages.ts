// What the ema option (a moving average of the parameters, Keras' use_ema) costs per step: the
// zero-copy simd step (seed preset) without ema and with ema 0.99, float32 state at 64 K, 1 M and 16 M
// elements on 1 and 2 threads, and 8-bit state at 16 M on one thread. Every variant is sampled in
// ONE interleaved run (bench/measure.ts: each round samples every variant once, in a shuffled order),
// so each ema / no-ema ratio compares figures taken under the same machine conditions.
// Run unpinned (2 threads need both CPUs): npx tsx bench/averages.ts [--quick]
import { RMSProp, type RMSPropOptions } from '../src/index.js';
import { commit, environment } from './environment.js';
import { FULL_PLAN, measure, type Plan, QUICK_PLAN } from './measure.js';
import { markdownTable, sizeLabel } from './report.js';
import { benchOptimizer, SEED_BYTES, type Variant } from './steps.js';

const quick = process.argv.includes('--quick');
const K = 1024;
const M = K * K;
const EMA = 0.99;
/**
 * 2-thread steps are warmed longer than the plan's 50 ms: until V8's optimizing tier has compiled the
 * shared-memory kernel, both threads run baseline code (bench/threads.ts, warmUp).
 */
const PLAN: Plan = quick ? QUICK_PLAN : { ...FULL_PLAN, rounds: 21, warmMs: 300 };

interface Row {
  n: number;
  threads: number;
  stateFormat: 'float32' | '8bit';
  /** Bytes a step moves per element without ema (the update's arrays, 8-bit state's codes). */
  bytes: number;
}

const ROWS: Row[] = [
  ...[64 * K, 1 * M, 16 * M].flatMap((n) =>
    [1, 2].map((threads): Row => ({ n, threads, stateFormat: 'float32', bytes: SEED_BYTES })),
  ),
  // w read + write, g read, S's 8-bit code read + write (its block scales are 1/256 of that)
  { n: 16 * M, threads: 1, stateFormat: '8bit', bytes: 14 },
];
const key = (r: Row, ema: number) => `${r.n}/${r.threads}/${r.stateFormat}/${ema}`;

// COMMIT names the commit where there is no repository (a `git archive` export of one commit)
const env = environment({ commit: process.env.COMMIT ?? commit() });

const variants: Variant[] = [];
const optimizers: RMSProp[] = [];
for (const row of ROWS) {
  for (const ema of [0, EMA]) {
    const options: RMSPropOptions = { backend: 'simd', threads: row.threads, stateFormat: row.stateFormat, ema };
    const opt = await benchOptimizer(RMSProp, row.n, options);
    if (opt.backend !== 'simd' || opt.threads !== row.threads)
      throw new Error(`${key(row, ema)}: got ${opt.backend} on ${opt.threads} threads (${opt.threadsReason ?? ''})`);
    if (row.stateFormat === '8bit' && opt.stateBytesPerValue > 1.1)
      throw new Error(`${key(row, ema)}: ${opt.stateBytesPerValue} bytes per state value, not 8-bit`);
    optimizers.push(opt);
    variants.push({
      key: key(row, ema),
      label: `${sizeLabel(row.n)}, ${row.threads} thread${row.threads > 1 ? 's' : ''}, ${row.stateFormat}${ema ? `, ema ${ema}` : ''}`,
      bytes: row.bytes + (ema ? 8 : 0),
      step: () => void opt.step(),
    });
  }
}

const started = performance.now();
const results = await measure(variants, PLAN);
const seconds = (performance.now() - started) / 1e3;
for (const opt of optimizers) opt.dispose();

console.log(`ema cost — ${env}`);
console.log(
  `Zero-copy simd step, seed preset; ${PLAN.rounds} interleaved rounds (${seconds.toFixed(0)} s), medians. ` +
    `Traffic estimate: ema adds reading and writing the average (8 bytes an element) with w still in cache, ` +
    `12 if w comes from memory again.`,
);
const time = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`);
/** The median and quartiles of `xs`. */
const quartiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return [0.5, 0.25, 0.75].map((q) => (s[Math.floor((s.length - 1) * q)] + s[Math.ceil((s.length - 1) * q)]) / 2);
};
const body = ROWS.map((row) => {
  const off = results[key(row, 0)];
  const on = results[key(row, EMA)];
  // the ratio within each round (both samples taken in it), to show how much the ratio moves
  const perRound = on.rounds.map((ns, i) => ns / off.rounds[i]);
  const [mid, low, high] = quartiles(perRound);
  return [
    sizeLabel(row.n),
    String(row.threads),
    row.stateFormat,
    time(off.nsPerStep),
    time(on.nsPerStep),
    (off.nsPerStep / row.n).toFixed(3),
    (on.nsPerStep / row.n).toFixed(3),
    `${(on.nsPerStep / off.nsPerStep).toFixed(2)}×`,
    `${mid.toFixed(2)}× (${low.toFixed(2)}–${high.toFixed(2)})`,
    `${((row.bytes + 8) / row.bytes).toFixed(2)}× / ${((row.bytes + 12) / row.bytes).toFixed(2)}×`,
  ];
});
console.log(
  `\n${markdownTable(
    [
      'elements',
      'threads',
      'state',
      'no ema, per step',
      `ema ${EMA}, per step`,
      'no ema, ns/element',
      'ema, ns/element',
      'ema / no ema',
      'per-round ratios: median (quartiles)',
      'traffic estimate (w cached / not)',
    ],
    body,
    3,
  )}`,
);

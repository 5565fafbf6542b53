// `npx tsx bench/threads.ts [--quick] [--json]`: the zero-copy SIMD step on 1 thread, 2 threads
// and threads: 'auto', interleaved round by round (with 'auto' in a run, every variant is the mean
// of 100 ms samples: a median would hide auto's trials), from 1 K to 16 M elements: back to
// back; with 2 ms of other work before every step (as in training, where the forward and
// backward passes run between steps and the workers have gone to sleep); back to back while
// another process burns one core (bench/busy.ts); and the streaming limit on 1 and 2 threads.
// Run unpinned (npm run bench runs it as a child on every CPU, after its pinned single-thread part).
import { RMSProp } from '../src/index.js';
import { burnerDescription, burnOneCore } from './busy.js';
import { environment } from './environment.js';
import { sharedCpuCounter, withNewThreads } from './placement.js';
import { benchOptimizer } from './steps.js';
import { streamLoops } from './stream-threads.js';

const quick = process.argv.includes('--quick');
const SIZES = quick
  ? [16 * 1024, 256 * 1024, 4 * 1024 * 1024]
  : [1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024];
const ROUNDS = quick ? 7 : 15;
const TARGET_MS = quick ? 5 : 20;
/** Busy time before each step in the 'apart' pairs: longer than the workers spin before sleeping. */
const APART_MS = 2;
const APART_STEPS = quick ? 8 : 20;
/** The sizes of the 2 ms apart and busy sections (the targets). */
const TARGET_SIZES = quick
  ? [16 * 1024, 256 * 1024, 4 * 1024 * 1024]
  : [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024];
/**
 * threads: 'auto' times its own steps before it settles on a choice (and again now and then): it
 * is stepped this long first, under the conditions it is then measured in, as a training run
 * would have been. At 16 M a trial takes about a second.
 */
const SETTLE_MS = quick ? 1500 : 2500;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/**
 * Samples of a run with 'auto' last this long, and its figures are means, not medians: now and then
 * 'auto' runs a trial of the other choice (up to four periods of ~128 ms), which is part of what it
 * costs; 20 ms samples let one trial fill most of a run's rounds, or none.
 */
const AUTO_SAMPLE_MS = quick ? 25 : 100;

export interface ThreadsRow {
  elements: number;
  /** Threads an optimizer of this size gets from threads: 'auto' (1: no workers, the code of one thread). */
  autoThreads: number;
  /**
   * ns per element for 1 thread, 2 threads and 'auto', interleaved in one run (means of
   * AUTO_SAMPLE_MS samples, as every run with 'auto' is). 'auto, apart' and '1, apart': the same with
   * APART_MS of other work before each step.
   * 'stream 1' and 'stream 2': the streaming limit on 1 and on 2 threads. From the issue's target
   * sizes: '2, apart' (interleaved with '1, apart' and 'auto, apart'), and 'busy 1', 'busy 2',
   * 'busy auto': back to back with another process burning one core, interleaved in one run.
   * '1, apart, control' and 'busy 1, control': a second one-thread optimizer in the same rounds,
   * measured as 'auto' is, so two runs of one choice show the noise 'auto''s ratios sit in.
   */
  ns: Record<string, number>;
  /**
   * Busy, Linux only: the share of samples after which the worker of '2' and of 'auto' had last run
   * on the calling thread's CPU (bench/placement.ts), which decides whether 2 threads pay there.
   */
  sharedCpu?: Record<string, number>;
}

/** A simd optimizer of `n` elements stepped on its own arrays ('auto' first settles for SETTLE_MS, steps `apartMs` apart). */
export async function zeroCopy(n: number, threads: number | 'auto', apartMs = 0): Promise<RMSProp> {
  const opt = await benchOptimizer(RMSProp, n, { backend: 'simd', threads });
  if (threads === 'auto') {
    const until = performance.now() + SETTLE_MS;
    while (performance.now() < until) {
      const work = performance.now() + apartMs;
      while (performance.now() < work);
      opt.step();
    }
  }
  return opt;
}

/**
 * Runs `measure` (ns per element of one sample) on each item in interleaved rounds, rotating the
 * order every round, and returns each one's median (or `summary`); the first `warmRounds` are discarded.
 */
function medianOfRounds<T>(
  items: T[],
  measure: (item: T, i: number) => number,
  warmRounds = 0,
  summary = median,
): number[] {
  const samples = items.map((): number[] => []);
  for (let round = 0; round < ROUNDS + warmRounds; round++) {
    for (let j = 0; j < items.length; j++) {
      const i = (j + round) % items.length;
      const sample = measure(items[i], i);
      if (round >= warmRounds) samples[i].push(sample);
    }
  }
  return samples.map(summary);
}

/** Runs `step` for at least `ms` and 3 steps; returns ms per step. */
function msPerStep(step: () => void, ms: number): number {
  const start = performance.now();
  let count = 0;
  while (performance.now() - start < ms || count < 3) {
    step();
    count++;
  }
  return (performance.now() - start) / count;
}

/** Median ns per element of each step function (over n elements), run back to back in interleaved rounds. */
function backToBack(
  n: number,
  steps: Array<() => void>,
  sampleMs = TARGET_MS,
  summary = median,
  afterSample?: (i: number) => void,
): number[] {
  // Steps per sample counted on warm steps: a new optimizer's first steps are slow (first-touched
  // memory, V8's baseline code), and counted here they gave it samples of a few steps, mostly the
  // ones that bring its arrays back into the cache after another's sample (BENCHMARKS.md, runs 24–29).
  const reps = steps.map((step) => {
    msPerStep(step, 50);
    return Math.max(1, Math.round(sampleMs / msPerStep(step, 50)));
  });
  return medianOfRounds(
    steps,
    (step, i) => {
      const start = performance.now();
      for (let r = 0; r < reps[i]; r++) step();
      const ns = ((performance.now() - start) * 1e6) / reps[i] / n;
      afterSample?.(i);
      return ns;
    },
    1,
    summary,
  );
}

/**
 * Median ns per element of each optimizer (mean with 'auto'), stepped back to back in interleaved
 * rounds, the threads each used, and (`placement`: after each sample) how often its workers shared
 * the calling thread's CPU (NaN otherwise).
 */
async function interleaved(
  n: number,
  threads: ReadonlyArray<number | 'auto'>,
  placement = false,
): Promise<{ ns: number[]; used: number[]; sharedCpu: number[] }> {
  const opts: RMSProp[] = [];
  const placements: Array<ReturnType<typeof sharedCpuCounter>> = [];
  for (const t of threads) {
    const { made, threads: workers } = await withNewThreads(() => zeroCopy(n, t)); // one at a time: 'auto' settles alone
    opts.push(made);
    placements.push(sharedCpuCounter(workers));
  }
  const auto = threads.includes('auto');
  const ns = backToBack(
    n,
    opts.map((opt) => () => void opt.step()),
    auto ? AUTO_SAMPLE_MS : TARGET_MS,
    auto ? mean : median,
    placement ? (i) => placements[i].sample() : undefined,
  );
  for (const opt of opts) opt.dispose();
  return { ns, used: opts.map((opt) => opt.threads), sharedCpu: placements.map((p) => p.share()) };
}

/** The streaming limit on 1 and 2 threads (bench/stream-threads.ts), interleaved. */
async function streamLimits(n: number): Promise<number[]> {
  const loops = await streamLoops(n);
  const ns = backToBack(n, [loops.one, loops.two]);
  loops.dispose();
  return ns;
}

/** Like `interleaved` (means), but each step comes after APART_MS of busy work, and only steps are timed. */
async function interleavedApart(n: number, threads: ReadonlyArray<number | 'auto'>): Promise<number[]> {
  const opts: RMSProp[] = [];
  for (const t of threads) opts.push(await zeroCopy(n, t, APART_MS)); // one at a time: 'auto' settles alone
  opts[0].step();
  const start = performance.now();
  opts[0].step();
  const steps = Math.max(2, Math.min(APART_STEPS, Math.round(TARGET_MS / (performance.now() - start))));
  const ns = medianOfRounds(
    opts,
    (opt) => {
      let total = 0;
      for (let r = 0; r < steps; r++) {
        const until = performance.now() + APART_MS;
        while (performance.now() < until); // the rest of a training step, on this thread
        const stepStart = performance.now();
        opt.step();
        total += performance.now() - stepStart;
      }
      return (total * 1e6) / steps / n;
    },
    1,
    mean,
  );
  for (const opt of opts) opt.dispose();
  return ns;
}

/**
 * Steps a 2-thread optimizer for a while first. Until V8 has compiled the shared-memory kernel with
 * its optimizing tier (in a background thread, which two busy threads starve), both threads run
 * baseline code: at 128 K the first pair measured in a process read 0.54–1.75× (seven runs) while
 * the next pair of the same size read 1.70–1.85×.
 */
async function warmUp(): Promise<void> {
  const opt = await zeroCopy(256 * 1024, 2);
  const until = performance.now() + (quick ? 200 : 500);
  while (performance.now() < until) opt.step();
  opt.dispose();
}

/**
 * Per size, 1 thread, 2 threads and 'auto' interleaved in one run, so that their ratios share one
 * machine state (two runs compared through their 1-thread figures read 'auto' 0.84–1.60× the faster
 * choice, idle). Between samples a threaded optimizer's workers spin for SPIN_MS (1 ms), then sleep.
 */
export async function benchThreads(sizes = SIZES): Promise<ThreadsRow[]> {
  await warmUp();
  const rows: ThreadsRow[] = [];
  for (const n of sizes) {
    const {
      ns: [one, two, auto],
      used: [, , autoThreads],
    } = await interleaved(n, [1, 2, 'auto']);
    const ns: Record<string, number> = { 1: one, 2: two, auto };
    if (TARGET_SIZES.includes(n)) {
      const apart = await interleavedApart(n, [1, 2, 'auto', 1]);
      [ns['1, apart'], ns['2, apart'], ns['auto, apart'], ns['1, apart, control']] = apart;
    } else {
      [ns['1, apart'], ns['auto, apart']] = await interleavedApart(n, [1, 'auto']);
    }
    [ns['stream 1'], ns['stream 2']] = await streamLimits(n);
    rows.push({ elements: n, autoThreads, ns });
  }
  // Busy: the burner runs through the whole section, so every figure here shares the machine with it.
  const burner = burnOneCore();
  try {
    for (const n of TARGET_SIZES) {
      const row = rows.find((r) => r.elements === n);
      if (!row) continue;
      const { ns, sharedCpu } = await interleaved(n, [1, 2, 'auto', 1], true);
      Object.assign(row.ns, { 'busy 1': ns[0], 'busy 2': ns[1], 'busy auto': ns[2], 'busy 1, control': ns[3] });
      row.sharedCpu = { 2: sharedCpu[1], auto: sharedCpu[2] };
    }
  } finally {
    burner.stop();
  }
  return rows;
}

/** The issue-19 table: 'auto' against the faster fixed choice, idle and 2 ms apart, and against 1 thread when busy. */
export function autoTable(rows: ThreadsRow[], burner: string): { header: string[]; body: string[][] } {
  const header = [
    'elements',
    'idle: 2 vs 1',
    "idle: 'auto' vs the faster",
    '2 ms apart: 2 vs 1',
    "2 ms apart: 'auto' vs the faster",
    '2 ms apart, control: a second 1 vs 1',
    `busy (${burner}): 2 vs 1`,
    "busy: 'auto' vs 1",
    "busy: 'auto' vs the faster",
    'busy, control: a second 1 vs 1',
    "busy: 'auto' vs the two 1s' mean",
    "busy: worker on the caller's CPU (2 / 'auto')",
  ];
  const percent = (share = Number.NaN) => (Number.isNaN(share) ? '–' : `${Math.round(100 * share)} %`);
  const ratio = (slower: number, faster: number) => `${(slower / faster).toFixed(2)}×`;
  const body = rows
    .filter((r) => r.ns['busy 1'] !== undefined)
    .map(({ elements, ns, sharedCpu }) => [
      elements >= 1 << 20 ? `${elements / (1 << 20)} M` : `${elements / 1024} K`,
      ratio(ns['1'], ns['2']),
      ratio(Math.min(ns['1'], ns['2']), ns.auto),
      ratio(ns['1, apart'], ns['2, apart']),
      ratio(Math.min(ns['1, apart'], ns['2, apart']), ns['auto, apart']),
      ratio(ns['1, apart'], ns['1, apart, control']),
      ratio(ns['busy 1'], ns['busy 2']),
      ratio(ns['busy 1'], ns['busy auto']),
      ratio(Math.min(ns['busy 1'], ns['busy 2']), ns['busy auto']),
      ratio(ns['busy 1'], ns['busy 1, control']),
      ratio((ns['busy 1'] + ns['busy 1, control']) / 2, ns['busy auto']),
      `${percent(sharedCpu?.['2'])} / ${percent(sharedCpu?.auto)}`,
    ]);
  return { header, body };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv.includes('--json')) {
  console.log(JSON.stringify(await benchThreads()));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const measured = environment();
  const rows = await benchThreads();
  console.log(
    `SIMD step, zero-copy, seed preset: 1 thread vs 2 threads vs 'auto' — ${measured}; ${ROUNDS} interleaved rounds (means of ${AUTO_SAMPLE_MS} ms samples where 'auto' runs, medians otherwise)`,
  );
  console.log(
    `elements      1 thread     2 threads    auto (threads)     2 threads vs 1   auto vs 1   auto vs 1, ${APART_MS} ms apart   stream, 2 threads   2 threads % of it`,
  );
  for (const row of rows) {
    const [one, two, auto, stream] = [row.ns['1'], row.ns['2'], row.ns.auto, row.ns['stream 2']];
    const apart = row.ns['1, apart'] / row.ns['auto, apart'];
    console.log(
      `${row.elements.toLocaleString('en-US').padStart(10)}  ${one.toFixed(3).padStart(8)} ns  ${two.toFixed(3).padStart(8)} ns  ${auto.toFixed(3).padStart(8)} ns (${row.autoThreads})   ${(one / two).toFixed(2).padStart(8)}×   ${(one / auto).toFixed(2).padStart(8)}×   ${apart.toFixed(2).padStart(8)}×   ${stream.toFixed(3).padStart(12)} ns   ${((100 * stream) / two).toFixed(0).padStart(8)} %`,
    );
  }
  const { header, body } = autoTable(rows, burnerDescription());
  console.log(
    `\nthreads: 'auto' (ratios of speed: above 1.00× is faster)\n${[header, ...body].map((r) => r.map((c) => c.padStart(12)).join('  ')).join('\n')}`,
  );
}

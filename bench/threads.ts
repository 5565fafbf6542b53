// `npx tsx bench/threads.ts [--quick] [--json]`: the zero-copy SIMD step on 1 thread, 2 threads
// and threads: 'auto', interleaved round by round (medians), from 1 K to 16 M elements: back to
// back, and with 2 ms of other work before every step (as in training, where the forward and
// backward passes run between steps and the workers have gone to sleep); and the streaming limit
// on 1 and 2 threads. Run unpinned (npm run bench runs it as a child on every CPU, after its
// pinned single-thread part).
import { RMSProp } from '../src/index.js';
import { streamLoops } from './stream-threads.js';

const quick = process.argv.includes('--quick');
const SIZES = quick ? [16 * 1024, 256 * 1024, 4 * 1024 * 1024] : [1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024];
const ROUNDS = quick ? 7 : 15;
const TARGET_MS = quick ? 5 : 20;
/** Busy time before each step in the 'apart' pairs: longer than the workers spin before sleeping. */
const APART_MS = 2;
const APART_STEPS = quick ? 8 : 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export interface ThreadsRow {
  elements: number;
  /** Threads an optimizer of this size gets from threads: 'auto' (1: no workers, the code of one thread). */
  autoThreads: number;
  /**
   * Median ns per element for 1 thread and 2 threads; for 'auto', its ratio to 1 thread applied to
   * that. 'auto, apart' and '1, apart': the same with APART_MS of other work before each step.
   * 'stream 1' and 'stream 2': the streaming limit on 1 and on 2 threads.
   */
  ns: Record<string, number>;
}

async function zeroCopy(n: number, threads: number | 'auto'): Promise<RMSProp> {
  const opt = await RMSProp.create({ w: n }, { backend: 'simd', threads });
  opt.params.w.fill(0.5);
  opt.grads.w.forEach((_, i, g) => (g[i] = Math.sin(i) * 1e-2));
  return opt;
}

/**
 * Runs `measure` (ns per element of one sample) on each item in interleaved rounds, rotating the
 * order every round, and returns each one's median; the first `warmRounds` are discarded.
 */
function medianOfRounds<T>(items: T[], measure: (item: T, i: number) => number, warmRounds = 0): number[] {
  const samples = items.map((): number[] => []);
  for (let round = 0; round < ROUNDS + warmRounds; round++) {
    for (let j = 0; j < items.length; j++) {
      const i = (j + round) % items.length;
      const sample = measure(items[i], i);
      if (round >= warmRounds) samples[i].push(sample);
    }
  }
  return samples.map(median);
}

/** Median ns per element of each step function (over n elements), run back to back in interleaved rounds. */
function backToBack(n: number, steps: Array<() => void>): number[] {
  const reps = steps.map((step) => {
    const start = performance.now();
    let count = 0;
    while (performance.now() - start < 50 || count < 3) {
      step();
      count++;
    }
    return Math.max(1, Math.round((TARGET_MS * count) / (performance.now() - start)));
  });
  return medianOfRounds(steps, (step, i) => {
    const start = performance.now();
    for (let r = 0; r < reps[i]; r++) step();
    return ((performance.now() - start) * 1e6) / reps[i] / n;
  }, 1);
}

/** Median ns per element of each optimizer, stepped back to back in interleaved rounds, and the threads each used. */
async function interleaved(n: number, threads: ReadonlyArray<number | 'auto'>): Promise<{ ns: number[]; used: number[] }> {
  const opts = await Promise.all(threads.map((t) => zeroCopy(n, t)));
  const ns = backToBack(n, opts.map((opt) => () => void opt.step()));
  for (const opt of opts) opt.dispose();
  return { ns, used: opts.map((opt) => opt.threads) };
}

/** The streaming limit on 1 and 2 threads (bench/stream-threads.ts), interleaved. */
async function streamLimits(n: number): Promise<number[]> {
  const loops = await streamLoops(n);
  const ns = backToBack(n, [loops.one, loops.two]);
  loops.dispose();
  return ns;
}

/** Like `interleaved`, but each step comes after APART_MS of busy work, and only steps are timed. */
async function interleavedApart(n: number, threads: ReadonlyArray<number | 'auto'>): Promise<number[]> {
  const opts = await Promise.all(threads.map((t) => zeroCopy(n, t)));
  opts[0].step();
  const start = performance.now();
  opts[0].step();
  const steps = Math.max(2, Math.min(APART_STEPS, Math.round(TARGET_MS / (performance.now() - start))));
  const ns = medianOfRounds(opts, (opt) => {
    let total = 0;
    for (let r = 0; r < steps; r++) {
      const until = performance.now() + APART_MS;
      while (performance.now() < until); // the rest of a training step, on this thread
      const stepStart = performance.now();
      opt.step();
      total += performance.now() - stepStart;
    }
    return (total * 1e6) / steps / n;
  }, 1);
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
 * Per size, 2 threads against 1 and 'auto' against 1, each pair interleaved with no other
 * optimizer alive (an idle optimizer's worker would share the cores with the pair being measured).
 */
export async function benchThreads(sizes = SIZES): Promise<ThreadsRow[]> {
  await warmUp();
  const rows: ThreadsRow[] = [];
  for (const n of sizes) {
    const [one, two] = (await interleaved(n, [1, 2])).ns;
    const { ns: [oneAgain, auto], used: [, autoThreads] } = await interleaved(n, [1, 'auto']);
    const [oneApart, autoApart] = await interleavedApart(n, [1, 'auto']);
    const [streamOne, streamTwo] = await streamLimits(n);
    // 'auto' is reported relative to the 1-thread run it was interleaved with
    rows.push({
      elements: n,
      autoThreads,
      ns: { 1: one, 2: two, auto: (auto * one) / oneAgain, '1, apart': oneApart, 'auto, apart': autoApart, 'stream 1': streamOne, 'stream 2': streamTwo },
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv.includes('--json')) {
  console.log(JSON.stringify(await benchThreads()));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`SIMD step, zero-copy, seed preset: 1 thread vs 2 threads vs 'auto' — Node ${process.version}, medians of ${ROUNDS} interleaved rounds`);
  console.log(`elements      1 thread     2 threads    auto (threads)     2 threads vs 1   auto vs 1   auto vs 1, ${APART_MS} ms apart   stream, 2 threads   2 threads % of it`);
  for (const row of await benchThreads()) {
    const [one, two, auto, stream] = [row.ns['1'], row.ns['2'], row.ns.auto, row.ns['stream 2']];
    const apart = row.ns['1, apart'] / row.ns['auto, apart'];
    console.log(`${row.elements.toLocaleString('en-US').padStart(10)}  ${one.toFixed(3).padStart(8)} ns  ${two.toFixed(3).padStart(8)} ns  ${auto.toFixed(3).padStart(8)} ns (${row.autoThreads})   ${(one / two).toFixed(2).padStart(8)}×   ${(one / auto).toFixed(2).padStart(8)}×   ${apart.toFixed(2).padStart(8)}×   ${stream.toFixed(3).padStart(12)} ns   ${((100 * stream) / two).toFixed(0).padStart(8)} %`);
  }
}

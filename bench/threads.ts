// `npx tsx bench/threads.ts [--quick] [--json]`: the zero-copy SIMD step on 1 thread, 2 threads
// and threads: 'auto', interleaved round by round (medians), from 1 K to 16 M elements: back to
// back, and with 2 ms of other work before every step (as in training, where the forward and
// backward passes run between steps and the workers have gone to sleep). Run unpinned (npm run
// bench runs it as a child on every CPU, after its pinned single-thread part).
import { RMSProp } from '../src/index.js';

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
  /**
   * Median ns per element for 1 thread and 2 threads; for 'auto', its ratio to 1 thread applied to
   * that. 'auto, apart' and '1, apart': the same with APART_MS of other work before each step.
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
 * Runs `measure` (ns per element of one sample) on each optimizer in interleaved rounds, rotating
 * the order every round, and returns each one's median; the first `warmRounds` are discarded.
 */
function medianOfRounds(opts: RMSProp[], measure: (opt: RMSProp, i: number) => number, warmRounds = 0): number[] {
  const samples = opts.map((): number[] => []);
  for (let round = 0; round < ROUNDS + warmRounds; round++) {
    for (let j = 0; j < opts.length; j++) {
      const i = (j + round) % opts.length;
      const sample = measure(opts[i], i);
      if (round >= warmRounds) samples[i].push(sample);
    }
  }
  for (const opt of opts) opt.dispose();
  return samples.map(median);
}

/** Median ns per element of each optimizer, stepped back to back in interleaved rounds. */
async function interleaved(n: number, threads: ReadonlyArray<number | 'auto'>): Promise<number[]> {
  const opts = await Promise.all(threads.map((t) => zeroCopy(n, t)));
  const reps = opts.map((opt) => {
    const start = performance.now();
    let steps = 0;
    while (performance.now() - start < 50 || steps < 3) {
      opt.step();
      steps++;
    }
    return Math.max(1, Math.round((TARGET_MS * steps) / (performance.now() - start)));
  });
  return medianOfRounds(opts, (opt, i) => {
    const start = performance.now();
    for (let r = 0; r < reps[i]; r++) opt.step();
    return ((performance.now() - start) * 1e6) / reps[i] / n;
  });
}

/** Like `interleaved`, but each step comes after APART_MS of busy work, and only steps are timed. */
async function interleavedApart(n: number, threads: ReadonlyArray<number | 'auto'>): Promise<number[]> {
  const opts = await Promise.all(threads.map((t) => zeroCopy(n, t)));
  opts[0].step();
  const start = performance.now();
  opts[0].step();
  const steps = Math.max(2, Math.min(APART_STEPS, Math.round(TARGET_MS / (performance.now() - start))));
  return medianOfRounds(opts, (opt) => {
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
}

/**
 * Per size, 2 threads against 1 and 'auto' against 1, each pair interleaved with no other
 * optimizer alive (an idle optimizer's worker would share the cores with the pair being measured).
 */
export async function benchThreads(sizes = SIZES): Promise<ThreadsRow[]> {
  const rows: ThreadsRow[] = [];
  for (const n of sizes) {
    const [one, two] = await interleaved(n, [1, 2]);
    const [oneAgain, auto] = await interleaved(n, [1, 'auto']);
    const [oneApart, autoApart] = await interleavedApart(n, [1, 'auto']);
    // 'auto' is reported relative to the 1-thread run it was interleaved with
    rows.push({ elements: n, ns: { 1: one, 2: two, auto: (auto * one) / oneAgain, '1, apart': oneApart, 'auto, apart': autoApart } });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv.includes('--json')) {
  console.log(JSON.stringify(await benchThreads()));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`SIMD step, zero-copy, seed preset: 1 thread vs 2 threads vs 'auto' — Node ${process.version}, medians of ${ROUNDS} interleaved rounds`);
  console.log(`elements      1 thread     2 threads    auto        2 threads vs 1   auto vs 1   auto vs 1, ${APART_MS} ms apart`);
  for (const row of await benchThreads()) {
    const [one, two, auto] = [row.ns['1'], row.ns['2'], row.ns.auto];
    const apart = row.ns['1, apart'] / row.ns['auto, apart'];
    console.log(`${row.elements.toLocaleString('en-US').padStart(10)}  ${one.toFixed(3).padStart(8)} ns  ${two.toFixed(3).padStart(8)} ns  ${auto.toFixed(3).padStart(8)} ns   ${(one / two).toFixed(2).padStart(8)}×   ${(one / auto).toFixed(2).padStart(8)}×   ${apart.toFixed(2).padStart(8)}×`);
  }
}

// Interleaved sampling with tinybench. Each round samples every variant once, in an order shuffled
// round by round, so every ratio compares variants measured under the same machine conditions;
// a variant's figure is the median over rounds of its per-round median.
import { Bench } from 'tinybench';
import type { Variant } from './steps.js';

export interface Plan {
  rounds: number;
  /** tinybench's time budget and minimum number of timed batches per variant per round. */
  sampleMs: number;
  minBatches: number;
  /** Warm-up per variant before the first round (JIT tiers, page faults, caches). */
  warmMs: number;
  /** One timed iteration runs enough steps to last about this long, so timer overhead is negligible. */
  batchMs: number;
  /**
   * Time per variant over all rounds: a variant whose steps take long (TF.js cpu takes seconds per
   * step at 16 M) is sampled in as many rounds as fit, but at least `minRounds`.
   */
  budgetMs: number;
  minRounds: number;
}

/** `npm run bench`'s plans, shared with the browser benchmark (web/bench.ts). */
export const FULL_PLAN: Plan = {
  rounds: 9,
  sampleMs: 20,
  minBatches: 5,
  warmMs: 50,
  batchMs: 1,
  budgetMs: 10_000,
  minRounds: 2,
};
export const QUICK_PLAN: Plan = {
  rounds: 5,
  sampleMs: 4,
  minBatches: 2,
  warmMs: 10,
  batchMs: 0.5,
  budgetMs: 1500,
  minRounds: 1,
};

export interface Measured {
  /** Median over rounds, ns per step. */
  nsPerStep: number;
  /** Per-round medians, ns per step. */
  rounds: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A fixed pseudo-random order per round (the same in every run), so neighbours change. */
function shuffled(length: number, round: number): number[] {
  const order = Array.from({ length }, (_, i) => i);
  let seed = round + 1;
  for (let i = length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** `onSample` runs after every sample, untimed (the browser page yields there, to repaint its progress bar). */
export async function measure(
  variants: Variant[],
  plan: Plan,
  onSample?: () => unknown,
): Promise<Record<string, Measured>> {
  const schedule = new Map<Variant, { reps: number; long: boolean; rounds: number }>();
  for (const v of variants) {
    if (!v.step) {
      schedule.set(v, { reps: 1, long: true, rounds: plan.rounds }); // self-timed, with its own warm-up
      continue;
    }
    await v.prepare?.();
    // Warm-up in batches of about batchMs; the step's time is the fastest batch's per step, so that a
    // first call paying one-time costs, or a pause of the machine, cannot make a short step look long
    // (it would then be timed one step per sample, below the timer's resolution in a browser).
    let steps = 0;
    let elapsed = 0;
    let msPerStep = Infinity;
    const start = performance.now();
    do {
      const batchStart = performance.now();
      let batch = 0;
      let ms = 0;
      do {
        v.step();
        batch++;
        ms = performance.now() - batchStart;
      } while (ms < plan.batchMs);
      steps += batch;
      msPerStep = Math.min(msPerStep, ms / batch);
      elapsed = performance.now() - start;
    } while (elapsed < plan.warmMs || (steps < 2 && elapsed < plan.warmMs * 2)); // one step, if it is long, will do
    schedule.set(v, {
      reps: Math.max(1, Math.round(plan.batchMs / msPerStep)),
      long: msPerStep >= plan.sampleMs,
      rounds: Math.min(plan.rounds, Math.max(plan.minRounds, Math.floor(plan.budgetMs / msPerStep))),
    });
  }
  const rounds = variants.map((): number[] => []);
  for (let round = 0; round < plan.rounds; round++) {
    for (const i of shuffled(variants.length, round)) {
      const entry = schedule.get(variants[i])!;
      if (round >= entry.rounds) continue;
      let ns = await sampleOnce(variants[i], entry.reps, entry.long, plan);
      // A batch far shorter than batchMs: the warm-up saw the step slower than it is (the machine was
      // busy), and a figure this short is mostly the timer's resolution (zero, in a browser that is
      // not cross-origin isolated). Longer batches, and the sample again.
      while (!variants[i].sample && ns * entry.reps < (plan.batchMs * 1e6) / 4 && entry.reps < 1e8) {
        entry.reps = Math.ceil(
          entry.reps * Math.min(100, (plan.batchMs * 1e6) / Math.max(ns * entry.reps, plan.batchMs * 1e4)),
        );
        entry.long = false;
        ns = await sampleOnce(variants[i], entry.reps, entry.long, plan);
      }
      rounds[i].push(ns);
      await onSample?.();
    }
  }
  return Object.fromEntries(variants.map((v, i) => [v.key, { nsPerStep: median(rounds[i]), rounds: rounds[i] }]));
}

/** One tinybench run of one variant; returns its median ns per step. */
async function sampleOnce(v: Variant, reps: number, long: boolean, plan: Plan): Promise<number> {
  const external = v.sample;
  // A step that outlasts the time budget is timed once per round.
  const bench = new Bench({
    time: long ? 0 : plan.sampleMs,
    iterations: long ? 1 : plan.minBatches,
    warmup: false,
    throws: true,
  });
  const body = external
    ? () => ({ overriddenDuration: external(plan.sampleMs) / 1e6 }) // the child process timed itself
    : () => {
        for (let r = 0; r < reps; r++) v.step!();
      };
  bench.add(v.key, body, { beforeAll: v.prepare });
  await bench.run();
  const result = bench.tasks[0].result;
  if (result.state !== 'completed') throw new Error(`${v.label}: tinybench ended in state '${result.state}'`);
  return (result.latency.p50 * 1e6) / reps;
}

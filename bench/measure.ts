// Interleaved sampling with tinybench. Each round samples every variant once, in an order shuffled
// round by round, so every ratio compares variants measured under the same machine conditions;
// a variant's figure is the median over rounds of its per-round median.
import { Bench } from 'tinybench';
import type { Variant } from './variants.js';

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

export async function measure(variants: Variant[], plan: Plan): Promise<Record<string, Measured>> {
  const schedule = new Map<Variant, { reps: number; long: boolean; rounds: number }>();
  for (const v of variants) {
    if (!v.step) {
      schedule.set(v, { reps: 1, long: true, rounds: plan.rounds }); // self-timed, with its own warm-up
      continue;
    }
    await v.prepare?.();
    let steps = 0;
    let elapsed = 0;
    const start = performance.now();
    do {
      v.step();
      steps++;
      elapsed = performance.now() - start;
    } while (elapsed < plan.warmMs || (steps < 2 && elapsed < plan.warmMs * 2)); // one step, if it is long, will do
    const msPerStep = elapsed / steps;
    schedule.set(v, {
      reps: Math.max(1, Math.round(plan.batchMs / msPerStep)),
      long: msPerStep >= plan.sampleMs,
      rounds: Math.min(plan.rounds, Math.max(plan.minRounds, Math.floor(plan.budgetMs / msPerStep))),
    });
  }
  const rounds = variants.map((): number[] => []);
  for (let round = 0; round < plan.rounds; round++) {
    for (const i of shuffled(variants.length, round)) {
      const { reps, long, rounds: roundsOfVariant } = schedule.get(variants[i])!;
      if (round < roundsOfVariant) rounds[i].push(await sampleOnce(variants[i], reps, long, plan));
    }
  }
  return Object.fromEntries(variants.map((v, i) => [v.key, { nsPerStep: median(rounds[i]), rounds: rounds[i] }]));
}

/** One tinybench run of one variant; returns its median ns per step. */
async function sampleOnce(v: Variant, reps: number, long: boolean, plan: Plan): Promise<number> {
  const external = v.sample;
  // A step that outlasts the time budget is timed once per round.
  const bench = new Bench({ time: long ? 0 : plan.sampleMs, iterations: long ? 1 : plan.minBatches, warmup: false, throws: true });
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

// Whether the simd loops over compressed state load ahead (K.loadAhead): wasm has no prefetch, so they
// can load the next lines of w, g and codes themselves. That is faster on some CPUs and slower on
// others (BENCHMARKS.md, "State formats"), and wasm cannot tell the CPU, so each optimizer times its
// steps both ways now and then and keeps the faster. No bit depends on it.
// test/unit/loads-ahead.test.ts drives it with a fake clock.
import { clock } from './auto-threads.js';
import type { Group } from './tensors.js';

/** @internal Compressed elements from which steps are timed; below, the data is in cache and nothing loads ahead. */
export const LOADS_AHEAD_MIN_ELEMENTS = 1 << 18;
/** Steps before the first trial (V8 compiles the step meanwhile). */
const FIRST_TRIAL = 8;
/**
 * A trial's pairs of steps, one each way, in turn first and last (a drift favours neither), compared
 * by time per element. The way that wins more pairs is kept (a few stalled steps cannot decide); a
 * tie keeps the current one. A pair whose steps ran on different thread counts (threads: 'auto'
 * switching), or took the same time (a coarse clock), counts for neither.
 */
const PAIRS = 8;
/** Steps between trials: doubled after each (the CPU stays; the load on it changes), up to MOST_BETWEEN. */
const LEAST_BETWEEN = 64;
const MOST_BETWEEN = 4096;

/** @internal A chooser when the backend is simd and the compressed state worth timing, else undefined (no loads ahead). */
export function loadsAheadFor(backend: string, groups: readonly Group[], now = clock): LoadsAhead | undefined {
  let compressed = 0;
  for (const group of groups)
    for (const segment of group.segments) if (segment.format !== 'float32') compressed += segment.paddedLength;
  return backend === 'simd' && compressed >= LOADS_AHEAD_MIN_ELEMENTS ? new LoadsAhead(now) : undefined;
}

/**
 * @internal Steps with the loads ahead (1) or without (0), as its trials found faster: a trial after
 * FIRST_TRIAL steps, then after LEAST_BETWEEN, twice as many each time. Only a trial's steps read the
 * clock (twice each). No statement runs only in some trials: V8 would deoptimize the step the first
 * time one did. `now` is the clock.
 */
export class LoadsAhead {
  readonly #now: () => number;
  /** The kept way: 1 loads ahead, 0 does not. */
  #kept = 1;
  /** Steps since the last trial, and how many come before the next; the gap after that one. */
  #steps = 0;
  #untilTrial = FIRST_TRIAL;
  #between = LEAST_BETWEEN;
  /** The trial's step (0 … 2·PAIRS − 1), -1 outside trials; the pairs the loads won and lost. */
  #trialStep = -1;
  #wins = 0;
  #losses = 0;
  /** The threads of the step running, and of its pair's first step. */
  #threads = 0;
  #pairThreads = 0;
  /** [0] when the timed step began, [1] its pair's first step's ms per element (a double in a field is boxed). */
  readonly #times = new Float64Array(2);
  /** Trials so far (for tests). */
  trials = 0;

  constructor(now: () => number = clock) {
    this.#now = now;
  }

  /** K.loadAhead for the step about to run on `threads` threads; call `ran` after it if it ran. */
  beforeStep(threads: number): number {
    if (this.#trialStep < 0) {
      if (this.#steps < this.#untilTrial) return this.#kept;
      this.#trialStep = this.#wins = this.#losses = 0;
    }
    this.#threads = threads;
    this.#times[0] = this.#now();
    return loadsInTrialStep(this.#trialStep);
  }

  /** After a step of `elements` elements that `beforeStep` chose for (one that threw or was skipped does not count). */
  ran(elements: number): void {
    this.#steps++;
    const t = this.#trialStep;
    if (t < 0) return;
    const times = this.#times;
    const perElement = (this.#now() - times[0]) / Math.max(1, elements);
    this.#trialStep++;
    if ((t & 1) === 0) {
      times[1] = perElement;
      this.#pairThreads = this.#threads;
      return;
    }
    const counts = this.#threads === this.#pairThreads ? 1 : 0;
    const loadedLast = loadsInTrialStep(t) === 1;
    const withLoads = loadedLast ? perElement : times[1];
    const without = loadedLast ? times[1] : perElement;
    this.#wins += withLoads < without ? counts : 0;
    this.#losses += without < withLoads ? counts : 0;
    if (this.#trialStep === 2 * PAIRS) this.#endTrial();
  }

  #endTrial(): void {
    const wins = this.#wins;
    const losses = this.#losses;
    this.#kept = wins > losses ? 1 : wins < losses ? 0 : this.#kept;
    this.#trialStep = -1;
    this.#steps = 0;
    this.#untilTrial = this.#between;
    this.#between = Math.min(MOST_BETWEEN, 2 * this.#between);
    this.trials++;
  }
}

/** Whether a trial's step `t` loads ahead: pairs take the loads first, then last, in turn (1, 0, 0, 1, 1, 0, …). */
const loadsInTrialStep = (t: number): number => ((((t >> 1) ^ t) & 1) === 0 ? 1 : 0);

// threads: 'auto''s policy: which of one thread and all of them runs each step, decided by timing
// the steps it runs (the pool in threads.ts asks it before each step and tells it after). Pure
// bookkeeping, no threads of its own: test/unit/threads.test.ts drives it with a fake clock.

/** One run in this many is timed: each clock read allocates a heap number, and a step must allocate (almost) nothing. */
const RUNS_PER_TIMED = 32;
/**
 * Runs of this many elements or more are all timed: each takes milliseconds, next to which the
 * clock's allocation is nothing, and sampling them would make a trial either long or too small to trust.
 */
const TIME_EVERY_RUN_ELEMENTS = 1 << 22;
/**
 * A period's timed runs add up to at least this long, and are at least MIN_TIMED_RUNS. They are
 * spread over the whole period, one in RUNS_PER_TIMED: on a busy machine the cost of threads is in
 * rare long stalls (a thread descheduled for a time slice), which a sample of runs in a row would
 * catch only if the stall fell inside it, and a sample spread over the period catches in proportion.
 * Far above a browser's 5 µs clock.
 */
const MIN_TIMED_MS = 4;
/** A trial of one thread, threads kept, has periods this much shorter: one thread stalls on no one, so its time is steady over fewer runs. */
const ONE_THREAD_TRIAL_SHARE = 0.25;
const MIN_TIMED_RUNS = 4;
const MAX_TIMED_RUNS = 512;
/**
 * A caller's wait for the workers longer than this many reads of WORKING (tens of microseconds) is
 * a stall: a worker descheduled inside its chunk. Every stall is counted, timed or not (by the reads,
 * without a clock), and only the ordinary part of runs is sampled.
 */
const STALL_SPINS = 10_000;
/**
 * Counted periods of a trial, on the other choice (threads after one that warms them up); they are
 * compared with the kept choice's latest as many periods, run before the trial (not after it: back
 * on threads, the first period is a switch's, see #warmingUp).
 */
const TRIAL_PERIODS = 3;
/** After one whole period, an other choice this much faster than the kept one is taken. */
const CLEARLY = 1.25;
/**
 * The other choice replaces the current one only if it is this much faster, in total and in each of
 * its trial's periods (no flapping on noise: on a busy machine threads' periods vary by 2×), so the
 * first period that is not this much faster ends the trial.
 */
const SWITCH_MARGIN = 0.97;
/**
 * A trial of threads, after its warm-up, first runs a period this much shorter, which can only end it
 * as not faster: on a busy machine most trials of threads at small sizes are slower, and cheap to
 * refuse this way. Deciding for threads takes whole periods (their stalls).
 */
const PROBE_SHARE = 0.25;
/**
 * A trial of the other choice (its warming-up period too) ends early, the kept one holding, once
 * STALLS_TO_GIVE_UP stalls of it took GIVE_UP_FACTOR times as long as the kept choice takes for all
 * the elements it ran: on a busy machine a trial of threads would otherwise pay for a whole period of
 * time-slice stalls (cold threaded code is slower, but not that much).
 */
const STALLS_TO_GIVE_UP = 2;
const GIVE_UP_FACTOR = 2;
/**
 * A trial of threads starts with a short period that is not counted, of about this long (as many
 * timed runs as took that long in the period before), or a whole period the first time (V8 compiling).
 */
const WARM_UP_MS = 32;
/**
 * Where AutoThreads keeps its figures: when the timed run began; ms and elements of this period's
 * timed runs, and the stalls inside them (ms); every stall (ms) and every element of the period; what
 * one read of WORKING costs (ms).
 */
const RUN_START = 0;
const TIMED_MS = 1;
const TIMED_ELEMENTS = 2;
const TIMED_STALL_MS = 3;
const PERIOD_STALL_MS = 4;
const PERIOD_ELEMENTS = 5;
const MS_PER_SPIN = 6;
/** Where AutoThreads' figures keep the trial's periods, and the kept choice's latest TRIAL_PERIODS (ms, elements). */
const TRIAL_FIGURES = 7;
const KEPT_FIGURES = TRIAL_FIGURES + 2 * TRIAL_PERIODS;
/**
 * The first periods, until they add up to this long, are not compared: V8 optimizes the step only
 * after thousands of runs, and a trial against the unoptimized step would choose threads for it.
 * Where it is kept: figures[COLD_LEFT], ms still to run.
 */
const COLD_START_MS = 100;
const COLD_LEFT = KEPT_FIGURES + 2 * TRIAL_PERIODS;
/**
 * Where the next period's length as a share of a whole one is kept (0: whole, or the first warm-up:
 * a whole period): a warm-up's (about WARM_UP_MS) or a probe's (PROBE_SHARE).
 */
const NEXT_SHARE = COLD_LEFT + 1;
/**
 * A switch stands on probation until the new choice has run TRIAL_PERIODS periods: if their median is
 * slower than the old choice's was (kept here, ms per element; 0 when no switch is on probation), the
 * switch is undone (on a busy machine threads can be fast through a trial and slow once kept).
 */
const SWITCHED_FROM = NEXT_SHARE + 1;
/** Periods run on the kept choice between trials: doubled while the choice holds, back to the least when it changes. */
const LEAST_KEPT_PERIODS = 8;
const MOST_KEPT_PERIODS = 128;

/** The clock of 'auto''s timing. @internal */
export const clock = (): number => performance.now();

/**
 * threads: 'auto': each run takes 1 thread or `most`, whichever its own timing found faster. Runs
 * go in periods on one choice, of which every RUNS_PER_TIMED-th run is timed (every run from
 * TIME_EVERY_RUN_ELEMENTS), until the timed runs add up to MIN_TIMED_MS. A trial warms the other
 * choice up, runs it for up to three periods (threads: a short probe first) and compares its total
 * time per element (the mean, not a median: on a busy machine the cost of threads is in rare long
 * stalls) with the median of the kept choice's latest three periods; it ends at the first period
 * not faster, after one if clearly faster, sooner if it stalls far beyond the kept choice's time.
 * Then the kept choice runs LEAST_KEPT_PERIODS to MOST_KEPT_PERIODS periods before the next trial,
 * since the load of the machine changes; a switch is undone if the new choice's first three periods
 * (their median) were slower than the old choice was. Which thread computes an element never changes its bits,
 * so neither does a switch. `now` is the clock (a test's fake one).
 * @internal
 */
export class AutoThreads {
  readonly most: number;
  readonly #now: () => number;
  /** The kept choice (1 or most), and the one the current period runs. */
  #kept = 1;
  #current = 1;
  /** Runs done in this period; timed runs done, and how many end the period; whether this run is timed. */
  #run = 0;
  #timedRuns = 0;
  #timedPerPeriod = 1;
  #timing = false;
  /** Periods left on the kept choice before the next trial (-1: in a trial); how many it had. */
  #keepLeft = 0;
  #keepPeriods = LEAST_KEPT_PERIODS;
  /** The trial's counted periods so far (0 … TRIAL_PERIODS − 1). */
  #trialPeriod = 0;
  /** The kept choice's periods recorded (at most TRIAL_PERIODS), and the slot of the next. */
  #keptPeriods = 0;
  #keptSlot = 0;
  /** Stalls in this period. */
  #stalls = 0;
  /** The periods the choice before the last switch was kept for (an undone switch doubles them). */
  #keepPeriodsBefore = LEAST_KEPT_PERIODS;
  /**
   * A trial's first period on threads is not counted: the first time, the threaded path runs cold
   * (V8 has not compiled it, nor the workers' loop); later, workers woken after a long stretch on one
   * thread take a while to be scheduled well, which would keep one thread where threads are faster.
   */
  #warmingUp = false;
  /**
   * RUN_START … MS_PER_SPIN; then per trial period its estimated ms and its elements (TRIAL_FIGURES);
   * then the same for the kept choice's latest periods (KEPT_FIGURES, a ring); last, COLD_LEFT,
   * NEXT_SHARE and SWITCHED_FROM.
   * Numbers live here rather than in fields: Maglev boxes a double stored in a field.
   */
  readonly #figures = new Float64Array(SWITCHED_FROM + 1);
  /** Trials so far (for tests). */
  trials = 0;

  /** `msPerSpin`: what one read of WORKING while waiting costs (0: stalls are only seen when timed). */
  constructor(most: number, now: () => number = clock, msPerSpin = 0) {
    this.most = most;
    this.#now = now;
    this.#figures[MS_PER_SPIN] = msPerSpin;
    this.#figures[COLD_LEFT] = COLD_START_MS;
  }

  /** The threads of the next run (1 or `most`); call `startRun` before it and `ran` after. */
  threads(): number {
    return this.#current;
  }

  /** Before a run of `elements` elements: if it is timed, reads the clock. */
  startRun(elements: number): void {
    this.#timing = elements >= TIME_EVERY_RUN_ELEMENTS || this.#run % RUNS_PER_TIMED === RUNS_PER_TIMED - 1;
    if (this.#timing) this.#figures[RUN_START] = this.#now();
  }

  /** After a run of `elements` elements on `threads()` threads, whose caller waited `spins` reads of WORKING. */
  ran(elements: number, spins = 0): void {
    const figures = this.#figures;
    // One float64 multiply either way: a number that is sometimes an integer 0 made Maglev box it.
    const stallMs = (spins > STALL_SPINS ? spins : 0) * figures[MS_PER_SPIN];
    // No statement here runs only now and then: optimized before it ran, V8 would deoptimize this
    // function when it first did (and box numbers until it optimized it again).
    this.#run++;
    this.#stalls += spins > STALL_SPINS ? 1 : 0;
    figures[PERIOD_STALL_MS] += stallMs;
    figures[PERIOD_ELEMENTS] += elements;
    if (!this.#timing) return;
    figures[TIMED_MS] += this.#now() - figures[RUN_START];
    figures[TIMED_ELEMENTS] += elements;
    figures[TIMED_STALL_MS] += stallMs;
    // Stalls end a period early only in a trial (it may give up): #endPeriod runs interpreted, its
    // numbers boxed. Both comparisons run at every timed run (see above).
    const inTrial = this.#keepLeft === -1;
    const stalled = this.#stalls >= STALLS_TO_GIVE_UP;
    if (++this.#timedRuns >= this.#timedPerPeriod || (inTrial && stalled)) this.#endPeriod();
  }

  /** The period is over (its ordinary runs as sampled, plus every stall), or a trial stalled: it may give up. */
  #endPeriod(): void {
    const figures = this.#figures;
    if (this.#timedRuns < this.#timedPerPeriod) {
      const keptMs = this.#keptPerElement() * figures[PERIOD_ELEMENTS];
      if (figures[PERIOD_STALL_MS] > GIVE_UP_FACTOR * keptMs) this.#giveUpTrial();
      return;
    }
    const timedMs = figures[TIMED_MS];
    const timedRuns = this.#timedRuns;
    const ordinaryMs = Math.max(0, timedMs - figures[TIMED_STALL_MS]);
    const periodMs =
      (figures[TIMED_ELEMENTS] > 0 ? (ordinaryMs * figures[PERIOD_ELEMENTS]) / figures[TIMED_ELEMENTS] : 0) +
      figures[PERIOD_STALL_MS];
    const periodElements = figures[PERIOD_ELEMENTS];
    this.#startPeriod();
    this.#decide(periodMs, periodElements);
    // the next period's length, in timed runs, from what this one's took
    const next = figures[NEXT_SHARE];
    const share = next > 0 ? next : this.#inTrialOfOne() ? ONE_THREAD_TRIAL_SHARE : 1;
    this.#timedPerPeriod = Math.min(
      MAX_TIMED_RUNS,
      Math.max(
        this.#warmingUp && next > 0 ? 1 : MIN_TIMED_RUNS,
        Math.ceil((share * MIN_TIMED_MS * timedRuns) / Math.max(timedMs, 1e-6)),
      ),
    );
  }

  /** After a period on the current choice of `periodMs` for `periodElements`: record it, and maybe begin or end a trial. */
  #decide(periodMs: number, periodElements: number): void {
    const figures = this.#figures;
    figures[NEXT_SHARE] = 0;
    if (figures[COLD_LEFT] > 0) {
      figures[COLD_LEFT] -= periodMs; // V8 compiling the step: nothing to compare yet
      return;
    }
    if (this.#keepLeft >= 0) {
      figures[KEPT_FIGURES + 2 * this.#keptSlot] = periodMs;
      figures[KEPT_FIGURES + 2 * this.#keptSlot + 1] = periodElements;
      this.#keptSlot = (this.#keptSlot + 1) % TRIAL_PERIODS;
      this.#keptPeriods = Math.min(TRIAL_PERIODS, this.#keptPeriods + 1);
      const switchedFrom = figures[SWITCHED_FROM];
      if (switchedFrom > 0 && this.#keptPeriods === TRIAL_PERIODS) {
        figures[SWITCHED_FROM] = 0;
        if (this.#keptPerElement() > switchedFrom) {
          this.#undoSwitch();
          return;
        }
      }
    }
    if (this.#keepLeft > 0) {
      this.#keepLeft--;
      return;
    }
    if (this.#keepLeft === 0) {
      // the next trial begins, with the other choice, after a period that warms it up
      this.#keepLeft = -1;
      this.#trialPeriod = 0;
      this.#current = this.#other();
      // Threads warm up (cold code the first time, woken workers later); one thread needs none.
      this.#warmingUp = this.#current > 1;
      // after the first trial, a warm-up of about WARM_UP_MS of the whole period's time
      if (this.trials++ > 0 && this.#warmingUp && periodMs > 0)
        figures[NEXT_SHARE] = Math.min(1, WARM_UP_MS / periodMs);
      return;
    }
    if (this.#warmingUp) {
      this.#warmingUp = false;
      figures[NEXT_SHARE] = PROBE_SHARE;
      return;
    }
    figures[TRIAL_FIGURES + 2 * this.#trialPeriod] = periodMs;
    figures[TRIAL_FIGURES + 2 * this.#trialPeriod + 1] = periodElements;
    const periods = ++this.#trialPeriod;
    const kept = this.#keptPerElement();
    const ratio = perElement(figures, TRIAL_FIGURES, periods) / kept;
    // A switch needs each period faster: one that was not ends the trial at once. While each was, so
    // is their total (a mean of them), so `faster` alone decides.
    const faster = perElement(figures, TRIAL_FIGURES + 2 * (periods - 1), 1) < SWITCH_MARGIN * kept;
    const probe = periods === 1 && this.#current > 1;
    const clearlyFaster = !probe && ratio * CLEARLY < 1;
    if (periods < TRIAL_PERIODS && faster && !clearlyFaster) return;
    this.#endTrial(faster, kept);
  }

  /**
   * The kept choice's time per element: the median of its latest TRIAL_PERIODS periods (the mean
   * while it has fewer). One slow period (another program's burst; BENCHMARKS.md has the figures)
   * made a trial of threads no faster than one thread look faster.
   */
  #keptPerElement(): number {
    const figures = this.#figures;
    if (this.#keptPeriods < TRIAL_PERIODS) return perElement(figures, KEPT_FIGURES, this.#keptPeriods);
    const a = perElement(figures, KEPT_FIGURES, 1);
    const b = perElement(figures, KEPT_FIGURES + 2, 1);
    const c = perElement(figures, KEPT_FIGURES + 4, 1);
    return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  }

  /**
   * The trial is decided: the other choice is kept from now on (`switching`, on probation against
   * `keptPerElement`, the old choice's time), or the kept one holds (a trial that keeps it ends any
   * probation), tried again twice as late.
   */
  #endTrial(switching: boolean, keptPerElement = 0): void {
    this.#figures[SWITCHED_FROM] = switching ? keptPerElement : 0;
    if (switching) this.#keepPeriodsBefore = this.#keepPeriods;
    this.#keep(switching ? this.#other() : this.#kept, switching ? LEAST_KEPT_PERIODS : this.#keepPeriods * 2);
  }

  /** The switch on probation proved slower: back to the choice before it, as after a trial it won, tried again twice as late. */
  #undoSwitch(): void {
    this.#keep(this.#other(), this.#keepPeriodsBefore * 2);
  }

  /** `choice` runs `periods` periods (at most MOST_KEPT_PERIODS) before the next trial; a new choice's periods are recorded from now on. */
  #keep(choice: number, periods: number): void {
    if (choice !== this.#kept) this.#keptPeriods = this.#keptSlot = 0;
    this.#kept = this.#current = choice;
    this.#keepPeriods = this.#keepLeft = Math.min(MOST_KEPT_PERIODS, periods);
    this.#warmingUp = false;
  }

  #inTrialOfOne(): boolean {
    return this.#keepLeft === -1 && this.#current === 1;
  }

  #startPeriod(): void {
    const figures = this.#figures;
    this.#run = this.#timedRuns = this.#stalls = 0;
    figures.fill(0, TIMED_MS, PERIOD_ELEMENTS + 1); // TIMED_MS … PERIOD_ELEMENTS
  }

  /** The other choice stalled too long to be worth finishing its trial: the kept choice holds (see STALLS_TO_GIVE_UP). */
  #giveUpTrial(): void {
    this.#startPeriod();
    this.#endTrial(false);
  }

  #other(): number {
    return this.#kept === 1 ? this.most : 1;
  }
}

/** ms per element over `periods` (ms, elements) pairs of `figures` from `at`. */
function perElement(figures: Float64Array, at: number, periods: number): number {
  let ms = 0;
  let elements = 0;
  for (let p = 0; p < periods; p++) {
    ms += figures[at + 2 * p];
    elements += figures[at + 2 * p + 1];
  }
  return elements > 0 ? ms / elements : 0;
}

// Whether compressed state loads ahead is decided by timing (src/loads-ahead.ts): driven here with a
// fake clock, as test/unit/threads.test.ts drives threads: 'auto'. Nothing is timed for real. That
// the choice changes no bit: test/unit/state-formats.test.ts (the kernels) and the end of this file
// (an optimizer whose trials run both ways, against the js backend, which has no loads ahead).
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { LOADS_AHEAD_MIN_ELEMENTS, LoadsAhead, loadsAheadFor } from '../../src/loads-ahead.js';
import type { Group } from '../../src/layout.js';
import { randomArrays, sameBits } from '../support/helpers.js';

/**
 * A LoadsAhead on a fake clock, and a way to run steps that take `ms(choice, step)` (on `threads(step)`
 * threads, of `elements(step)` elements).
 */
function drive() {
  let now = 0;
  let reads = 0;
  const chooser = new LoadsAhead(() => {
    reads++;
    return now;
  });
  const choices: number[] = [];
  return {
    chooser,
    choices,
    reads: () => reads,
    /** Runs `steps` steps, each taking ms(choice, index of the step); returns their choices. */
    run(
      steps: number,
      ms: (choice: number, step: number) => number,
      threads = (_step: number) => 1,
      elements = (_step: number) => 1000,
    ): number[] {
      const start = choices.length;
      for (let i = 0; i < steps; i++) {
        const step = choices.length;
        const choice = chooser.beforeStep(threads(step));
        now += ms(choice, step);
        choices.push(choice);
        chooser.ran(elements(step));
      }
      return choices.slice(start);
    },
  };
}

// the first trial's steps: 8 … 23, their pairs taking the loads first, then last, in turn
const FIRST_TRIAL = [1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1];

describe('loads ahead: decided by timing', () => {
  it('loads ahead until the first trial, which runs both ways in turn, then keeps the faster', () => {
    const slowerWithLoads = drive();
    slowerWithLoads.run(40, (choice) => (choice === 1 ? 1.3 : 1));
    expect(slowerWithLoads.choices.slice(0, 8)).toEqual(new Array(8).fill(1));
    expect(slowerWithLoads.choices.slice(8, 24)).toEqual(FIRST_TRIAL);
    expect(slowerWithLoads.choices.slice(24)).toEqual(new Array(16).fill(0));
    expect(slowerWithLoads.chooser.trials).toBe(1);

    const fasterWithLoads = drive();
    fasterWithLoads.run(40, (choice) => (choice === 1 ? 0.8 : 1));
    expect(fasterWithLoads.choices.slice(24)).toEqual(new Array(16).fill(1));
  });

  it('counts pairs won, so that stalls of a few steps do not decide', () => {
    const d = drive();
    // without the loads 1 ms, with 1.3 ms; but three of the trial's steps without them stall (50 ms)
    const stalled = new Set([9, 10, 15]);
    d.run(40, (choice, step) => (stalled.has(step) ? 50 : choice === 1 ? 1.3 : 1));
    expect(d.choices.slice(24)).toEqual(new Array(16).fill(0));
  });

  it('compares time per element: a step with fewer elements (a missing gradient) is not taken for a faster one', () => {
    const d = drive();
    // with the loads 1.3 ms per 1 000 elements, without 1 ms; but the steps with the loads (in the
    // trial: 8, 11, 12, 15, …) have half the elements
    const half = (step: number) => step >= 8 && step < 24 && FIRST_TRIAL[step - 8] === 1;
    d.run(
      40,
      (choice, step) => (choice === 1 ? 1.3 : 1) * (half(step) ? 0.5 : 1),
      undefined,
      (step) => (half(step) ? 500 : 1000),
    );
    expect(d.choices.slice(24)).toEqual(new Array(16).fill(0));
  });

  it('a pair whose steps ran on different thread counts, or took the same time, counts for neither', () => {
    // the loads lose the pairs 0, 2, 4, 6 of the first trial (2 ms against 1); in pairs 1, 3, 5, 7 the
    // second step, which takes the loads, ran on 2 threads (0.5 ms): counted, they would tie the trial
    const inTrial = (step: number) => step >= 8 && step < 24;
    const onTwo = (step: number) => inTrial(step) && ((step - 8) >> 1) % 2 === 1 && (step - 8) % 2 === 1;
    const switching = drive();
    switching.run(
      40,
      (choice, step) => (onTwo(step) ? 0.5 : choice === 1 ? 2 : 1),
      (step) => (onTwo(step) ? 2 : 1),
    );
    expect(switching.choices.slice(24)).toEqual(new Array(16).fill(0));
    // a clock too coarse to tell the steps apart: every pair ties, and the current choice holds
    const coarse = drive();
    coarse.run(40, () => 0);
    expect(coarse.choices.slice(24)).toEqual(new Array(16).fill(1));
    expect(coarse.chooser.trials).toBe(1);
    // and when the current choice is not to load ahead, equal times do not count as the loads' wins either
    const coarseLater = drive();
    coarseLater.run(24, (choice) => (choice === 1 ? 2 : 1)); // the first trial: without the loads
    const after = coarseLater.run(64 + 16 + 8, () => 0); // the second trial, on a clock that cannot tell
    expect(coarseLater.chooser.trials).toBe(2);
    expect(after.slice(-8)).toEqual(new Array(8).fill(0));
  });

  it('a tie keeps the current choice', () => {
    const d = drive();
    d.run(24, (choice) => (choice === 1 ? 2 : 1)); // without the loads, kept
    // the next trial (64 steps on): the loads win exactly half the pairs
    const tie = d.run(64 + 16 + 8, (choice, step) => {
      if (step < 24 + 64) return 1;
      const pair = (step - 24 - 64) >> 1;
      return (pair % 2 === 0) === (choice === 1) ? 1 : 2; // pairs 0, 2, 4, 6 won by the loads
    });
    expect(d.chooser.trials).toBe(2);
    expect(tie.slice(-8)).toEqual(new Array(8).fill(0));
  });

  it('checks again at doubling intervals, up to every 4 096 steps, and reads the clock only in trials', () => {
    const d = drive();
    let cpuPrefersLoads = false;
    // trials start at steps 8, 88, 232, 504, 1032, 2072, 4136, 8248, 12360
    d.run(5_000, (choice) => (cpuPrefersLoads === (choice === 1) ? 1 : 1.5));
    expect(d.chooser.trials).toBe(7);
    expect(d.reads()).toBe(7 * 16 * 2);
    expect(d.choices.at(-1)).toBe(0);
    cpuPrefersLoads = true; // the load on the machine changed
    d.run(3_400, (choice) => (cpuPrefersLoads === (choice === 1) ? 1 : 1.5));
    expect(d.chooser.trials).toBe(8);
    expect(d.choices.at(-1)).toBe(1);
    d.run(4_100, () => 1);
    expect(d.chooser.trials).toBe(9);
  });

  it('a step that did not run (it threw, or was skipped) is not counted: the next one takes its turn', () => {
    const d = drive();
    d.run(8, () => 1);
    expect(d.chooser.beforeStep(1)).toBe(1); // the trial's first step… which throws
    expect(d.chooser.beforeStep(1)).toBe(1); // and the next call takes its place
    d.chooser.ran(1000);
    expect(d.chooser.beforeStep(1)).toBe(0);
  });
});

describe('loads ahead: which optimizers time them', () => {
  const groups = (...formats: Array<[string, number]>) =>
    [{ segments: formats.map(([format, paddedLength]) => ({ format, paddedLength })) }] as unknown as Group[];
  it('only simd steps over at least LOADS_AHEAD_MIN_ELEMENTS compressed elements', () => {
    const big = groups(['float32', 10], ['8bit', LOADS_AHEAD_MIN_ELEMENTS]);
    expect(loadsAheadFor('simd', big)).toBeInstanceOf(LoadsAhead);
    expect(loadsAheadFor('wasm', big)).toBeUndefined(); // no SIMD loops: no loads ahead
    expect(loadsAheadFor('js', big)).toBeUndefined();
    expect(loadsAheadFor('simd', groups(['bfloat16', LOADS_AHEAD_MIN_ELEMENTS - 1024]))).toBeUndefined();
    expect(loadsAheadFor('simd', groups(['float32', 1 << 24]))).toBeUndefined();
  });
});

// 26 steps run the first trial (the 9th to the 24th), half of them each way, then the choice.
describe.each(['bfloat16', '8bit'] as const)('an optimizer that times its loads ahead (%s)', (stateFormat) => {
  it('gives the bits of the js backend through its trial', async () => {
    const n = LOADS_AHEAD_MIN_ELEMENTS + 5000;
    const [initial] = randomArrays(3, [n]);
    const gradients = randomArrays(4, [n, n, n, n], 1e-2);
    const runs = await Promise.all(
      (['simd', 'js'] as const).map(async (backend) => {
        const opt = await RMSProp.create(
          { w: initial.slice() },
          { backend, stateFormat, centered: true, momentum: 0.9 },
        );
        for (let step = 0; step < 26; step++) opt.step({ w: gradients[step % 4] });
        const { w } = opt.params;
        const { state } = opt.saveState(); // as text: toEqual over typed arrays took most of the test's 2.6 s
        opt.dispose();
        return { w, state };
      }),
    );
    expect(sameBits(runs[0].w, runs[1].w)).toBeUndefined();
    expect(runs[0].state).toEqual(runs[1].state);
  });
});

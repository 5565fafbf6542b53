// Multi-threaded steps: bit-identical to one thread at every size around slice boundaries, workers
// that end with the optimizer (or the process), and a clear error when one is gone.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RMSProp, type RMSPropOptions } from '../../src/index.js';
import { everything, normal, rng, sameBits, snapshot, snapshotDifference } from '../support/helpers.js';

const SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 12, 13, 63, 64, 65, 127, 128, 129, 1000, 4099];

function arrays(seed: number, lengths: readonly number[]): Float32Array[] {
  const random = rng(seed);
  return lengths.map((n) => Float32Array.from({ length: n }, () => normal(random)));
}

async function run(threads: number, lengths: readonly number[], options: RMSPropOptions, skipEvery = 0) {
  const opt = await RMSProp.create(arrays(1, lengths), { ...options, threads });
  for (let k = 0; k < 6; k++) {
    const grads: Array<Float32Array | null> = arrays(10 + k, lengths);
    if (skipEvery && k % 2 === 1) grads[k % lengths.length] = null; // per-tensor kernel calls
    opt.step(grads);
  }
  const result = everything(opt).map((a) => a.slice());
  opt.dispose();
  return { threads: opt.threads, result };
}

describe.each(['simd', 'wasm'] as const)('threads 1, 2 and 3 give the same bits (%s)', (backend) => {
  it.each(SIZES)('one tensor of %i elements', async (n) => {
    const options: RMSPropOptions = { backend, centered: true, momentum: 0.9, weightDecay: 0.01 };
    const [one, two, three] = await Promise.all([1, 2, 3].map((t) => run(t, [n], options)));
    expect([one.threads, two.threads, three.threads]).toEqual([1, 2, 3]);
    for (const other of [two, three]) {
      other.result.forEach((a, i) => expect(sameBits(a, one.result[i]), `array ${i}, ${other.threads} threads`).toBeUndefined());
    }
  });

  it('groups, skipped gradients, clipping and the non-finite scan', async () => {
    const options: RMSPropOptions = { backend, clipNorm: 1, globalClipNorm: 2, nonFinite: 'skip', biasCorrection: true, maximize: true };
    const [one, two, three] = await Promise.all([1, 2, 3].map((t) => run(t, SIZES, options, 2)));
    for (const other of [two, three]) {
      other.result.forEach((a, i) => expect(sameBits(a, one.result[i]), `array ${i}, ${other.threads} threads`).toBeUndefined());
    }
  });
});

// With threads, every thread scans chunks of the gradients; a found NaN or ±∞ is then located on
// the calling thread. Bad values in the first, a middle and the last chunk, and in a later tensor.
describe.each([2, 3])('the non-finite scan on %i threads', (threads) => {
  const LENGTHS = [5, 40_000, 9_001];
  const PLACES: Array<[tensor: number, index: number]> = [[1, 0], [1, 20_003], [1, 39_999], [2, 9_000], [0, 4]];

  it.each(PLACES)("'throw' names the first bad element (tensor %i, index %i) and changes nothing", async (tensor, index) => {
    const params = arrays(1, LENGTHS);
    const opt = await RMSProp.create(params, { threads, momentum: 0.9, centered: true, nonFinite: 'throw' });
    expect(opt.threads).toBe(threads);
    opt.step(arrays(2, LENGTHS));
    const before = snapshot([...params, ...everything(opt)]);
    const grads = arrays(3, LENGTHS);
    grads[tensor][index] = Infinity;
    if (index + 7 < LENGTHS[tensor]) grads[tensor][index + 7] = NaN; // a later one is not reported
    grads[2][9_000] = tensor === 2 ? Infinity : -Infinity; // neither is one in a later tensor
    expect(() => opt.step(grads)).toThrow(new RegExp(`gradient '${tensor}' has Infinity at index ${index} `));
    expect(snapshotDifference(snapshot([...params, ...everything(opt)]), before)).toBeUndefined();
    expect(opt.stepCount).toBe(1);
    opt.dispose();
  });

  it("'skip' leaves every byte unchanged, then steps as one thread does", async () => {
    const runs = await Promise.all([1, threads].map(async (t) => {
      const params = arrays(1, LENGTHS);
      const opt = await RMSProp.create(params, { threads: t, momentum: 0.9, nonFinite: 'skip' });
      const results: boolean[] = [];
      for (let k = 0; k < 8; k++) {
        const grads = arrays(10 + k, LENGTHS);
        const [tensor, index] = PLACES[k % PLACES.length];
        if (k % 2 === 1) grads[tensor][index] = k % 4 === 1 ? NaN : -Infinity;
        const before = snapshot([...params, ...everything(opt)]);
        results.push(opt.step(grads));
        if (k % 2 === 1) expect(snapshotDifference(snapshot([...params, ...everything(opt)]), before), `step ${k}`).toBeUndefined();
      }
      const state = everything(opt).map((a) => a.slice());
      const steps = opt.stepCount;
      opt.dispose();
      return { results, state, steps };
    }));
    expect(runs[1].results).toEqual([true, false, true, false, true, false, true, false]);
    expect(runs[1].steps).toBe(4);
    runs[1].state.forEach((a, i) => expect(sameBits(a, runs[0].state[i]), `array ${i}`).toBeUndefined());
  });
});

// A step right after another finds the workers spinning, one after a pause finds them asleep: a
// large step wakes them (and the caller may finish before they join), a small one runs on the
// caller alone. Either way the bits are those of one thread.
it.each([['auto', 524_288], [2, 131_072]] as const)("threads: %s gives the bits of one thread whether its workers are awake or asleep (%i elements)", async (threads, n) => {
  const lengths = [n, 7];
  const runs = await Promise.all([1, threads].map(async (t) => {
    const opt = await RMSProp.create(arrays(1, lengths), { threads: t, momentum: 0.9 });
    expect(opt.threads).toBe(t === 'auto' ? availableParallelism() : t);
    for (let k = 0; k < 12; k++) {
      if (k % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 20)); // long enough to fall asleep
      opt.step(arrays(20 + k, lengths));
    }
    const result = everything(opt).map((a) => a.slice());
    opt.dispose();
    return result;
  }));
  runs[1].forEach((a, i) => expect(sameBits(a, runs[0][i]), `array ${i}`).toBeUndefined());
});

// Workers spin for 1 ms after a step, then sleep; a step below 512 K elements does not wake them
// (this one is just below: long enough that a woken worker would join it and run chunks).
it('workers run part of steps that come back to back; after a pause a small step runs on the caller alone', async () => {
  const opt = await RMSProp.create({ w: 524_284 }, { threads: 2 });
  opt.grads.w.fill(0.01);
  for (let k = 0; k < 20; k++) opt.step();
  const backToBack = opt.workerChunksForTest;
  expect(backToBack).toBeGreaterThan(0);
  for (let k = 0; k < 3; k++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    opt.step();
  }
  expect(opt.workerChunksForTest).toBe(backToBack);
  opt.dispose();
});

describe('thread options', () => {
  it("'auto' uses the machine's cores from 512 K elements; below, and on the js backend, one thread that says why", async () => {
    const auto = await RMSProp.create({ w: 524_288 }, { threads: 'auto' });
    expect(auto.threads).toBe(Math.max(1, availableParallelism()));
    auto.dispose();
    const small = await RMSProp.create({ w: 524_284 }, { threads: 'auto' });
    expect(small.threads).toBe(1);
    expect(small.threadsReason).toMatch(/'auto' uses one thread below 524288 elements \(this optimizer has 524284\)/);
    const js = await RMSProp.create({ w: 8 }, { threads: 2, backend: 'js' });
    expect(js.threads).toBe(1);
    expect(js.threadsReason).toMatch(/js backend/);
    await expect(RMSProp.create({ w: 8 }, { threads: 0 })).rejects.toThrow(RangeError);
    await expect(RMSProp.create({ w: 8 }, { threads: 1.5 })).rejects.toThrow(/'threads'.*1\.5/);
    await expect(RMSProp.create({ w: 8 }, { threads: 'many' as never })).rejects.toThrow(TypeError);
  });

  it('a worker that is gone makes the next step throw, changing nothing', async () => {
    const w = Float32Array.from({ length: 1000 }, (_, i) => i);
    const opt = await RMSProp.create({ w }, { threads: 2, momentum: 0.9 });
    opt.step({ w: new Float32Array(1000).fill(1) });
    await opt.killWorkerForTest(1);
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the exit event arrive
    const before = snapshot([w, ...everything(opt)]);
    expect(() => opt.step({ w: new Float32Array(1000).fill(1) })).toThrow(/worker thread .* is gone/);
    expect(snapshot([w, ...everything(opt)])).toEqual(before);
    expect(opt.stepCount).toBe(1);
    opt.dispose();
    expect(() => opt.step()).toThrow(/disposed/);
  });

  // A worker ends only by dispose or by an error; one that throws inside its chunk says so in the
  // shared memory, so that the step stops waiting for it (it would wait forever otherwise).
  it('a worker that fails inside a step: that step says it is only partly written, and every use but dispose then refuses, saving included', async () => {
    const opt = await RMSProp.create({ w: 1 << 21 }, { threads: 2 });
    opt.grads.w.fill(0.5);
    opt.step();
    const saved = opt.saveState();
    const dict = opt.toTorchStateDict();
    const failed = opt.stallWorkerForTest(1, -1);
    let error: Error | undefined;
    for (let k = 0; k < 30 && !error; k++) {
      try {
        opt.step();
      } catch (thrown) {
        error = thrown as Error;
      }
    }
    expect(failed()).toBe(true);
    expect(error?.message).toMatch(/worker thread 1 of this optimizer failed inside this step, which is therefore only partly written/);
    // A torn step breaks the optimizer: nothing of it can be used or saved, only disposed.
    const broken = /this RMSProp optimizer is broken: its step \d+ failed part way \(worker thread 1 .*\), so its parameters and state are torn; every use but dispose\(\) throws/;
    const uses: Array<[string, () => unknown]> = [
      ['step', () => opt.step()],
      ['saveState', () => opt.saveState()],
      ['saveState float32', () => opt.saveState({ arrays: 'float32' })],
      ['toTorchStateDict', () => opt.toTorchStateDict()],
      ['loadState', () => opt.loadState(saved)],
      ['fromTorchStateDict', () => opt.fromTorchStateDict(dict)],
      ['setOptions', () => opt.setOptions(0, { lr: 0.1 })],
      ['stepCount', () => opt.stepCount],
      ['options', () => opt.options],
      ['groups', () => opt.groups],
      ['params', () => opt.params],
      ['grads', () => opt.grads],
      ['state', () => opt.state],
    ];
    for (const [what, use] of uses) expect(use, what).toThrow(broken);
    opt.dispose();
    expect(() => opt.saveState()).toThrow(/disposed/);
    expect(opt.params.w.length).toBe(0);
  }, 30_000);

  it.each([['without', ''], ['with', 'opt.dispose();']])('a process that uses threads exits by itself (%s dispose)', (_, ending) => {
    const entry = new URL('../../dist/index.js', import.meta.url).href;
    const script = `import { RMSProp } from '${entry}';
      const opt = await RMSProp.create({ w: 100000 }, { threads: 2 });
      opt.grads.w.fill(1); opt.step(); opt.step();
      console.log(opt.threads, opt.params.w[0]);
      ${ending}`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 20_000, encoding: 'utf8',
    });
    expect(output.trim().split(' ')[0]).toBe('2');
  });
});

// The heap does not grow with steps: after 100 000 steps it is within 1 MB of the heap after 1 000
// (both measured after a full collection). And step() allocates nothing at all, on every backend,
// with threads (simd) and with clipping: the young generation (where every new object goes first) holds no
// more after thousands of steps than before them. Checks of memory, not of time: nothing is timed.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { doesNotApply, runForJson, runtime } from '../support/child.js';
import { BACKENDS } from '../support/helpers.js';

// A full collection: V8's gc() (Node, Deno), or JavaScriptCore's (Bun).
function fullCollector(): () => void {
  if (runtime === 'bun') return () => (globalThis as unknown as { Bun: { gc(full: boolean): void } }).Bun.gc(true);
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc');
}
const gc = fullCollector();

// The checks below read V8's young generation (node:v8's getHeapSpaceStatistics) in Node.
const noYoungGeneration = doesNotApply('step() allocates nothing (read from V8’s young generation)', {
  bun: 'JavaScriptCore has no V8 heap spaces to read',
});

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function expectFlatHeap(step: () => void): void {
  for (let i = 0; i < 1_000; i++) step();
  const after1k = heapUsed();
  for (let i = 1_000; i < 100_000; i++) step();
  const after100k = heapUsed();
  expect(Math.abs(after100k - after1k)).toBeLessThan(1 << 20);
}

describe.each(BACKENDS)('heap over 100 000 steps (%s)', (backend) => {
  it('zero-copy step()', async () => {
    const opt = await RMSProp.create({ w: 1000, b: 24 }, { backend, centered: true, momentum: 0.9 });
    opt.grads.w.fill(0.01);
    opt.grads.b.fill(-0.01);
    expectFlatHeap(() => void opt.step());
    expect(opt.stepCount).toBe(100_000);
  });

  it('your arrays, step(grads) with one reused gradients object', async () => {
    const opt = await RMSProp.create({ w: new Float32Array(1000), b: new Float32Array(24) }, { backend });
    const grads = { w: new Float32Array(1000).fill(0.01), b: new Float32Array(24).fill(-0.01) };
    expectFlatHeap(() => void opt.step(grads));
  });
});

// Measured in a child process running the built package, one per case, as a program that uses one
// configuration would: V8 then optimizes step() for that configuration (in one process running
// several, or under vitest with its transformed sources, step() deoptimizes when the shapes change
// and allocates in the interpreter until it is optimized again). The young generation (where every
// new object goes first) is read before and after thousands of steps, after a full collection; the
// least of five rounds once optimized.
const MEASURE = `
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const young = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_used_size;
function round(step, steps) {
  gc();
  const start = young();
  const before = young(); // minus what reading the statistics allocates
  const cost = before - start;
  for (let i = 0; i < steps; i++) step();
  return (young() - before - cost) / steps;
}
export function bytesPerStep(step, steps, bound) {
  // V8 optimizes step() only after many calls (more when each call spends its time in wasm), and
  // until then the interpreter allocates: warm up until a round allocates nothing, or three rounds
  // in a row allocate the same below the bound (threads: 'auto' allocates 2 bytes a step by design,
  // so it always ran all 100 rounds, 30 000 steps of 600 K elements); 100 rounds at most.
  // A round below a byte a step is already the least the rounds below could find: an allocation
  // in one step of a few shows in every round.
  const last = [];
  for (let i = 0; i < 100; i++) {
    const bytes = round(step, steps);
    if (bytes < 1) return { bytes, rounds: [...last, bytes] };
    last.push(bytes);
    const recent = last.slice(-3);
    if (recent.length === 3 && Math.max(...recent) < bound && Math.max(...recent) - Math.min(...recent) < 0.5) break;
  }
  // The least of five rounds: an allocation per step (or every few steps) shows in every round,
  // while the runtime's own (a step sent back to the interpreter, which boxes numbers until V8
  // compiles it again: 64 bytes a step for hundreds of steps, seen on a loaded machine) does not.
  const rounds = [0, 1, 2, 3, 4].map(() => round(step, steps));
  return { bytes: Math.min(...rounds), rounds: [...last, ...rounds] };
}`;

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** A quarter of the smallest object V8 allocates (a heap number, 16 bytes): one in four steps at most. */
const ONE_NUMBER = 4;
/** A hang, not a slow child: children queue for a core (see runNode), and a threaded one on a loaded machine took 46 s. */
const CHILD_TIMEOUT = 300_000;

/** What a child measured: bytes a step (the least of its last five rounds), and every round's, warm-up first; what its `report()` gave. */
interface Measured {
  bytes: number;
  rounds: number[];
  report?: unknown;
}

/**
 * Bytes per step of `setup` (a script body, given RMSProp, that sets \`step\` and \`steps\`, and may
 * set \`report\` to a function whose result a failure shows) in a child process (children run
 * concurrently, one per core: each measures only its own heap).
 */
function measureInChild(setup: string, { soonerTurbofan = true } = {}): Promise<Measured> {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const script = `import { RMSProp } from '${entry}';
    const { bytesPerStep } = await import('data:text/javascript,' + encodeURIComponent(${JSON.stringify(MEASURE)}));
    let step, steps = 2000, report = () => undefined;
    ${setup}
    const measured = bytesPerStep(step, steps, ${ONE_NUMBER});
    console.log(JSON.stringify({ ...measured, report: report() }));
    process.exit(0);`;
  // Optimizing compilers run on the main thread: in the background they may not get a core on a
  // loaded machine before the rounds end, and an unoptimized step() boxes numbers (16 bytes).
  // No on-stack replacement: a long wait for a descheduled worker made V8 compile the waiting loop
  // before it had seen the code after it, then drop that code at the loop's end, up to a hundred
  // times a process; how often depends on the load, and what the interpreter then boxes was counted.
  // No Maglev (Node 22 and 24's middle tier): step() spends its time in wasm, so it stayed there for the
  // whole test. There step() allocates nothing either, but Node's performance.now() does: 88 bytes a
  // call from Maglev code against 16 from TurboFan's (Node 24), so threads: 'auto''s timing read 11
  // bytes a step instead of 2. Node 20 has no Maglev: every Node is measured as TurboFan runs it.
  // `soonerTurbofan`: TurboFan after about a tenth of the usual work: step() reached it only after
  // 4 500 steps on Node 20 and 10 800 on Node 22 and 24 (20 s a child at 600 K elements on 2 threads);
  // what is measured is still the optimized code, 5 rounds of it. Node 20's V8 counts bytecode, later
  // ones count calls.
  const flags = ['--no-concurrent-recompilation', '--no-use-osr', '--no-maglev'];
  if (soonerTurbofan) flags.push(NODE_MAJOR >= 22 ? '--invocation-count-for-turbofan=300' : '--interrupt-budget=8000');
  return runForJson<Measured>(script, CHILD_TIMEOUT - 30_000, flags); // (its own limit inside the test's)
}

/** Less than ONE_NUMBER a step; a failure shows every round the child measured, and its report. */
function expectUnderOneNumber({ bytes, rounds, report }: Measured): void {
  const seen = `bytes a step in each round: ${rounds.map((r) => r.toFixed(2)).join(' ')}; report: ${JSON.stringify(report)}`;
  expect(bytes, seen).toBeLessThan(ONE_NUMBER);
}

const CLIPPING = '{ clipValue: 0.5, clipNorm: 1, globalClipNorm: 1 }';

describe.skipIf(noYoungGeneration).concurrent.each(BACKENDS)('step() allocates nothing (%s)', (backend) => {
  it.each([
    ['zero-copy', '{}'],
    ['clipping', CLIPPING],
    ["nonFinite: 'skip'", "{ nonFinite: 'skip' }"],
    [
      'centered, momentum, decoupled weight decay, bias correction, ema with overwrites',
      '{ centered: true, momentum: 0.9, weightDecay: 0.01, decoupledWeightDecay: true, biasCorrection: true, ema: 0.99, emaOverwriteEvery: 7 }',
    ],
    // A schedule that computes its value allocates that number in its own code; calling it costs nothing more.
    ['a schedule', '{ lr: () => 1e-3 }'],
  ])(
    '%s',
    async (_, options) => {
      expectUnderOneNumber(
        await measureInChild(`
      const opt = await RMSProp.create({ w: 1000, b: 24 }, { ...${options}, backend: '${backend}' });
      opt.grads.w.fill(0.01);
      step = () => void opt.step();`),
      );
    },
    CHILD_TIMEOUT,
  );

  // Compressed state (w; b stays float32): the 8-bit path with every state array (bfloat16 runs the same
  // functions with its own codec: one child process fewer per backend).
  it.each([
    [
      '8-bit state, centered, momentum, clipping',
      `{ stateFormat: '8bit', centered: true, momentum: 0.9, ...${CLIPPING} }`,
    ],
  ])(
    '%s',
    async (_, options) => {
      expectUnderOneNumber(
        await measureInChild(`
      const opt = await RMSProp.create({ w: 5000, b: 24 }, { ...${options}, backend: '${backend}' });
      opt.grads.w.fill(0.01);
      step = () => void opt.step();`),
      );
    },
    CHILD_TIMEOUT,
  );

  it.each([
    [
      'a record',
      '{ w: new Float32Array(1000), b: new Float32Array(24) }',
      '{ w: new Float32Array(1000).fill(0.01), b: new Float32Array(24) }',
    ],
    [
      'an array',
      '[new Float32Array(1000), new Float32Array(24)]',
      '[new Float32Array(1000).fill(0.01), new Float32Array(24)]',
    ],
  ])(
    'your arrays, gradients in %s, with clipping, the non-finite scan and ema overwrites',
    async (_, params, grads) => {
      expectUnderOneNumber(
        await measureInChild(`
      const opt = await RMSProp.create(${params}, { ...${CLIPPING}, nonFinite: 'throw', ema: 0.9, emaOverwriteEvery: 3, backend: '${backend}' });
      const grads = ${grads};
      step = () => void opt.step(grads);`),
      );
    },
    CHILD_TIMEOUT,
  );
});

// Steps of 512 K elements or more wake the workers every time. (A smaller step that finds every
// worker asleep reads the clock, to know whether steps come back to back: performance.now()
// returns a new heap number, 16 bytes.) On simd only: the wasm backend runs the same JavaScript on
// the calling thread (only the module its workers call differs), took twice as long a child (its
// 600 K-element steps are slower), and the simd one adds the loads-ahead trials' path.
describe.skipIf(noYoungGeneration).concurrent.each(['simd'] as const)(
  'with 2 threads, step() allocates nothing (%s)',
  (backend) => {
    it.each([
      ['zero-copy', '{}'],
      ['clipping', CLIPPING],
      ["nonFinite: 'skip'", "{ nonFinite: 'skip' }"],
      ['8-bit state, momentum, ema', "{ stateFormat: '8bit', momentum: 0.9, ema: 0.99 }"],
    ])(
      '%s',
      async (_, options) => {
        expectUnderOneNumber(
          await measureInChild(`
      const opt = await RMSProp.create({ w: 600000, b: 24 }, { ...${options}, backend: '${backend}', threads: 2 });
      if (opt.threads !== 2) throw new Error('not on 2 threads');
      opt.grads.w.fill(0.01);
      step = () => void opt.step();
      steps = 300;`),
        );
      },
      CHILD_TIMEOUT,
    );

    // Another SharedArrayBuffer as long as the optimizer's memory is probed once (is it that memory
    // posted back?), then found in a WeakMap at every step.
    it(
      'your gradients in a SharedArrayBuffer of your own',
      async () => {
        expectUnderOneNumber(
          await measureInChild(`
      const opt = await RMSProp.create({ w: 600000, b: 24 }, { backend: '${backend}', threads: 2 });
      if (opt.threads !== 2) throw new Error('not on 2 threads');
      const shared = new SharedArrayBuffer(opt.grads.w.buffer.byteLength);
      const grads = { w: new Float32Array(shared, 0, 600000).fill(0.01), b: new Float32Array(shared, 2400000, 24) };
      step = () => void opt.step(grads);
      steps = 300;`),
        );
      },
      CHILD_TIMEOUT,
    );
  },
);

// threads: 'auto' times one run in 32 below 4 M elements (it reads the clock twice): what Node's
// performance.now() allocates is the runtime's, 16 bytes a read compiled but 88 where V8 left it
// interpreted (4.6 bytes a step, Node 24, fresh-clone CI), so the child's clock is one that returns small
// integers, which allocate nothing: what is measured is this library's code, trials and switches included.
// A machine of one core runs 'auto' on one thread: the child reports at least 2 so that workers start anywhere.
// What 'auto' allocates is in code it runs only now and then, which V8 leaves interpreted: a period's
// end (about 250 bytes, at most once in 128 runs with this clock) and a trial's steps on threads
// (integer arithmetic since: a round holding a trial read 12–17 bytes a step before, 2.6–3.8 after,
// Node 24). A failure prints every round the child measured.
it.concurrent.skipIf(noYoungGeneration)(
  "with threads: 'auto', step() allocates less than one number in four steps",
  async () => {
    expectUnderOneNumber(
      await measureInChild(
        `
    let tick = 0;
    Object.defineProperty(performance, 'now', { value: () => (tick = (tick + 1) & 0x3fffffff), configurable: true });
    const os = process.getBuiltinModule('node:os'), cores = os.availableParallelism();
    os.availableParallelism = () => Math.max(2, cores);
    const opt = await RMSProp.create({ w: 600000, b: 24 }, { ...${CLIPPING}, threads: 'auto' });
    if (opt.threads < 2) throw new Error('no workers');
    opt.grads.w.fill(0.01);
    step = () => void opt.step();
    steps = 320;
    report = () => ({ trials: opt.poolForTest.trialsForTest, workerChunks: opt.poolForTest.workerChunksForTest });`,
        // Optimized that soon, the step had not yet run both of 'auto''s paths (one thread and all): a
        // trial of the other then threw it back to the interpreter (a deopt for insufficient feedback),
        // up to 100 bytes a step for seven rounds of 320 steps until it was optimized again
        // (--trace-deopt, Node 20).
        { soonerTurbofan: false },
      ),
    );
  },
  CHILD_TIMEOUT,
);

// `npm start`: does RMSProp beat gradient descent, on a ravine and on Iris, and what does the wasm core buy?
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { availableBackends, RMSProp, type BackendChoice, type BackendName } from '../src/index.js';
import { loadIris } from './iris.js';
import { paramCount, type Shape } from './mlp.js';
import { lossSpec, pictured, ravineSpec, render } from './plots.js';
import {
  bestRun,
  LABEL,
  LR_GRID,
  MAX_STEPS,
  METHODS,
  RAVINE,
  REGION,
  runRavine,
  zigzagLr,
  type Method,
  type RavineRun,
} from './ravine.js';
import { bitIdentical, epochsToTarget, train, type TrainResult } from './train.js';

const USAGE = 'usage: npm start -- [--quick] [--out DIR] [--backend auto|simd|wasm|js]';
const args = parseArgsOrExit();
function parseArgsOrExit() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        out: { type: 'string', default: 'out' },
        backend: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (error) {
    // an unknown flag, a stray positional or a missing value: say which, then how to call, not a stack trace
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!['auto', 'simd', 'wasm', 'js'].includes(args.backend!)) {
  console.error(`unknown backend '${args.backend}'\n${USAGE}`);
  process.exit(2);
}
const backend = args.backend as BackendChoice;
const quick = args.quick!;
const outDir = args.out!;

const IRIS = {
  splitSeed: 7,
  seed: 1,
  shape: { inputs: 4, hidden: 16, classes: 3 } satisfies Shape,
  batch: 10,
  epochs: quick ? 100 : 200,
  target: 0.05,
  grid: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
  timingRuns: quick ? 1 : 3,
};
// Wide enough (≥ 1 M parameters) that the optimizer's share of a step shows.
const WIDE = {
  shape: { inputs: 4, hidden: 131_072, classes: 3 } satisfies Shape,
  batch: IRIS.batch,
  steps: quick ? 3 : 10,
};
const KAPPAS = [100, RAVINE.kappa, 10_000];

const fast: BackendName = backend === 'auto' ? availableBackends()[0] : backend;
const timed: BackendName[] = fast === 'js' ? ['js'] : ['js', fast];

const bar = new cliProgress.SingleBar(
  { format: ' {bar} {percentage}% | {stage}', clearOnComplete: true, hideCursor: true },
  cliProgress.Presets.shades_classic,
);
const work = 3 * LR_GRID.length * KAPPAS.length + 1 + 3 * IRIS.grid.length + timed.length * (IRIS.timingRuns + 1);
bar.start(work, 0, { stage: 'ravine' });
const tick = (stage: string) => () => bar.increment(1, { stage });

// 1. The ravine, at three condition numbers (the picture uses RAVINE.kappa).
const ravineBest = new Map<number, Map<Method, RavineRun>>();
for (const kappa of KAPPAS) {
  const runs = new Map<Method, RavineRun>();
  for (const method of METHODS) {
    const { best } = await bestRun(
      method,
      { RMSProp, ravine: { ...RAVINE, kappa }, backend },
      tick(`ravine κ=${kappa}: ${LABEL[method]}`),
    );
    runs.set(method, best);
  }
  ravineBest.set(kappa, runs);
}
const ravine = ravineBest.get(RAVINE.kappa)!;
// The seed's zig-zag: gradient descent near its stability limit, pictured beside the best-lr runs.
const zigzag = await runRavine('gd', zigzagLr(RAVINE.kappa), { RMSProp, ravine: RAVINE, backend });
tick('ravine: gradient descent near 2/κ')();

// 2. Iris: each method at every rate of the grid; the best gets below the target loss for good in the fewest epochs.
const iris = loadIris(IRIS.splitSeed);
const irisBest = new Map<Method, { lr: number; result: TrainResult; epochs: number | undefined }>();
for (const method of METHODS) {
  for (const lr of IRIS.grid) {
    const result = await train(method, lr, iris.train, iris.test, { ...IRIS, backend, evaluate: true });
    tick(`Iris: ${LABEL[method]}, lr ${lr}`)();
    const epochs = epochsToTarget(result, IRIS.target);
    const best = irisBest.get(method);
    const rank = (e: number | undefined, r: TrainResult) => (e ?? Infinity) * 1e3 + r.epochs.at(-1)!.trainLoss;
    if (!best || rank(epochs, result) < rank(best.epochs, best.result)) irisBest.set(method, { lr, result, epochs });
  }
}

// 3. Where the time goes: the same RMSProp training on each backend, runs interleaved.
interface Timing {
  msPerStep: number;
  msPerEpoch: number;
  share: number;
  optimizerMsPerStep: number;
  params: TrainResult['params'];
}
const timing = async (runs: number, run: (b: BackendName) => Promise<TrainResult>, stage: string) => {
  const sums = new Map(
    timed.map((b) => [
      b,
      { backprop: 0, optimizer: 0, steps: 0, epochs: 0, params: undefined as TrainResult['params'] | undefined },
    ]),
  );
  for (let i = 0; i < runs; i++) {
    for (const b of timed) {
      const r = await run(b);
      const s = sums.get(b)!;
      s.backprop += r.backpropMs;
      s.optimizer += r.optimizerMs;
      s.steps += r.steps;
      s.epochs += r.epochsRun;
      s.params = r.params;
      tick(stage)();
    }
  }
  return new Map(
    [...sums].map(([b, s]): [BackendName, Timing] => {
      const total = s.backprop + s.optimizer;
      return [
        b,
        {
          msPerStep: total / s.steps,
          msPerEpoch: total / s.epochs,
          share: s.optimizer / total,
          optimizerMsPerStep: s.optimizer / s.steps,
          params: s.params!,
        },
      ];
    }),
  );
};
const rmsLr = irisBest.get('rmsprop')!.lr;
const irisTiming = await timing(
  IRIS.timingRuns,
  (b) => train('rmsprop', rmsLr, iris.train, iris.test, { ...IRIS, backend: b }),
  'timing Iris',
);
const wideTiming = await timing(
  1,
  (b) =>
    train('rmsprop', 1e-3, iris.train, iris.test, {
      ...IRIS,
      ...WIDE,
      epochs: Infinity,
      maxSteps: WIDE.steps,
      backend: b,
    }),
  `timing a ${(paramCount(WIDE.shape) / 1e6).toFixed(2)} M-parameter network`,
);
bar.stop();

// 4. Report.
const row = (cells: Array<string | number>) => cells.map(String);
function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(
    [
      line(head),
      `|${widths.map((w, i) => (i === 0 ? '-' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`,
      ...rows.map(line),
    ].join('\n'),
  );
}
const steps = (r: RavineRun) => (r.steps !== undefined ? String(r.steps) : r.diverged ? 'diverges' : `> ${MAX_STEPS}`);
const pct = (x: number) => `${(100 * x).toFixed(x < 0.01 ? 2 : 1)}%`;

console.log(
  `\n1. Ravine f(w, b) = ½(w² + κ·b²) from (${RAVINE.start.join(', ')}): steps until ‖θ − θ*‖ < ${REGION} for good`,
);
console.log(
  `   (best learning rate of ${LR_GRID.join(', ')}; at most ${MAX_STEPS} steps; momentum: heavy ball, μ = 0.9)\n`,
);
table(
  ['optimizer', ...KAPPAS.map((k) => `κ = ${k}: steps`), `best lr (κ = ${RAVINE.kappa})`, 'ends at ‖θ − θ*‖'],
  METHODS.map((m) =>
    row([
      LABEL[m],
      ...KAPPAS.map((k) => steps(ravineBest.get(k)!.get(m)!)),
      ravine.get(m)!.lr,
      ravine.get(m)!.finalDistance.toExponential(1),
    ]),
  ),
);
console.log(
  `\n   Pictured with them: gradient descent at lr ${+zigzag.lr.toPrecision(3)} = 0.95 × 2/κ (κ = ${RAVINE.kappa}), where each step flips b and`,
);
console.log(`   shrinks it by only 0.9 (the zig-zag across the valley): ${steps(zigzag)} steps.`);
console.log(`\n   RMSProp's step is about lr per coordinate whatever the curvature, so it settles into a cycle of`);
console.log(`   about lr/2 around the minimum: reaching ${REGION} needs a small lr and ~distance/lr steps, while`);
console.log(`   gradient descent needs at least κ·ln(distance/${REGION})/2. RMSProp wins once the valley is narrow.`);

console.log(
  `\n2. Iris (${iris.train.count} training / ${iris.test.count} held-out flowers), MLP ${IRIS.shape.inputs}-${IRIS.shape.hidden}-${IRIS.shape.classes} (tanh, softmax), batches of ${IRIS.batch}, ${IRIS.epochs} epochs, seed ${IRIS.seed}\n`,
);
table(
  [
    'optimizer',
    'best lr',
    `epochs to loss < ${IRIS.target} for good`,
    'final training loss',
    'final held-out accuracy',
  ],
  METHODS.map((m) => {
    const b = irisBest.get(m)!;
    const last = b.result.epochs.at(-1)!;
    return row([LABEL[m], b.lr, b.epochs ?? `> ${IRIS.epochs}`, last.trainLoss.toFixed(4), pct(last.testAccuracy)]);
  }),
);
const shown = [1, 5, 10, 20, 50, 100, 150, 200, 300].filter((e) => e <= IRIS.epochs);
console.log('\n   training loss / held-out accuracy by epoch\n');
table(
  ['epoch', ...METHODS.map((m) => LABEL[m])],
  shown.map((e) =>
    row([
      e,
      ...METHODS.map((m) => {
        const r = irisBest.get(m)!.result.epochs[e - 1];
        return `${r.trainLoss.toFixed(4)} / ${pct(r.testAccuracy)}`;
      }),
    ]),
  ),
);

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(
  `\n3. Where the time goes: RMSProp training on ${timed.join(' and ')} (${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)})\n`,
);
const timingRows = (label: string, t: Map<BackendName, Timing>, unit: 'epoch' | 'step') =>
  timed.map((b) => {
    const x = t.get(b)!;
    const per = unit === 'epoch' ? x.msPerEpoch : x.msPerStep;
    return row([
      `${label}, ${b}`,
      `${per < 1 ? `${(per * 1000).toFixed(1)} µs` : `${per.toFixed(1)} ms`} / ${unit}`,
      `${(x.optimizerMsPerStep * 1000).toFixed(x.optimizerMsPerStep < 1 ? 1 : 0)} µs`,
      pct(x.share),
    ]);
  });
table(
  ['network, backend', 'time', 'optimizer step', 'optimizer share'],
  [
    ...timingRows(
      `Iris ${paramCount(IRIS.shape)} parameters, ${IRIS.epochs} epochs × ${IRIS.timingRuns}`,
      irisTiming,
      'epoch',
    ),
    ...timingRows(
      `${paramCount(WIDE.shape).toLocaleString('en-US')} parameters, batch ${WIDE.batch}, ${WIDE.steps} steps`,
      wideTiming,
      'step',
    ),
  ],
);
const same = (t: Map<BackendName, Timing>) => timed.every((b) => bitIdentical(t.get(b)!.params, t.get('js')!.params));
if (timed.length > 1) {
  console.log(
    `\n   Final weights, ${timed.join(' vs ')}: ${same(irisTiming) ? 'bit-identical' : 'DIFFERENT'} (Iris), ${same(wideTiming) ? 'bit-identical' : 'DIFFERENT'} (wide network).`,
  );
}

await mkdir(outDir, { recursive: true });
const written = [
  ...(await render(
    ravineSpec(
      RAVINE,
      pictured(
        METHODS.map((m) => ravine.get(m)!),
        zigzag,
      ),
    ),
    outDir,
    'ravine',
  )),
  ...(await render(
    lossSpec(
      METHODS.map((m) => ({ method: m, lr: irisBest.get(m)!.lr, epochs: irisBest.get(m)!.result.epochs })),
      IRIS.target,
      `Iris, MLP ${IRIS.shape.inputs}-${IRIS.shape.hidden}-${IRIS.shape.classes}, batches of ${IRIS.batch}`,
    ),
    outDir,
    'loss',
  )),
];
const csv = [
  'optimizer,lr,epoch,train_loss,test_loss,test_accuracy',
  ...METHODS.flatMap((m) => {
    const b = irisBest.get(m)!;
    return b.result.epochs.map((e) => [m, b.lr, e.epoch, e.trainLoss, e.testLoss, e.testAccuracy].join(','));
  }),
];
await writeFile(join(outDir, 'iris-epochs.csv'), `${csv.join('\n')}\n`);
written.push(join(outDir, 'iris-epochs.csv'));

const gd = ravine.get('gd')!,
  rms = ravine.get('rmsprop')!;
const gdIris = irisBest.get('gd')!,
  rmsIris = irisBest.get('rmsprop')!;
const fewer = (a: number | undefined, b: number | undefined) => a !== undefined && (b === undefined || a < b);
console.log('\nSummary\n');
table(
  ['', ...METHODS.map((m) => LABEL[m])],
  [
    row([
      `ravine κ = ${RAVINE.kappa}: steps to ‖θ − θ*‖ < ${REGION}`,
      ...METHODS.map((m) => `${steps(ravine.get(m)!)} (lr ${ravine.get(m)!.lr})`),
    ]),
    row([
      `Iris: epochs to training loss < ${IRIS.target} for good`,
      ...METHODS.map((m) => `${irisBest.get(m)!.epochs ?? `> ${IRIS.epochs}`} (lr ${irisBest.get(m)!.lr})`),
    ]),
    row([
      'Iris: final held-out accuracy',
      ...METHODS.map((m) => pct(irisBest.get(m)!.result.epochs.at(-1)!.testAccuracy)),
    ]),
  ],
);
console.log(
  `\nRMSProp needs fewer steps than gradient descent on the ravine: ${fewer(rms.steps, gd.steps) ? 'yes' : 'NO'} (${steps(rms)} vs ${steps(gd)}).`,
);
console.log(
  `RMSProp needs fewer epochs than gradient descent on Iris: ${fewer(rmsIris.epochs, gdIris.epochs) ? 'yes' : 'NO'} (${rmsIris.epochs ?? '-'} vs ${gdIris.epochs ?? '-'}).`,
);
if (timed.length > 1) {
  const [js, f] = [wideTiming.get('js')!, wideTiming.get(fast)!];
  console.log(
    `Optimizer share of a training step, ${paramCount(WIDE.shape).toLocaleString('en-US')} parameters: js ${pct(js.share)}, ${fast} ${pct(f.share)} (optimizer step ${(js.optimizerMsPerStep / f.optimizerMsPerStep).toFixed(0)}× faster).`,
  );
}
console.log(`\nWritten:\n${written.map((p) => `  ${p}`).join('\n')}`);

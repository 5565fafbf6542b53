// What the ema option costs the TF.js drop-in: applyGradients on tfjs-backend-cpu without ema, with
// ema 0.99, and with an overwrite every 10 steps (every variable written back then), over three sets
// of variables. One interleaved run: each round times every variant once, in a shuffled order; medians.
// Run: npx tsx bench/tfjs-ema.ts
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { rmsprop, type TfjsRMSPropOptions } from '../src/tfjs/index.js';
import { environment } from './environment.js';

const ROUNDS = 31;
const STEPS = 40; // per sample
const SETS: Record<string, number[][]> = {
  '4 variables, 33 K': [[128, 128], [128], [128, 128], [128]],
  '4 variables, 525 K': [[512, 512], [512], [512, 512], [512]],
  '4 variables, 1.06 M': [[1024, 1024], [1024], [1024, 10], [10]],
};
const VARIANTS: Array<[string, TfjsRMSPropOptions]> = [
  ['no ema', {}],
  ['ema 0.99', { ema: 0.99 }],
  ['ema 0.99, overwrite every 10', { ema: 0.99, emaOverwriteEvery: 10 }],
];
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];

const warn = console.warn;
console.warn = () => {}; // the cpu backend's "install tfjs-node" banner
await tf.setBackend('cpu');
console.warn = warn;
console.log(`ema cost in the TF.js drop-in (tfjs-backend-cpu ${tf.version_core}) — ${environment()}`);
for (const [label, shapes] of Object.entries(SETS)) {
  const variants = await Promise.all(
    VARIANTS.map(async ([name, options], v) => {
      const variables = shapes.map((shape, i) => tf.variable(tf.randomNormal(shape), true, `${label}/${v}/${i}`));
      const grads = Object.fromEntries(variables.map((x) => [x.name, tf.randomNormal(x.shape)]));
      return { name, optimizer: await rmsprop({ lr: 1e-3, ...options }), grads, times: [] as number[] };
    }),
  );
  for (const v of variants) for (let i = 0; i < STEPS; i++) v.optimizer.applyGradients(v.grads);
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of [...variants].sort(() => Math.random() - 0.5)) {
      const start = performance.now();
      for (let i = 0; i < STEPS; i++) v.optimizer.applyGradients(v.grads);
      v.times.push((performance.now() - start) / STEPS);
    }
  }
  const base = median(variants[0].times);
  const cells = variants.map(
    (v) => `${v.name} ${median(v.times).toFixed(3)} ms (${(median(v.times) / base).toFixed(2)}×)`,
  );
  console.log(`${label}: ${cells.join(', ')}`);
}

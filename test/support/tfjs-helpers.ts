// What the TF.js tests share: the agreed bound against tf.train.rmsprop, and the text every
// fresh-process TF.js scenario starts with (test/child.ts runs it).
import { outsideBound } from './helpers.js';

/** The agreed bound (test/unit/presets.test.ts): |w − w_ref| ≤ 1e-5·|w_ref| + 5e-4·lr·k/(1−momentum) after k steps. */
export function firstViolation(
  ours: ArrayLike<number>[],
  reference: ArrayLike<number>[],
  k: number,
  momentum: number,
  lr: number,
): string | undefined {
  if (ours.length !== reference.length) return `${ours.length} weights, the reference has ${reference.length}`;
  for (const [t, ref] of reference.entries()) {
    const outside = outsideBound(ours[t], ref, (5e-4 * lr * k) / (1 - momentum));
    if (outside) return `weight ${t}, ${outside}`;
  }
  return undefined;
}

/**
 * A fresh square average, float32's (1 − ρ)·g², against float64's from the same g: a few roundings of
 * 2⁻²⁴ apart, so a relative bound (an absolute one fails on ulps, as toBeCloseTo(…, 9) did at 0.0067).
 */
export function freshSquareAverageMismatch(rms: ArrayLike<number>, expected: ArrayLike<number>): string | undefined {
  if (rms.length !== expected.length) return `${rms.length} values, expected ${expected.length}`;
  for (let i = 0; i < rms.length; i++) {
    if (!(Math.abs(rms[i] - expected[i]) <= 1e-6 * Math.abs(expected[i])))
      return `[${i}] ${rms[i]} against ${expected[i]}`;
  }
  return undefined;
}

/**
 * A user's program up to its first line of its own: TF.js as a Node user loads it (tfjs-core,
 * tfjs-backend-cpu, tfjs-layers), this package through its exports, `out(value)` to report (one
 * JSON line), and a seeded 64 × 8 data set with an 8-16-3 MLP (`data()`, `mlp()`).
 */
export const TFJS_PRELUDE = `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { NotReadyError, RMSProp } from 'rmsprop-wasm';
import { rmsprop, RMSPropWasmOptimizer } from 'rmsprop-wasm/tfjs';
console.warn = () => {}; // tfjs-backend-cpu's "install tfjs-node" banner
await tf.setBackend('cpu');
const out = (value) => console.log(JSON.stringify(value));
const values = (t) => Array.from(t.dataSync());
const data = () => {
  const x = tf.randomNormal([64, 8], 0, 1, 'float32', 1);
  return { x, y: tf.cast(tf.oneHot(tf.argMax(tf.slice(x, [0, 0], [64, 3]), 1), 3), 'float32') };
};
const mlp = () => tfl.sequential({ layers: [
  tfl.layers.dense({ inputShape: [8], units: 16, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }) }),
  tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 8 }) }),
] });
const modelWeights = (model) => model.getWeights().map(values);
const errorOf = (f) => { try { f(); } catch (e) { return { name: e.constructor.name, message: e.message }; } return undefined; };
const asyncErrorOf = async (f) => { try { await f(); } catch (e) { return { name: e.constructor.name, message: e.message }; } return undefined; };
`;

// TF.js as a user runs it: tf.train.rmsprop(...).applyGradients on one variable, cpu and wasm backends.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { SEED } from './plain.js';

export type TfBackend = 'cpu' | 'wasm';

let ready: Promise<string> | undefined;

/** Registers both backends once; returns a description (version, wasm features). */
export function initTfjs(): Promise<string> {
  return (ready ??= (async () => {
    const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    setWasmPaths(`${wasmDir}/`);
    // The cpu backend prints an "install tfjs-node" banner on its first tensor in Node; noise here.
    const warn = console.warn;
    console.warn = () => {};
    try {
      await tf.setBackend('cpu');
      tf.tensor1d([0]).dispose();
    } finally {
      console.warn = warn;
    }
    if (!(await tf.setBackend('wasm'))) throw new Error('the TF.js wasm backend failed to start');
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return `@tensorflow/tfjs-core ${tf.version_core}, cpu and wasm backends (wasm SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off'})`;
  })());
}

/** One variable of n elements and its optimizer on `backend`, with the seed preset's formula. */
export async function tfjsStep(backend: TfBackend, n: number, grad: Float32Array) {
  await initTfjs();
  await tf.setBackend(backend);
  const w = tf.variable(tf.fill([n], 0.5));
  const g = tf.tensor1d(grad);
  // TF.js: ms = ρ ms + (1−ρ) g²; w −= lr g / √(ms + ε): the seed formula, given its ε.
  const opt = tf.train.rmsprop(SEED.lr, SEED.decay, 0, SEED.eps, false);
  const grads = { [w.name]: g };
  return {
    // Tensors move to whichever backend is active, so each sample switches to its own first.
    prepare: () => tf.setBackend(backend).then(() => undefined),
    step: () => opt.applyGradients(grads),
    dispose: () => {
      opt.dispose();
      w.dispose();
      g.dispose();
    },
  };
}

export const tfjsTensorCount = () => tf.memory().numTensors;

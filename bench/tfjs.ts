// TF.js in Node: the cpu and wasm backends registered once, its .wasm files found in node_modules.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { tfjsVariant, type Variant } from './steps.js';

export type TfBackend = 'cpu' | 'wasm';

let ready: Promise<string> | undefined;

/** Registers both backends once; returns a description (version, wasm features). */
export function initTfjs(): Promise<string> {
  return (ready ??= (async () => {
    const wasmDir = dirname(
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'),
    );
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

/** TF.js's RMSProp on one variable the size of `grad`, on `backend` (bench/steps.ts, shared with the browser). */
export async function tfjsStep(backend: TfBackend, grad: Float32Array): Promise<Variant> {
  await initTfjs();
  return tfjsVariant(backend, `TF.js ${backend}`, grad);
}

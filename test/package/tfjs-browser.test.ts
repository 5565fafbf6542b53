// rmsprop-wasm/tfjs in headless Chromium, bundled by esbuild as an app would bundle it (through the
// package's exports map and its browser platform module, from the built dist/): model.fit with this optimizer tracks tf.train.rmsprop on TF.js' cpu, wasm and webgl backends,
// and one made with new trains at once (on the js stand-in until its wasm has compiled).
import { build } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { serveFiles, type StaticServer } from '../support/static-server.js';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What the page runs: the same small model trained with each optimizer, weights after every batch. */
const PAGE = `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { rmsprop, RMSPropWasmOptimizer } from 'rmsprop-wasm/tfjs';

setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');

function model() {
  return tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [4], units: 8, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
    tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
  ] });
}

async function train(optimizer, onEpochEnd = async () => {}) {
  const m = model();
  m.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const x = tf.tensor2d(Array.from({ length: 32 * 4 }, (_, i) => Math.sin(i * 0.7)), [32, 4]);
  const y = tf.tensor2d(Array.from({ length: 32 * 2 }, (_, i) => ((i >> 1) % 3 === 0) === (i % 2 === 0) ? 1 : 0), [32, 2]);
  const after = [];
  await m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0,
    callbacks: { onBatchEnd: async () => { after.push(m.getWeights().map((w) => Array.from(w.dataSync()))); }, onEpochEnd } });
  tf.dispose([x, y]);
  return after;
}

window.runIn = async (backend) => {
  if (!(await tf.setBackend(backend))) throw new Error('TF.js backend ' + backend + ' did not start');
  const optimizer = await rmsprop({ lr: 0.01, momentum: 0.9 });
  const ours = await train(optimizer);
  const stock = tf.train.rmsprop(0.01, 0.9, 0.9); // ε: the backend's, as the drop-in's (1e-4 on webgl)
  const theirs = await train(stock);
  return { backend: tf.getBackend(), core: optimizer.core.backend, className: RMSPropWasmOptimizer.className, ours, theirs,
    epsilons: [optimizer.epsilon, stock.getConfig().epsilon] };
};

// Made with new and trained at once: the first epoch on the js stand-in, the second after the compile.
window.runNew = async (backend) => {
  if (!(await tf.setBackend(backend))) throw new Error('TF.js backend ' + backend + ' did not start');
  const options = { lr: 0.01, momentum: 0.9, centered: true };
  const optimizer = new RMSPropWasmOptimizer(options);
  const cores = [];
  const ours = await train(optimizer, async () => { cores.push(optimizer.core.backend); await optimizer.ready(); });
  cores.push(optimizer.core.backend);
  return { cores, ours, awaited: await train(await rmsprop(options)) };
};
`;

let server: StaticServer;
/** The bundle's inputs outside TF.js. */
let bundled: string[] = [];
let browser: Browser;
let origin: string;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/tfjs/index.js')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  // The package installed as an app has it: node_modules/rmsprop-wasm pointing at this checkout.
  const installed = mkdtempSync(join(tmpdir(), 'rmsprop-wasm-tfjs-'));
  mkdirSync(join(installed, 'node_modules'));
  symlinkSync(root, join(installed, 'node_modules/rmsprop-wasm'), 'dir');
  const bundle = await build({
    stdin: { contents: PAGE, resolveDir: root, loader: 'js' },
    nodePaths: [join(installed, 'node_modules')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    metafile: true,
  }).finally(() => rmSync(installed, { recursive: true }));
  bundled = Object.keys(bundle.metafile.inputs).filter((path) => !path.includes('node_modules/@tensorflow'));
  // The page and its bundle from memory; the wasm backend's files from this checkout's node_modules.
  server = await serveFiles(root, {
    routes: {
      '/': {
        type: 'text/html',
        body: '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>',
      },
      '/page.js': { type: 'text/javascript', body: bundle.outputFiles[0].contents },
    },
  });
  origin = server.origin;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it('the bundle reached the library through its tfjs subpath and its browser platform module', () => {
  const ours = bundled.filter((path) => path.includes('dist/')).map((path) => path.slice(path.indexOf('dist/')));
  expect(ours).toContain('dist/tfjs/index.js');
  expect(ours).toContain('dist/index.js');
  expect(ours).toContain('dist/platform/browser.js');
  expect(ours).not.toContain('dist/platform/node.js');
});

/** Calls the page's `run` (runIn or runNew) with a TF.js backend in a new page; no page error may occur. */
async function inPage<T>(run: string, backend: string): Promise<T> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${origin}/`);
  await page.waitForFunction(`typeof window.${run} === "function"`);
  const result = (await page.evaluate(`window.${run}(${JSON.stringify(backend)})`)) as T;
  await page.close();
  expect(errors).toEqual([]);
  return result;
}

// webgl runs on SwiftShader here (--disable-gpu): gradients come down and parameters go up at every step
it.each(['cpu', 'wasm', 'webgl'])(
  'model.fit in a page on TF.js %s tracks tf.train.rmsprop',
  async (backend) => {
    const result = await inPage<{
      backend: string;
      core: string;
      className: string;
      ours: number[][][];
      theirs: number[][][];
      epsilons: number[];
    }>('runIn', backend);
    expect([result.backend, result.core, result.className]).toEqual([backend, 'simd', 'RMSProp']);
    // webgl renders in float32 here yet reports 16-bit precision: both optimizers take its ε, 1e-4
    expect(result.epsilons).toEqual(backend === 'webgl' ? [1e-4, 1e-4] : [1e-7, 1e-7]);
    expect(result.ours).toHaveLength(8);
    // the agreed bound (test/unit/presets.test.ts), lr 0.01, momentum 0.9, after k batches
    for (const [k, weights] of result.ours.entries()) {
      weights.forEach((w, t) =>
        w.forEach((value, i) => {
          const reference = result.theirs[k][t][i];
          const bound = 1e-5 * Math.abs(reference) + (5e-4 * 0.01 * (k + 1)) / (1 - 0.9);
          expect(Math.abs(value - reference), `batch ${k + 1}, weight ${t}, element ${i}`).toBeLessThanOrEqual(bound);
        }),
      );
    }
    expect(result.ours[7][0]).not.toEqual(result.ours[0][0]);
  },
  120_000,
);

it.each(['cpu', 'wasm'])(
  'an optimizer made with new trains at once in a page on TF.js %s: on js, then simd, as one awaited bit for bit',
  async (backend) => {
    const result = await inPage<{ cores: string[]; ours: number[][][]; awaited: number[][][] }>('runNew', backend);
    expect(result.cores).toEqual(['js', 'simd', 'simd']);
    expect(result.ours).toHaveLength(8);
    expect(result.ours).toEqual(result.awaited); // (float32 values as doubles: equal bits)
  },
  120_000,
);

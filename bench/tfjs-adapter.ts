// The TF.js drop-in (rmsprop-wasm/tfjs, issue 13) against tf.train.rmsprop inside TF.js:
// `applyGradients` on one variable (copies in and out included) at 100 K, 1 M and 4 M parameters,
// and one `model.fit` epoch of a 784-600-32-10 MLP (490 K parameters), on tfjs-backend-cpu and -wasm.
// `npx tsx bench/tfjs-adapter.ts [--quick]`; `npm run bench` runs it too (tfjsAdapterReport).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { rmsprop } from '../src/tfjs/index.js';
import { environment } from './environment.js';
import { measure, type Plan } from './measure.js';
import { initTfjs, type TfBackend } from './tfjs.js';

const K = 1024;

/**
 * A full collection before each sample, untimed: the stock optimizer leaves megabytes of garbage
 * per step, whose collection otherwise lands in whichever variant is sampled next.
 */
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;
const BACKENDS: readonly TfBackend[] = ['cpu', 'wasm'];
const LR = 1e-3;

interface StepVariant {
  key: string;
  label: string;
  bytes: number;
  step: () => void;
  prepare: () => Promise<void>;
  dispose: () => void;
}

/** Deterministic values in [−1, 1), so that no run depends on Math.random. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Variants on one variable of n elements each: the stock optimizer, ours (the whole
 * `applyGradients`, copies included), our core's update alone on the same memory (no copies),
 * whose difference from ours is the data movement, that movement's two halves apart, and its floor.
 */
async function stepVariants(backend: TfBackend, n: number): Promise<{ variants: StepVariant[]; coreBackend: string }> {
  await tf.setBackend(backend);
  const g = tf.tensor1d(values(n, 2));
  const make = (key: string, label: string, optimizer: tf.Optimizer): StepVariant => {
    const w = tf.variable(tf.tensor1d(values(n, 1)));
    const grads = { [w.name]: g };
    return {
      key,
      label,
      bytes: 16,
      prepare: async () => {
        await tf.setBackend(backend);
        collect();
      },
      step: () => optimizer.applyGradients(grads),
      dispose: () => {
        optimizer.dispose();
        w.dispose();
      },
    };
  };
  const stock = make('stock', `tf.train.rmsprop, ${backend}`, tf.train.rmsprop(LR, 0.9, 0, 1e-7));
  const ours = make('ours', `rmsprop-wasm/tfjs, ${backend}`, await rmsprop({ lr: LR }));
  const core = await rmsprop({ lr: LR });
  const coreVariant = make('core', `its core step alone (no copies), ${backend}`, core);
  coreVariant.step(); // lays the core out and fills its gradient buffer
  const kernel = core.core!;
  const alone = {
    ...coreVariant,
    step: () => void kernel.step(),
    dispose: () => {
      coreVariant.dispose();
      g.dispose();
    },
  };
  // The two halves of the data movement, done as the adapter does them, apart.
  const [name] = Object.keys(kernel.params);
  const variable = core.variables[0];
  const heap = tf.backend() as unknown as { typedArrayFromHeap?: (t: tf.Tensor) => Float32Array };
  const gradient = () => (backend === 'wasm' ? heap.typedArrayFromHeap!(g) : (g.dataSync() as Float32Array));
  const read: StepVariant = {
    ...alone,
    key: 'read',
    label: `reading the gradient in, ${backend}`,
    dispose: () => {},
    step: () => kernel.grads[name].set(gradient()),
  };
  const write: StepVariant = {
    ...alone,
    key: 'write',
    label: `writing the variable back, ${backend}`,
    dispose: () => {},
    step: () => {
      const params = kernel.params[name];
      const value = tf.tensor(backend === 'wasm' ? params : params.slice(), variable.shape, 'float32');
      variable.assign(value);
      value.dispose();
    },
  };
  // The least any adapter does that does not let a variable alias the optimizer's memory: copy the
  // gradient in, update, copy the parameters out, into an array that already exists (no TF.js call,
  // no fresh memory). Its data movement share is the floor of ours.
  const existing = new Float32Array(n);
  const floor: StepVariant = {
    ...alone,
    key: 'floor',
    label: `copy in, update, copy out (the floor), ${backend}`,
    dispose: () => {},
    step: () => {
      kernel.grads[name].set(gradient());
      kernel.step();
      existing.set(kernel.params[name]);
    },
  };
  return { variants: [stock, ours, alone, read, write, floor], coreBackend: kernel.backend };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A 784-600-32-10 MLP (490 K parameters), the same initial weights for every call. */
function mlp() {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [784], units: 600, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(2) }),
      tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
}

/**
 * One `model.fit` epoch (`samples` rows, batches of 32, the default) with each optimizer, on fresh
 * models, alternating which goes first; median seconds per epoch and the optimizer's share.
 */
async function epochs(backend: TfBackend, samples: number, rounds: number) {
  await tf.setBackend(backend);
  const x = tf.tensor2d(
    values(samples * 784, 3).map((v) => (v + 1) / 2),
    [samples, 784],
  );
  const labels = values(samples, 4);
  const y = tf.tidy(() =>
    tf.cast(
      tf.oneHot(
        tf.tensor1d(
          Array.from(labels, (v) => Math.floor((v + 1) * 5)),
          'int32',
        ),
        10,
      ),
      'float32',
    ),
  );
  const [xWarm, yWarm] = [tf.slice(x, 0, 64), tf.slice(y, 0, 64)];
  const times: Record<'stock' | 'ours', number[]> = { stock: [], ours: [] };
  const optimizerMs: Record<'stock' | 'ours', number[]> = { stock: [], ours: [] };
  let parameters = 0;
  for (let round = 0; round < rounds; round++) {
    const order: Array<'stock' | 'ours'> = round % 2 ? ['ours', 'stock'] : ['stock', 'ours'];
    for (const which of order) {
      const model = mlp();
      parameters = model.countParams();
      const optimizer = which === 'stock' ? tf.train.rmsprop(LR, 0.9, 0, 1e-7) : await rmsprop({ lr: LR });
      // the optimizer's own time inside fit, measured around applyGradients
      let inOptimizer = 0;
      const apply = optimizer.applyGradients.bind(optimizer);
      optimizer.applyGradients = (grads) => {
        const t0 = performance.now();
        apply(grads);
        inOptimizer += performance.now() - t0;
      };
      model.compile({ optimizer, loss: 'categoricalCrossentropy' });
      await model.fit(xWarm, yWarm, { epochs: 1, batchSize: 32, verbose: 0 }); // warm-up: kernels, layout
      inOptimizer = 0;
      const t0 = performance.now();
      await model.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
      const ms = performance.now() - t0;
      times[which].push(ms);
      optimizerMs[which].push(inOptimizer / ms);
      optimizer.dispose();
      model.dispose();
    }
  }
  tf.dispose([x, y, xWarm, yWarm]);
  return {
    parameters,
    stockMs: median(times.stock),
    oursMs: median(times.ours),
    stockShare: median(optimizerMs.stock),
    oursShare: median(optimizerMs.ours),
    rounds,
  };
}

/** The page of `webgl()`: the same measurements in Chromium on TF.js' webgl backend. */
const WEBGL_PAGE = (library: string) => `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
import * as tfl from '@tensorflow/tfjs-layers';
import { rmsprop } from ${JSON.stringify(library)};

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const make = async (which) => which === 'stock' ? tf.train.rmsprop(${LR}, 0.9, 0, 1e-7) : await rmsprop({ lr: ${LR} });

window.measure = async (sizes, steps, rounds, samples, epochRounds) => {
  if (!(await tf.setBackend('webgl'))) throw new Error('no webgl backend');
  const gl = tf.backend().gpgpu.gl;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
  const rows = [];
  for (const n of sizes) {
    const g = tf.randomUniform([n], -1, 1, 'float32', 2);
    const v = {};
    for (const which of ['stock', 'ours']) {
      const w = tf.variable(tf.randomUniform([n], -1, 1, 'float32', 1));
      v[which] = { w, optimizer: await make(which), grads: { [w.name]: g } };
      for (let i = 0; i < 3; i++) v[which].optimizer.applyGradients(v[which].grads);
      w.dataSync();
    }
    const times = { stock: [], ours: [] };
    for (let round = 0; round < rounds; round++) {
      for (const which of round % 2 ? ['ours', 'stock'] : ['stock', 'ours']) {
        // steps queue on the GPU; one read at the end waits for all of them
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) v[which].optimizer.applyGradients(v[which].grads);
        v[which].w.dataSync();
        times[which].push((performance.now() - t0) / steps);
      }
    }
    rows.push({ n, stock: median(times.stock), ours: median(times.ours) });
    for (const which of ['stock', 'ours']) { v[which].optimizer.dispose(); v[which].w.dispose(); }
    g.dispose();
  }
  const x = tf.randomUniform([samples, 784], 0, 1, 'float32', 3);
  const y = tf.cast(tf.oneHot(tf.randomUniform([samples], 0, 10, 'int32', 4), 10), 'float32');
  const epochs = { stock: [], ours: [] };
  let parameters = 0;
  for (let round = 0; round < epochRounds; round++) {
    for (const which of round % 2 ? ['ours', 'stock'] : ['stock', 'ours']) {
      const init = (seed) => tfl.initializers.glorotUniform({ seed });
      const model = tfl.sequential({ layers: [
        tfl.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: init(1) }),
        tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(2) }),
        tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }),
      ] });
      parameters = model.countParams();
      const optimizer = await make(which);
      model.compile({ optimizer, loss: 'categoricalCrossentropy' });
      await model.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 }); // warm-up: shaders, layout
      const t0 = performance.now();
      await model.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
      epochs[which].push(performance.now() - t0);
      optimizer.dispose();
      model.dispose();
    }
  }
  tf.dispose([x, y]);
  return { renderer, rows, parameters, epoch: { stock: median(epochs.stock), ours: median(epochs.ours) } };
};
`;

/**
 * tf.train.rmsprop against rmsprop-wasm/tfjs on TF.js' webgl backend, in headless Chromium (where
 * WebGL runs on SwiftShader, a CPU implementation), bundled from the built dist/ by esbuild.
 */
async function webgl(quick: boolean): Promise<string> {
  const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  const root = fileURLToPath(new URL('..', import.meta.url));
  const library = join(root, 'dist/tfjs/index.js');
  if (!existsSync(chromiumPath) || !existsSync(library))
    return `webgl: skipped (needs Chromium at ${chromiumPath} and the built dist/)`;
  const { launchChromium } = await import('../test/support/chromium.js');
  const bundle = await build({
    stdin: { contents: WEBGL_PAGE(library), resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const server = createServer((req, res) => {
    if (req.url === '/page.js')
      return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle.outputFiles[0].contents);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`);
    await page.waitForFunction('typeof window.measure === "function"');
    const sizes = quick ? [100 * K] : [100 * K, 1024 * K];
    const r = (await page.evaluate(
      `window.measure(${JSON.stringify(sizes)}, ${quick ? 3 : 10}, ${quick ? 3 : 5}, ${quick ? 128 : 512}, ${quick ? 2 : 4})`,
    )) as {
      renderer: string;
      rows: Array<{ n: number; stock: number; ours: number }>;
      parameters: number;
      epoch: { stock: number; ours: number };
    };
    const rows = r.rows.map(({ n, stock, ours }) => [
      'webgl',
      `${n / K} K`,
      stock.toFixed(2),
      ours.toFixed(2),
      `${(stock / ours).toFixed(2)}×`,
    ]);
    return [
      `TF.js webgl backend in headless Chromium ${browser.version()} (${r.renderer})`,
      '',
      'applyGradients on one float32 variable, ms per step (a read of the variable after the steps waits for the GPU; medians, alternating order)',
      '',
      table(['TF.js backend', 'parameters', 'tf.train.rmsprop', 'rmsprop-wasm/tfjs', 'speed-up'], rows),
      '',
      `One model.fit epoch, 784-128-64-10 MLP (${r.parameters} parameters), random data, batches of 32: ` +
        `tf.train.rmsprop ${(r.epoch.stock / 1000).toFixed(2)} s, rmsprop-wasm/tfjs ${(r.epoch.ours / 1000).toFixed(2)} s (${(r.epoch.stock / r.epoch.ours).toFixed(2)}×)`,
    ].join('\n');
  } finally {
    await browser.close();
    server.close();
  }
}

const ms = (ns: number) => (ns / 1e6).toFixed(ns < 1e7 ? 3 : 1);
/** The share of a step that is not the update itself. */
const share = (step: number, core: number) => `${((100 * (step - core)) / step).toFixed(0)} %`;
const table = (header: string[], rows: string[][]) =>
  [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/** Runs the whole benchmark and returns its report (markdown tables). */
export async function tfjsAdapterReport(quick: boolean, progress: (what: string) => void = () => {}): Promise<string> {
  const env = environment();
  const tfjs = await initTfjs();
  const sizes = quick ? [100 * K, 1024 * K] : [100 * K, 1024 * K, 4096 * K];
  const plan: Plan = quick
    ? { rounds: 5, sampleMs: 10, minBatches: 2, warmMs: 20, batchMs: 2, budgetMs: 1500, minRounds: 2 }
    : { rounds: 9, sampleMs: 40, minBatches: 3, warmMs: 100, batchMs: 5, budgetMs: 8000, minRounds: 3 };
  const stepRows: string[][] = [];
  let coreBackend = '';
  for (const backend of BACKENDS) {
    for (const n of sizes) {
      progress(`applyGradients, ${backend}, ${n / K} K`);
      const { variants, coreBackend: name } = await stepVariants(backend, n);
      coreBackend = name;
      const m = await measure(variants, plan);
      for (const v of variants) v.dispose();
      const [stock, ours, core] = [m.stock.nsPerStep, m.ours.nsPerStep, m.core.nsPerStep];
      stepRows.push([
        backend,
        `${n / K} K`,
        ms(stock),
        ms(ours),
        ms(core),
        ms(m.read.nsPerStep),
        ms(m.write.nsPerStep),
        `${(stock / ours).toFixed(1)}×`,
        share(ours, core),
        ms(m.floor.nsPerStep),
        share(m.floor.nsPerStep, core),
      ]);
    }
  }
  const epochRows: string[][] = [];
  const samples = quick ? 256 : 512;
  for (const backend of BACKENDS) {
    progress(`model.fit epochs, ${backend}`);
    const e = await epochs(backend, samples, quick ? 2 : 5);
    epochRows.push([
      backend,
      `${e.parameters}`,
      `${samples} / 32`,
      (e.stockMs / 1000).toFixed(2),
      (e.oursMs / 1000).toFixed(2),
      `${(e.stockMs / e.oursMs).toFixed(2)}×`,
      `${(100 * e.stockShare).toFixed(0)} %`,
      `${(100 * e.oursShare).toFixed(1)} %`,
    ]);
  }
  progress('webgl in Chromium');
  const gpu = await webgl(quick);
  return [
    `TensorFlow.js drop-in (issue 13): ${env}`,
    `${tfjs}; this optimizer's core: backend ${coreBackend}, one thread; ${quick ? 'quick' : 'full'} run`,
    '',
    `applyGradients on one float32 variable, ms per step (medians of ${plan.rounds} interleaved rounds; ours includes reading the gradient and writing the variable)`,
    '',
    table(
      [
        'TF.js backend',
        'parameters',
        'tf.train.rmsprop',
        'rmsprop-wasm/tfjs',
        'its core step alone',
        'reading the gradient in',
        'writing the variable back',
        'speed-up',
        'data movement share of ours',
        'copy in, update, copy out (the floor)',
        'data movement share of the floor',
      ],
      stepRows,
    ),
    '',
    'One model.fit epoch (784-600-32-10 MLP, relu/softmax, categorical cross-entropy, batches of 32), seconds (medians, alternating order)',
    '',
    table(
      [
        'TF.js backend',
        'parameters',
        'rows / batch',
        'tf.train.rmsprop s',
        'rmsprop-wasm/tfjs s',
        'speed-up',
        'stock optimizer share',
        'ours share',
      ],
      epochRows,
    ),
    '',
    gpu,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--webgl')) {
    console.log(await webgl(quick));
    process.exit(0);
  }
  console.log(await tfjsAdapterReport(quick, (what) => process.stderr.write(`${what}\n`)));
}

// The paths real users take with rmsprop-wasm/tfjs, each in a fresh Node process against the built
// package (dist/): in this suite's own process, earlier tests have compiled every wasm build and
// registered every class, which hid each failure below (issue 18). Figures are checked against
// tf.train.rmsprop run in the same child, or against an uninterrupted run of this optimizer.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root, runForJson } from '../support/child.js';
import { AUTO_THREADS } from '../support/helpers.js';
import { firstViolation, freshSquareAverageMismatch, TFJS_PRELUDE } from '../support/tfjs-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'rmsprop-tfjs-fresh-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Failure = { name: string; message: string } | undefined;
const run = <T>(body: string) => runForJson<T>(`${TFJS_PRELUDE}\n${body}`);
/** A child's code that saves `model`, optimizer included, to `file` (JSON, the weights in base64). */
const saveModel = (file: string) => `
      let artifacts;
      await model.save(tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }), { includeOptimizer: true });
      const weightData = Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData)).toString('base64');
      (await import('node:fs')).writeFileSync(${JSON.stringify(file)}, JSON.stringify({ ...artifacts, weightData }));`;
/** A child's code that registers this optimizer's class (unless told not to) and loads `model` from `file` (saveModel's). */
const loadModel = (file: string, register = true) => `
      ${register ? 'tf.serialization.registerClass(RMSPropWasmOptimizer);' : ''}
      const saved = JSON.parse((await import('node:fs')).readFileSync(${JSON.stringify(file)}, 'utf8'));
      const weightData = new Uint8Array(Buffer.from(saved.weightData, 'base64')).buffer;
      const model = await tfl.loadLayersModel(tf.io.fromMemory({ ...saved, weightData }));`;

describe.concurrent('every promise holds in a fresh process', () => {
  it.each([[2], ['auto']])(
    'rmsprop({ threads: %j }) resolves and trains like tf.train.rmsprop, small and large (500 K+ elements) variables',
    async (threads) => {
      const result = await run<{ ours: number[][]; stock: number[][]; threads: number }>(`
      const opt = await rmsprop({ lr: 0.01, threads: ${JSON.stringify(threads)} });
      const train = (optimizer) => {
        const a = tf.variable(tf.randomNormal([1000], 0, 1, 'float32', 2));
        const b = tf.variable(tf.randomNormal([600000], 0, 1, 'float32', 3));
        const loss = () => tf.add(tf.sum(tf.square(a)), tf.sum(tf.square(b)));
        for (let k = 0; k < 2; k++) optimizer.minimize(loss, false, [a]); // 1000 elements: 'auto' takes one thread
        for (let k = 0; k < 2; k++) optimizer.minimize(loss, false, [a, b]); // then 601 000: more
        const kept = [values(a), values(b).slice(0, 1000)];
        tf.dispose([a, b]);
        return kept;
      };
      const ours = train(opt);
      const stock = train(tf.train.rmsprop(0.01, 0.9, 0, 1e-7));
      out({ ours, stock, threads: opt.core.threads });
      opt.dispose();
    `);
      expect(firstViolation(result.ours, result.stock, 4, 0, 0.01)).toBeUndefined();
      // 601 000 elements are past 'auto''s threshold: it takes the machine's cores
      expect(result.threads).toBe(threads === 2 ? 2 : AUTO_THREADS);
    },
    60_000,
  );

  it.each([[{ threads: 'auto' }], [{ threads: 2 }], [{ threads: 'auto', backend: 'wasm' }]])(
    'RMSProp.ready(%j) prepares every size createSync can be given',
    async (options) => {
      const result = await run<{
        before: Failure;
        isNotReady: boolean;
        sizes: Array<{ threads: number; moved: boolean }>;
      }>(`
      const options = ${JSON.stringify(options)};
      let isNotReady = false;
      const before = errorOf(() => {
        try { RMSProp.createSync({ w: 4 }, options); } catch (e) { isNotReady = e instanceof NotReadyError; throw e; }
      });
      await RMSProp.ready(options);
      out({ before, isNotReady, sizes: [1000, 600000].map((n) => {
        const opt = RMSProp.createSync({ w: n }, options);
        opt.grads.w.fill(0.5);
        opt.step();
        const result = { threads: opt.threads, moved: opt.params.w[n - 1] < 0 };
        opt.dispose();
        return result;
      }) });
    `);
      expect(result.before).toMatchObject({
        name: 'NotReadyError',
        message: expect.stringMatching(/is not compiled yet: await RMSProp\.ready/),
      });
      expect(result.isNotReady).toBe(true);
      expect(result.sizes).toEqual([
        { threads: options.threads === 2 ? 2 : 1, moved: true },
        { threads: options.threads === 2 ? 2 : AUTO_THREADS, moved: true },
      ]);
    },
    60_000,
  );

  it('after ready() for one thread, createSync with threads: 2 names the build for threads as not compiled', async () => {
    const result = await run<{ error: Failure }>(`
      await RMSProp.ready();
      out({ error: errorOf(() => RMSProp.createSync({ w: 4 }, { threads: 2 })) });
    `);
    expect(result.error).toMatchObject({
      name: 'NotReadyError',
      message: expect.stringContaining(
        'the shared-memory build (for threads) of backend \'simd\' is not compiled yet: await RMSProp.ready({"backend":"simd","threads":2})',
      ),
    });
  }, 60_000);

  it.each([
    ['saved by this optimizer', '{ lr: 0.01, momentum: 0.9 }'],
    ["saved by this optimizer with threads: 'auto'", "{ lr: 0.01, momentum: 0.9, threads: 'auto' }"],
  ])(
    'a model %s, loaded after registerClass, trains on its first fit, as an uninterrupted run does',
    async (_, options) => {
      const file = join(tmp, `model-${options.length}.json`);
      const fit = 'await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });';
      const whole = await run<number[][]>(`
      const { x, y } = data();
      const model = mlp();
      model.compile({ optimizer: await rmsprop(${options}), loss: 'categoricalCrossentropy' });
      ${fit}
      ${saveModel(file)}
      ${fit}
      out(modelWeights(model));
    `);
      const resumed = await run<{ weights: number[][]; optimizer: string; iterations: number; stateCount: number }>(`
      ${loadModel(file)}
      const { x, y } = data();
      ${fit}
      out({ weights: modelWeights(model), optimizer: model.optimizer.constructor.name, iterations: model.optimizer.iterations,
        stateCount: (await model.optimizer.getWeights()).length });
    `);
      expect(resumed.optimizer).toBe('RMSPropWasmOptimizer');
      expect(resumed.iterations).toBe(8);
      expect(resumed.stateCount).toBe(1 + 2 * 4); // iter, then /rms and /momentum of 4 variables: no duplicate slot
      expect(resumed.weights).toEqual(whole);
    },
    60_000,
  );

  // A program that imports the entry and loads a model this optimizer saved, without registerClass:
  // it got TF.js' own update back, silently (an audit; with centered, NaN where a variance is under
  // ε). Models stock TF.js saved still load as TF.js' own optimizer unless the class is registered.
  it('without registerClass, a model this optimizer saved loads back into it (centered, resumed as uninterrupted); one tf.train.rmsprop saved loads as stock', async () => {
    const ours = join(tmp, 'unregistered-ours.json');
    const stock = join(tmp, 'unregistered-stock.json');
    const fit = 'await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });';
    const whole = await run<number[][]>(`
      const { x, y } = data();
      let model = mlp();
      model.compile({ optimizer: tf.train.rmsprop(0.01, 0.9, 0.9, 1e-7), loss: 'categoricalCrossentropy' });
      ${fit}
      { ${saveModel(stock)} }
      model = mlp();
      model.compile({ optimizer: await rmsprop({ lr: 0.01, momentum: 0.9, centered: true }), loss: 'categoricalCrossentropy' });
      ${fit}
      { ${saveModel(ours)} }
      ${fit}
      out(modelWeights(model));
    `);
    // (the import a program that only loads writes: TypeScript, and Bun's -e, drop one whose names go unused)
    const loaded = await run<{ weights: number[][]; optimizer: string; iterations: number; stock: string }>(`
      import 'rmsprop-wasm/tfjs';
      const { x, y } = data();
      const stockLoaded = await (async () => { ${loadModel(stock, false)} return model; })();
      ${loadModel(ours, false)}
      ${fit}
      out({ weights: modelWeights(model), optimizer: model.optimizer.constructor.name, iterations: model.optimizer.iterations,
        stock: stockLoaded.optimizer.constructor.name });
    `);
    expect(loaded).toEqual({
      weights: whole,
      optimizer: 'RMSPropWasmOptimizer',
      iterations: 8,
      stock: 'RMSPropOptimizer',
    });
  }, 60_000);

  // A program (or library) that put its own class under 'RMSProp' before importing the entry keeps it.
  it("a class someone else registered under 'RMSProp' before the entry's import is left in place", async () => {
    const result = await runForJson<string[]>(`
      import * as tf from '@tensorflow/tfjs-core';
      class Theirs extends tf.RMSPropOptimizer {}
      tf.serialization.registerClass(Theirs);
      const entry = () => tf.serialization.SerializationMap.getMap().classNameMap.RMSProp[0];
      const before = entry() === Theirs;
      await import('rmsprop-wasm/tfjs');
      console.log(JSON.stringify([before, entry() === Theirs]));`);
    expect(result).toEqual([true, true]);
  });

  // The ema option through a save: the config carries it; the averages are not among the stock
  // weights, so the loaded model's start again at its first step.
  it('a model trained with ema, saved and loaded in a new process, keeps ema; its averages start at its first step', async () => {
    const file = join(tmp, 'ema.json');
    const first = await run<{ swapped: boolean }>(`
      const { x, y } = data();
      const model = mlp();
      model.compile({ optimizer: await rmsprop({ lr: 0.01, ema: 0.9 }), loss: 'categoricalCrossentropy' });
      await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
      const trained = modelWeights(model);
      model.optimizer.swapAverages();
      const swapped = JSON.stringify(modelWeights(model)) !== JSON.stringify(trained);
      model.optimizer.swapAverages();
      ${saveModel(file)}
      out({ swapped });
    `);
    expect(first.swapped).toBe(true);
    const resumed = await run<{ ema: number; refused: Failure; weights: number[][]; averages: number[][] }>(`
      ${loadModel(file)}
      const { x, y } = data();
      const refused = errorOf(() => model.optimizer.swapAverages());
      await model.fit(x, y, { epochs: 1, batchSize: 64, shuffle: false, verbose: 0 });
      const weights = modelWeights(model);
      model.optimizer.swapAverages();
      out({ ema: model.optimizer.options.ema, refused, weights, averages: modelWeights(model) });
    `);
    expect(resumed.ema).toBe(0.9);
    expect(resumed.refused).toMatchObject({
      name: 'RangeError',
      message: expect.stringMatching(/no variable has an average yet/),
    });
    expect(resumed.averages).toEqual(resumed.weights); // one step: each average is that step's weights
  }, 60_000);

  // The old head disposed before the new one's first step: the loaded state waiting for it went by
  // position to the new head (which started afresh only while the old head was alive).
  it("a loaded model's head replaced, the old one disposed first: the new head starts afresh, the old head's state is dropped", async () => {
    const file = join(tmp, 'head.json');
    await run(`
      const { x, y } = data();
      const model = mlp();
      model.compile({ optimizer: await rmsprop({ lr: 0.01 }), loss: 'meanSquaredError' });
      await model.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
      ${saveModel(file)}
      out(true);
    `);
    const result = await run<{ names: string[]; old: string[]; rms: number[]; expected: number[] }>(`
      ${loadModel(file)}
      const oldHead = model.layers[1];
      const old = (await model.optimizer.getWeights()).map((w) => w.name).filter((name) => name.startsWith(oldHead.name + '/'));
      model.pop();
      tf.dispose(oldHead.getWeights());
      model.add(tfl.layers.dense({ name: 'newhead', units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 9 }) }));
      model.compile({ optimizer: model.optimizer, loss: 'meanSquaredError' });
      const { x, y } = data();
      // fresh state after one step of the whole batch: S = (1 − 0.9)·g²
      const kernel = model.layers[1].getWeights()[0];
      const { grads } = tf.variableGrads(() => tf.losses.meanSquaredError(y, model.predict(x)), [kernel]);
      const expected = values(grads[kernel.name]).map((g) => 0.1 * g * g);
      await model.fit(x, y, { epochs: 1, batchSize: 64, shuffle: false, verbose: 0 });
      const weights = await model.optimizer.getWeights();
      out({ names: weights.map((w) => w.name), old, expected,
        rms: values(weights.find((w) => w.name === 'newhead/kernel/rms').tensor) });
    `);
    expect(result.old.length).toBeGreaterThan(0);
    for (const name of result.old) expect(result.names).not.toContain(name);
    expect(result.rms.length).toBe(16 * 3);
    expect(freshSquareAverageMismatch(result.rms, result.expected)).toBeUndefined();
  }, 60_000);

  // As fromConfig makes it, and as a tf.train.rmsprop user writes it: new, and training at once. In the
  // second and third, options set on the js core before the move (an lr, or a schedule's) stay, as they
  // stay on a core made at the start, and so does the state of a variable re-created at the move; in
  // the fourth, the moving averages move too.
  it.each([
    ['{ lr: 0.1 }', 'stock'],
    ["{ lr: 0.01, momentum: 0.9, centered: true, stateFormat: '8bit', threads: 2 }", 'lr set on the core'],
    [
      '{ lr: schedules.exponentialDecay({ initial: 0.02, decaySteps: 1, decayRate: 0.5 }), momentum: 0.9, threads: 2 }',
      'lr set on the core, b re-created',
    ],
    ["{ lr: 0.01, ema: 0.9, stateFormat: 'bfloat16' }", 'averages'],
  ])(
    'an optimizer made with new %s trains at once: on js until its wasm is compiled, then on simd, bit for bit as one awaited (%s)',
    async (options, variant) => {
      const result = await run<{
        backends: string[];
        ours: string[];
        awaited: string[];
        stock: number[][];
        weights: number[][];
      }>(`
      const { schedules } = await import('rmsprop-wasm');
      const bits = (t) => Buffer.from(new Float32Array(t.dataSync()).buffer).toString('hex');
      const variant = ${JSON.stringify(variant)};
      const b = (run) => tf.variable(tf.tensor1d([0.5, -1, 2]), true, 'b' + run);
      const loss = ([a, b]) => () => tf.add(tf.sum(tf.mul(tf.square(a), tf.linspace(0.1, 3, 5000))), tf.sum(tf.square(b)));
      const train = async (optimizer, whileCompiling, run) => {
        const vs = [tf.variable(tf.randomNormal([5000], 0, 1, 'float32', 4)), b(run)], backends = [];
        for (let k = 0; k < 4; k++) {
          if (k === whileCompiling) await optimizer.ready(); // (a step of model.fit does not wait for a compile)
          if (k === 1 && variant !== 'stock') optimizer.core.setOptions(0, { lr: 0.03 });
          if (k === 2 && variant.endsWith('re-created')) { vs[1].dispose(); vs[1] = b(run); }
          optimizer.minimize(loss(vs));
          backends.push(optimizer.core ? optimizer.core.backend + '/' + optimizer.core.threads : 'stock');
        }
        if (variant === 'averages') optimizer.swapAverages(); // (the averages, moved too, are then compared)
        return { vs, backends };
      };
      const ours = await train(new RMSPropWasmOptimizer(${options}), 2, 'ours');
      const awaited = await train(await rmsprop(${options}), -1, 'awaited');
      const stock = variant === 'stock' ? await train(tf.train.rmsprop(0.1, 0.9, 0, 1e-7), -1, 'stock') : awaited;
      out({ backends: ours.backends, ours: ours.vs.map(bits), awaited: awaited.vs.map(bits),
        stock: stock.vs.map((v) => Array.from(v.dataSync())), weights: ours.vs.map((v) => Array.from(v.dataSync())) });
    `);
      const threads = options.includes('threads: 2') ? 2 : 1;
      expect(result.backends).toEqual(['js/1', 'js/1', `simd/${threads}`, `simd/${threads}`]);
      expect(result.ours).toEqual(result.awaited);
      if (variant === 'stock') expect(firstViolation(result.weights, result.stock, 4, 0, 0.1)).toBeUndefined();
    },
    60_000,
  );
});

describe.concurrent('a refused call changes nothing', () => {
  it('applyGradients (a new variable with an unknown name; a NaN after a variable joined), minimize and setWeights refused: state, slots and tensors as if never called', async () => {
    const result = await run<{
      errors: Failure[];
      tensorsKept: boolean;
      beforeEqual: boolean;
      names: string[];
      refNames: string[];
      state: number[][];
      refState: number[][];
      params: number[][];
      refParams: number[][];
    }>(`
      const options = { lr: 0.01, momentum: 0.9, nonFinite: 'throw' };
      const opt = await rmsprop(options);
      const ref = await rmsprop(options);
      const make = () => [tf.variable(tf.tensor1d([0.5, -1, 2])), tf.variable(tf.tensor1d([1, 2])), tf.variable(tf.tensor1d([3, -3, 1, 0.25]))];
      const [a, b, c] = make();
      const [ra, rb, rc] = make();
      const grads = (vs, scale) => Object.fromEntries(vs.map((v, i) => [v.name, tf.fill(v.shape, scale * (i + 1))]));
      const both = (vs, rvs, scale) => {
        opt.applyGradients(grads(vs, scale));
        ref.applyGradients(grads(rvs, scale));
      };
      both([a, b], [ra, rb], 0.5);
      const before = (await opt.getWeights()).map((w) => values(w.tensor));
      const tensors = tf.memory().numTensors;
      const g = grads([a, c], 1);
      const nan = { [a.name]: g[a.name], [c.name]: tf.fill([4], NaN) };
      const negative = [{ name: 'iter', tensor: tf.scalar(9, 'int32') },
        ...['rms', 'momentum'].flatMap((kind) => [a, b].map((v) => ({ name: v.name + '/' + kind, tensor: tf.fill(v.shape, -1) })))];
      const errors = [
        errorOf(() => opt.applyGradients({ [c.name]: g[c.name], typo: g[a.name] })),
        errorOf(() => opt.applyGradients(nan)),
        errorOf(() => opt.minimize(() => tf.sum(tf.mul(c, tf.scalar(NaN))), false, [a, c])),
        await asyncErrorOf(() => opt.setWeights(negative)),
      ];
      tf.dispose([...Object.values(g), ...Object.values(nan), ...negative.map((w) => w.tensor)]);
      const tensorsKept = tf.memory().numTensors === tensors;
      const unchanged = (await opt.getWeights()).map((w) => values(w.tensor));
      both([a, b, c], [ra, rb, rc], 0.25);
      const weights = await opt.getWeights();
      const refWeights = await ref.getWeights();
      const strip = (w) => (w.name === 'iter' ? 'iter' : w.name.slice(w.name.lastIndexOf('/')));
      out({ errors, tensorsKept, beforeEqual: JSON.stringify(before) === JSON.stringify(unchanged),
        names: weights.map(strip), refNames: refWeights.map(strip),
        state: weights.map((w) => values(w.tensor)), refState: refWeights.map((w) => values(w.tensor)),
        params: [a, b, c].map(values), refParams: [ra, rb, rc].map(values) });
    `);
    expect(result.errors.map((e) => e?.name)).toEqual(['TypeError', 'RangeError', 'RangeError', 'RangeError']);
    expect(result.errors[0]!.message).toMatch(/'typo' is not the name of a tf\.Variable/);
    expect(result.errors[1]!.message).toMatch(/NaN/);
    expect(result.errors[3]!.message).toMatch(/\/rms' \(a square average\) has -1/);
    expect(result).toMatchObject({ tensorsKept: true, beforeEqual: true });
    expect(result.names).toEqual(['iter', '/rms', '/rms', '/rms', '/momentum', '/momentum', '/momentum']);
    expect(result.names).toEqual(result.refNames);
    expect(result.state).toEqual(result.refState);
    expect(result.params).toEqual(result.refParams);
  }, 60_000);
});

describe.concurrent('variables that come and go, as TF.js has them', () => {
  it('a variable disposed and re-created under its name is updated with the state tf.train.rmsprop gives it; a gradient for a disposed one is refused; no tensor is kept', async () => {
    const result = await run<{
      ours: number[][];
      stock: number[][];
      disposedError: Failure;
      stockThrows: boolean;
      leaked: number;
      leakedBytes: number;
    }>(`
      const train = (optimizer, refuse) => {
        const { numTensors: tensors, numBytes: bytes } = tf.memory();
        const variable = (init, name) => tf.tidy(() => tf.variable(tf.tensor1d(init), true, name)); // tidy keeps variables
        let w = variable([0.5, -1, 2], 'come-and-go');
        const other = variable([1, 1], 'stays');
        const loss = () => tf.add(tf.sum(tf.square(w)), tf.sum(tf.square(other)));
        for (let k = 0; k < 3; k++) optimizer.minimize(loss, false, [w, other]);
        const first = values(w);
        w.dispose();
        const g = [tf.ones([3]), tf.ones([2])];
        const disposedError = refuse ? errorOf(() => optimizer.applyGradients([{ name: 'come-and-go', tensor: g[0] }, { name: 'stays', tensor: g[1] }])) : undefined;
        const afterRefusal = values(other);
        w = variable(first, 'come-and-go'); // the same values under the same name
        for (let k = 0; k < 3; k++) optimizer.minimize(loss, false, [w, other]);
        const kept = [values(w), values(other), afterRefusal];
        tf.dispose([w, other, ...g]);
        return { kept, disposedError, leaked: tf.memory().numTensors - tensors, leakedBytes: tf.memory().numBytes - bytes };
      };
      const opt = await rmsprop({ lr: 0.01 });
      const ours = train(opt, true);
      opt.dispose();
      const stock = train(tf.train.rmsprop(0.01, 0.9, 0, 1e-7), false);
      // stock TF.js with a gradient for a disposed variable
      const stockOptimizer = tf.train.rmsprop(0.01, 0.9, 0, 1e-7);
      const v = tf.variable(tf.tensor1d([1, 2]), true, 'disposed-for-stock');
      const gv = tf.ones([2]);
      stockOptimizer.applyGradients({ 'disposed-for-stock': gv });
      v.dispose();
      const stockError = errorOf(() => stockOptimizer.applyGradients({ 'disposed-for-stock': gv }));
      out({ ours: ours.kept, stock: stock.kept, disposedError: ours.disposedError, stockThrows: stockError !== undefined, leaked: ours.leaked, leakedBytes: ours.leakedBytes });
    `);
    // stock TF.js updates the new variable with the accumulators of its position: the same result
    // (had the state restarted, the first of the next 3 steps alone would move it by lr/√0.1 = 0.032 again: far outside)
    expect(firstViolation(result.ours.slice(0, 2), result.stock.slice(0, 2), 6, 0, 0.01)).toBeUndefined();
    expect(result.disposedError).toMatchObject({
      name: 'TypeError',
      message: expect.stringMatching(/'come-and-go' was disposed/),
    });
    expect(result.stockThrows).toBe(true); // "Argument 'a' passed to 'sub' must be a Tensor…", after changing its state
    expect(firstViolation([result.ours[2]], [result.stock[2]], 3, 0, 0.01)).toBeUndefined(); // the refused call moved nothing
    expect([result.leaked, result.leakedBytes]).toEqual([0, 0]);
  }, 60_000);
});

describe.concurrent('saves', () => {
  it('two saves in flight both succeed with the same bytes, and 1 000 saves (a step every 100) keep no tensor', async () => {
    const result = await run<{ settled: string[]; same: boolean; tensors: number[] }>(`
      const { x, y } = data();
      const model = mlp();
      model.compile({ optimizer: await rmsprop({ lr: 0.01, centered: true }), loss: 'categoricalCrossentropy' });
      await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
      const save = () => {
        let bytes;
        return model.save(tf.io.withSaveHandler(async (a) => {
          bytes = Buffer.from(tf.io.CompositeArrayBuffer.join(a.weightData)).toString('base64');
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }), { includeOptimizer: true }).then(() => bytes);
      };
      const settled = await Promise.allSettled([save(), save(), save()]);
      const tensors = [tf.memory().numTensors];
      for (let k = 1; k <= 1000; k++) {
        if (k % 100 === 0) await model.trainOnBatch(x, y);
        await save();
        if (k % 100 === 0) tensors.push(tf.memory().numTensors);
      }
      out({ settled: settled.map((s) => s.status + (s.reason ? ': ' + s.reason.message : '')),
        same: settled.every((s) => s.value === settled[0].value), tensors });
    `);
    expect(result.settled).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(result.same).toBe(true);
    expect(new Set(result.tensors).size, `tensors after every 100 saves: ${result.tensors}`).toBe(1);
  }, 120_000);

  // getWeights' tensors were disposed by the next step, while model.save still read them: 5 of 20
  // such saves succeeded ("Tensor is disposed."); tf.train.rmsprop's weights are its variables.
  it('a checkpoint started in onBatchEnd, not awaited, succeeds while training goes on, as with tf.train.rmsprop', async () => {
    const result = await run<string[][]>(`
      const { x, y } = data();
      const handler = tf.io.withSaveHandler(async () => ({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }));
      const outcomes = [];
      for (const optimizer of [tf.train.rmsprop(0.01, 0.9, 0.9, 1e-7), await rmsprop({ lr: 0.01, momentum: 0.9 })]) {
        const model = mlp();
        model.compile({ optimizer, loss: 'categoricalCrossentropy' });
        const saves = [];
        const onBatchEnd = () => {
          Promise.resolve().then(() => Promise.resolve()).then(() =>
            saves.push(model.save(handler, { includeOptimizer: true }).then(() => 'saved', (e) => e.message)));
        };
        await model.fit(x, y, { epochs: 5, batchSize: 16, shuffle: false, verbose: 0, callbacks: { onBatchEnd } });
        await new Promise((resolve) => setTimeout(resolve, 20));
        outcomes.push(await Promise.all(saves));
      }
      out(outcomes);`);
    const [stock, ours] = result;
    expect(stock).toEqual(Array(20).fill('saved'));
    expect(ours).toEqual(stock);
  }, 60_000);
});

// Saved weights are matched to a loaded model's variables by position, in the order its gradients
// come. A model whose variables changed under the optimizer (a layer frozen or unfrozen, a model
// rebuilt) once saved them in the order they were first seen, with the state of disposed ones
// first: the loaded model could not train, or silently took another variable's state.
describe.concurrent('a model saved after its variables changed resumes in a new process as the uninterrupted run', () => {
  const fitOnce = '{ epochs: 1, batchSize: 16, shuffle: false, verbose: 0 }';
  const compile = (model: string) => `${model}.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });`;
  const flows: Record<string, (make: string) => string> = {
    'a layer unfrozen': (make) =>
      `let model = ${make}(); model.layers[0].trainable = false; ${compile('model')}
       await model.fit(x, y, ${fitOnce});
       model.layers[0].trainable = true; ${compile('model')}
       await model.fit(x, y, ${fitOnce});`,
    'a layer frozen': (make) =>
      `let model = ${make}(); ${compile('model')}
       await model.fit(x, y, ${fitOnce});
       model.layers[0].trainable = false; ${compile('model')}
       await model.fit(x, y, ${fitOnce});`,
    'a model rebuilt with the same optimizer': (make) =>
      `let model = ${make}(); ${compile('model')}
       await model.fit(x, y, ${fitOnce});
       model.dispose(); model = ${make}(); ${compile('model')}
       await model.fit(x, y, ${fitOnce});
       await model.fit(x, y, ${fitOnce}); // (the disposed model's state is not the new one's)`,
    'an optimizer shared with another model, which stepped last (state matched by name)': (make) =>
      `let model = ${make}(); ${compile('model')}
       const other = ${make}(); ${compile('other')}
       await model.fit(x, y, ${fitOnce});
       await other.fit(x, y, ${fitOnce});
       await other.fit(x, y, ${fitOnce});`,
  };
  // 8-bit state (tensors from 4 096 elements): stochastic rounding's random bits follow each
  // variable's name, so the loaded copy, laid out otherwise, rounds as the uninterrupted run did
  const wide = `() => tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [8], units: 512, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }) }),
    tfl.layers.dense({ units: 16, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 9 }) }),
    tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 8 }) }),
  ] })`;
  it.each([
    ...Object.keys(flows).map((name) => [name, 'float32'] as const),
    ['a layer frozen', '8bit'] as const,
    ['an optimizer shared with another model, which stepped last (state matched by name)', 'bfloat16'] as const,
  ])(
    '%s (%s state)',
    async (name, stateFormat) => {
      const dir = mkdtempSync(join(tmp, 'changed-'));
      const files = (file: string) => JSON.stringify(join(dir, file));
      const make = stateFormat === 'float32' ? 'mlp' : 'wide';
      const uninterrupted = await run<number[][]>(`
      const { writeFileSync } = await import('node:fs');
      const { x, y } = data();
      const wide = ${wide};
      const opt = await rmsprop({ lr: 0.01, momentum: 0.9, stateFormat: '${stateFormat}' });
      ${flows[name](make)}
      await model.save(tf.io.withSaveHandler(async ({ weightData, ...json }) => {
        writeFileSync(${files('model.json')}, JSON.stringify(json));
        writeFileSync(${files('weights.bin')}, new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData)));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }), { includeOptimizer: true });
      await model.fit(x, y, ${fitOnce});
      out(modelWeights(model));`);
      const resumed = await run<number[][]>(`
      const { readFileSync } = await import('node:fs');
      tf.serialization.registerClass(RMSPropWasmOptimizer);
      const json = JSON.parse(readFileSync(${files('model.json')}, 'utf8'));
      const weightData = new Uint8Array(readFileSync(${files('weights.bin')})).buffer;
      const model = await tfl.loadLayersModel(tf.io.fromMemory({ ...json, weightData }));
      const { x, y } = data();
      await model.fit(x, y, ${fitOnce});
      out(modelWeights(model));`);
      expect(resumed).toEqual(uninterrupted);
    },
    60_000,
  );
});

// Fine-tuning as users do it: a model saved with its optimizer, loaded in a new process, its first
// layer (or all of it) frozen and a head added. The head took the frozen layer's state by position
// (or threw a RangeError for another shape), and the layer, unfrozen, started afresh.
describe.concurrent('fine-tuning a loaded model in a new process', () => {
  it.each([['the first layer'], ['every layer']])(
    '%s frozen, a head added: the frozen state waits untouched, the head starts afresh, no name twice',
    async (frozen) => {
      const dir = mkdtempSync(join(tmp, 'tune-'));
      const files = (name: string) => JSON.stringify(join(dir, name));
      const saved = await run<number[]>(`
      const { writeFileSync } = await import('node:fs');
      const { x, y } = data();
      const model = mlp();
      model.compile({ optimizer: await rmsprop({ lr: 0.01, momentum: 0.9 }), loss: 'categoricalCrossentropy' });
      await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
      await model.save(tf.io.withSaveHandler(async ({ weightData, ...json }) => {
        writeFileSync(${files('model.json')}, JSON.stringify(json));
        writeFileSync(${files('weights.bin')}, new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData)));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }), { includeOptimizer: true });
      const weights = await model.optimizer.getWeights();
      out(values(weights.find((w) => w.name === 'dense_Dense1/kernel/rms').tensor));`);
      const tuned = await run<{ waiting: number[]; head: boolean; names: string[] }>(`
      const { readFileSync } = await import('node:fs');
      tf.serialization.registerClass(RMSPropWasmOptimizer);
      const json = JSON.parse(readFileSync(${files('model.json')}, 'utf8'));
      const weightData = new Uint8Array(readFileSync(${files('weights.bin')})).buffer;
      const model = await tfl.loadLayersModel(tf.io.fromMemory({ ...json, weightData }));
      const base = ${frozen === 'every layer' ? 'model.layers' : 'model.layers.slice(0, 1)'};
      for (const layer of base) layer.trainable = false;
      model.add(tfl.layers.dense({ name: 'head', units: 3, activation: 'softmax' }));
      const { x, y } = data();
      const fit = () => model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
      model.compile({ optimizer: model.optimizer, loss: 'categoricalCrossentropy' });
      await fit();
      const weights = await model.optimizer.getWeights();
      const waiting = values(weights.find((w) => w.name === 'dense_Dense1/kernel/rms').tensor);
      const head = weights.some((w) => w.name === 'head/kernel/rms');
      for (const layer of base) layer.trainable = true;
      model.compile({ optimizer: model.optimizer, loss: 'categoricalCrossentropy' });
      await fit();
      out({ waiting, head, names: (await model.optimizer.getWeights()).map((w) => w.name) });`);
      expect(tuned.waiting).toEqual(saved);
      expect(tuned.head).toBe(true);
      expect(new Set(tuned.names).size).toBe(tuned.names.length);
    },
    60_000,
  );
});

describe.concurrent("docs/tfjs.md's saving in Node, run as a newcomer runs it", () => {
  const guide = readFileSync(join(root, 'docs/tfjs.md'), 'utf8');
  const section = guide.slice(
    guide.indexOf('## Saving and loading'),
    guide.indexOf('\n## ', guide.indexOf('## Saving and loading') + 5),
  );

  it('saves and loads a model in Node without tfjs-node, with the optimizer and its state', async () => {
    const snippet = [...section.matchAll(/```js\n([\s\S]*?)```/g)]
      .map(([, code]) => code)
      .find((code) => code.includes('withSaveHandler'));
    expect(snippet, 'a ```js block with tf.io.withSaveHandler').toBeDefined();
    const dir = mkdtempSync(join(tmp, 'newcomer-'));
    // The snippet is a whole program (it trains, saves, registers the class and loads); it runs in a folder of its own.
    const setup = `process.chdir(${JSON.stringify(dir)});`;
    const check = `
      const { readdirSync } = await import('node:fs');
      const before = (await model.optimizer.getWeights()).map((w) => values(w.tensor));
      const after = (await loaded.optimizer.getWeights()).map((w) => values(w.tensor));
      const { x, y } = data();
      const history = await loaded.fit(x, y, { epochs: 2, batchSize: 64, verbose: 0 });
      out({ optimizer: loaded.optimizer.constructor.name, same: JSON.stringify(before) === JSON.stringify(after),
        trained: history.history.loss[1] < history.history.loss[0], files: readdirSync('.').sort() });`;
    const code = snippet!.replace(/^import .* from '(@tensorflow|rmsprop-wasm)[^']*';$/gm, '');
    const result = await run<{ optimizer: string; same: boolean; trained: boolean; files: string[] }>(
      `${setup}\n${code}\n${check}`,
    );
    expect(result).toEqual({
      optimizer: 'RMSPropWasmOptimizer',
      same: true,
      trained: true,
      files: ['model.json', 'weights.bin'],
    });
  }, 60_000);

  it("quotes the errors a newcomer meets: model.save('file://…') without tfjs-node, and a forgotten await", async () => {
    const result = await run<{ save: Failure; await: Failure }>(`
      const model = mlp();
      const save = await asyncErrorOf(() => model.save('file://./my-model'));
      const forgotten = await asyncErrorOf(() => model.compile({ optimizer: rmsprop({ lr: 0.01 }), loss: 'meanSquaredError' }));
      out({ save, await: forgotten });
    `);
    const prose = guide.replace(/\s+/g, ' ');
    expect(prose).toContain(result.save!.message.replace('./my-model', '…'));
    expect(prose).toContain(result.await!.message);
  }, 60_000);
});

// Bad input gets a TypeError or RangeError that names the culprit, before anything is written.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { sharedSpans, type Span } from '../../src/inputs.js';
import { encodeState, PRESETS, RMSProp, type RMSPropOptions, schedules } from '../../src/index.js';
import { moduleArgs } from '../support/child.js';
import { root } from '../support/pack.js';
import { BACKENDS, snapshot } from '../support/helpers.js';

type ErrorClass = typeof TypeError | typeof RangeError;

const badOptions: Array<[string, Record<string, unknown>, ErrorClass, RegExp]> = [
  ['negative lr', { lr: -1e-3 }, RangeError, /'lr'.*-0\.001/],
  ['NaN lr', { lr: NaN }, RangeError, /'lr'.*NaN/],
  ['infinite lr', { lr: Infinity }, RangeError, /'lr'.*Infinity/],
  ['-∞ lr', { lr: -Infinity }, RangeError, /'lr'.*-Infinity/],
  ['string lr', { lr: '0.1' }, TypeError, /'lr'.*"0\.1"/],
  ['zero eps', { eps: 0 }, RangeError, /'eps'.*0/],
  ['-0 eps (named as -0, not 0)', { eps: -0 }, RangeError, /'eps'.*got -0$/],
  ['negative eps', { eps: -1e-8 }, RangeError, /'eps'.*-1e-8/],
  ['NaN eps', { eps: NaN }, RangeError, /'eps'.*NaN/],
  ['infinite eps', { eps: Infinity }, RangeError, /'eps'.*Infinity/],
  ['decay 1', { decay: 1 }, RangeError, /'decay'.*1/],
  ['negative decay', { decay: -0.1 }, RangeError, /'decay'.*-0\.1/],
  ['NaN decay', { decay: NaN }, RangeError, /'decay'.*NaN/],
  ['momentum 1', { momentum: 1 }, RangeError, /'momentum'.*1/],
  ['negative momentum', { momentum: -0.5 }, RangeError, /'momentum'.*-0\.5/],
  ['negative weightDecay', { weightDecay: -0.01 }, RangeError, /'weightDecay'.*-0\.01/],
  ['NaN weightDecay', { weightDecay: NaN }, RangeError, /'weightDecay'.*NaN/],
  ['negative initialSquareAvg', { initialSquareAvg: -1 }, RangeError, /'initialSquareAvg'.*-1/],
  ['nesterov without momentum', { nesterov: true }, RangeError, /'nesterov'.*momentum/],
  ['non-boolean centered', { centered: 1 }, TypeError, /^option 'centered' must be a boolean, got 1$/],
  ['typo learningRate', { learningRate: 0.1 }, TypeError, /unknown option 'learningRate'/],
  ['typo Lr', { Lr: 0.1 }, TypeError, /unknown option 'Lr'/],
  ['unknown preset', { preset: 'adam' }, TypeError, /'preset'.*"adam"/],
  ['unknown backend', { backend: 'gpu' }, TypeError, /'backend'.*"gpu"/],
  ['clipValue 0', { clipValue: 0 }, RangeError, /'clipValue'.*> 0.*got 0$/],
  ['negative clipValue', { clipValue: -1 }, RangeError, /'clipValue'.*-1/],
  ['clipNorm 0', { clipNorm: 0 }, RangeError, /'clipNorm'.*> 0.*got 0$/],
  ['NaN clipNorm', { clipNorm: NaN }, RangeError, /'clipNorm'.*NaN/],
  ['string clipNorm', { clipNorm: '1' }, TypeError, /'clipNorm'.*"1"/],
  ['globalClipNorm 0', { globalClipNorm: 0 }, RangeError, /'globalClipNorm'.*> 0.*got 0$/],
  ['negative globalClipNorm', { globalClipNorm: -2 }, RangeError, /'globalClipNorm'.*-2/],
  ['unknown nonFinite', { nonFinite: 'ignore' }, TypeError, /'nonFinite'.*"ignore"/],
  ['unknown stateFormat', { stateFormat: 'int8' }, TypeError, /'stateFormat'.*"int8"/],
];

describe('create rejects bad options', () => {
  it.each(badOptions)('%s', async (_, options, errorClass, message) => {
    const w = new Float32Array([1, 2, 3]);
    const before = snapshot([w]);
    const attempt = RMSProp.create({ w }, options as RMSPropOptions);
    await expect(attempt).rejects.toThrow(errorClass);
    await expect(attempt).rejects.toThrow(message);
    expect(snapshot([w])).toEqual(before);
  });

  it("a group's bad option names the group", async () => {
    const groups = [{ params: { a: 1 } }, { params: { b: 1 } }, { params: { c: 1 }, decay: 1 }];
    await expect(RMSProp.create(groups)).rejects.toThrow(
      new RangeError("group 2: option 'decay' must be in [0, 1), got 1"),
    );
    await expect(RMSProp.create([{ params: { a: 1 } }, { params: { b: 1 }, nesterov: true }])).rejects.toThrow(
      new RangeError("group 1: option 'nesterov' needs option 'momentum' > 0, got momentum 0"),
    );
    // a getter's own error, in setOptions of several groups: the cause, not rewritten (the caller's object)
    const opt = await RMSProp.create([{ params: { a: 1 } }, { params: { b: 1 } }]);
    const own = new TypeError('not yet');
    const changes = {
      get lr(): number {
        throw own;
      },
    };
    expect(() => opt.setOptions(1, changes)).toThrow(new TypeError('group 1: not yet'));
    expect(own.message).toBe('not yet');
    try {
      opt.setOptions(1, changes);
    } catch (error) {
      expect((error as Error).cause).toBe(own);
    }
    // a subclass of the caller's own passes as it is (a review: it came back a plain TypeError)
    class ConfigError extends TypeError {}
    const mine = new ConfigError('not set');
    expect(() =>
      opt.setOptions(1, {
        get lr(): number {
          throw mine;
        },
      }),
    ).toThrow(mine);
    opt.dispose();
    // the defaults' own fault, in groups of no options of their own, names no group
    await expect(RMSProp.create([{ params: { a: 1 } }, { params: { b: 1 } }], { nesterov: true })).rejects.toThrow(
      new RangeError("option 'nesterov' needs option 'momentum' > 0, got momentum 0"),
    );
  });

  it('rejects options that are not an object', async () => {
    await expect(RMSProp.create({ w: 1 }, 0.01 as unknown as RMSPropOptions)).rejects.toThrow(TypeError);
    // a typed array's indices are not options (a fuzzer's setOptions(0, gradient) said "unknown option '0'")
    const opt = await RMSProp.create({ w: 2 });
    expect(() => opt.setOptions(0, new Float32Array(2) as never)).toThrow(
      /^changes must be an object of options, got a Float32Array/,
    );
    await expect(RMSProp.create({ w: 1 }, new Float32Array(1) as never)).rejects.toThrow(
      /^options must be an object of options, got a Float32Array/,
    );
    // a Map or a Set has no keys of its own: taken, it read as no options (a review: a Set was)
    for (const collection of [new Map([['lr', 0.5]]), new Set(['lr'])]) {
      const name = collection.constructor.name;
      await expect(RMSProp.create({ w: 1 }, collection as never)).rejects.toThrow(
        new TypeError(`options must be an object of options, got a ${name}`),
      );
      await expect(RMSProp.ready(collection as never)).rejects.toThrow(
        new TypeError(`options must be an object of options, got a ${name}`),
      );
      expect(() => opt.setOptions(0, collection as never)).toThrow(
        new TypeError(`changes must be an object of options, got a ${name}`),
      );
      expect(() => opt.saveState(collection as never)).toThrow(
        new TypeError(`saveState options must be an object, got a ${name}`),
      );
      expect(() => opt.loadState(opt.saveState(), collection as never)).toThrow(
        new TypeError(`loadState options must be an object, got a ${name}`),
      );
      expect(() => opt.setState('w', collection as never)).toThrow(
        new TypeError(`setState: values must be an object of Float32Arrays, got a ${name}`),
      );
      expect(() => schedules.stepDecay(collection as never)).toThrow(
        new TypeError(`stepDecay needs an object of options, got a ${name}`),
      );
    }
    opt.dispose();
  });

  // A forgotten await: a Promise read as a record holds no gradients, and the step counted (with
  // emaOverwriteEvery it overwrote the parameters with their averages; an audit's fuzzer).
  it('objects that hold no keys of their own (a Promise, a Date, …) are no gradients, changes or values', async () => {
    const opt = await RMSProp.create({ w: 3 }, { ema: 0.5, emaOverwriteEvery: 1 });
    opt.params.w.set([1, 2, 3]);
    opt.grads.w.fill(0.5);
    opt.step();
    const before = snapshot([opt.params.w, opt.grads.w, opt.state.w.squareAvg]);
    const revision = opt.revision;
    const later = Promise.resolve({ w: new Float32Array(3) });
    // and the same from another realm (a vm context's, an iframe's), where instanceof says no
    class TaggedMap extends Map {
      get [Symbol.toStringTag]() {
        return 'Grads';
      }
    }
    const [otherLater, otherMap] = runInNewContext(
      '[Promise.resolve({ w: new Float32Array(3) }), new Map([["w", 1]])]',
    );
    for (const [bad, named] of [
      [later, 'a Promise (await it first)'],
      [new Date(0), 'a Date'],
      [new WeakMap(), 'a WeakMap'],
      [/w/, 'a RegExp'],
      [otherLater, 'a Promise (await it first)'],
      [otherMap, 'a Map'],
      [new TaggedMap(), 'a Grads'], // a Map by instanceof, whatever its tag says
    ] as const) {
      expect(() => opt.step(bad as never)).toThrow(
        new TypeError(`grads must be a record or an array of Float32Arrays, got ${named}`),
      );
      expect(() => opt.setOptions(0, bad as never)).toThrow(
        new TypeError(`changes must be an object of options, got ${named}`),
      );
      expect(() => opt.setState('w', bad as never)).toThrow(
        new TypeError(`setState: values must be an object of Float32Arrays, got ${named}`),
      );
    }
    // a saved state, a PyTorch dict or a checkpoint to encode not awaited
    const saved = Promise.resolve(opt.saveState());
    expect(() => opt.loadState(saved as never)).toThrow(
      new TypeError('saved state must be an object, got a Promise (await it first)'),
    );
    expect(() => opt.fromTorchStateDict(saved as never)).toThrow(
      new TypeError('a torch state dict must be an object, got a Promise (await it first)'),
    );
    expect(() => encodeState(saved as never)).toThrow(
      new TypeError('encodeState needs a saved state object, got a Promise (await it first)'),
    );
    expect(() => opt.loadState(runInNewContext('Promise.resolve({})'))).toThrow(
      new TypeError('saved state must be an object, got a Promise (await it first)'),
    );
    expect(snapshot([opt.params.w, opt.grads.w, opt.state.w.squareAvg])).toEqual(before);
    expect([opt.stepCount, opt.revision]).toEqual([1, revision]);
    // and a class's instance is named by its class (a tf.Tensor where a Float32Array belongs)
    class Tensor {}
    expect(() => opt.step({ w: new Tensor() as never })).toThrow(
      new TypeError("gradient 'w' must be a Float32Array, got a Tensor"),
    );
    opt.dispose();
  });
});

/** [first, (a hole), last]: Object.keys skips the hole. */
function withHole<T>(first: T, last: T): T[] {
  const array = [first];
  array[2] = last;
  return array;
}

/** A Float32Array of `n` elements whose buffer was transferred away. */
function detached(n: number): Float32Array {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

describe('create rejects bad parameters', () => {
  it.each([
    ['no parameters (record)', {}, TypeError, /empty/],
    ['no parameters (array)', [], TypeError, /empty/],
    ['a Float64Array', { w: new Float64Array(3) }, TypeError, /'w'.*Float64Array/],
    ['a plain array', { w: [1, 2, 3] }, TypeError, /'w'.*array/],
    ['a Float32Array as the whole params', new Float32Array(3), TypeError, /params/],
    ['a negative size', { w: -1 }, RangeError, /'w'.*-1/],
    ['a fractional size', { w: 2.5 }, RangeError, /'w'.*2\.5/],
    ['a NaN size', { w: NaN }, RangeError, /'w'.*NaN/],
    ['null', null, TypeError, /params/],
    ['a detached Float32Array', { w: detached(4) }, TypeError, /parameter 'w' .*detached/],
    [
      'an array with a hole',
      withHole(3, 4),
      TypeError,
      /parameter '1' must be a Float32Array or an element count, got undefined/,
    ],
    [
      'groups with a hole',
      withHole({ params: { a: 3 } }, { params: { b: 3 } }),
      TypeError,
      /group 1 must be \{ params, \.\.\.options \}, got undefined/,
    ],
  ] as const)('%s', async (_, params, errorClass, message) => {
    const attempt = RMSProp.create(params as never);
    await expect(attempt).rejects.toThrow(errorClass);
    await expect(attempt).rejects.toThrow(message);
  });

  it('rejects two parameters that share memory', async () => {
    const backing = new Float32Array(10);
    const attempt = RMSProp.create({ a: backing.subarray(0, 6), b: backing.subarray(5, 10) });
    await expect(attempt).rejects.toThrow(TypeError);
    await expect(attempt).rejects.toThrow(/'a' and 'b' share memory/);
    await expect(RMSProp.create({ a: backing.subarray(0, 5), b: backing.subarray(5, 10) })).resolves.toBeInstanceOf(
      RMSProp,
    );
    await expect(RMSProp.create({ a: backing, b: backing })).rejects.toThrow(TypeError);
  });

  it('the presets cannot be changed from plain JS: a bad value would pass every later create unchecked', () => {
    for (const preset of Object.values(PRESETS)) expect(Object.isFrozen(preset)).toBe(true);
    expect(() => {
      (PRESETS.pytorch as { decay: number }).decay = 2;
    }).toThrow(TypeError);
    expect(PRESETS.pytorch.decay).toBe(0.99);
  });

  it('finds parameters that share memory among thousands, reading each span a bounded number of times', async () => {
    // 3 000 arrays over three buffers, side by side (touching is not sharing), empty ones anywhere
    const buffers = [new Float32Array(4000), new Float32Array(4000), new Float32Array(4000)];
    const params: Record<string, Float32Array> = {};
    for (let i = 0; i < 3000; i++)
      params[`p${i}`] = buffers[i % 3].subarray(4 * Math.floor(i / 3), 4 * Math.floor(i / 3) + 4);
    params.empty = buffers[0].subarray(8, 8);
    const opt = await RMSProp.create(params);
    expect(opt.params.p2999[0]).toBe(0);
    opt.dispose();
    // one array straddling two others, given last: named with the first one it shares with
    const attempt = RMSProp.create({ ...params, late: buffers[1].subarray(2002, 2010) });
    await expect(attempt).rejects.toThrow(/'p1501' and 'late' share memory/);

    // The lookup sorts: reads of each span's start grow as n log n, not n² (counted, not timed).
    const n = 20_000;
    let reads = 0;
    const buffer = new ArrayBuffer(8);
    const spans = Array.from({ length: n }, (_, index): Span => {
      const start = 8 * ((index * 7919) % n); // disjoint, out of order
      return {
        name: `p${index}`,
        index,
        buffer,
        end: start + 8,
        get start() {
          reads++;
          return start;
        },
      };
    });
    expect(sharedSpans(spans)).toBeUndefined();
    expect(reads).toBeLessThan(4 * n * Math.log2(n));
  });

  it('rejects memory beyond what wasm can address, saying how many bytes', async () => {
    const attempt = RMSProp.create({ w: 400_000_000 });
    await expect(attempt).rejects.toThrow(RangeError);
    const message = await attempt.catch((error: Error) => error.message);
    const needed = Number(/need (\d+) bytes/.exec(message)?.[1]);
    expect(needed).toBeGreaterThan(3 * 4 * 400_000_000); // parameters, gradients and square averages
    expect(needed).toBeGreaterThan(2 ** 32);
  });

  it('allows zero-length parameters', async () => {
    const opt = await RMSProp.create({ empty: new Float32Array(0), none: 0, w: new Float32Array([1]) });
    opt.step({ empty: new Float32Array(0), none: new Float32Array(0), w: new Float32Array([1]) });
    expect(opt.params.w[0]).toBeLessThan(1);
  });
});

describe.each(BACKENDS)('step rejects bad gradients and changes nothing (%s)', (backend) => {
  const badGrads: Array<[string, unknown, ErrorClass, RegExp]> = [
    ['a wrong length', { w: new Float32Array(4), b: new Float32Array(3) }, RangeError, /'b' has 3 elements.*2/],
    ['a Float64Array', { w: new Float64Array(4) }, TypeError, /'w'.*Float64Array/],
    ['a plain array', { w: [1, 2, 3, 4] }, TypeError, /'w'.*array/],
    ['an unknown name', { w: new Float32Array(4), v: new Float32Array(4) }, TypeError, /unknown gradient 'v'/],
    ['a number', 3, TypeError, /grads/],
    ['null', null, TypeError, /grads/],
  ];

  it.each(badGrads)('%s', async (_, grads, errorClass, message) => {
    const w = new Float32Array([1, -2, 3, 4]);
    const opt = await RMSProp.create({ w, b: 2 }, { backend, centered: true, momentum: 0.9 });
    opt.step({ w: new Float32Array([0.1, 0.2, 0.3, 0.4]), b: new Float32Array([1, 1]) });
    opt.grads.b.set([5, 6]);
    const arrays = () => [
      w,
      opt.params.b,
      opt.grads.w,
      opt.grads.b,
      ...Object.values(opt.state).flatMap((s) => Object.values(s)),
    ];
    const before = snapshot(arrays());
    expect(() => opt.step(grads as never)).toThrow(errorClass);
    expect(() => opt.step(grads as never)).toThrow(message);
    expect(snapshot(arrays())).toEqual(before);
    expect(opt.stepCount).toBe(1);
  });

  it('throws on any call after dispose; the facts fixed at create stay readable', async () => {
    const opt = await RMSProp.create({ w: 4 }, { backend });
    opt.dispose();
    expect(() => opt.step()).toThrow(/disposed/);
    expect(() => opt.stepCount).toThrow(/disposed/);
    expect(() => opt.options).toThrow(/disposed/);
    expect(() => opt.saveState()).toThrow(/disposed/);
    expect([opt.backend, opt.threads, opt.stateBytes]).toEqual([backend, 1, 16]);
  });
});

it('`new RMSProp(...)` from JavaScript (a fresh Node, the built package) is a TypeError naming create and createSync', () => {
  // TypeScript hides the constructor; plain JavaScript reaches it, with any arguments.
  const script = `
    import { RMSProp } from ${JSON.stringify(pathToFileURL(join(root, 'dist/index.js')).href)};
    const out = [];
    for (const args of [[], [{ w: 1 }], [{ w: new Float32Array(2) }, { lr: 0.1 }], [null, null, null]]) {
      try { new RMSProp(...args); out.push('no error'); } catch (e) { out.push(e.constructor.name + ': ' + e.message); }
    }
    const opt = await RMSProp.create({ w: 1 }); // create still constructs
    opt.step({ w: new Float32Array([1]) });
    out.push(opt.stepCount);
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, moduleArgs(script), { encoding: 'utf8' })) as unknown[];
  expect(out.pop()).toBe(1);
  for (const message of out) expect(message).toMatch(/^TypeError: .*await RMSProp\.create\(.*RMSProp\.createSync/);
});

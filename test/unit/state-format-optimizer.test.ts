// The stateFormat option end to end (issue 23): the optimizer with bfloat16 and 8-bit state steps
// within the formats' rounding of a float64 reference, gives the same bits on every backend and
// thread count with every option, keeps float32 for small tensors, reports its state's bytes, and
// saves, loads and exchanges (PyTorch dict, setState) its state.
import { describe, expect, it } from 'vitest';
import {
  decodeState,
  encodeState,
  PRESETS,
  type PresetName,
  RMSProp,
  type RMSPropOptions,
  type SavedState,
} from '../../src/index.js';
import { MAX_HEAP_BYTES } from '../../src/backends.js';
import { readGroups } from '../../src/inputs.js';
import { planLayout } from '../../src/layout.js';
import type { StateFormat } from '../../src/options.js';
import { everything, firstDifference, normal, rng } from '../support/helpers.js';

type Format = 'bfloat16' | '8bit';
const FORMATS: readonly Format[] = ['bfloat16', '8bit'];
const BLOCK = 1024;

/** Gradients with the numeric edges: zeros, subnormals, huge and tiny values, and a block whose one outlier sets its scale. */
function edgeGradients(n: number, step: number): Float32Array {
  const key = `${n} ${step}`;
  let cached = gradientCache.get(key);
  if (!cached) gradientCache.set(key, (cached = makeEdgeGradients(n, step)));
  return cached;
}
const gradientCache = new Map<string, Float32Array>();

function makeEdgeGradients(n: number, step: number): Float32Array {
  const random = rng(1000 * step + n);
  const g = Float32Array.from({ length: n }, () => normal(random));
  for (let i = 0; i < n; i++) {
    const r = i % 97;
    if (r === 0) g[i] = 0;
    else if (r === 1)
      g[i] = 1e-40; // subnormal
    else if (r === 2)
      g[i] = -3e30; // its square overflows float32: S = ∞ there
    else if (r === 3) g[i] = 1e-30;
  }
  // the second block: 1e-3 everywhere but one outlier
  for (let i = BLOCK; i < Math.min(2 * BLOCK, n); i++) g[i] = i === BLOCK + 17 ? 1e6 : 1e-3 * (i % 2 ? 1 : -1);
  return g;
}

const SIZES = { big: 5000, small: 100, exact: 4096, odd: 9999 };
type Name = keyof typeof SIZES;

async function run(options: RMSPropOptions, steps = 4, sizes: Record<string, number> = SIZES, skipAt = 2) {
  const opt = await RMSProp.create(sizes, options);
  const names = Object.keys(sizes) as Name[];
  for (const name of names) opt.params[name].set(edgeGradients(sizes[name], 99));
  for (let t = 0; t < steps; t++) {
    for (const name of names) opt.grads[name].set(edgeGradients(sizes[name], t));
    // one step with a missing gradient: one kernel call per tensor instead of one per segment
    opt.step(t === skipAt ? { [names[0]]: opt.grads[names[0]], [names[2]]: opt.grads[names[2]] } : undefined);
  }
  return opt;
}

/** How far a centered group's S − ḡ² may read from `variance` once stored: its own rounding in the format, and S's float32 rounding (given and rebuilt). */
const varianceBound = (format: Format, variance: number, squareAvg: number) =>
  variance * (format === 'bfloat16' ? 2 ** -8 : 2 ** -4) + 2 * 2 ** -23 * squareAvg;

const COMBOS: Array<[string, RMSPropOptions]> = [
  ['seed', {}],
  ['centered + nesterov momentum', { centered: true, momentum: 0.9, nesterov: true, lr: 1e-2 }],
  ['pytorch, weight decay, clipNorm', { preset: 'pytorch', weightDecay: 1e-2, clipNorm: 1, momentum: 0.5 }],
  [
    'keras decoupled, bias correction, maximize, clipValue',
    { preset: 'keras', weightDecay: 1e-3, biasCorrection: true, maximize: true, clipValue: 0.5 },
  ],
  [
    'tf1 (initialSquareAvg 1), lr schedule, globalClipNorm',
    { preset: 'tf1', lr: (t) => 1e-3 / (1 + t), globalClipNorm: 2 },
  ],
];

/**
 * A saved state of format `version` for one centered parameter 'w', made from `plain`'s (a momentum
 * group's) arrays as saved: its m's codes and scales become ḡ's, as 8-bit state stored ḡ before version 5.
 */
function asCenteredState(plain: RMSProp<'w'>, version: number): SavedState {
  const codes = plain.saveState({ arrays: 'float32' }).state.w;
  return {
    ...plain.saveState(),
    version,
    groups: [{ params: ['w'], options: { centered: true, momentum: 0 } }],
    state: {
      w: Object.fromEntries(Object.entries(codes).map(([kind, value]) => [kind.replace('momentum', 'gradAvg'), value])),
    },
  } as SavedState;
}

describe.each(FORMATS)('stateFormat %s', (stateFormat) => {
  it.each(COMBOS)('%s: simd, wasm and js give the same bits', async (_, options) => {
    const results = await Promise.all(
      (['simd', 'wasm', 'js'] as const).map(async (backend) => {
        const opt = await run({ ...options, stateFormat, backend });
        // typed arrays: toEqual holds codes to their bytes and values to Object.is (NaN payloads aside, as in sameBits)
        return { arrays: everything(opt), saved: opt.saveState({ arrays: 'float32' }).state };
      }),
    );
    for (const other of results.slice(1)) {
      expect(firstDifference(other.arrays, results[0].arrays)).toBeUndefined();
      expect(other.saved).toEqual(results[0].saved); // codes and scales too
    }
    // the outlier's block: its other elements' S is not 0 (that would step by g/√ε)
    const s = results[0].arrays[1]; // big's squareAvg (param, squareAvg, …)
    expect(Math.min(...s.subarray(BLOCK, BLOCK + 16))).toBeGreaterThan(0);
  });

  it('threads 1, 2 and 3 give the same bits, chunks of whole blocks shared', async () => {
    const sizes = { a: 600_001, b: 100, c: 70_000 };
    const options: RMSPropOptions = { stateFormat, backend: 'simd', centered: true, momentum: 0.9, clipNorm: 10 };
    const one = everything(await run({ ...options, threads: 1 }, 3, sizes, 1));
    for (const threads of [2, 3]) {
      const opt = await run({ ...options, threads }, 3, sizes, 1);
      if (opt.threads > 1) expect(opt.poolForTest!.workerChunksForTest).toBeGreaterThan(0);
      expect(firstDifference(everything(opt), one)).toBeUndefined();
      opt.dispose();
    }
  });

  it('one step from zero state: w as in float32, S within one step of its grid of the float64 reference', async () => {
    const n = 3 * BLOCK + 5;
    const g = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2 ** ((i % 11) - 5));
    const w0 = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
    const opt = await RMSProp.create({ w: w0.slice() }, { stateFormat, lr: 0.01, decay: 0.9 });
    opt.step({ w: g });
    const s = opt.state.w.squareAvg;
    const blockMaxima = Array.from({ length: Math.ceil(n / BLOCK) }, (_, b) =>
      Math.max(...Array.from(g.subarray(b * BLOCK, (b + 1) * BLOCK), (x) => 0.1 * x * x)),
    );
    for (let i = 0; i < n; i++) {
      const reference = 0.1 * g[i] * g[i];
      const w = w0[i] - (0.01 * g[i]) / Math.sqrt(reference + 1e-8);
      if (!(Math.abs(opt.params.w[i] - w) <= 2e-7 * Math.max(1, Math.abs(w))))
        throw new Error(`w[${i}] = ${opt.params.w[i]}, reference ${w}`);
      // bfloat16: 7 mantissa bits; 8 bits: 3, and nothing below the block's scale·2^-31 (its smallest code)
      const blockMax = blockMaxima[Math.floor(i / BLOCK)];
      const bound =
        stateFormat === 'bfloat16' ? reference * 2 ** -7 : Math.max(reference * 2 ** -3, blockMax * 2 ** -29);
      if (!(Math.abs(s[i] - reference) <= bound)) throw new Error(`S[${i}] = ${s[i]}, reference ${reference}`);
    }
  });

  // A centered group's variance S − ḡ² is a difference of two values: with S and ḡ rounded apart,
  // the rounding wiped it out where a gradient's mean outweighs its noise, and the step (lr·g/√ε) ran
  // away (an audit, fitting noisy targets: 8 bits NaN, bfloat16 3e16 after 400 steps, float32 2.4e-2).
  // S's codes hold the variance itself.
  it('a centered group compresses its state, and fits noisy targets (mean ≫ noise) as float32 does', async () => {
    const n = 4096;
    const opt = await RMSProp.create([{ params: { w: n }, centered: true }, { params: { v: n } }], {
      stateFormat,
      lr: 0.01,
    });
    const code = stateFormat === 'bfloat16' ? 2 : 1 + 4 / BLOCK;
    expect(opt.stateBytes).toBe(2 * n * code + 2 * n); // w: S (as its variance) and ḡ (bfloat16 in both); v: S
    let seed = 7;
    const uniform = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const gaussian = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
    const target = Float64Array.from({ length: n }, () => 2 + 2 * uniform());
    for (let t = 0; t < 400; t++) {
      for (let i = 0; i < n; i++) opt.grads.w[i] = opt.params.w[i] - (target[i] + 0.1 * gaussian());
      opt.step();
    }
    const distance = Math.sqrt(opt.params.w.reduce((sum, w, i) => sum + (w - target[i]) ** 2, 0) / n);
    expect(distance).toBeLessThan(0.05); // the noise's own scale: float32 settles at 0.024
    opt.dispose();
  });

  // Where the noise is 1 % of the mean, ḡ's rounding enters the next variance as (g − ḡ)²: ḡ in 8
  // bits (2⁻⁵) made the variance 4.4× float32's and the steps half as long; bfloat16 (2⁻⁸) 1.15×.
  it('centered, noise 1 % of the mean: the variance and the distance moved as float32 state gives them', async () => {
    const n = 4096;
    const run = async (format: StateFormat) => {
      const opt = await RMSProp.create({ w: n }, { centered: true, lr: 1e-4, stateFormat: format });
      const random = rng(21);
      const g = new Float32Array(n);
      for (let t = 0; t < 400; t++) {
        for (let i = 0; i < n; i++) g[i] = (1 + (1.7 * i) / n) * (1 + 0.01 * normal(random));
        opt.step({ w: g });
      }
      const { squareAvg, gradAvg } = opt.state.w;
      const result = {
        variance: Float64Array.from(squareAvg, (x, i) => x - gradAvg![i] ** 2),
        moved: Float64Array.from(opt.params.w, Math.abs),
      };
      opt.dispose();
      return result;
    };
    const [reference, compressed] = [await run('float32'), await run(stateFormat)];
    const median = (a: Float64Array, b: Float64Array) => Array.from(a, (x, i) => x / b[i]).sort((x, y) => x - y)[n / 2];
    expect(median(compressed.variance, reference.variance)).toBeLessThan(1.3);
    expect(median(compressed.moved, reference.moved)).toBeGreaterThan(0.85);
  });

  // Stored as S, a variance a ten-thousandth of S would be lost in S's rounding (8 bits: 1/16 of S).
  it('a centered group keeps its variance S − ḡ² through setState and a float32 load, within its own rounding', async () => {
    const n = 70_000; // more than one chunk of the encoding (64 blocks)
    const random = rng(11);
    const gradAvg = Float32Array.from({ length: n }, () => 2 + 0.5 * normal(random));
    const variance = Float64Array.from(gradAvg, (a) => 1e-4 * a * a);
    const squareAvg = Float32Array.from(gradAvg, (a, i) => a * a + variance[i]);
    const float32 = await RMSProp.create({ w: n }, { centered: true });
    float32.setState('w', { squareAvg, gradAvg });
    const ways: Array<[string, (opt: RMSProp<'w'>) => void]> = [
      ['setState', (opt) => opt.setState('w', { squareAvg, gradAvg })],
      ['loadState', (opt) => opt.loadState(float32.saveState())],
      ['fromTorchStateDict', (opt) => opt.fromTorchStateDict(float32.toTorchStateDict())],
    ];
    for (const [way, load] of ways) {
      const opt = await RMSProp.create({ w: n }, { centered: true, stateFormat });
      load(opt);
      const { squareAvg: s, gradAvg: a } = opt.state.w;
      for (let i = 0; i < n; i++) {
        const bound = varianceBound(stateFormat, variance[i], squareAvg[i]);
        const error = Math.abs(s[i] - a[i] * a[i] - variance[i]);
        if (!(error <= bound)) throw new Error(`${way}: S − ḡ² at ${i} is ${s[i] - a[i] * a[i]}, was ${variance[i]}`);
      }
      opt.dispose();
    }
  });

  // Before version 4 a centered group's compressed S codes held S itself (version 3 wrote them so
  // before centered groups kept float32 state): made here from a plain group's S and m codes.
  it("centered: version 3's compressed S loads as S, version 4's variance as v + ḡ², into compressed and float32 state", async () => {
    const n = 5000;
    const random = rng(12);
    const gradAvg = Float32Array.from({ length: n }, () => 2 + 0.5 * normal(random));
    const squareAvg = Float32Array.from(gradAvg, (a) => a * a * (1 + Math.abs(normal(random))));
    const plain = await RMSProp.create({ w: n }, { stateFormat, momentum: 0.9 });
    plain.setState('w', { squareAvg, momentum: gradAvg });
    const version3 = asCenteredState(plain, 3);
    const stored = { squareAvg: plain.state.w.squareAvg, gradAvg: plain.state.w.momentum! };
    const float32 = await RMSProp.create({ w: n }, { centered: true });
    float32.loadState(version3);
    expect(firstDifference(Object.values(float32.state.w), Object.values(stored))).toBeUndefined();
    // the binary form keeps the version, and so the meaning (encodeState once wrote 4 over any version)
    const binary = decodeState(encodeState(version3));
    expect(binary.version).toBe(3);
    const fromBinary = await RMSProp.create({ w: n }, { centered: true });
    fromBinary.loadState(binary);
    expect(firstDifference(Object.values(fromBinary.state.w), Object.values(stored))).toBeUndefined();
    const compressed = await RMSProp.create({ w: n }, { centered: true, stateFormat });
    compressed.loadState(version3);
    expect(firstDifference([compressed.state.w.gradAvg!], [stored.gradAvg])).toBeUndefined();
    // the variance the step uses, max(S − ḡ², 0), within its rounding (S rounded apart from ḡ can be below ḡ²)
    const s = compressed.state.w.squareAvg;
    for (let i = 0; i < n; i++) {
      const a2 = stored.gradAvg[i] ** 2;
      const variance = Math.max(stored.squareAvg[i] - a2, 0);
      const bound = varianceBound(stateFormat, variance, stored.squareAvg[i]);
      if (!(Math.abs(s[i] - a2 - variance) <= bound))
        throw new Error(`S[${i}] = ${s[i]}, saved ${stored.squareAvg[i]} with ḡ² ${a2}`);
    }
    // version 4, as saved: into float32 state S = v + ḡ², each decoded from its codes
    const again = await RMSProp.create({ w: n }, { centered: true });
    again.loadState(compressed.saveState());
    expect(firstDifference(Object.values(again.state.w), Object.values(compressed.state.w))).toBeUndefined();
    for (const o of [plain, float32, fromBinary, compressed, again]) o.dispose();
  });

  // Before version 5 an 8-bit centered group's ḡ was 8-bit codes with scales (now bfloat16): made here
  // from a plain group's m codes and scales, beside S codes that hold the variance (version 4's meaning).
  it.runIf(stateFormat === '8bit')(
    "centered: version 4's 8-bit ḡ loads as the values its codes held (bfloat16 holds them exactly), its variance as stored; version 5 refuses ḡ scales",
    async () => {
      const n = 5000;
      const random = rng(13);
      const gradAvg = Float32Array.from({ length: n }, () => 2 + 0.5 * normal(random));
      const variance = Float32Array.from(gradAvg, (a) => 1e-3 * a * a * Math.abs(normal(random)));
      const plain = await RMSProp.create({ w: n }, { stateFormat, momentum: 0.9 });
      plain.setState('w', { squareAvg: variance, momentum: gradAvg });
      const version4 = asCenteredState(plain, 4);
      expect((version4.state.w.gradAvg as Uint8Array).BYTES_PER_ELEMENT).toBe(1);
      const storedGradAvg = plain.state.w.momentum!;
      const storedVariance = plain.state.w.squareAvg;
      for (const form of [version4, decodeState(encodeState(version4))]) {
        const compressed = await RMSProp.create({ w: n }, { centered: true, stateFormat });
        compressed.loadState(form);
        const { gradAvg: a, squareAvg: s } = compressed.state.w;
        expect(firstDifference([a!], [storedGradAvg])).toBeUndefined();
        // S's codes copied as stored: S reads as v + ḡ², each from its codes (float32 arithmetic)
        const rebuilt = Float32Array.from(storedVariance, (v, i) => Math.fround(v + Math.fround(a![i] * a![i])));
        expect(firstDifference([s], [rebuilt])).toBeUndefined();
        const saved = compressed.saveState({ arrays: 'float32' });
        expect(saved.version).toBe(5);
        expect(saved.state.w.gradAvg).toBeInstanceOf(Uint16Array);
        expect(saved.state.w.gradAvgScales).toBeUndefined();
        const float32 = await RMSProp.create({ w: n }, { centered: true });
        float32.loadState(form);
        expect(firstDifference(Object.values(float32.state.w), [rebuilt, storedGradAvg])).toBeUndefined();
        // version 5 with ḡ scales beside its bfloat16 codes: refused, nothing changed
        const before = compressed.saveState();
        const withScales = { ...saved, state: { w: { ...saved.state.w, gradAvgScales: new Float32Array(5) } } };
        expect(() => compressed.loadState(withScales)).toThrow(
          /state\['w'\] has 'gradAvgScales', but its gradAvg is bfloat16 codes, which have no scales/,
        );
        // and a version 4 state labelled 5 (1-byte ḡ codes and scales): the same reason, not a size
        expect(() => compressed.loadState({ ...version4, version: 5 })).toThrow(/has 'gradAvgScales', but its gradAvg/);
        expect(JSON.stringify(compressed.saveState())).toBe(JSON.stringify(before));
        compressed.dispose();
        float32.dispose();
      }
      plain.dispose();
    },
  );

  it('small tensors keep float32 state (zero-copy views); the state bytes as create reports them', async () => {
    const sizes = { big: 64 * BLOCK, small: 4095 };
    const opt = await RMSProp.create(sizes, { stateFormat, momentum: 0.9 });
    const f32 = await RMSProp.create(sizes, { momentum: 0.9 });
    expect(opt.options.stateFormat).toBe(stateFormat);
    expect(opt.state.small.squareAvg.buffer).toBe(opt.params.small.buffer);
    expect(opt.state.big.squareAvg).not.toBe(opt.state.big.squareAvg); // decoded copies
    expect(opt.state.big.squareAvg.buffer).not.toBe(opt.params.big.buffer);
    const code = stateFormat === 'bfloat16' ? 2 : 1 + 4 / BLOCK;
    expect(opt.stateBytes).toBe(2 * (64 * BLOCK * code + 4095 * 4));
    expect(f32.stateBytes).toBe(2 * 4 * (64 * BLOCK + 4095));
    expect(f32.stateBytesPerValue).toBe(4);
    const only = await RMSProp.create({ w: 1 << 20 }, { stateFormat });
    expect(only.stateBytesPerValue).toBe(code);
    expect(only.stateBytes).toBe((1 << 20) * code);
  });

  it('saveState and loadState: JSON, binary and typed arrays round trip bit for bit, and training goes on the same', async () => {
    const options: RMSPropOptions = { stateFormat, momentum: 0.9, lr: 1e-2 };
    const opt = await run(options, 3);
    const saved = opt.saveState();
    expect(saved.version).toBe(5);
    expect(saved.compressed).toEqual({ big: stateFormat, exact: stateFormat, odd: stateFormat });
    const forms: SavedState[] = [
      JSON.parse(JSON.stringify(saved)),
      decodeState(encodeState(saved)),
      opt.saveState({ arrays: 'float32' }),
    ];
    for (const g of Object.keys(SIZES) as Name[]) opt.grads[g].set(edgeGradients(SIZES[g], 50));
    opt.step();
    for (const form of forms) {
      const other = await RMSProp.create(
        Object.fromEntries(Object.keys(SIZES).map((name) => [name, opt.params[name as Name].length])),
        options,
      );
      other.loadState(form);
      expect(JSON.stringify(other.saveState())).toBe(JSON.stringify(saved));
      // the same step from the loaded state: the same bits (the params were not saved: copy them)
      const before = await run(options, 3);
      for (const name of Object.keys(SIZES) as Name[]) {
        other.params[name].set(before.params[name]);
        other.grads[name].set(edgeGradients(SIZES[name], 50));
      }
      other.step();
      expect(firstDifference(everything(other), everything(opt))).toBeUndefined();
    }
    // 8 bits take about a quarter of float32's bytes, bfloat16 half
    const f32 = await run({ ...options, stateFormat: 'float32' }, 3);
    const ratio = encodeState(saved).length / encodeState(f32.saveState()).length;
    expect(ratio).toBeLessThan(stateFormat === 'bfloat16' ? 0.7 : 0.5);
  });

  it("centered: ḡ's random bits follow the tensor too, at another offset and on two threads", async () => {
    const options: RMSPropOptions = { stateFormat, centered: true, momentum: 0.9, lr: 1e-2 };
    const alone = await RMSProp.create({ a: 5000 }, options);
    const after = await RMSProp.create({ extra: 7000, a: 5000 }, { ...options, threads: 2 });
    const random = rng(5);
    for (let t = 0; t < 4; t++) {
      const g = Float32Array.from({ length: 5000 }, () => 1 + 0.1 * normal(random));
      alone.step({ a: g });
      after.step({ extra: new Float32Array(7000).fill(0.5), a: g });
    }
    const arrays = (opt: RMSProp<string>) => [opt.params.a, ...Object.values(opt.state.a)];
    expect(firstDifference(arrays(after), arrays(alone))).toBeUndefined();
    expect(new Set(alone.state.a.gradAvg).size).toBeGreaterThan(2); // ḡ's codes were rounded both ways
    alone.dispose();
    after.dispose();
  });

  it('a state moved into another layout (other tensors, another order, groups, threads) goes on bit for bit: the random bits follow the tensor, not its place', async () => {
    const options: RMSPropOptions = { stateFormat, momentum: 0.9, lr: 1e-2 };
    const sizes = { a: 5000, b: 9999 };
    const first = await run(options, 3, sizes, -1);
    // the same tensors after another one, in another order, in a second group, on two threads
    const moved = await RMSProp.create([{ params: { extra: 7000 } }, { params: { b: sizes.b, a: sizes.a } }], {
      ...options,
      threads: 2,
    });
    moved.stepCount = first.stepCount;
    for (const name of ['a', 'b'] as const) {
      moved.params[name].set(first.params[name]);
      moved.setState(name, first.state[name]);
    }
    for (let t = 10; t < 13; t++) {
      for (const name of ['a', 'b'] as const) {
        first.grads[name].set(edgeGradients(sizes[name], t));
        moved.grads[name].set(edgeGradients(sizes[name], t));
      }
      moved.grads.extra.set(edgeGradients(7000, t));
      first.step();
      moved.step(t === 11 ? { a: moved.grads.a, b: moved.grads.b } : undefined);
    }
    const arrays = (opt: RMSProp<string>) =>
      ['a', 'b'].flatMap((name) => [opt.params[name], ...Object.values(opt.state[name])]);
    expect(firstDifference(arrays(moved), arrays(first))).toBeUndefined();
    moved.dispose();
  });

  it('an empty tensor beside a compressed one (a group whose float32 tensors are all empty) creates, steps, saves and loads', async () => {
    const options: RMSPropOptions = { stateFormat, momentum: 0.9, lr: 1e-2 };
    const alone = await run(options, 3, { a: 5000 }, -1);
    const layouts = [
      (o: RMSPropOptions) => RMSProp.create({ e: 0, a: 5000 }, o),
      (o: RMSPropOptions) => RMSProp.create({ a: 5000, e: new Float32Array(0) }, o),
      (o: RMSPropOptions) => RMSProp.create([{ params: { e: 0 } }, { params: { a: 5000, f: 0 } }], o),
    ];
    for (const [backend, threads] of [
      ['simd', 1],
      ['js', 1],
      ['simd', 2],
    ] as const) {
      for (const make of layouts) {
        const opt = await make({ ...options, backend, threads });
        opt.params.a.set(edgeGradients(5000, 99));
        for (let t = 0; t < 3; t++) opt.step({ a: edgeGradients(5000, t), e: new Float32Array(0) });
        expect(firstDifference([opt.params.a, ...Object.values(opt.state.a)], everything(alone))).toBeUndefined();
        expect([opt.params.e.length, opt.state.e.squareAvg.length]).toEqual([0, 0]);
        const again = await make({ ...options, backend: 'wasm' });
        again.loadState(decodeState(encodeState(opt)));
        again.fromTorchStateDict(opt.toTorchStateDict());
        expect(firstDifference(Object.values(again.state.a), Object.values(opt.state.a))).toBeUndefined();
        opt.dispose();
        again.dispose();
      }
    }
    alone.dispose();
  });

  it('loadState converts between formats: compressed → float32 decodes, float32 → compressed encodes to nearest', async () => {
    const options: RMSPropOptions = { stateFormat, momentum: 0.9 };
    const opt = await run(options, 3);
    const f32 = await RMSProp.create(SIZES, { momentum: 0.9 });
    f32.loadState(opt.saveState());
    for (const name of Object.keys(SIZES) as Name[]) {
      expect(firstDifference(Object.values(f32.state[name]), Object.values(opt.state[name]))).toBeUndefined();
    }
    // and back: decoded values are on the grid, so encoding them again gives the same values
    const back = await RMSProp.create(SIZES, options);
    back.loadState(f32.saveState());
    for (const name of Object.keys(SIZES) as Name[]) {
      expect(firstDifference(Object.values(back.state[name]), Object.values(opt.state[name]))).toBeUndefined();
    }
    // float32 values in general: each within half a step of the grid (round to nearest)
    const random = rng(3);
    const s = Float32Array.from({ length: 5000 }, () => Math.abs(normal(random)));
    back.setState('big', { squareAvg: s });
    const decoded = back.state.big.squareAvg;
    for (let i = 0; i < s.length; i++) {
      const bound = stateFormat === 'bfloat16' ? s[i] * 2 ** -8 : Math.max(s[i] * 2 ** -4, 8 * 2 ** -31);
      if (!(Math.abs(decoded[i] - s[i]) <= bound)) throw new Error(`S[${i}] = ${decoded[i]}, set ${s[i]}`);
    }
  });

  // −0 is not negative, so every check lets it in; 8-bit encoding once read its bits as the largest S
  // (0x80000000 is above ∞'s), which made its block's scale NaN.
  it('a square average of −0 is taken as 0: setState, loadState, the PyTorch dict', async () => {
    const s = new Float32Array(5000).fill(1e-4);
    s[5] = -0;
    const float32 = await RMSProp.create({ w: 5000 });
    float32.setState('w', { squareAvg: s });
    const dict = float32.toTorchStateDict();
    const ways: Array<[string, (opt: RMSProp<'w'>) => void]> = [
      ['setState', (opt) => opt.setState('w', { squareAvg: s })],
      ['loadState', (opt) => opt.loadState(float32.saveState())],
      ['fromTorchStateDict', (opt) => opt.fromTorchStateDict(dict)],
      ['setState with +0', (opt) => opt.setState('w', { squareAvg: Float32Array.from(s, (x) => x + 0) })],
    ];
    const results: Float32Array[][] = [];
    for (const [way, load] of ways) {
      const opt = await RMSProp.create({ w: 5000 }, { stateFormat, backend: 'js' });
      load(opt);
      const decoded = opt.state.w.squareAvg;
      expect(decoded[5] === 0, way).toBe(true);
      expect(Math.abs(decoded[6] - 1e-4), way).toBeLessThanOrEqual(1e-4 * 2 ** -4);
      opt.grads.w.fill(1e-3);
      opt.step();
      expect(opt.params.w.every(Number.isFinite), way).toBe(true);
      results.push(everything(opt));
    }
    for (const result of results.slice(0, -1)) expect(firstDifference(result, results[3])).toBeUndefined();
  });

  it('the PyTorch dict: decoded on export, encoded on import, the same dict again', async () => {
    const opt = await run({ stateFormat, momentum: 0.9, preset: 'pytorch' }, 3);
    const dict = opt.toTorchStateDict();
    expect(dict.state['0'].square_avg).toEqual(Array.from(opt.state.big.squareAvg));
    const other = await RMSProp.create(SIZES, { stateFormat, momentum: 0.9, preset: 'pytorch' });
    other.fromTorchStateDict(dict); // (not through JSON: the huge gradients made some S ∞)
    expect(other.toTorchStateDict()).toEqual(dict);
  });

  it('refuses a saved state that does not fit, changing nothing', async () => {
    const opt = await run({ stateFormat }, 2);
    const saved = opt.saveState({ arrays: 'float32' });
    const before = opt.saveState();
    const short = { ...saved, state: { ...saved.state, big: { ...saved.state.big, squareAvg: new Uint8Array(10) } } };
    expect(() => opt.loadState(short)).toThrow(/squareAvg of 'big' has \d+ elements/);
    const unknown = { ...saved, compressed: { ...saved.compressed, nope: stateFormat } } as SavedState;
    expect(() => opt.loadState(unknown)).toThrow(/'compressed' names parameter 'nope'/);
    const bad = { ...saved, compressed: { ...saved.compressed, big: 'int4' } } as unknown as SavedState;
    expect(() => opt.loadState(bad)).toThrow(TypeError);
    if (stateFormat === '8bit') {
      const noScales = { ...saved, state: { ...saved.state, big: { squareAvg: saved.state.big.squareAvg } } };
      expect(() => opt.loadState(noScales)).toThrow(/squareAvgScales of 'big'/);
      // a scale the encoding never writes: a negative one decodes as negative S (the kernels take it for 0)
      const withScale = (kind: 'squareAvgScales' | 'momentumScales', bits: number) => {
        const scales = Float32Array.from(saved.state.big[kind] as Float32Array);
        new Uint32Array(scales.buffer)[1] = bits;
        return { ...saved, state: { ...saved.state, big: { ...saved.state.big, [kind]: scales } } };
      };
      for (const bits of [
        0xbf800000 /* −1 */, 0x40400000 /* 3 */, 0x000116c2 /* 1e-40 */, 0x80000000 /* −0 */, 0x7f800000, 0x7fc00001,
      ])
        expect(() => opt.loadState(withScale('squareAvgScales', bits))).toThrow(
          new RegExp(`squareAvgScales of 'big': block 1's scale .*bits 0x${bits.toString(16).padStart(8, '0')}`),
        );
      const withMomentum = await run({ stateFormat, momentum: 0.9 }, 2);
      const savedMomentum = withMomentum.saveState({ arrays: 'float32' });
      const scales = Float32Array.from(savedMomentum.state.big.momentumScales as Float32Array);
      scales[0] = -scales[0];
      const badMomentum = { ...savedMomentum.state.big, momentumScales: scales };
      const beforeMomentum = withMomentum.saveState();
      expect(() =>
        withMomentum.loadState({ ...savedMomentum, state: { ...savedMomentum.state, big: badMomentum } }),
      ).toThrow(RangeError);
      expect(withMomentum.saveState()).toEqual(beforeMomentum);
      // what the encoding writes loads: +0 (a fresh state), powers of two up to 2^127 (the saturated
      // scale of the S = ∞ blocks of `saved`), NaN (a block that held a NaN)
      expect(new Uint32Array((saved.state.big.squareAvgScales as Float32Array).slice().buffer)).toContain(0x7f000000);
      const fresh = await RMSProp.create(SIZES, { stateFormat });
      opt.loadState(fresh.saveState());
      expect(opt.state.big.squareAvg.every((x) => x === 0)).toBe(true);
      opt.loadState(withScale('squareAvgScales', 0x7fc00000));
      expect(opt.state.big.squareAvg.subarray(BLOCK, 2 * BLOCK).every(Number.isNaN)).toBe(true);
      opt.loadState(saved);
    }
    expect(opt.saveState()).toEqual(before);
  });
});

// An audit (2026-12-07): under nonFinite: 'throw', one gradient of 1e30 (finite; its square is not)
// made its 8-bit block's scale NaN, and the next step made the 1 024 parameters there NaN. The
// reference is the same run with float32 state, where S = ∞ only freezes that element.
describe.each(FORMATS)('one gradient whose square overflows, stateFormat %s', (stateFormat) => {
  it('keeps every parameter finite, freezes its element as float32 state does, and its block-mates track float32 again', async () => {
    const n = 5000;
    const outlier = BLOCK + 10;
    const options: RMSPropOptions = { lr: 1e-3, decay: 0.5, momentum: 0.9, nonFinite: 'throw' };
    const [float32, compressed] = await Promise.all([
      RMSProp.create({ w: n }, options),
      RMSProp.create({ w: n }, { ...options, stateFormat }),
    ]);
    const random = rng(77);
    for (let t = 1; t <= 160; t++) {
      const g = Float32Array.from({ length: n }, () => normal(random) * 1e-2);
      if (t === 1) g[outlier] = 1e30;
      expect(float32.step({ w: g })).toBe(true);
      expect(compressed.step({ w: g })).toBe(true);
      const bad = compressed.params.w.findIndex((x) => !Number.isFinite(x));
      expect(bad, `step ${t}: parameter ${bad}`).toBe(-1);
      // float32: g/√∞ = 0, that element never steps again; 8 bits: its S saturates at 1.875·2^127 and
      // decays (ρ 0.5), so its steps stay below lr·|g|·10⁻¹⁶ for 20 steps
      expect(float32.params.w[outlier]).toBe(0);
      if (t <= 20) expect(Math.abs(compressed.params.w[outlier])).toBeLessThan(1e-18);
    }
    const s = compressed.state.w.squareAvg;
    const reference = float32.state.w.squareAvg;
    expect(reference[outlier]).toBe(Infinity);
    expect(Number.isFinite(s[outlier]) || stateFormat === 'bfloat16').toBe(true);
    // the block-mates' S, raised to its smallest code while the outlier's S was far above them, follow float32's again
    for (let i = BLOCK; i < 2 * BLOCK; i++) {
      if (i === outlier) continue;
      const ratio = s[i] / reference[i];
      if (!(ratio > 0.75 && ratio < 1.25)) expect.fail(`S[${i}] = ${s[i]}, float32 state's ${reference[i]}`);
    }
    float32.dispose();
    compressed.dispose();
  });
});

describe('the stateFormat option', () => {
  // ḡ is bfloat16 in both compressed formats: a centered state moved between them copies ḡ's codes as
  // stored and converts only S's (the variance's).
  it.each([
    ['bfloat16', '8bit'],
    ['8bit', 'bfloat16'],
  ] as const)(
    'centered: a %s state loads into %s state, ḡ as stored, its variance within the rounding',
    async (from, to) => {
      const n = 5000;
      const random = rng(14);
      const gradAvg = Float32Array.from({ length: n }, () => 2 + 0.5 * normal(random));
      const squareAvg = Float32Array.from(gradAvg, (a) => a * a * (1 + 0.01 * Math.abs(normal(random))));
      const source = await RMSProp.create({ w: n }, { centered: true, stateFormat: from });
      source.setState('w', { squareAvg, gradAvg });
      const target = await RMSProp.create({ w: n }, { centered: true, stateFormat: to });
      target.loadState(JSON.parse(JSON.stringify(source.saveState())));
      const codes = (opt: RMSProp<'w'>) => opt.saveState({ arrays: 'float32' }).state.w.gradAvg as Uint16Array;
      expect(codes(target)).toBeInstanceOf(Uint16Array);
      expect(Buffer.compare(Buffer.from(codes(target).buffer), Buffer.from(codes(source).buffer))).toBe(0);
      const [s, a, sourceS] = [target.state.w.squareAvg, target.state.w.gradAvg!, source.state.w.squareAvg];
      for (let i = 0; i < n; i++) {
        const variance = Math.max(sourceS[i] - a[i] * a[i], 0);
        if (!(Math.abs(s[i] - a[i] * a[i] - variance) <= varianceBound(to, variance, sourceS[i])))
          throw new Error(`S[${i}] = ${s[i]}, the ${from} state's ${sourceS[i]}, ḡ ${a[i]}`);
      }
      source.dispose();
      target.dispose();
    },
  );

  // A conversion between the compressed formats decodes and encodes a chunk at a time (64 blocks):
  // it must write what the whole-array route writes (decoded into float32, encoded from there).
  it.each([
    ['8bit', 'bfloat16'],
    ['bfloat16', '8bit'],
  ] as const)('a %s state loaded into %s is what going through float32 gives, across chunks', async (from, to) => {
    const sizes = { w: 5 * 65536 + 77, b: 3, c: 4100 };
    const options: RMSPropOptions = { momentum: 0.9 };
    const saved = (await run({ ...options, stateFormat: from }, 3, sizes)).saveState();
    const direct = await RMSProp.create(sizes, { ...options, stateFormat: to });
    direct.loadState(saved);
    const float32 = await RMSProp.create(sizes, options);
    float32.loadState(saved);
    const through = await RMSProp.create(sizes, { ...options, stateFormat: to });
    through.loadState(float32.saveState());
    expect(firstDifference(everything(direct), everything(through))).toBeUndefined();
    expect(direct.state.w.squareAvg.some((x) => x > 0)).toBe(true);
  });

  it('defaults to float32, in every preset; a group may set its own', async () => {
    for (const preset of Object.keys(PRESETS) as PresetName[]) {
      expect((await RMSProp.create({ w: 8 }, { preset })).options.stateFormat).toBe('float32');
    }
    const opt = await RMSProp.create([{ params: { a: 5000 } }, { params: { b: 5000 }, stateFormat: 'bfloat16' }], {
      stateFormat: '8bit',
    });
    expect(opt.groups.map((g) => g.stateFormat)).toEqual(['8bit', 'bfloat16']);
    expect(opt.stateBytes).toBe(5000 * 1 + Math.ceil(5000 / BLOCK) * 4 + 5000 * 2);
  });

  it('refuses a bad value before anything exists, and a change after create', async () => {
    await expect(RMSProp.create({ w: 8 }, { stateFormat: 'int8' as never })).rejects.toThrow(
      new TypeError(`option 'stateFormat' must be one of float32, bfloat16, 8bit, got "int8"`),
    );
    await expect(RMSProp.create({ w: 8 }, { stateFormat: 8 as never })).rejects.toThrow(TypeError);
    await expect(RMSProp.create([{ params: { w: 8 }, stateFormat: 'fp8' as never }])).rejects.toThrow(
      /option 'stateFormat' must be one of float32, bfloat16, 8bit, got "fp8"/,
    );
    const opt = await RMSProp.create({ w: 8 }, { stateFormat: '8bit' });
    expect(() => opt.setOptions(0, { stateFormat: 'float32' } as never)).toThrow(
      /option 'stateFormat' is fixed when the optimizer is created/,
    );
  });

  // The bfloat16 → bfloat16 load checks S's sign on the codes (a decoded copy of S cost 763 MB at
  // 200 M elements): a code is refused exactly when its value is negative (the edges, every 61st code).
  it('a bfloat16 square average loaded as stored is refused exactly where a code is negative (−0 and NaN are not)', async () => {
    const opt = await RMSProp.create({ w: 4096 }, { stateFormat: 'bfloat16' });
    const saved = opt.saveState({ arrays: 'float32' });
    const edges = [
      0, 1, 0x3f80, 0x7f80, 0x7f81, 0x7fff, 0x8000, 0x8001, 0xbf80, 0xff7f, 0xff80, 0xff81, 0xffc0, 0xffff,
    ];
    const tried = [...edges, ...Array.from({ length: 1075 }, (_, i) => i * 61)];
    const value = (code: number) => new Float32Array(Uint32Array.of(code << 16).buffer)[0];
    const refused = tried.filter((code, i) => {
      const codes = new Uint16Array(4096).fill(0x3f80); // 1.0
      codes[i % 4096] = code;
      try {
        opt.loadState({ ...saved, state: { w: { squareAvg: codes } } });
        return false;
      } catch (error) {
        expect(error).toBeInstanceOf(RangeError);
        return true;
      }
    });
    expect(refused).toEqual(tried.filter((code) => value(code) < 0));
    expect(refused).toEqual(expect.arrayContaining([0x8001, 0xbf80, 0xff7f, 0xff80]));
  });

  it("the memory plan: 400 M parameters fit in wasm's 4 GiB with 8-bit state, not with float32 (nothing allocated)", () => {
    const bytes = (stateFormat: StateFormat) => planLayout(readGroups({ w: 400e6 }, { stateFormat })).bytes;
    expect(bytes('float32')).toBeGreaterThan(MAX_HEAP_BYTES);
    expect(bytes('8bit')).toBeLessThan(MAX_HEAP_BYTES);
    // w and g (8 bytes) plus 1 + 4/1024 of state per element and 4/1024 of rounding keys (one u32 a
    // block), within a few MiB of gaps and tables
    expect(bytes('8bit') - 400e6 * (9 + 8 / 1024)).toBeLessThan(1 << 22);
    expect(bytes('bfloat16') - 400e6 * (10 + 4 / 1024)).toBeLessThan(1 << 22);
  });

  it('saved states of versions 1 and 2 (float32 arrays) still load, into float32 and compressed optimizers', async () => {
    const f32 = await run({ momentum: 0.9 }, 2);
    for (const version of [1, 2]) {
      const old = { ...f32.saveState(), version } as SavedState;
      delete (old as { compressed?: unknown }).compressed;
      const same = await RMSProp.create(SIZES, { momentum: 0.9 });
      same.loadState(old);
      expect(
        firstDifference(
          everything(same).filter((_, i) => i % 3),
          everything(f32).filter((_, i) => i % 3),
        ),
      ).toBeUndefined();
      const compressed = await RMSProp.create(SIZES, { momentum: 0.9, stateFormat: '8bit' });
      compressed.loadState(old);
      expect(compressed.state.big.momentum!.length).toBe(5000);
    }
  });

  it('setState checks everything first', async () => {
    const opt = await RMSProp.create({ w: 5000 }, { stateFormat: '8bit' });
    const before = opt.saveState();
    expect(() => opt.setState('w', { squareAvg: new Float32Array(4) })).toThrow(
      /has 4 elements, the parameter has 5000/,
    );
    expect(() => opt.setState('w', { momentum: new Float32Array(5000) })).toThrow(/keeps squareAvg, not "momentum"/);
    expect(() => opt.setState('w', { squareAvg: new Float32Array(5000).fill(-1) })).toThrow(/negative/);
    expect(() => opt.setState('v' as 'w', {})).toThrow(/no parameter is named "v"/);
    // a bare array where its record belongs (an empty one was taken as a record of nothing to write)
    for (const bare of [new Float32Array(0), new Float32Array(5000)])
      expect(() => opt.setState('w', bare as never)).toThrow(
        new TypeError('setState: values must be an object of Float32Arrays, got a Float32Array'),
      );
    expect(opt.saveState()).toEqual(before);
  });
});

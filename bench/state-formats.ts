// Issue 23: which compressed format should the state (S, momentum, ḡ) take? Every candidate is
// simulated here in float64 around float32 arithmetic (quantize → dequantize after each update), so
// the choice rests on measured error, not on the kernels it chose:
//   bfloat16 with round-to-nearest-even (rne) or stochastic rounding (sr);
//   8-bit small floats (EeMm) scaled per block by a power of two ≥ the block's absmax, rne or sr;
//   bitsandbytes' dynamic map (create_dynamic_map, signed for m/ḡ, unsigned for S), float32 absmax
//   per block of 2048, nearest code: the reference the issue names.
// Run: npx tsx bench/state-formats.ts [--quick]
import { loadIris, mulberry32, shuffle } from '../demo/iris.js';
import { allocate, initialize, Mlp, PARAM_NAMES, paramSizes, type Shape, type Tensors } from '../demo/mlp.js';
import { LR_GRID, RAVINE, REGION } from '../demo/ravine.js';
import { environment } from './environment.js';

const quick = process.argv.includes('--quick');
const f = Math.fround;
const random = mulberry32(12345);

/** Quantize → dequantize one block in place; `unsigned` for S (never negative). */
type Codec = { name: string; block: number; apply(x: Float64Array, unsigned: boolean): void };

// ---- bfloat16 -------------------------------------------------------------------------------
const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);
function bf16(x: number, stochastic: boolean): number {
  asFloat[0] = x;
  const b = bits[0];
  const add = stochastic ? Math.floor(random() * 65536) : 0x7fff + ((b >>> 16) & 1);
  bits[0] = ((b + add) >>> 16) << 16;
  return asFloat[0];
}
const bfloat16 = (stochastic: boolean): Codec => ({
  name: `bfloat16 ${stochastic ? 'sr' : 'rne'}`,
  block: 1,
  apply(x) {
    for (let i = 0; i < x.length; i++) x[i] = bf16(x[i], stochastic);
  },
});

// ---- 8-bit small floats with a power-of-two block scale --------------------------------------
/**
 * A small float of e exponent bits and m mantissa bits (plus a sign bit when signed), code 0 = 0, no
 * subnormals; the top binade is that of the block's absmax (rounded up). Values below the smallest
 * code go to 0 when signed (a smaller step), to the smallest code when unsigned (S: never 0, which
 * would make the step g/√ε).
 */
function miniFloat(e: number, m: number, stochastic: boolean, block: number): Codec {
  return {
    name: `${e + m === 8 ? 'u' : ''}E${e}M${m} ${stochastic ? 'sr' : 'rne'} /${block}`,
    block,
    apply(x) {
      const exp = e;
      const unsigned = e + m === 8;
      let max = 0;
      for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]));
      if (max === 0) return;
      let top = Math.floor(Math.log2(max));
      if (Math.ceil(max / 2 ** (top - m)) >= 2 ** (m + 1)) top++;
      const bottom = top - (2 ** exp - 1);
      const smallest = 2 ** bottom * (1 + 2 ** -m);
      for (let i = 0; i < x.length; i++) {
        const a = Math.abs(x[i]);
        if (a === 0) continue;
        const ulp = 2 ** (Math.max(Math.floor(Math.log2(a)), bottom) - m);
        const scaled = a / ulp;
        let q = stochastic ? Math.floor(scaled + random()) : roundHalfEven(scaled);
        q *= ulp;
        if (q < smallest) q = unsigned ? smallest : 0;
        x[i] = Math.sign(x[i]) * q;
      }
    },
  };
}
const roundHalfEven = (v: number) => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

// ---- bitsandbytes' dynamic map ---------------------------------------------------------------
/** bitsandbytes.functional.create_dynamic_map(signed, max_exponent_bits=7, total_bits=8). */
function dynamicMap(signed: boolean): Float64Array {
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const items = signed ? 2 ** i + 1 : 2 ** (i + 1) + 1;
    const bounds = Array.from({ length: items }, (_, j) => f(0.1 + (0.9 * j) / (items - 1)));
    for (let j = 0; j + 1 < items; j++) {
      const mean = f((bounds[j] + bounds[j + 1]) / 2);
      data.push(f(10 ** (i - 6) * mean));
      if (signed) data.push(f(-(10 ** (i - 6)) * mean));
    }
  }
  data.push(0, 1);
  return Float64Array.from(data.sort((a, b) => a - b));
}
const MAPS = { signed: dynamicMap(true), unsigned: dynamicMap(false) };
const bnb: Codec = {
  name: 'bnb dynamic /2048',
  block: 2048,
  apply(x, unsigned) {
    const map = unsigned ? MAPS.unsigned : MAPS.signed;
    let absmax = 0;
    for (let i = 0; i < x.length; i++) absmax = Math.max(absmax, Math.abs(x[i]));
    if (absmax === 0) return;
    absmax = f(absmax);
    for (let i = 0; i < x.length; i++) {
      const v = x[i] / absmax;
      let lo = 0,
        hi = map.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (map[mid] <= v) lo = mid;
        else hi = mid;
      }
      x[i] = f((v - map[lo] <= map[hi] - v ? map[lo] : map[hi]) * absmax);
    }
  },
};

/** S in one format (unsigned), momentum and ḡ in another (signed). */
const split = (s: Codec, m: Codec): Codec => ({
  name: `S ${s.name}, m/ḡ ${m.name}`,
  block: s.block,
  apply(x, unsigned) {
    (unsigned ? s : m).apply(x, unsigned);
  },
});

const float32: Codec = { name: 'float32', block: 1, apply() {} };

/** Applies `codec` block by block to a tensor's state. */
function quantize(codec: Codec, x: Float64Array, unsigned: boolean): void {
  if (codec === float32) return;
  const block = unsigned || !codec.name.includes('m/ḡ') ? codec.block : Number(codec.name.split('/').at(-1));
  for (let start = 0; start < x.length; start += block) {
    codec.apply(x.subarray(start, Math.min(start + codec.block, x.length)), unsigned);
  }
}

// ---- 1. quantize → dequantize error over realistic states -------------------------------------
/**
 * States after `steps` RMSProp steps (decay 0.99, momentum 0.9, lr 1) on gradients g = σ(μ + noise),
 * σ log-normal across elements (10^±spread), μ a per-element drift: the float64 reference.
 */
function realisticStates(n: number, spread: number, steps: number) {
  const sigma = new Float64Array(n),
    mu = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    sigma[i] = 10 ** (spread * gaussian()) * 1e-3;
    mu[i] = gaussian() * 0.5;
  }
  const S = new Float64Array(n),
    A = new Float64Array(n),
    M = new Float64Array(n);
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < n; i++) {
      const g = sigma[i] * (mu[i] + gaussian());
      S[i] = 0.99 * S[i] + 0.01 * g * g;
      A[i] = 0.99 * A[i] + 0.01 * g;
      M[i] = 0.9 * M[i] + g / Math.sqrt(S[i] - A[i] * A[i] + 1e-16);
    }
  }
  return { S, A, M };
}
function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function staticErrors(codecS: Codec, codecM: Codec, spread: number) {
  const { S, A, M } = realisticStates(quick ? 8192 : 32768, spread, quick ? 200 : 400);
  const s = S.slice(),
    a = A.slice(),
    m = M.slice();
  quantize(codecS, s, true);
  quantize(codecM, a, false);
  quantize(codecM, m, false);
  let step = 0,
    stepMax = 0,
    mErr = 0,
    mRef = 0,
    collapsed = 0;
  for (let i = 0; i < S.length; i++) {
    // the step's scale 1/√S: relative error
    const e = Math.abs(Math.sqrt(S[i] / s[i]) - 1);
    step += e;
    stepMax = Math.max(stepMax, e);
    mErr += (m[i] - M[i]) ** 2;
    mRef += M[i] ** 2;
    // centered: the variance S − ḡ² quantized falls below a tenth of the true one
    if (s[i] - a[i] * a[i] < 0.1 * (S[i] - A[i] * A[i])) collapsed++;
  }
  return {
    meanStepErr: step / S.length,
    maxStepErr: stepMax,
    momentumRelRms: Math.sqrt(mErr / mRef),
    centeredCollapsed: collapsed / S.length,
  };
}

// ---- 2. tracking: does S follow a gradient scale that falls by 100× over the run? --------------
function tracking(codec: Codec, decay: number): number {
  const n = 2048,
    steps = quick ? 1500 : 3000;
  const S = new Float64Array(n),
    ref = new Float64Array(n);
  for (let t = 0; t < steps; t++) {
    const scale = 10 ** (-2 * (t / steps));
    for (let i = 0; i < n; i++) {
      const g = f(scale * gaussian() * (1 + (i % 7)));
      ref[i] = decay * ref[i] + (1 - decay) * g * g;
      S[i] = f(f(f(decay) * f(S[i])) + f(f(1 - decay) * f(g * g)));
    }
    quantize(codec, S, true);
  }
  const ratios = Array.from(S, (s, i) => s / ref[i]).sort((x, y) => x - y);
  return ratios[n >> 1];
}

// ---- 3. training: the ravine and the Iris MLP with each format (seed preset) -------------------
interface Hyper {
  lr: number;
  decay: number;
  eps: number;
  momentum: number;
}
/** The kernel's update in float32 (eps in the root, lr in momentum as the seed preset), state quantized after each step. */
function rmspropStep(codec: Codec, h: Hyper, w: Float32Array, g: Float32Array, s: Float64Array, m: Float64Array) {
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    s[i] = f(f(f(h.decay) * f(s[i])) + f(f(1 - h.decay) * f(gi * gi)));
    const u = f(gi / f(Math.sqrt(f(s[i] + f(h.eps)))));
    if (h.momentum === 0) w[i] = f(w[i] - f(f(h.lr) * u));
    else {
      m[i] = f(f(f(h.momentum) * f(m[i])) + f(f(h.lr) * u));
      w[i] = f(w[i] - m[i]);
    }
  }
  quantize(codec, s, true);
  if (h.momentum !== 0) quantize(codec, m, false);
}

function ravineSteps(codec: Codec, h: Hyper): number | undefined {
  const w = Float32Array.from(RAVINE.start),
    g = new Float32Array(2),
    s = new Float64Array(2),
    m = new Float64Array(2);
  let lastOutside = 0;
  const max = 20_000;
  for (let t = 1; t <= max; t++) {
    g[0] = w[0];
    g[1] = RAVINE.kappa * w[1];
    rmspropStep(codec, h, w, g, s, m);
    if (!(Math.hypot(w[0], w[1]) < REGION)) lastOutside = t;
  }
  return lastOutside === max ? undefined : lastOutside + 1;
}

const IRIS_SHAPE: Shape = { inputs: 4, hidden: 16, classes: 3 };
function iris(codec: Codec, h: Hyper, epochs: number) {
  const { train, test } = loadIris(7);
  const rng = mulberry32(1);
  const p = allocate(IRIS_SHAPE);
  initialize(p, IRIS_SHAPE, rng);
  const grads = allocate(IRIS_SHAPE);
  const sizes = paramSizes(IRIS_SHAPE);
  const state = (): Record<string, Float64Array> =>
    Object.fromEntries(PARAM_NAMES.map((name) => [name, new Float64Array(sizes[name])]));
  const S = state(),
    M = state();
  const mlp = new Mlp(IRIS_SHAPE);
  const order = Int32Array.from({ length: train.count }, (_, i) => i);
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, rng);
    for (let start = 0; start < train.count; start += 10) {
      mlp.lossAndGrad(p, grads as Tensors, train, order.subarray(start, start + 10));
      for (const name of PARAM_NAMES) rmspropStep(codec, h, p[name], grads[name], S[name], M[name]);
    }
  }
  return { loss: mlp.evaluate(p, train).loss, accuracy: mlp.evaluate(p, test).accuracy };
}

// ---- the table ---------------------------------------------------------------------------------
const CODECS: Codec[] = [
  float32,
  bfloat16(false),
  bfloat16(true),
  bnb,
  // the choice (uE5M3 for S, E3M4 for momentum and ḡ, blocks of 1024), then its neighbours
  split(miniFloat(5, 3, false, 1024), miniFloat(3, 4, false, 1024)),
  split(miniFloat(5, 3, true, 1024), miniFloat(3, 4, true, 1024)),
  split(miniFloat(5, 3, true, 256), miniFloat(3, 4, true, 256)),
  split(miniFloat(5, 3, true, 4096), miniFloat(3, 4, true, 4096)),
  split(miniFloat(5, 3, true, 1024), miniFloat(4, 3, true, 1024)),
  split(miniFloat(6, 2, true, 1024), miniFloat(3, 4, true, 1024)),
  split(miniFloat(4, 4, true, 1024), miniFloat(3, 4, true, 1024)),
];

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
console.log(`State formats (issue 23) — ${environment()}${quick ? ', --quick' : ''}`);
console.log('\nuEeMm: unsigned (S), EeMm: 1 sign bit + e exponent + m mantissa bits (momentum, ḡ); /B: block size.');
// the rates at which float32 state settles fastest on the demo's grid, then the same for every format
const bestLr = (momentum: number) =>
  LR_GRID.map((lr) => ({ lr, steps: ravineSteps(float32, { lr, decay: 0.9, eps: 1e-8, momentum }) ?? Infinity })).sort(
    (x, y) => x.steps - y.steps,
  )[0].lr;
const ravineLr = { lr: bestLr(0), decay: 0.9, eps: 1e-8, momentum: 0 };
const ravineMomentum = { lr: bestLr(0.9), decay: 0.9, eps: 1e-8, momentum: 0.9 };
console.log(
  `ravine: κ ${RAVINE.kappa}, lr ${ravineLr.lr} (momentum: ${ravineMomentum.lr}); Iris: MLP 4-16-3, lr 0.01, batches of 10`,
);
console.log(
  '\n' +
    row([
      'format',
      '1/√S error mean (σ 10^±0.5)',
      'max',
      'momentum rel. RMS error',
      'centered var. collapses',
      'S tracking ×100 fall, decay 0.99',
      'decay 0.9',
      'ravine steps',
      'ravine + momentum 0.9',
      'Iris loss',
      'Iris held-out acc.',
    ]),
);
console.log(row(Array(11).fill('---')));
for (const codec of CODECS) {
  const e = staticErrors(codec, codec, 0.5);
  const r = iris(codec, { lr: 0.01, decay: 0.9, eps: 1e-8, momentum: 0 }, quick ? 100 : 200);
  console.log(
    row([
      codec.name,
      pct(e.meanStepErr),
      pct(e.maxStepErr),
      pct(e.momentumRelRms),
      pct(e.centeredCollapsed),
      tracking(codec, 0.99).toFixed(3),
      tracking(codec, 0.9).toFixed(3),
      ravineSteps(codec, ravineLr) ?? 'never',
      ravineSteps(codec, ravineMomentum) ?? 'never',
      r.loss.toFixed(4),
      pct(r.accuracy),
    ]),
  );
}

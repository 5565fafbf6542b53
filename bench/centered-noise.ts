// Issue 23: a centered group with compressed state where a gradient's mean outweighs its noise.
// There the variance S − ḡ² the step divides by is small beside ḡ², and ḡ's own rounding enters the
// next variance as (g − ḡ)². Gradients μ·(1 + r·N(0, 1)), μ from 1 to 2.7 across the elements, the
// centered seed preset at lr 1e-4, 400 steps, the same gradients for float32, bfloat16 and 8-bit state:
// each format's variance against float32's (median and 99th percentile of the ratio, elementwise) and
// the distance each parameter moved against float32's (median ratio).
// Run: npx tsx bench/centered-noise.ts [--quick]
import { RMSProp } from '../src/index.js';
import type { StateFormat } from '../src/options.js';
import { environment } from './environment.js';

const quick = process.argv.includes('--quick');
const N = 8192;
const STEPS = quick ? 100 : 400;
const NOISE = [0.1, 0.03, 0.01, 0.001];
const FORMATS: StateFormat[] = ['float32', 'bfloat16', '8bit'];

/** A seeded normal (Box–Muller over a 32-bit LCG): the same gradients for every format. */
function normals(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** After the run: each element's variance S − ḡ² (float64 from the decoded state) and distance moved. */
async function run(format: StateFormat, noise: number): Promise<{ variance: Float64Array; moved: Float64Array }> {
  const opt = await RMSProp.create({ w: N }, { centered: true, lr: 1e-4, stateFormat: format });
  const mean = Float64Array.from({ length: N }, (_, i) => 1 + (1.7 * i) / (N - 1));
  const normal = normals(7);
  const g = new Float32Array(N);
  for (let t = 0; t < STEPS; t++) {
    for (let i = 0; i < N; i++) g[i] = mean[i] * (1 + noise * normal());
    opt.step({ w: g });
  }
  const { squareAvg, gradAvg } = opt.state.w;
  const variance = Float64Array.from(squareAvg, (s, i) => s - gradAvg![i] * gradAvg![i]);
  const moved = Float64Array.from(opt.params.w, Math.abs); // from 0
  opt.dispose();
  return { variance, moved };
}

const quantile = (values: number[], q: number) => {
  const sorted = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const ratios = (a: Float64Array, b: Float64Array) => Array.from(a, (x, i) => x / b[i]);

console.log(`Centered, mean ≫ noise (issue 23) — ${environment()}${quick ? ', --quick' : ''}`);
console.log(`\n${N} elements, ${STEPS} steps, lr 1e-4, gradients μ·(1 + r·N(0, 1)), μ 1–2.7.`);
console.log(
  'Each format against float32: the variance S − ḡ² (median / p99 of the ratio), the distance moved (median).\n',
);
console.log('| r | bfloat16 variance | bfloat16 moved | 8-bit variance | 8-bit moved |');
console.log('| --- | --- | --- | --- | --- |');
for (const noise of NOISE) {
  const [float32, ...others] = await Promise.all(FORMATS.map((format) => run(format, noise)));
  const cells = others.flatMap(({ variance, moved }) => {
    const v = ratios(variance, float32.variance);
    return [
      `${quantile(v, 0.5).toFixed(2)} / ${quantile(v, 0.99).toFixed(2)}`,
      quantile(ratios(moved, float32.moved), 0.5).toFixed(3),
    ];
  });
  console.log(`| ${noise} | ${cells.join(' | ')} |`);
}

// Issue 23: the kernel's step with float32, bfloat16 and 8-bit state, timed directly (one thread, the
// simd backend), at 64 K elements (in cache) and 16 M (memory-bound), for the seed preset, momentum
// (TF.js users' usual choice) and centered + momentum, compressed state without and with its loads
// ahead (K.loadAhead, which an optimizer picks by timing: src/loads-ahead.ts): interleaved rounds
// (bench/measure.ts), medians, ratios within this one run.
// Run: npx tsx bench/state-kernels.ts [--quick] [--sizes 1024,4096]
import { compileBackend, createBackend } from '../src/backends.js';
import {
  CONSTANTS_BYTES,
  kernelMode,
  MODE,
  STATE_BLOCK,
  STATE_ELEMENT_BYTES,
  STATE_SCRATCH_BYTES,
  writeStepConstants,
} from '../src/kernel.js';
import { arrayFormat } from '../src/layout.js';
import { type RMSPropOptions, resolveOptions } from '../src/options.js';
import { commit, environment } from './environment.js';
import { FULL_PLAN, measure, QUICK_PLAN } from './measure.js';
import type { Variant } from './steps.js';

const quick = process.argv.includes('--quick');
const sizesArg = process.argv.indexOf('--sizes');
const SIZES = sizesArg > 0 ? process.argv[sizesArg + 1].split(',').map(Number) : [65_536, 16_777_216];
const FORMATS = [
  { name: 'float32', bits: MODE.STATE_FORMAT_FLOAT32, bytes: 4 },
  { name: 'bfloat16', bits: MODE.STATE_FORMAT_BFLOAT16, bytes: 2 },
  { name: '8bit', bits: MODE.STATE_FORMAT_8BIT, bytes: 1 },
] as const;
/** K.loadAhead: compressed state without and with its loads ahead. */
const LOADS_AHEAD = [0, 1] as const;
const key = (n: number, label: string, format: string, loadAhead: number) => `${n}/${label}/${format}/${loadAhead}`;
const PRESETS: Array<[string, RMSPropOptions]> = [
  ['seed', {}],
  ['momentum', { momentum: 0.9 }],
  ['centered + momentum', { centered: true, momentum: 0.9 }],
];

const align = (x: number) => Math.ceil(x / 64) * 64;

/** One heap per size: w and g, then each format's three state arrays (and 8-bit scales), shared by the presets. */
async function variantsAt(n: number): Promise<Variant[]> {
  await compileBackend('simd');
  let next = 2 * PRESETS.length * CONSTANTS_BYTES; // a constants block per preset and K.loadAhead, then the arrays
  const take = (bytes: number) => {
    const at = next;
    next += align(bytes);
    return at;
  };
  const w = take(4 * n);
  const g = take(4 * n);
  const blocks = Math.ceil(n / STATE_BLOCK);
  const scratch = take(STATE_SCRATCH_BYTES);
  const state = FORMATS.map((format) => ({
    format,
    s: take(format.bytes * n),
    a: take(STATE_ELEMENT_BYTES[arrayFormat(format.name, 'gradAvg')] * n), // ḡ: bfloat16 with 8 bits too
    m: take(format.bytes * n),
    sq: take(4 * blocks),
    mq: take(4 * blocks),
  }));
  const { buffer, kernel } = createBackend('simd', next);
  const floats = new Float32Array(buffer);
  let seed = 1;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
  for (let i = 0; i < n; i++) {
    floats[w / 4 + i] = random() - 0.5;
    floats[g / 4 + i] = (random() - 0.5) * 1e-2;
  }
  return PRESETS.flatMap(([label, options], p) => {
    const resolved = resolveOptions(options);
    return LOADS_AHEAD.flatMap((loadAhead) => {
      const k = (2 * p + loadAhead) * CONSTANTS_BYTES;
      writeStepConstants(floats, k / 4, resolved, 10, Float64Array.of(1e-3, 1, loadAhead));
      // float32 state has no loads ahead: timed once
      return state
        .filter(({ format }) => format.name !== 'float32' || loadAhead === 0)
        .map(({ format, s, a, m, sq, mq }): Variant => {
          const mode = kernelMode(resolved) | (format.bits << MODE.STATE_FORMAT_SHIFT);
          return {
            key: key(n, label, format.name, loadAhead),
            label: `${label}, ${format.name}${loadAhead ? ', loads ahead' : ''}`,
            bytes: 0,
            step: () => kernel.step(mode, n, w, g, s, a, m, k, sq, mq, scratch),
          };
        });
    });
  });
}

const plan = quick ? QUICK_PLAN : { ...FULL_PLAN, rounds: 11, budgetMs: 20_000 };
// COMMIT names the commit where there is no repository (a `git archive` export of one commit)
const env = environment({ commit: process.env.COMMIT ?? commit() });
console.log(`State kernels (issue 23) — ${env}${quick ? ', --quick' : ''}`);
console.log(
  '\nns an element; compressed state without / with its loads ahead, and its speed-up against float32 state.',
);
console.log('\n| elements | options | float32 | bfloat16 | 8-bit | bfloat16 speed-up | 8-bit speed-up |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const n of SIZES) {
  const variants = await variantsAt(n);
  const results = await measure(variants, plan);
  for (const [label] of PRESETS) {
    const ns = (format: string, loadAhead: number) => results[key(n, label, format, loadAhead)].nsPerStep / n;
    const float32 = ns('float32', 0);
    const both = (format: string, f: (x: number) => string) => LOADS_AHEAD.map((l) => f(ns(format, l))).join(' / ');
    const speedUp = (x: number) => `${(float32 / x).toFixed(2)}×`;
    console.log(
      `| ${n >= 1 << 20 ? `${n >> 20} M` : `${n >> 10} K`} | ${label} | ${float32.toFixed(3)} | ${both('bfloat16', (x) => x.toFixed(3))} | ${both('8bit', (x) => x.toFixed(3))} | ${both('bfloat16', speedUp)} | ${both('8bit', speedUp)} |`,
    );
  }
}

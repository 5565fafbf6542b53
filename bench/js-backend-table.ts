// The js backend against the plain JS loop a user would write (issue 22), in any JS runtime: per
// size, one interleaved run (bench/measure.ts) of the seed step and of centered + momentum. Run by
// bench/js-backend.ts (Node) and bench/js-backend-browsers.ts (the same code in Chromium, Firefox or WebKit).
import { measure, type Plan } from './measure.js';
import { plainRMSPropStep, SEED } from './plain.js';
import { gradient, type RMSPropClass, type Variant } from './steps.js';

const MOMENTUM = 0.9;
export const SIZES = [64 * 1024, 256 * 1024, 1024 * 1024];

/**
 * The plain loop for centered + momentum with the seed preset's conventions (ε inside the root, lr
 * inside the momentum buffer): float64 math, constants hoisted, as a user would write it.
 */
function plainCenteredMomentumStep(
  w: Float32Array,
  g: Float32Array,
  s: Float32Array,
  a: Float32Array,
  m: Float32Array,
): void {
  const { lr, decay, eps } = SEED;
  const oneMinusDecay = 1 - decay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const si = decay * s[i] + oneMinusDecay * gi * gi;
    const ai = decay * a[i] + oneMinusDecay * gi;
    s[i] = si;
    a[i] = ai;
    const mi = MOMENTUM * m[i] + (lr * gi) / Math.sqrt(si - ai * ai + eps);
    m[i] = mi;
    w[i] -= mi;
  }
}

/**
 * The js backend's seed loop (src/generated/js-kernels.ts, mode 0) with every Math.fround taken
 * out: not bit-identical, it shows what the float32 roundings cost, since everything else is kept.
 */
function unroundedSeedStep(
  w: Float32Array,
  g: Float32Array,
  s: Float32Array,
  decay: number,
  oneMinusDecay: number,
  eps: number,
  lr: number,
): void {
  for (let i = 0; i < w.length; i++) {
    let wi = w[i];
    const gi = g[i];
    let si = decay * s[i] + oneMinusDecay * (gi * gi);
    si = si < 1.1754943508222875e-38 ? si - si : si;
    s[i] = si;
    const u = gi / Math.sqrt(si + eps);
    wi = wi - lr * u;
    w[i] = wi;
  }
}

async function jsStep(lib: RMSPropClass, g: Float32Array, options = {}) {
  const opt = await lib.create({ w: g.length }, { backend: 'js', ...options });
  opt.params.w.fill(0.5);
  opt.grads.w.set(g);
  return { step: () => void opt.step(), dispose: () => opt.dispose() };
}

async function variants(lib: RMSPropClass, n: number): Promise<Variant[]> {
  const g = gradient(n);
  const arrays = () => ({
    w: new Float32Array(n).fill(0.5),
    s: new Float32Array(n),
    a: new Float32Array(n),
    m: new Float32Array(n),
  });
  const seed = arrays(),
    unrounded = arrays(),
    cm = arrays();
  const f = Math.fround;
  return [
    {
      key: 'plain',
      label: 'plain JS loop, seed',
      bytes: 20,
      step: () => plainRMSPropStep(seed.w, g, seed.s, SEED.lr, SEED.decay, SEED.eps),
    },
    { key: 'js', label: 'js backend, seed', bytes: 20, ...(await jsStep(lib, g)) },
    {
      key: 'unrounded',
      label: "js backend's seed loop without its roundings",
      bytes: 20,
      step: () =>
        unroundedSeedStep(unrounded.w, g, unrounded.s, f(SEED.decay), f(1 - SEED.decay), f(SEED.eps), f(SEED.lr)),
    },
    {
      key: 'plain-cm',
      label: 'plain JS loop, centered + momentum',
      bytes: 36,
      step: () => plainCenteredMomentumStep(cm.w, g, cm.s, cm.a, cm.m),
    },
    {
      key: 'js-cm',
      label: 'js backend, centered + momentum',
      bytes: 36,
      ...(await jsStep(lib, g, { centered: true, momentum: MOMENTUM })),
    },
  ];
}

export const TABLE_HEADER = [
  '| elements | plain, seed | js, seed | **js / plain** | js seed loop unrounded | plain, c+m | js, c+m | **js / plain** |',
  '|---|---|---|---|---|---|---|---|',
];

/** One markdown row per size: ns/element (medians over rounds) and the js backend's time over the plain loop's. */
export async function jsBackendRows(
  lib: RMSPropClass,
  plan: Plan,
  onRow: (row: string) => void = () => {},
): Promise<string[]> {
  const rows: string[] = [];
  for (const n of SIZES) {
    const vs = await variants(lib, n);
    const measured = await measure(vs, plan);
    for (const v of vs) v.dispose?.();
    const ns = (key: string) => measured[key].nsPerStep / n;
    const cell = (key: string) => ns(key).toFixed(2);
    const ratio = (key: string, base: string) => `**${(ns(key) / ns(base)).toFixed(2)}**`;
    const row = `| ${n / 1024} K | ${cell('plain')} | ${cell('js')} | ${ratio('js', 'plain')} | ${cell('unrounded')} | ${cell('plain-cm')} | ${cell('js-cm')} | ${ratio('js-cm', 'plain-cm')} |`;
    rows.push(row);
    onRow(row);
  }
  return rows;
}

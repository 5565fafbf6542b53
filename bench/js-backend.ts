// `npx tsx bench/js-backend.ts [--quick] [--no-pin]`: the js backend against the plain JS loop a
// user would write (issue 22), in one interleaved run per size, pinned like `npm run bench`:
// the seed step and centered + momentum, at 64 K, 256 K and 1 M elements. Prints ns/element and
// the js backend's time over the plain loop's (the target: at most 1.5).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { RMSProp } from '../src/index.js';
import { FULL_PLAN, measure, QUICK_PLAN } from './measure.js';
import { plainRMSPropStep, SEED } from './plain.js';
import { gradient, type Variant } from './steps.js';

const args = process.argv.slice(2);
const MOMENTUM = 0.9;
const SIZES = [64 * 1024, 256 * 1024, 1024 * 1024];

/**
 * The plain loop for centered + momentum with the seed preset's conventions (ε inside the root, lr
 * inside the momentum buffer): float64 math, constants hoisted, as a user would write it.
 */
function plainCenteredMomentumStep(w: Float32Array, g: Float32Array, s: Float32Array, a: Float32Array, m: Float32Array): void {
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

async function jsStep(g: Float32Array, options = {}) {
  const opt = await RMSProp.create({ w: g.length }, { backend: 'js', ...options });
  opt.params.w.fill(0.5);
  opt.grads.w.set(g);
  return { step: () => void opt.step(), dispose: () => opt.dispose() };
}

function variants(n: number): Promise<Variant[]> {
  const g = gradient(n);
  const w = new Float32Array(n).fill(0.5);
  const s = new Float32Array(n);
  const cm = { w: new Float32Array(n).fill(0.5), s: new Float32Array(n), a: new Float32Array(n), m: new Float32Array(n) };
  return Promise.all([
    { key: 'plain', label: 'plain JS loop, seed', bytes: 20, step: () => plainRMSPropStep(w, g, s, SEED.lr, SEED.decay, SEED.eps) },
    jsStep(g).then((v) => ({ key: 'js', label: 'js backend, seed', bytes: 20, ...v })),
    { key: 'plain-cm', label: 'plain JS loop, centered + momentum', bytes: 36, step: () => plainCenteredMomentumStep(cm.w, g, cm.s, cm.a, cm.m) },
    jsStep(g, { centered: true, momentum: MOMENTUM }).then((v) => ({ key: 'js-cm', label: 'js backend, centered + momentum', bytes: 36, ...v })),
  ]);
}

let pinning = 'not pinned (--no-pin)';
if (!args.includes('--no-pin')) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    pinning = 'pinned to CPU 0';
  } catch {
    pinning = 'not pinned (taskset unavailable)';
  }
}
const git = (...a: string[]) => execFileSync('git', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
let commit = 'unknown';
try {
  commit = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? ' with uncommitted changes in src/' : ''}`;
} catch {
  // not a git checkout
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const plan = args.includes('--quick') ? QUICK_PLAN : FULL_PLAN;
console.log(`js backend vs plain JS loop: ${os.cpus()[0].model.trim()}, Node ${process.version} (V8 ${process.versions.v8}), ${new Date().toISOString()}, commit ${commit}, ${pinning}, load average ${load}`);
console.log(`${plan.rounds} interleaved rounds per size; medians; ratio = js backend time / plain loop time\n`);
console.log('| elements | plain, seed | js, seed | ratio | plain, c+m | js, c+m | ratio |');
console.log('|---|---|---|---|---|---|---|');
for (const n of SIZES) {
  const vs = await variants(n);
  const m = await measure(vs, plan);
  for (const v of vs) v.dispose?.();
  const ns = (key: string) => m[key].nsPerStep / n;
  const cell = (key: string) => ns(key).toFixed(2);
  console.log(`| ${n / 1024} K | ${cell('plain')} | ${cell('js')} | ${(ns('js') / ns('plain')).toFixed(2)} | ${cell('plain-cm')} | ${cell('js-cm')} | ${(ns('js-cm') / ns('plain-cm')).toFixed(2)} |`);
}

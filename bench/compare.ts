// `npx tsx bench/compare.ts`: one quick look at what the wasm core buys. For each size it times the
// plain JS loop and the library's variants (bench/steps.ts) with the quick plan of `npm run bench`,
// interleaved round by round (bench/measure.ts), and prints ns/element and speed-ups.
import { RMSProp } from '../src/index.js';
import { environment } from './environment.js';
import { measure, QUICK_PLAN } from './measure.js';
import { gradient, libraryVariants } from './steps.js';

const SIZES = [16 * 1024, 256 * 1024, 4 * 1024 * 1024];

console.log(`RMSProp step, seed preset — ${environment()}; the median of ${QUICK_PLAN.rounds} interleaved rounds\n`);
for (const n of SIZES) {
  const variants = await libraryVariants(RMSProp, gradient(n));
  const measured = await measure(variants, QUICK_PLAN);
  const ns = (key: string) => measured[key].nsPerStep / n;
  console.log(`${n.toLocaleString('en-US')} elements`);
  for (const { key, label } of variants) {
    const speedUps = `${(ns('plain') / ns(key)).toFixed(2).padStart(6)}× plain JS   ${(ns('js') / ns(key)).toFixed(2).padStart(6)}× js backend`;
    console.log(`  ${label.padEnd(28)} ${ns(key).toFixed(3).padStart(8)} ns/element   ${speedUps}`);
  }
  for (const v of variants) v.dispose?.();
}

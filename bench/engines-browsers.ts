// `npx tsx bench/engines-browsers.ts [--quick]` (after `npm run build`): the seed step at 1 M elements in
// each browser engine of the tests (test/support/engine.ts): Chromium, Firefox ESR, WebKitGTK as Debian
// ships it and WebKitGTK with SharedArrayBuffer on (as Safari runs isolated pages). bench/'s own variants
// (steps.ts) and interleaved rounds (measure.ts), bundled for the browser as bench/js-backend-browsers.ts
// does, in a cross-origin isolated page. Prints markdown rows (engine, simd, wasm, js, plain JS, 2 threads;
// ns per element), ready to join the Node/Bun/Deno rows of an engine table. Not pinned: 2 threads need 2 cores.
import {
  ENGINE_NAMES,
  type EngineName,
  type EngineOptions,
  engineLeftOut,
  launchEngine,
} from '../test/support/engine.js';
import { environment, loadAverage, runtime } from './environment.js';
import { benchPath as here, serveIsolatedPage } from './isolated-page.js';

const quick = process.argv.includes('--quick');
const N = 1024 * 1024;
const entry = `
  import { availableBackends, RMSProp } from ${JSON.stringify(here('../dist/index.js'))};
  import { gradient, libraryVariants, threadVariants } from ${JSON.stringify(here('steps.ts'))};
  import { FULL_PLAN, QUICK_PLAN, measure } from ${JSON.stringify(here('measure.ts'))};
  globalThis.engineRow = async () => {
    const g = gradient(${N});
    const all = await libraryVariants(RMSProp, g, availableBackends());
    const keep = ['plain', 'js', 'wasm', 'simd'];
    for (const v of all) if (!keep.includes(v.key)) v.dispose?.();
    const variants = all.filter((v) => keep.includes(v.key));
    let threads = 0, reason = '';
    try {
      const set = await threadVariants(RMSProp, g);
      threads = set.twoThreads;
      reason = set.reason ?? '';
      set.variants[1].dispose?.(); // threads: 'auto' is not a column
      variants.push(set.variants[0]);
    } catch (error) {
      reason = String(error);
    }
    const measured = await measure(variants, ${quick ? 'QUICK_PLAN' : 'FULL_PLAN'});
    for (const v of variants) v.dispose?.();
    const ns = Object.fromEntries(Object.entries(measured).map(([key, m]) => [key, m.nsPerStep / ${N}]));
    return { ns, threads, reason, isolated: crossOriginIsolated };
  };`;
const server = await serveIsolatedPage(entry, true);

const CONFIGS: Array<{ name: EngineName; options?: EngineOptions }> = [
  ...ENGINE_NAMES.map((name) => ({ name })),
  { name: 'webkit', options: { sharedArrayBuffer: true } },
];
console.log(
  `Seed step at 1 M elements, ns/element, cross-origin isolated page (${quick ? 'QUICK_PLAN' : 'FULL_PLAN'}); ` +
    environment({ runtime: `the browser engine each row names (driven from ${runtime()})` }),
);
console.log('| engine | simd | wasm | js | plain JS | 2 threads |');
console.log('|---|---|---|---|---|---|');
const cell = (ns: number | undefined) => (ns === undefined ? '—' : ns.toFixed(2));
try {
  for (const { name, options } of CONFIGS) {
    const leftOut = engineLeftOut(name);
    if (leftOut) {
      console.log(`(${leftOut})`);
      continue;
    }
    const engine = await launchEngine(name, options);
    try {
      const page = await engine.newPage();
      await page.goto(server.origin);
      await page.waitFor('typeof globalThis.engineRow === "function"', 20_000);
      const row = await page.evaluate<{
        ns: Record<string, number>;
        threads: number;
        reason: string;
        isolated: boolean;
      }>('globalThis.engineRow()');
      const errors = await page.errors();
      await page.close();
      if (errors.length > 0) throw new Error(`${engine.version}: ${errors.join('; ')}`);
      const two =
        row.threads === 2 ? cell(row.ns['threads-2']) : `— (${row.threads ? `ran ${row.threads}: ` : ''}${row.reason})`;
      console.log(
        `| ${engine.version} | ${cell(row.ns.simd)} | ${cell(row.ns.wasm)} | ${cell(row.ns.js)} | ${cell(row.ns.plain)} | ${two} |`,
      );
    } finally {
      await engine.close();
    }
  }
} finally {
  await server.close();
}
console.log(`load ${loadAverage()} at the end`);

// `npx tsx bench/js-backend-browsers.ts [--engine chromium|firefox|webkit] [--dist path/to/dist/index.js]
// [--quick] [--no-pin]` (after `npx tsc -p .`): bench/js-backend-table.ts in a browser engine of the tests
// (test/support/engine.ts), on a built package as a browser bundle (this checkout's dist/ unless --dist names
// another build, such as an older commit's for a before/after), in a cross-origin isolated page (so that
// performance.now() is precise to microseconds), pinned to CPU 0 like bench/js-backend.ts (the browser and
// every process it starts).
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { ENGINE_NAMES, type EngineName, launchEngine } from '../test/support/engine.js';
import { commit, environment, loadAverage } from './environment.js';
import { benchPath as here, serveIsolatedPage } from './isolated-page.js';
import { TABLE_HEADER } from './js-backend-table.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at < 0 ? fallback : (args[at + 1] ?? '');
};
const engineName = option('--engine', 'chromium') as EngineName;
if (!ENGINE_NAMES.includes(engineName))
  throw new RangeError(`--engine must be one of ${ENGINE_NAMES.join(', ')}; got ${JSON.stringify(engineName)}`);
const dist = resolve(option('--dist', here('../dist/index.js')));
if (!args.includes('--no-pin'))
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

// The page runs the table in the background and keeps its rows: the run takes minutes, longer than one
// WebDriver script may last (WebKit: 120 s), so this process reads the rows as they come.
const entry = `
  import { RMSProp } from ${JSON.stringify(dist)};
  import { jsBackendRows } from ${JSON.stringify(here('js-backend-table.ts'))};
  import { FULL_PLAN, QUICK_PLAN } from ${JSON.stringify(here('measure.ts'))};
  globalThis.bench = { rows: [], done: false, error: '' };
  jsBackendRows(RMSProp, ${args.includes('--quick') ? 'QUICK_PLAN' : 'FULL_PLAN'}, (row) => globalThis.bench.rows.push(row)).then(
    () => (globalThis.bench.done = true),
    (error) => (globalThis.bench.error = String(error && error.stack || error)),
  );`;
const server = await serveIsolatedPage(entry, true);
const engine = await launchEngine(engineName);
try {
  const page = await engine.newPage();
  console.log(
    `js backend vs plain JS loop (ns/element), cross-origin isolated page: ` +
      `${environment({ runtime: engine.version, commit: commit(undefined, dirname(dist)) })}; library ${dist}`,
  );
  for (const line of TABLE_HEADER) console.log(line);
  await page.goto(server.origin);
  await page.waitFor('globalThis.bench !== undefined', 30_000);
  let printed = 0;
  for (;;) {
    // Polled every 2 s, not faster: each look runs in the page, between the benchmark's samples.
    await new Promise((wait) => setTimeout(wait, 2000));
    const state = await page.evaluate<{ rows: string[]; done: boolean; error: string }>('globalThis.bench');
    for (const row of state.rows.slice(printed)) console.log(row);
    printed = state.rows.length;
    if (state.error) throw new Error(`in ${engine.version}: ${state.error}`);
    if (state.done) break;
  }
  const errors = await page.errors();
  await page.close();
  if (errors.length > 0) throw new Error(`${engine.version}: ${errors.join('; ')}`);
  console.log(`load ${loadAverage()} at the end`);
} finally {
  await engine.close();
  await server.close();
}

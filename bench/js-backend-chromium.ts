// `npx tsx bench/js-backend-chromium.ts [--quick] [--no-pin]` (after `npx tsc -p .`): bench/js-backend-table.ts
// in headless Chromium (test/support/chromium.ts), on the built package as a browser bundle, in a cross-origin
// isolated page (so that performance.now() is precise to microseconds), pinned to CPU 0 like bench/js-backend.ts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { launchChromium } from '../test/support/chromium.js';
import { benchPath as here, serveIsolatedPage } from './isolated-page.js';
import { TABLE_HEADER } from './js-backend-table.js';

const args = process.argv.slice(2);
if (!args.includes('--no-pin'))
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const entry = `
  import { RMSProp } from ${JSON.stringify(here('../dist/index.js'))};
  import { jsBackendRows } from ${JSON.stringify(here('js-backend-table.ts'))};
  import { FULL_PLAN, QUICK_PLAN } from ${JSON.stringify(here('measure.ts'))};
  globalThis.rows = jsBackendRows(RMSProp, ${args.includes('--quick') ? 'QUICK_PLAN' : 'FULL_PLAN'}, (row) => console.log(row));`;
const server = await serveIsolatedPage(entry);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'error' || !message.text().includes('404')) console.log(message.text()); // the favicon
  });
  page.on('pageerror', (error) => console.error(error));
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const version = browser.version();
  console.log(
    `js backend vs plain JS loop (ns/element) in headless Chromium ${version}, cross-origin isolated page, ${new Date().toISOString()}, load average ${load()} at the start`,
  );
  for (const line of TABLE_HEADER) console.log(line);
  await page.goto(server.origin);
  await page.waitForFunction(() => (globalThis as { rows?: Promise<string[]> }).rows !== undefined);
  await page.evaluate(() => (globalThis as unknown as { rows: Promise<string[]> }).rows);
  console.log(`load average ${load()} at the end`);
} finally {
  await browser.close();
  await server.close();
}

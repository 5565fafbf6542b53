// The built package in real headless Chromium: it loads with no Node built-ins, every backend runs,
// and each gives the same bits as Node. Needs Debian's chromium (.ci/run installs it).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RMSProp } from '../src/index.js';
import { BACKENDS } from './helpers.js';
// @ts-expect-error: plain JS shared with the browser page
import { runFixedCase } from './browser/fixed-case.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json' };

let server: Server;
let browser: Browser;
let origin: string;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
    if (!path.startsWith(root) || !existsSync(path)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

it('the built entry imports no Node built-ins', () => {
  for (const file of readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.js')) continue;
    const source = readFileSync(join(root, 'dist', file), 'utf8');
    expect(source, file).not.toMatch(/from\s+['"](node:|fs|path|buffer|os|worker_threads)['"]|\bBuffer\./);
  }
});

it('all three backends in Chromium give the same bits as Node', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${origin}/test/browser/blank.html`);
  // A string, so that vitest's module transform leaves the page's own dynamic imports alone.
  const inBrowser = (await page.evaluate(`(async () => {
    const { RMSProp, availableBackends } = await import('/dist/index.js');
    const { runFixedCase } = await import('/test/browser/fixed-case.js');
    const results = [];
    for (const backend of ${JSON.stringify(BACKENDS)}) results.push(await runFixedCase(RMSProp, backend));
    return { available: availableBackends(), results };
  })()`)) as { available: string[]; results: Array<Record<string, unknown>> };
  expect(errors).toEqual([]);
  expect(inBrowser.available).toEqual(['simd', 'wasm', 'js']);
  for (const [i, backend] of BACKENDS.entries()) {
    const inNode = await runFixedCase(RMSProp, backend);
    expect(inBrowser.results[i].backend).toBe(backend);
    expect(inBrowser.results[i]).toEqual(inNode);
  }
  // and the backends agree with each other (the fixed case has no NaN)
  expect({ ...inBrowser.results[0], backend: '' }).toEqual({ ...inBrowser.results[2], backend: '' });
  await page.close();
}, 60_000);

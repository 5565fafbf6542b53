// The built package in real headless Chromium: it loads with no Node built-ins, every backend runs,
// and each gives the same bits as Node. Needs Debian's chromium (.ci/run installs it).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { serveFiles, type StaticServer } from '../support/static-server.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { BACKENDS } from '../support/helpers.js';
// @ts-expect-error: plain JS shared with the browser page
import { runFixedCase } from './browser/fixed-case.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

let server: StaticServer;
let browser: Browser;
let origin: string;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  // ?isolated serves the page cross-origin isolated, which SharedArrayBuffer (threads) needs
  const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  server = await serveFiles(root, { headers: (url) => (url.searchParams.has('isolated') ? isolation : {}) });
  origin = server.origin;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it('the built package mentions Node built-ins only in its Node platform module', () => {
  for (const file of readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.js') || file === join('platform', 'node.js')) continue;
    const source = readFileSync(join(root, 'dist', file), 'utf8');
    expect(source, file).not.toMatch(/node:|\brequire\(|\bBuffer\./);
  }
  const { browser } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  expect(browser).toEqual({ './dist/platform/node.js': './dist/platform/browser.js' });
});

it('all three backends in Chromium give the same bits as Node', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${origin}/test/package/browser/blank.html`);
  // A string, so that vitest's module transform leaves the page's own dynamic imports alone.
  const inBrowser = (await page.evaluate(`(async () => {
    const { RMSProp, availableBackends } = await import('/dist/index.js');
    const { runFixedCase } = await import('/test/package/browser/fixed-case.js');
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

async function fixedCaseInPage(query: string, backend: string, threads: number) {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${origin}/test/package/browser/blank.html${query}`);
  const result = (await page.evaluate(`(async () => {
    const { RMSProp } = await import('/dist/index.js');
    const { runFixedCase } = await import('/test/package/browser/fixed-case.js');
    return { isolated: self.crossOriginIsolated, ...(await runFixedCase(RMSProp, ${JSON.stringify(backend)}, ${threads})) };
  })()`)) as Record<string, unknown>;
  await page.close();
  expect(errors).toEqual([]);
  return result;
}

it.each(['simd', 'wasm'])(
  'threads in a cross-origin isolated page give the same bits as one thread in Node (%s)',
  async (backend) => {
    const { isolated, ...inBrowser } = await fixedCaseInPage('?isolated', backend, 2);
    expect(isolated).toBe(true);
    expect(inBrowser.threads).toBe(2);
    const inNode = await runFixedCase(RMSProp, backend);
    expect([inNode.skipped, inNode.steps]).toEqual([[4], 9]); // the NaN step was skipped, here and there
    expect({ ...inBrowser, threads: 1 }).toEqual(inNode);
  },
  60_000,
);

it('without cross-origin isolation the optimizer runs on one thread and says why', async () => {
  const { isolated, ...inBrowser } = await fixedCaseInPage('', 'simd', 2);
  expect(isolated).toBe(false);
  expect(inBrowser.threads).toBe(1);
  expect(inBrowser.threadsReason).toMatch(/cross-origin isolated/);
  expect({ ...inBrowser, threads: 1, threadsReason: null }).toEqual(await runFixedCase(RMSProp, 'simd'));
}, 60_000);

// The packed package in a fresh project under Vite's dev server (`vite`, what browser users run all
// day), where bundlers.test.ts checks `vite build` only: the dev server pre-bundles dependencies
// (optimizeDeps, into node_modules/.vite/deps) and serves the page's own modules unbundled. The page is
// bundlers.test.ts's (bundlers/page.js with browser/fixed-case.js), loaded in headless Chromium from two
// dev servers, as an app configures them:
//   plain     no headers: every backend, one thread (not cross-origin isolated)
//   isolated  server.headers COOP/COEP: 2 threads
// Each page's bits must equal what the installed package gives in Node, with no page error, no
// console error and no warning in Vite's log. Needs Debian's chromium.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { createLogger, createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectOneThreadEach, ISOLATED, type PageCheck } from '../support/check-page.js';
import { launchChromium } from '../support/chromium.js';
import { BACKENDS } from '../support/helpers.js';
import { freshProject, pack, root, tempDir } from '../support/pack.js';
// @ts-expect-error: plain JS shared with the browser pages
import { runFixedCase } from './browser/fixed-case.js';

type Mode = 'plain' | 'isolated';
const MODES: Mode[] = ['plain', 'isolated'];

const tmp = tempDir('vite-dev');
let app: string;
const servers = new Map<Mode, ViteDevServer>();
/** What each server's logger said at warn level or above (the optimizer's complaints land here). */
const viteLog = new Map<Mode, string[]>();
let browser: Browser;
const inNode: Record<string, Record<string, unknown>> = {};

/** Vite's logger, quiet, keeping its warnings and errors. */
function recordingLogger(sink: string[]) {
  const logger = createLogger('info', { allowClearScreen: false });
  logger.info = () => {};
  logger.warn = (message) => void sink.push(`warn: ${message}`);
  logger.warnOnce = (message) => void sink.push(`warn: ${message}`);
  logger.error = (message) => void sink.push(`error: ${message}`);
  return logger;
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  const { tarball } = await pack(tmp.path);
  app = join(tmp.path, 'app');
  mkdirSync(join(app, 'src'), { recursive: true });
  await freshProject(app, tarball);
  copyFileSync(join(root, 'test/package/bundlers/page.js'), join(app, 'src/index.js'));
  copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(app, 'src/fixed-case.js'));
  // (an icon, so that the browser's request for /favicon.ico does not log a 404 as a console error)
  writeFileSync(
    join(app, 'index.html'),
    '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>rmsprop-wasm dev</title><script type="module" src="/src/index.js"></script>\n',
  );
  // Node's bits from the package as installed
  const installed = await import(pathToFileURL(join(app, 'node_modules/rmsprop-wasm/dist/index.js')).href);
  for (const backend of BACKENDS) inNode[backend] = await runFixedCase(installed.RMSProp, backend);
  // = `vite` in the app, with `server.headers` for the isolated one; a cache folder each, as two apps have
  await Promise.all(
    MODES.map(async (mode) => {
      const log: string[] = [];
      viteLog.set(mode, log);
      const server = await createServer({
        root: app,
        configFile: false,
        customLogger: recordingLogger(log),
        cacheDir: join(app, `node_modules/.vite-${mode}`),
        server: { host: '127.0.0.1', port: 0, headers: mode === 'isolated' ? ISOLATED : {} },
      });
      servers.set(mode, server);
      await server.listen();
    }),
  );
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([...servers.values()].map((server) => server.close()));
  tmp.remove();
});

/** Loads the dev server's page and runs the fixed case; also the paths of what the page fetched. */
async function check(
  mode: Mode,
  backends: readonly string[],
  threads: number,
): Promise<{ result: PageCheck; fetched: string[] }> {
  const server = servers.get(mode)!;
  const origin = server.resolvedUrls!.local[0]!.replace(/\/$/, '');
  const tab = await browser.newPage();
  const errors: string[] = [];
  const fetched: string[] = [];
  tab.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  tab.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  tab.on('response', (r) => {
    if (r.url().startsWith(origin)) fetched.push(new URL(r.url()).pathname);
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  try {
    await tab.goto(`${origin}/`);
    await tab.waitForFunction('typeof globalThis.rmspropCheck === "function"', undefined, { timeout: 30_000 });
    const result = (await tab.evaluate(
      `globalThis.rmspropCheck(${JSON.stringify({ backends, threads })})`,
    )) as PageCheck;
    expect(errors).toEqual([]);
    expect(viteLog.get(mode)).toEqual([]);
    return { result, fetched };
  } finally {
    await tab.close();
  }
}

it.each(MODES)(
  '%s: the dev server pre-bundles the package, with its browser platform module and no node: specifier',
  async (mode) => {
    const { fetched } = await check(mode, [], 1);
    // the page reached the package through the optimizer's pre-bundle, not through its files
    expect(fetched).toContain(`/node_modules/.vite-${mode}/deps/rmsprop-wasm.js`);
    expect(fetched.filter((path) => path.includes('/rmsprop-wasm/'))).toEqual([]);
    const bundle = readFileSync(join(app, `node_modules/.vite-${mode}/deps/rmsprop-wasm.js`), 'utf8');
    expect(bundle).toContain('URL.createObjectURL'); // dist/platform/browser.js's Web Workers
    expect(bundle).not.toContain('worker_threads'); // dist/platform/node.js left out (package.json `browser`)
    expect(bundle).not.toMatch(/["'`]node:/);
  },
  60_000,
);

it('plain page: auto picks simd, every backend gives the bits Node gives, on one thread', async () => {
  const { result } = await check('plain', BACKENDS, 2);
  expect(result.isolated).toBe(false);
  expect(result.auto).toEqual({ backend: 'simd', backendReason: null });
  expectOneThreadEach(result, BACKENDS, inNode, /cross-origin isolated/);
}, 60_000);

it('cross-origin isolated page (server.headers): 2 threads give the bits of one thread in Node', async () => {
  const { result } = await check('isolated', BACKENDS, 2);
  expect(result.isolated).toBe(true);
  expect(result.available).toEqual(['simd', 'wasm', 'js']);
  expect(result.auto).toEqual({ backend: 'simd', backendReason: null });
  for (const [i, backend] of BACKENDS.entries()) {
    const { threads, threadsReason, ...bits } = result.results[i]!;
    expect(bits.error, backend).toBeUndefined();
    expect(threads, backend).toBe(backend === 'js' ? 1 : 2);
    expect(threadsReason, backend).toEqual(backend === 'js' ? expect.stringMatching(/js backend/) : null);
    expect({ ...bits, threads: 1, threadsReason: null }, backend).toEqual(inNode[backend]);
  }
}, 60_000);

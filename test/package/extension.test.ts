// Browser extensions (Manifest V3) in Chromium: an extension sends no headers, and its manifest takes
// their place. The packed package in a fresh project, bundled by esbuild into three unpacked
// extensions, each with a page and a background service worker that run the fixed case:
//   plain     Manifest V3's defaults: its policy (script-src 'self') refuses wasm
//   wasm      'wasm-unsafe-eval' in content_security_policy.extension_pages; not cross-origin isolated
//   isolated  that, and cross_origin_embedder_policy / cross_origin_opener_policy: its pages isolated
// An audit found the reasons telling an extension to fix "the page's" policy and to send response
// headers; they name the manifest's keys. Each backend's bits must equal what the sources give in Node.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type BrowserContext, type Worker } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { CHROMIUM } from '../support/chromium.js';
import type { PageCheck } from '../support/check-page.js';
import { BACKENDS } from '../support/helpers.js';
import { freshProject, pack, root, tempDir } from '../support/pack.js';
// @ts-expect-error: plain JS shared with the browser pages
import { runFixedCase } from './browser/fixed-case.js';

const tmp = tempDir('extension');
const WASM_CSP = { extension_pages: "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'" };
const EXTENSIONS: Record<string, Record<string, unknown>> = {
  plain: {},
  wasm: { content_security_policy: WASM_CSP },
  isolated: {
    content_security_policy: WASM_CSP,
    cross_origin_embedder_policy: { value: 'require-corp' },
    cross_origin_opener_policy: { value: 'same-origin' },
  },
};
const ENTRY = `import { RMSProp, availableBackends } from 'rmsprop-wasm';
import { exposeCheck } from './fixed-case.js';
exposeCheck(RMSProp, availableBackends);`;

let context: BrowserContext;
const ids = new Map<string, string>();
const serviceWorkers = new Map<string, Worker>();
const inNode: Record<string, Record<string, unknown>> = {};

beforeAll(async () => {
  const app = join(tmp.path, 'app');
  mkdirSync(join(app, 'src'), { recursive: true });
  await freshProject(app, (await pack(tmp.path)).tarball);
  copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(app, 'src', 'fixed-case.js'));
  writeFileSync(join(app, 'src', 'page.js'), ENTRY);
  const dirs: string[] = [];
  for (const [name, keys] of Object.entries(EXTENSIONS)) {
    const dir = join(tmp.path, name);
    dirs.push(dir);
    mkdirSync(dir);
    writeFileSync(join(app, 'src', `bg-${name}.js`), `${ENTRY}\nself.extension = '${name}';`);
    const manifest = { manifest_version: 3, name: `rmsprop-wasm ${name}`, version: '1.0', ...keys };
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({ ...manifest, background: { service_worker: 'bg.js', type: 'module' } }),
    );
    writeFileSync(join(dir, 'page.html'), '<!doctype html><script type="module" src="page.js"></script>\n');
    for (const [from, to] of [
      ['page.js', 'page.js'],
      [`bg-${name}.js`, 'bg.js'],
    ]) {
      await esbuild.build({
        absWorkingDir: app,
        entryPoints: [`src/${from}`],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        outfile: join(dir, to),
        logLevel: 'silent',
      });
    }
  }
  for (const backend of BACKENDS) inNode[backend] = await runFixedCase(RMSProp, backend);
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmp.path, 'profile-')), {
    executablePath: CHROMIUM,
    headless: false, // (--headless=new below loads extensions; branded Chrome 137+ ignores --load-extension)
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--disable-extensions-except=${dirs.join(',')}`,
      `--load-extension=${dirs.join(',')}`,
    ],
  });
  const deadline = Date.now() + 60_000;
  while (serviceWorkers.size < dirs.length && Date.now() < deadline) {
    for (const worker of context.serviceWorkers()) {
      const name = (await worker.evaluate('self.extension').catch(() => undefined)) as string | undefined;
      if (name && !serviceWorkers.has(name)) {
        serviceWorkers.set(name, worker);
        ids.set(name, new URL(worker.url()).host);
      }
    }
    if (serviceWorkers.size < dirs.length) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const missing = Object.keys(EXTENSIONS).filter((name) => !serviceWorkers.has(name));
  if (missing.length) throw new Error(`these extensions' service workers did not start in 60 s: ${missing.join(', ')}`);
}, 300_000);

afterAll(async () => {
  await context?.close();
  tmp.remove();
});

const request = (backends: readonly string[], threads: number) =>
  `globalThis.rmspropCheck(${JSON.stringify({ backends, threads })})`;

async function onPage(name: string, backends: readonly string[], threads: number): Promise<PageCheck> {
  const page = await context.newPage();
  try {
    await page.goto(`chrome-extension://${ids.get(name)}/page.html`);
    await page.waitForFunction('typeof globalThis.rmspropCheck === "function"', undefined, { timeout: 20_000 });
    return (await page.evaluate(request(backends, threads))) as PageCheck;
  } finally {
    await page.close();
  }
}

const inServiceWorker = async (name: string, backends: readonly string[], threads: number) =>
  (await serviceWorkers.get(name)!.evaluate(request(backends, threads))) as PageCheck;

it("Manifest V3's default policy refuses wasm: js, and the reason names the manifest's key", async () => {
  for (const check of [await onPage('plain', ['js', 'simd'], 1), await inServiceWorker('plain', ['js', 'simd'], 1)]) {
    expect(check.available).toEqual(['js']);
    expect(check.auto.backend).toBe('js');
    expect(check.auto.backendReason).toMatch(
      /^this extension refuses to compile WebAssembly: .*'wasm-unsafe-eval' in manifest\.json's content_security_policy\.extension_pages/,
    );
    expect(check.results[0]).toEqual(inNode.js);
    expect(check.results[1].error).toMatch(/^Error: backend 'simd' is not available: this extension refuses/);
  }
}, 60_000);

it("with 'wasm-unsafe-eval', every backend runs, one thread, and the reason names the manifest's isolation keys", async () => {
  for (const [where, check] of [
    ['page', await onPage('wasm', BACKENDS, 2)],
    ['service worker', await inServiceWorker('wasm', BACKENDS, 2)],
  ] as const) {
    expect(check.isolated, where).toBe(false);
    for (const [i, backend] of BACKENDS.entries()) {
      const { threads, threadsReason, ...bits } = check.results[i];
      expect(threads, `${where} ${backend}`).toBe(1);
      expect(threadsReason, `${where} ${backend}`).toMatch(
        backend === 'js'
          ? /js backend/
          : where === 'page'
            ? /^this extension page is not cross-origin isolated.*"cross_origin_embedder_policy"/
            : /^an extension's service worker is not cross-origin isolated.*offscreen document/,
      );
      expect({ ...bits, threads: 1, threadsReason: null }, `${where} ${backend}`).toEqual(inNode[backend]);
    }
  }
}, 60_000);

it("with the manifest's isolation keys, an extension page runs 2 threads, with the bits of one thread in Node", async () => {
  const check = await onPage('isolated', ['simd', 'wasm'], 2);
  expect(check.isolated).toBe(true);
  for (const [i, backend] of ['simd', 'wasm'].entries()) {
    expect(check.results[i].threads, backend).toBe(2);
    expect({ ...check.results[i], threads: 1 }, backend).toEqual(inNode[backend]);
  }
}, 60_000);

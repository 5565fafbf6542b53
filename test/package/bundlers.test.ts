// The packed package in a fresh project, bundled for the browser by esbuild, webpack 5, Rollup 4
// and Vite with no configuration beyond what each needs to find the page, then run in real
// headless Chromium under four server policies:
//   plain     no headers: every backend, one thread (not cross-origin isolated)
//   isolated  COOP/COEP: 2 threads
//   strict    COOP/COEP + CSP script-src 'self' 'wasm-unsafe-eval'; worker-src 'self': no blob:
//             workers, so one thread, and threadsReason names worker-src
//   nowasm    COOP/COEP + CSP without 'wasm-unsafe-eval': 'auto' falls back to js and says why
// Each page's bits must equal what the sources give in Node. Needs Debian's chromium.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import * as esbuild from 'esbuild';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { serveFiles, type StaticServer } from '../support/static-server.js';
import { expectNoWasm, expectOneThreadEach, pageHeaders, type PageCheck } from '../support/check-page.js';
import { rollup } from 'rollup';
import { build as viteBuild } from 'vite';
import webpack from 'webpack';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { BACKENDS } from '../support/helpers.js';
import { freshProject, pack, root, tempDir } from '../support/pack.js';
// @ts-expect-error: plain JS shared with the browser pages
import { runFixedCase } from './browser/fixed-case.js';

type Bundler = 'esbuild' | 'webpack' | 'rollup' | 'vite';
const BUNDLERS: Bundler[] = ['esbuild', 'webpack', 'rollup', 'vite'];
const page = (script: string, type = 'module') =>
  `<!doctype html><meta charset="utf-8"><title>rmsprop-wasm bundled</title><script type="${type}" src="${script}"></script>\n`;

/** Each bundler as its documentation's quick start uses it; writes `out` (index.html and the bundle). */
const BUILD: Record<Bundler, (app: string, out: string) => Promise<void>> = {
  async esbuild(app, out) {
    // = esbuild src/index.js --bundle --format=esm --platform=browser --outfile=out/bundle.js
    await esbuild.build({
      absWorkingDir: app,
      entryPoints: ['src/index.js'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outfile: join(out, 'bundle.js'),
      logLevel: 'silent',
    });
    writeFileSync(join(out, 'index.html'), page('./bundle.js'));
  },
  async webpack(app, out) {
    // webpack's defaults: entry ./src, production mode; only the output folder is ours
    const stats = await new Promise<webpack.Stats>((resolve, reject) => {
      webpack({ mode: 'production', context: app, output: { path: out } }, (error, result) =>
        error ? reject(error) : resolve(result!),
      );
    });
    if (stats.hasErrors()) throw new Error(stats.toString({ all: false, errors: true }));
    writeFileSync(join(out, 'index.html'), page('./main.js', 'text/javascript'));
  },
  async rollup(app, out) {
    const bundle = await rollup({
      input: join(app, 'src/index.js'),
      plugins: [nodeResolve({ browser: true })],
      logLevel: 'silent',
    });
    await bundle.write({ file: join(out, 'bundle.js'), format: 'es' });
    await bundle.close();
    writeFileSync(join(out, 'index.html'), page('./bundle.js'));
  },
  async vite(app, out) {
    // = vite build, with the app's index.html as its entry
    writeFileSync(join(app, 'index.html'), page('/src/index.js'));
    await viteBuild({ root: app, configFile: false, logLevel: 'silent', build: { outDir: out, emptyOutDir: true } });
  },
};

const tmp = tempDir('bundlers');
const built = new Map<Bundler, { out: string; error?: Error; raw: number; gzip: number; sources: string }>();
const servers: StaticServer[] = [];
const origins = new Map<Bundler, string>();
let browser: Browser;
const inNode: Record<string, Record<string, unknown>> = {};

/** Serves `dir`; `?mode=` picks the document's headers (PAGE_MODES). */
async function serve(dir: string): Promise<string> {
  const served = await serveFiles(dir, { headers: pageHeaders });
  servers.push(served);
  return served.origin;
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.js'))
    .map((file) => join(dir, file));
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  const { tarball } = await pack(tmp.path);
  const app = join(tmp.path, 'app');
  mkdirSync(join(app, 'src'), { recursive: true });
  await freshProject(app, tarball);
  copyFileSync(join(root, 'test/package/bundlers/page.js'), join(app, 'src/index.js'));
  copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(app, 'src/fixed-case.js'));
  // One at a time: they share two cores with the rest of the suite.
  for (const bundler of BUNDLERS) {
    const out = join(tmp.path, `out-${bundler}`);
    mkdirSync(out, { recursive: true });
    try {
      await BUILD[bundler](app, out);
      const sources = jsFiles(out)
        .map((file) => readFileSync(file, 'utf8'))
        .join('\n');
      built.set(bundler, {
        out,
        raw: Buffer.byteLength(sources),
        gzip: jsFiles(out).reduce((n, f) => n + gzipSync(readFileSync(f)).length, 0),
        sources,
      });
      origins.set(bundler, await serve(out));
    } catch (error) {
      built.set(bundler, { out, error: error as Error, raw: 0, gzip: 0, sources: '' });
    }
  }
  console.log(
    `bundle sizes (all .js files of the page, bytes):\n${BUNDLERS.map((b) => {
      const { raw, gzip, error } = built.get(b)!;
      return error ? `  ${b}: failed` : `  ${b}: ${raw} raw, ${gzip} gzip`;
    }).join('\n')}`,
  );
  for (const backend of BACKENDS) inNode[backend] = await runFixedCase(RMSProp, backend);
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((served) => served.close()));
  tmp.remove();
});

/** Loads the bundler's page under `mode` and runs the fixed case on `backends` with `threads`. */
async function check(bundler: Bundler, mode: string, backends: readonly string[], threads: number): Promise<PageCheck> {
  const { error } = built.get(bundler)!;
  if (error) throw new Error(`${bundler} could not bundle the page: ${error.message}`);
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (e) => errors.push(e.message));
  try {
    await tab.goto(`${origins.get(bundler)}/?mode=${mode}`);
    await tab.waitForFunction('typeof globalThis.rmspropCheck === "function"', undefined, { timeout: 20_000 });
    const result = (await tab.evaluate(
      `globalThis.rmspropCheck(${JSON.stringify({ backends, threads })})`,
    )) as PageCheck;
    expect(errors).toEqual([]);
    return result;
  } finally {
    await tab.close();
  }
}

it.each(BUNDLERS)('%s bundles the page with no node: specifier in it', (bundler) => {
  const { error, sources } = built.get(bundler)!;
  if (error) throw new Error(`${bundler} could not bundle the page: ${error.message}`);
  expect(sources).toContain('rmspropCheck'); // the page itself made it in
  expect(sources).not.toMatch(/["'`]node:/);
});

it.each(BUNDLERS)(
  '%s, plain page: every backend gives the bits Node gives, on one thread',
  async (bundler) => {
    const result = await check(bundler, 'plain', BACKENDS, 2);
    expect(result.isolated).toBe(false);
    expect(result.auto).toEqual({ backend: 'simd', backendReason: null });
    expectOneThreadEach(result, BACKENDS, inNode, /cross-origin isolated/);
  },
  60_000,
);

it.each(BUNDLERS)(
  '%s, cross-origin isolated page: 2 threads give the bits of one thread in Node',
  async (bundler) => {
    const result = await check(bundler, 'isolated', ['simd', 'wasm'], 2);
    expect(result.isolated).toBe(true);
    for (const [i, backend] of ['simd', 'wasm'].entries()) {
      expect(result.results[i].threads, backend).toBe(2);
      expect({ ...result.results[i], threads: 1 }, backend).toEqual(inNode[backend]);
    }
  },
  60_000,
);

it.each(BUNDLERS)(
  "%s, strict CSP (worker-src 'self'): one thread, and threadsReason names worker-src",
  async (bundler) => {
    const result = await check(bundler, 'strict', BACKENDS, 2);
    expect(result.isolated).toBe(true);
    expectOneThreadEach(result, BACKENDS, inNode, /worker-src/);
  },
  60_000,
);

it.each(BUNDLERS)(
  "%s, CSP without 'wasm-unsafe-eval': auto runs js and says why, forced wasm backends name the CSP",
  async (bundler) => {
    const result = await check(bundler, 'nowasm', ['js', 'simd', 'wasm'], 1);
    expectNoWasm(result, inNode);
  },
  60_000,
);

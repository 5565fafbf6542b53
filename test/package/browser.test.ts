// The built package in real browsers, one engine after another (test/support/engine.ts): Chromium,
// Firefox ESR and WebKitGTK. Pages load dist/ as it ships, with no bundler (check.html by path,
// import-map.html by the package's name), and each page's bits equal Node's, under four server policies:
//   plain     no headers: every backend, one thread (not cross-origin isolated)
//   isolated  COOP/COEP: 2 threads
//   strict    COOP/COEP + CSP script-src 'self' 'wasm-unsafe-eval'; worker-src 'self': no blob:
//             workers, so one thread, and threadsReason names worker-src
//   nowasm    COOP/COEP + CSP without 'wasm-unsafe-eval': 'auto' falls back to js and says why
// Needs Debian's chromium, firefox-esr, webkit2gtk-driver and xvfb (.ci/run installs them).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import {
  ENGINE_NAMES,
  type Engine,
  type EngineName,
  type EngineOptions,
  type EnginePage,
  engineLeftOut,
  launchEngine,
} from '../support/engine.js';
import { BACKENDS } from '../support/helpers.js';
import { serveFiles, type StaticServer } from '../support/static-server.js';
import { expectNoWasm, expectOneThreadEach, pageHeaders, type PageCheck } from '../support/check-page.js';
// @ts-expect-error: plain JS shared with the browser page
import { runFixedCase } from './browser/fixed-case.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

let server: StaticServer;
const inNode: Record<string, Record<string, unknown>> = {};
/**
 * What each backend must give in an engine: the bits of simd in Node, so that a rounding dropped from
 * one backend's kernel fails in every engine, not only where backends are compared with each other.
 */
const reference: Record<string, Record<string, unknown>> = {};

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  // dist/ as it ships, with no mapping: as a page loads it without a bundler (an import map)
  server = await serveFiles(root, { headers: pageHeaders, recordErrors: true });
  for (const backend of BACKENDS) inNode[backend] = await runFixedCase(RMSProp, backend);
  for (const backend of BACKENDS) reference[backend] = { ...inNode.simd, backend };
}, 60_000);

it("in Node, every backend gives simd's bits (the reference each engine is held to)", () => {
  for (const backend of BACKENDS) expect(inNode[backend], backend).toEqual(reference[backend]);
});

afterAll(() => server?.close());

it('the built package imports no Node built-in, and mentions them only in its Node platform module', () => {
  for (const file of readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.js')) continue;
    const source = readFileSync(join(root, 'dist', file), 'utf8');
    expect(source, file).not.toMatch(/^import[^;]*['"]node:|\bimport\(|\brequire\(/m);
    if (file !== join('platform', 'node.js')) expect(source, file).not.toMatch(/node:|\bBuffer\./);
  }
  const { browser } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  expect(browser).toEqual({ './dist/platform/node.js': './dist/platform/browser.js' });
});

/** Each engine as users get it; WebKit also as Safari runs isolated pages (SharedArrayBuffer on, see webkit.ts). */
const CONFIGS: Array<{ name: EngineName; label: string; options?: EngineOptions }> = [
  ...ENGINE_NAMES.map((name) => ({ name, label: name })),
  { name: 'webkit', label: 'webkit with SharedArrayBuffer (as Safari)', options: { sharedArrayBuffer: true } },
];

/**
 * What an engine cannot do, said by the library rather than thrown: WebKitGTK as Debian ships it has
 * no SharedArrayBuffer, so a shared memory cannot be posted to a worker (DataCloneError), and an
 * isolated page runs one thread whose threadsReason says so.
 */
const NO_SHARED_MEMORY_FOR_WORKERS = new Set(['webkit']);

for (const { name, label, options } of CONFIGS) {
  const leftOut = engineLeftOut(name);
  describe.skipIf(leftOut)(leftOut ? `${label} (skipped: ${leftOut})` : label, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await launchEngine(name, options);
      console.log(`browser.test.ts: ${engine.version}`);
    }, 60_000);
    afterAll(() => engine?.close());

    const test = (_mode: string, title: string, body: () => Promise<void>) => it(title, body, 150_000);

    /**
     * Loads the page under `mode`, runs the fixed case on `backends` with `threads`; returns it and the
     * page's errors. A page that fails to load or answer is tried once more in a fresh page (WebKit's
     * MiniBrowser hung once on a session's first page): a failure of the library fails both times.
     */
    async function check(mode: string, backends: readonly string[], threads: number, sync = false, html = 'check') {
      try {
        return await checkOnce(mode, backends, threads, sync, html);
      } catch (error) {
        console.log(`browser.test.ts: ${label}, ${mode} page: ${error}; once more in a fresh page`);
        return await checkOnce(mode, backends, threads, sync, html);
      }
    }

    async function checkOnce(mode: string, backends: readonly string[], threads: number, sync: boolean, html: string) {
      const page: EnginePage = await engine.newPage();
      try {
        await page.goto(`${server.origin}/test/package/browser/${html}.html?mode=${mode}`);
        await page.waitFor('typeof globalThis.rmspropCheck === "function"', 20_000);
        const result = await page.evaluate<PageCheck>(
          `globalThis.rmspropCheck(${JSON.stringify({ backends, threads, sync })})`,
        );
        return { result, errors: await page.errors() };
      } finally {
        await page.close();
      }
    }

    test('plain', 'plain page: every backend gives the bits Node gives, on one thread, and says why', async () => {
      const { result, errors } = await check('plain', BACKENDS, 2);
      expect(errors).toEqual([]);
      expect(result.isolated).toBe(false);
      expect(result.auto).toEqual({ backend: 'simd', backendReason: null });
      expectOneThreadEach(result, BACKENDS, reference, /cross-origin isolated/);
    });

    test(
      'isolated',
      'cross-origin isolated page: 2 threads give the bits of one thread in Node (simd, wasm); where the engine cannot share memory with workers, one thread says why (create, and ready + createSync)',
      async () => {
        for (const sync of [false, true]) {
          const { result, errors } = await check('isolated', ['simd', 'wasm'], 2, sync);
          expect(errors).toEqual([]);
          expect(result.isolated).toBe(true);
          const shares = !NO_SHARED_MEMORY_FOR_WORKERS.has(label);
          for (const [i, backend] of ['simd', 'wasm'].entries()) {
            const { threads, threadsReason, ...bits } = result.results[i];
            const what = `${backend}${sync ? ', createSync' : ''}`;
            expect(bits.error, what).toBeUndefined();
            expect(threads, what).toBe(shares ? 2 : 1);
            if (!shares) expect(threadsReason, what).toMatch(/DataCloneError/);
            expect({ ...bits, threads: 1, threadsReason: null }, what).toEqual(reference[backend]);
          }
        }
        expect([reference.simd.skipped, reference.simd.steps]).toEqual([[4], 9]); // the NaN step was skipped, here and there
      },
    );

    test(
      'import map',
      "no bundler: an import map names dist/ as it ships, and a cross-origin isolated page runs 2 threads with Node's bits (simd, wasm)",
      async () => {
        const { result, errors } = await check('isolated', ['simd', 'wasm'], 2, false, 'import-map');
        expect(errors).toEqual([]);
        const shares = !NO_SHARED_MEMORY_FOR_WORKERS.has(label);
        for (const [i, backend] of ['simd', 'wasm'].entries()) {
          const { threads, ...bits } = result.results[i];
          expect(bits.error, backend).toBeUndefined();
          expect(threads, backend).toBe(shares ? 2 : 1);
          expect({ ...bits, threads: 1, threadsReason: null }, backend).toEqual(reference[backend]);
        }
      },
    );

    // ready + createSync is how the TF.js adapter creates: it claimed 2 threads here, and every step
    // after the first pause threw (the workers' refusal had arrived).
    test(
      'strict',
      "strict CSP (worker-src 'self'): one thread, threadsReason names worker-src, the bits are Node's (create, and ready + createSync)",
      async () => {
        for (const sync of [false, true]) {
          const { result } = await check('strict', BACKENDS, 2, sync);
          expect(result.isolated).toBe(true);
          expectOneThreadEach(result, BACKENDS, reference, /worker-src/);
        }
      },
    );

    test(
      'nowasm',
      "CSP without 'wasm-unsafe-eval': auto runs js and says why, forced wasm backends name the CSP",
      async () => {
        const { result } = await check('nowasm', ['js', 'simd', 'wasm'], 1);
        expectNoWasm(result, reference);
      },
    );
  });
}

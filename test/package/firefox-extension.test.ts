// Browser extensions (Manifest V3) in Firefox ESR, as extension.test.ts checks them in Chromium: the
// packed package in a fresh project, bundled by esbuild into two unpacked extensions, each with a page
// and a background (an event page: Firefox has no extension service worker) that run the fixed case:
//   plain     Manifest V3's defaults: its policy (script-src 'self') refuses wasm
//   isolated  'wasm-unsafe-eval' in content_security_policy.extension_pages, and the two isolation keys,
//             which Firefox ignores: every backend, one thread, and threadsReason says it is Firefox
// An audit found Firefox's pages told to send response headers and its background called a service
// worker. Each backend's bits must equal what the sources give in Node.
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import type { PageCheck } from '../support/check-page.js';
import { engineLeftOut, poll } from '../support/engine.js';
import { FIREFOX, FIREFOX_PREFS } from '../support/firefox.js';
import { BACKENDS } from '../support/helpers.js';
import { freshProject, pack, root, tempDir } from '../support/pack.js';
// @ts-expect-error: plain JS shared with the browser pages
import { runFixedCase } from './browser/fixed-case.js';

const EXTENSIONS: Record<string, Record<string, unknown>> = {
  plain: {},
  isolated: {
    content_security_policy: { extension_pages: "script-src 'self' 'wasm-unsafe-eval'" },
    cross_origin_embedder_policy: { value: 'require-corp' },
    cross_origin_opener_policy: { value: 'same-origin' },
  },
};
const ENTRY = `import { RMSProp, availableBackends } from 'rmsprop-wasm';
import { exposeCheck } from './fixed-case.js';
exposeCheck(RMSProp, availableBackends);`;
// A test cannot navigate a tab to a moz-extension: URL, so the background opens the page itself; the
// page reaches the background by message (the listener's promise is the answer).
const BACKGROUND = `${ENTRY}
browser.runtime.onInstalled.addListener(() => browser.tabs.create({ url: browser.runtime.getURL('page.html') }));
browser.runtime.onMessage.addListener((request) =>
  globalThis.rmspropCheck(request).then((check) => ({ ...check, at: location.pathname })),
);`;

const leftOut = engineLeftOut('firefox');

describe.skipIf(leftOut)(leftOut ? `Firefox ESR (skipped: ${leftOut})` : 'Firefox ESR', () => {
  let tmp: ReturnType<typeof tempDir>;
  let browser: Browser;
  const pages = new Map<string, Page>();
  const inNode: Record<string, Record<string, unknown>> = {};

  beforeAll(async () => {
    if (!existsSync(FIREFOX))
      throw new Error(`no Firefox at ${FIREFOX}: apt-get install firefox-esr (or set FIREFOX_PATH)`);
    tmp = tempDir('firefox-extension');
    const app = join(tmp.path, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    await freshProject(app, (await pack(tmp.path)).tarball);
    copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(app, 'src', 'fixed-case.js'));
    writeFileSync(join(app, 'src', 'page.js'), ENTRY);
    writeFileSync(join(app, 'src', 'bg.js'), BACKGROUND);
    // Each extension's id and its pages' origin (moz-extension://<uuid>), fixed before Firefox starts.
    const uuids = new Map(Object.keys(EXTENSIONS).map((name) => [name, randomUUID()]));
    const geckoId = (name: string) => `${name}@rmsprop-wasm.test`;
    for (const [name, keys] of Object.entries(EXTENSIONS)) {
      const dir = join(tmp.path, name);
      mkdirSync(dir);
      const manifest = {
        manifest_version: 3,
        name: `rmsprop-wasm ${name}`,
        version: '1.0',
        browser_specific_settings: { gecko: { id: geckoId(name) } },
        background: { scripts: ['bg.js'], type: 'module' },
        ...keys,
      };
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
      writeFileSync(join(dir, 'page.html'), '<!doctype html><script type="module" src="page.js"></script>\n');
      for (const file of ['page.js', 'bg.js'])
        await esbuild.build({
          absWorkingDir: app,
          entryPoints: [`src/${file}`],
          bundle: true,
          format: 'esm',
          platform: 'browser',
          outfile: join(dir, file),
          logLevel: 'silent',
        });
    }
    for (const backend of BACKENDS) inNode[backend] = await runFixedCase(RMSProp, backend);
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      extraPrefsFirefox: {
        ...FIREFOX_PREFS,
        'extensions.webextensions.uuids': JSON.stringify(
          Object.fromEntries([...uuids].map(([name, uuid]) => [geckoId(name), uuid])),
        ),
      },
    });
    console.log(`firefox-extension.test.ts: ${await browser.version()}`);
    // A temporary add-on (BiDi webExtension.install), unpacked, as about:debugging loads one.
    for (const name of Object.keys(EXTENSIONS)) await browser.installExtension(join(tmp.path, name));
    for (const [name, uuid] of uuids) {
      const url = `moz-extension://${uuid}/page.html`;
      // (puppeteer reports an extension's tab as about:blank: each tab is asked where it is)
      await poll(
        async () => {
          for (const page of await browser.pages())
            if ((await page.evaluate('location.href').catch(() => '')) === url) pages.set(name, page);
          return pages.has(name);
        },
        30_000,
        `the tab ${name}'s background opens at ${url}`,
      );
      await poll(() => pages.get(name)!.evaluate('typeof globalThis.rmspropCheck === "function"'), 20_000, url);
    }
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    tmp?.remove();
  });

  const request = (backends: readonly string[], threads: number) => JSON.stringify({ backends, threads });

  /** The fixed case in the extension's page, then in its background (asked by the page). */
  async function pageAndBackground(name: string, backends: readonly string[], threads: number) {
    const page = pages.get(name)!;
    await page.bringToFront(); // (Firefox slows a background tab's timers to one a second)
    const inPage = (await page.evaluate(`globalThis.rmspropCheck(${request(backends, threads)})`)) as PageCheck;
    const ask = `browser.runtime.sendMessage(${request(backends, threads)})`;
    const inBackground = (await page.evaluate(ask)) as PageCheck & { at: string };
    expect(inBackground.at).toBe('/_generated_background_page.html');
    return [
      ['page', inPage],
      ['background', inBackground],
    ] as const;
  }

  it("Manifest V3's default policy refuses wasm: js, and the reason names the manifest's key", async () => {
    for (const [where, check] of await pageAndBackground('plain', ['js', 'simd'], 1)) {
      expect(check.available, where).toEqual(['js']);
      expect(check.auto.backend, where).toBe('js');
      expect(check.auto.backendReason, where).toMatch(
        /^this extension refuses to compile WebAssembly: its pages and background \(or service worker\) need 'wasm-unsafe-eval'/,
      );
      expect(check.results[0], where).toEqual(inNode.js);
      expect(check.results[1].error, where).toMatch(/^Error: backend 'simd' is not available: this extension refuses/);
    }
  }, 60_000);

  it("with 'wasm-unsafe-eval', every backend runs, and one thread says Firefox ignores the isolation keys", async () => {
    for (const [where, check] of await pageAndBackground('isolated', BACKENDS, 2)) {
      expect(check.isolated, where).toBe(false);
      expect(check.available, where).toEqual(['simd', 'wasm', 'js']);
      expect(check.auto, where).toEqual({ backend: 'simd', backendReason: null });
      for (const [i, backend] of BACKENDS.entries()) {
        const { threads, threadsReason, ...bits } = check.results[i];
        expect(threads, `${where} ${backend}`).toBe(1);
        expect(threadsReason, `${where} ${backend}`).toMatch(
          backend === 'js' ? /js backend/ : /^Firefox's extension pages and background are not cross-origin isolated/,
        );
        expect({ ...bits, threads: 1, threadsReason: null }, `${where} ${backend}`).toEqual(inNode[backend]);
      }
    }
  }, 60_000);
});

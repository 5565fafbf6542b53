// The site (web/) as a visitor gets it: built by `vite build web` into out/web/, served by a plain
// static server with and without COOP/COEP headers, opened in real headless Chromium. Checks what
// the pages show against independent references (the update formulas in float64 here), never against
// figures the pages produced before; takes the README's screenshots (see `images`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { bestRun, RAVINE_METHODS, runRavine, zigzagLr, type Ravine } from '../../demo/ravine.js';
import { RMSProp } from '../../src/index.js';
import { launchChromium } from '../support/chromium.js';
import { type Engine, type EngineName, type EngineOptions, engineLeftOut, launchEngine } from '../support/engine.js';
import { ISOLATED } from '../support/check-page.js';
import { serveFiles, type StaticServer } from '../support/static-server.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const site = join(root, 'out/web');
// Screenshots go to out/screenshots/; WEB_SCREENSHOTS=docs/images refreshes the README's (committed) ones.
const images = join(root, process.env.WEB_SCREENSHOTS ?? 'out/screenshots');

/** A static host: out/web/ as files, with the isolation headers or without (as most static hosts). */
const serve = (headers: Record<string, string>) => serveFiles(site, { headers: () => headers });

let browser: Browser;
let isolated: StaticServer;
let plain: StaticServer;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  execFileSync(join(root, 'node_modules/.bin/vite'), ['build', 'web', '--logLevel', 'error'], {
    cwd: root,
    stdio: 'inherit',
  });
  mkdirSync(images, { recursive: true });
  [isolated, plain] = await Promise.all([serve(ISOLATED), serve({})]);
  browser = await launchChromium([
    // A name that is not localhost: plain http there is not a secure context, so no service worker (as on an http host).
    '--host-resolver-rules=MAP insecure.test 127.0.0.1',
  ]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const s of [isolated, plain]) await s?.close();
});

/** A page that records console errors and uncaught exceptions. */
async function open(context: BrowserContext, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  await page.goto(url);
  return { page, errors };
}

// --- float64 references ----------------------------------------------------------------------------

const KAPPA = 2500,
  START = [-5, 0.2] as const;

/**
 * Seed RMSProp on the ravine in float64: steps until ‖θ‖ < 10⁻³ for good (as demo/ravine.ts counts). With
 * momentum μ, the seed preset's form (TF, Keras): m = μ·m + lr·g/√(S + ε), θ −= m.
 */
function rmspropSteps(lr: number, { decay = 0.9, momentum = 0, kappa = KAPPA, maxSteps = 20_000 } = {}): number {
  let [w, b] = START;
  let sw = 0,
    sb = 0,
    mw = 0,
    mb = 0,
    lastOutside = 0;
  for (let t = 1; t <= maxSteps; t++) {
    const gw = w,
      gb = kappa * b;
    sw = decay * sw + (1 - decay) * gw * gw;
    sb = decay * sb + (1 - decay) * gb * gb;
    mw = momentum * mw + (lr * gw) / Math.sqrt(sw + 1e-8);
    mb = momentum * mb + (lr * gb) / Math.sqrt(sb + 1e-8);
    w -= mw;
    b -= mb;
    if (!(Math.hypot(w, b) < 1e-3)) lastOutside = t;
  }
  return lastOutside + 1;
}

type Runs = Record<string, { lr: number; steps: number | null; path: number[] }>;
/** The runs the page drew (its test hook), once the `generation`-th computation is on screen. */
async function pageRuns(page: Page, generation = 1): Promise<Runs> {
  await page.waitForFunction((g) => Number(document.body.dataset.ready) >= g, generation);
  return page.evaluate(() => {
    const { runs } = (
      window as unknown as { ravineDemo: { runs: Map<string, { lr: number; steps?: number; path: Float32Array }> } }
    ).ravineDemo;
    return Object.fromEntries(
      [...runs].map(([m, r]) => [m, { lr: r.lr, steps: r.steps ?? null, path: [...r.path.subarray(0, 200)] }]),
    );
  });
}

/** Pixels of a canvas within 40 of an RGB colour and mostly opaque, counted in the page. */
function countPixels(page: Page, selector: string, rgb: [number, number, number] | 'grey'): Promise<number> {
  return page.evaluate(
    ({ selector, rgb }) => {
      const canvas = document.querySelector(selector) as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        const near =
          rgb === 'grey'
            ? Math.abs(r - 187) < 40 && Math.abs(g - 187) < 40 && Math.abs(b - 187) < 40 && Math.abs(r - b) < 8
            : Math.abs(r - rgb[0]) < 40 && Math.abs(g - rgb[1]) < 40 && Math.abs(b - rgb[2]) < 40;
        if (near && a > 200) n++;
      }
      return n;
    },
    { selector, rgb },
  );
}

const COLOURS: Record<string, [number, number, number]> = {
  gd: [0xe4, 0x57, 0x56],
  momentum: [0x4c, 0x78, 0xa8],
  rmsprop: [0x54, 0xa2, 0x4b],
  'rmsprop-momentum': [0x9d, 0x5f, 0xc4],
};

interface TableRow {
  bestLr: number;
  bestSteps: string;
  bestText: string;
  nowLr: string;
  nowSteps: string;
  nowText: string;
}
/** The side-by-side table as the page shows it, once its `searched`-th grid search is in. */
async function pageTable(page: Page, searched = 1): Promise<Record<string, TableRow>> {
  await page.waitForFunction((g) => Number(document.body.dataset.searched) >= g, searched);
  return page.evaluate(
    (methods) =>
      Object.fromEntries(
        methods.map((m) => {
          const cell = (id: string) => document.getElementById(`${m}-${id}`)!;
          return [
            m,
            {
              bestLr: Number(cell('best-lr').dataset.lr),
              bestSteps: cell('best-steps').dataset.steps!,
              bestText: cell('best-steps').textContent!,
              nowLr: cell('now-lr').textContent!,
              nowSteps: cell('now-steps').dataset.steps!,
              nowText: cell('now-steps').textContent!,
            },
          ];
        }),
      ),
    [...RAVINE_METHODS],
  );
}

/** Each method's best run of the grid, computed here in Node by demo/ravine.ts on the library's src/. */
async function libraryBest(ravine?: Ravine) {
  return Object.fromEntries(
    await Promise.all(RAVINE_METHODS.map(async (m) => [m, (await bestRun(m, { RMSProp, ravine })).best] as const)),
  );
}

/** Sign changes of b over the first `steps` steps of a path (w0, b0, w1, b1, …). */
const flips = (path: number[], steps: number) => {
  let n = 0;
  for (let t = 1; t <= steps; t++) if (Math.sign(path[2 * t + 1]) !== Math.sign(path[2 * t - 1])) n++;
  return n;
};

it('the built site has no Node built-in left in it', () => {
  const assets = join(site, 'assets');
  const scripts = readdirSync(assets).filter((f) => f.endsWith('.js'));
  expect(scripts.length).toBeGreaterThan(0);
  for (const file of scripts) expect(readFileSync(join(assets, file), 'utf8'), file).not.toMatch(/['"]node:/);
});

describe('the ravine page', () => {
  it('draws the contours and four trajectories; RMSProp reaches the minimum, gradient descent zig-zags; the lr slider changes its path', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1130 } });
    const { page, errors } = await open(context, `${isolated.origin}/index.html`);
    const runs = await pageRuns(page);
    expect(Object.keys(runs).sort()).toEqual(['gd', 'momentum', 'rmsprop', 'rmsprop-momentum']);

    // RMSProp (the package, in the page) reaches the region, in as many steps as the float64 formula ±1 %.
    const reference = rmspropSteps(runs.rmsprop.lr);
    expect(runs.rmsprop.steps).not.toBeNull();
    expect(Math.abs(runs.rmsprop.steps! - reference)).toBeLessThanOrEqual(reference / 100);
    await expect.poll(() => page.textContent('#rmsprop-steps')).toContain(runs.rmsprop.steps!.toLocaleString('en-US'));

    // Gradient descent at the default rate zig-zags: b flips sign every step, shrinking by 1 − lr·κ.
    const factor = 1 - runs.gd.lr * KAPPA;
    expect(factor).toBeLessThan(-0.8);
    for (let t = 1; t <= 40; t++) expect(runs.gd.path[2 * t + 1]).toBeCloseTo(START[1] * factor ** t, 5);
    // ... while RMSProp goes straight: b never changes sign on its way down, and w only grows (the first screen's picture).
    expect(flips(runs.gd.path, 90)).toBe(90);
    expect(flips(runs.rmsprop.path, 90)).toBe(0);
    for (let t = 1; t <= 90; t++) expect(runs.rmsprop.path[2 * t]).toBeGreaterThan(runs.rmsprop.path[2 * t - 2]);

    // The animation runs: the step counter moves on by itself.
    await expect
      .poll(async () => Number((await page.textContent('#step-out'))!.replace(/,/g, '')), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await page.click('#to-end');
    expect(await countPixels(page, '#main-plot canvas.bg', 'grey')).toBeGreaterThan(500);
    for (const [method, rgb] of Object.entries(COLOURS)) {
      // RMSProp + momentum runs along the floor under gradient descent's line: only its swing shows at full width.
      expect(await countPixels(page, '#main-plot canvas.trail', rgb), method).toBeGreaterThan(
        method === 'rmsprop-momentum' ? 40 : 200,
      );
      expect(await countPixels(page, '#close-up canvas.trail', rgb), method).toBeGreaterThan(20);
    }
    await page.evaluate(() => scrollTo(0, 0)); // the click scrolled the button into view
    await page.screenshot({ path: join(images, 'web-ravine.png') });

    // The keyboard moves the slider; the page runs gradient descent again at the new rate.
    const before = await page.evaluate(() =>
      (document.querySelector('#main-plot canvas.trail') as HTMLCanvasElement).toDataURL(),
    );
    await page.focus('#gd-lr');
    await page.keyboard.press('ArrowLeft');
    const after = await pageRuns(page, 2);
    expect(after.gd.lr).toBeLessThan(runs.gd.lr);
    expect(after.gd.path[3]).toBeCloseTo(START[1] * (1 - after.gd.lr * KAPPA), 5);
    expect(after.gd.path).not.toEqual(runs.gd.path);
    expect(after.rmsprop.path).toEqual(runs.rmsprop.path);
    expect(
      await page.evaluate(() => (document.querySelector('#main-plot canvas.trail') as HTMLCanvasElement).toDataURL()),
    ).not.toBe(before);

    // "best learning rate" picks gradient descent's rate of the grid that the float64 formula picks.
    const grid = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1];
    const gdSteps = (lr: number) => {
      let last = 0;
      for (let t = 1; t <= 20_000; t++)
        if (!(Math.hypot(START[0] * (1 - lr) ** t, START[1] * (1 - lr * KAPPA) ** t) < 1e-3)) last = t;
      return last === 20_000 ? Infinity : last + 1;
    };
    const expectedLr = grid.reduce((best, lr) => (gdSteps(lr) < gdSteps(best) ? lr : best));
    await page.click('#gd-best');
    const best = await pageRuns(page, 3);
    expect(best.gd.lr).toBe(expectedLr);
    expect(Math.abs(best.gd.steps! - gdSteps(expectedLr))).toBeLessThanOrEqual(gdSteps(expectedLr) / 100);

    // The arrow keys on the plot move the start point; the table's grid search runs again for it.
    await page.focus('#main-plot canvas.heads');
    await page.keyboard.press('ArrowUp');
    const moved = await pageRuns(page, 4);
    expect(moved.gd.path[1]).toBeGreaterThan(START[1]);
    const start: [number, number] = [moved.gd.path[0], moved.gd.path[1]];
    const [table, expected] = await Promise.all([pageTable(page, 2), libraryBest({ kappa: KAPPA, start })]);
    for (const m of RAVINE_METHODS) {
      expect(table[m].bestLr, m).toBe(expected[m].lr);
      expect(table[m].bestSteps, m).toBe(String(expected[m].steps ?? ''));
    }

    // The κ slider goes narrower step by step (each key moves it: its value was once written back
    // rounded, and snapped back), and back: the valley is the one the page opened with, 2 500.
    await page.focus('#kappa');
    const shown: number[] = [];
    for (let k = 0; k < 5; k++) {
      await page.keyboard.press('ArrowRight');
      shown.push(Number(await page.textContent('#kappa-out')));
    }
    expect(shown[4]).toBeGreaterThan(shown[0]);
    expect(shown[0]).toBeGreaterThan(KAPPA);
    for (let k = 0; k < 5; k++) await page.keyboard.press('ArrowLeft');
    expect(await page.textContent('#kappa-out')).toBe(String(KAPPA));
    expect(
      await page.evaluate(
        () => (window as unknown as { ravineDemo: { state: { kappa: number } } }).ravineDemo.state.kappa,
      ),
    ).toBe(KAPPA);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it("the side-by-side table: each method's best rate of the grid and its steps are the library's, computed in Node; the page opens at them (gradient descent at its zig-zag)", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1130 } });
    const { page, errors } = await open(context, `${isolated.origin}/index.html`);
    const [table, runs, expected] = await Promise.all([pageTable(page), pageRuns(page), libraryBest()]);
    const zigzag = await runRavine('gd', zigzagLr(KAPPA), { RMSProp });
    for (const m of RAVINE_METHODS) {
      const best = expected[m];
      expect(best.steps, m).toBeDefined(); // every method reaches the minimum at its best rate
      expect(table[m].bestLr, m).toBe(best.lr);
      expect(table[m].bestSteps, m).toBe(String(best.steps));
      expect(table[m].bestText, m).toBe(best.steps!.toLocaleString('en-US'));
      // As drawn: gradient descent near 2/κ, the others at their best rate.
      const drawn = m === 'gd' ? zigzag : best;
      expect(runs[m].lr, m).toBe(drawn.lr);
      expect(table[m].nowSteps, m).toBe(String(drawn.steps));
      expect(runs[m].steps, m).toBe(drawn.steps);
    }
    // The story the text tells, in the library's own figures: RMSProp beats gradient descent at either rate,
    // momentum beats RMSProp alone on this quadratic, and the two together beat both.
    const steps = (m: string) => expected[m].steps!;
    expect(steps('rmsprop')).toBeLessThan(Math.min(steps('gd'), zigzag.steps!));
    expect(steps('momentum')).toBeLessThan(steps('rmsprop'));
    expect(steps('rmsprop-momentum')).toBeLessThan(Math.min(steps('momentum'), steps('rmsprop')));
    // The float64 formula agrees with the library's RMSProp, with and without momentum, within 1 %.
    expect(Math.abs(steps('rmsprop') - rmspropSteps(expected.rmsprop.lr))).toBeLessThanOrEqual(steps('rmsprop') / 100);
    const withMomentum = rmspropSteps(expected['rmsprop-momentum'].lr, { momentum: 0.9 });
    expect(Math.abs(steps('rmsprop-momentum') - withMomentum)).toBeLessThanOrEqual(steps('rmsprop-momentum') / 100);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('fits a phone-sized screen without sideways scrolling', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const { page, errors } = await open(context, `${isolated.origin}/index.html`);
    await pageRuns(page);
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      viewport: innerWidth,
      plot: document.querySelector('#main-plot')!.getBoundingClientRect().right,
    }));
    expect(widths.page).toBeLessThanOrEqual(widths.viewport);
    expect(widths.plot).toBeLessThanOrEqual(widths.viewport);
    await page.tap('#main-plot canvas.heads', { position: { x: 30, y: 30 } });
    const moved = await pageRuns(page, 2);
    expect(moved.gd.path[0]).not.toBe(START[0]);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});

const LIBRARY = ['plain', 'js', 'wasm', 'simd', 'simd-byo', 'simd-cm'];

interface BenchJson {
  env: { crossOriginIsolated: boolean; tfjs: string; tfjsSkipped: Record<string, string> };
  sizes: Array<{ n: number; variants: Array<{ key: string }>; measured: Record<string, { nsPerStep: number }> }>;
  threads: unknown[];
}

async function quickBench(
  context: BrowserContext,
  origin: string,
): Promise<{ page: Page; errors: string[]; json: BenchJson; webgl: boolean }> {
  const { page, errors } = await open(context, `${origin}/bench.html?quick&run`);
  await page.waitForSelector('body[data-done]', { timeout: 80_000 });
  if ((await page.getAttribute('body', 'data-done')) === 'error')
    throw new Error(`the benchmark page ${await page.textContent('#progress-label')} (${errors.join('; ')})`);
  const json = (await page.evaluate('window.benchResults')) as BenchJson;
  // Whether this Chromium gives WebGL at all, asked independently of TF.js.
  const webgl = await page.evaluate(() => {
    const c = document.createElement('canvas');
    return Boolean(c.getContext('webgl2') ?? c.getContext('webgl'));
  });
  return { page, errors, json, webgl };
}

describe('the benchmark page, quick mode', () => {
  it('with COOP/COEP: a figure for every backend, threads and TF.js cpu, wasm (and webgl where Chromium has it)', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
    const { page, errors, json, webgl } = await quickBench(context, isolated.origin);
    expect(json.env.crossOriginIsolated).toBe(true);
    const expected = [
      ...LIBRARY,
      'threads-2',
      'threads-auto',
      'tfjs-cpu',
      'tfjs-wasm',
      ...(webgl ? ['tfjs-webgl'] : []),
    ];
    if (!webgl) expect(json.env.tfjsSkipped.webgl).toMatch(/WebGL/);
    expect(json.sizes.map((s) => s.n)).toEqual([1024, 65536]);
    for (const size of json.sizes) {
      expect(size.variants.map((v) => v.key).sort()).toEqual([...expected].sort());
      for (const key of expected) expect(size.measured[key].nsPerStep, `${key} at ${size.n}`).toBeGreaterThan(0);
    }
    expect(json.threads).toHaveLength(2);
    expect(await page.locator('#tables table').count()).toBe(2);
    expect(await page.locator('#chart svg').count()).toBe(1);
    expect(await page.isHidden('#isolation')).toBe(true);
    // Every ratio cell reads as a number ("1/190×" below 0.1, never "0.00×") and agrees with the medians measured.
    const tables = await page.$$eval('#tables table', (ts) =>
      ts.map((t) =>
        [...t.querySelectorAll('tbody tr')].map((tr) => ({
          key: (tr as HTMLElement).dataset.variant!,
          cells: [...tr.querySelectorAll('td')].map((td) => td.textContent!),
        })),
      ),
    );
    const ratioCells = tables.flat().flatMap((row) => row.cells.slice(3));
    expect(ratioCells.filter((cell) => /^0\.0*×$/.test(cell))).toEqual([]);
    expect(ratioCells.some((cell) => cell.startsWith('1/'))).toBe(true); // TF.js cpu against plain JS, at least
    const readRatio = (cell: string) => {
      const m = /^(?:1\/(\d+)|(\d+(?:\.\d+)?))×$/.exec(cell);
      return m ? (m[1] ? 1 / +m[1] : +m[2]) : NaN;
    };
    json.sizes.forEach((size, i) => {
      for (const { key, cells } of tables[i]) {
        for (const [column, than] of [
          [3, 'plain'],
          [4, 'tfjs-cpu'],
          [5, 'tfjs-wasm'],
        ] as const) {
          const expected = size.measured[than].nsPerStep / size.measured[key].nsPerStep;
          expect(
            Math.abs(readRatio(cells[column]) / expected - 1),
            `${key} × ${than} at ${size.n}: ${cells[column]}, measured ${expected}`,
          ).toBeLessThan(0.05);
        }
      }
    });
    // The chart's axis is in elements per second, as every variant's line is (they move different bytes per element).
    expect(await page.textContent('#chart svg')).toMatch(/elements per second/);
    // The download is what the page measured, in the shape of npm run bench's results.json.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const saved = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(saved).toEqual(json);
    const node = JSON.parse(readFileSync(join(root, 'bench/results/results.json'), 'utf8'));
    expect(Object.keys(saved.sizes[0]).sort()).toEqual(Object.keys(node.sizes[0]).sort());
    expect(Object.keys(saved.sizes[0].measured.simd).sort()).toEqual(Object.keys(node.sizes[0].measured.simd).sort());
    await page.screenshot({ path: join(images, 'web-bench.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);

  it('without the headers, coi-serviceworker isolates the page (one reload) and the threads run', async () => {
    const context = await browser.newContext();
    // The first visit installs the service worker and reloads; from then on it adds the headers.
    const first = await open(context, `${plain.origin}/index.html`);
    await first.page.waitForFunction(
      () => navigator.serviceWorker.controller !== null && crossOriginIsolated,
      undefined,
      { timeout: 20_000 },
    );
    await first.page.close();
    const { errors, json } = await quickBench(context, plain.origin);
    expect([...first.errors, ...errors]).toEqual([]);
    expect(json.env.crossOriginIsolated).toBe(true);
    for (const size of json.sizes)
      for (const key of [...LIBRARY, 'threads-2', 'threads-auto'])
        expect(size.measured[key].nsPerStep, `${key} at ${size.n}`).toBeGreaterThan(0);
    await context.close();
  }, 90_000);

  it('on plain http without the headers (no service worker there): no threads, and the page says why', async () => {
    const context = await browser.newContext();
    const { page, errors, json } = await quickBench(context, plain.origin.replace('127.0.0.1', 'insecure.test'));
    expect(json.env.crossOriginIsolated).toBe(false);
    for (const size of json.sizes) {
      expect(size.measured['threads-2']).toBeUndefined();
      for (const key of [...LIBRARY, 'tfjs-cpu', 'tfjs-wasm'])
        expect(size.measured[key].nsPerStep, `${key} at ${size.n}`).toBeGreaterThan(0);
    }
    expect(await page.textContent('#isolation')).toMatch(/Threads are off.*Cross-Origin-Opener-Policy/);
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);
});

// A host that sends a strict Content-Security-Policy: the docs' policy for threads (docs/browsers.md).
describe('the site under a strict Content-Security-Policy', () => {
  const STRICT = {
    ...ISOLATED,
    'content-security-policy': "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:",
  };
  let host: StaticServer;
  beforeAll(async () => {
    host = await serve(STRICT);
  });
  afterAll(() => host?.close());

  it('the ravine page runs with no error (no inline handler), and RMSProp reaches the minimum', async () => {
    const context = await browser.newContext();
    const { page, errors } = await open(context, `${host.origin}/index.html`);
    const runs = await pageRuns(page, 1);
    expect(runs.rmsprop.path.length).toBeGreaterThan(1);
    // Enter in a number field submits the form: the page handles it and stays (no reload, no query)
    await page.press('#rmsprop-lr-number', 'Enter');
    await page.waitForTimeout(200);
    expect(page.url()).toBe(`${host.origin}/index.html`);
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it("the benchmark page finishes: its chart drawn without eval, TF.js wasm on one thread saying why (its threads' workers need script-src blob:)", async () => {
    const context = await browser.newContext();
    const { page, errors, json } = await quickBench(context, host.origin);
    expect(json.env.crossOriginIsolated).toBe(true);
    expect(json.env.tfjs).toMatch(/threads off: the page's Content-Security-Policy refuses blob: scripts in workers/);
    for (const size of json.sizes)
      for (const key of [...LIBRARY, 'threads-2', 'threads-auto', 'tfjs-cpu', 'tfjs-wasm'])
        expect(size.measured[key].nsPerStep, `${key} at ${size.n}`).toBeGreaterThan(0);
    expect(await page.locator('#chart svg').count()).toBe(1);
    expect(await page.textContent('#progress-label')).toMatch(/^Done/);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});

// --- the site in the other engines (test/support/engine.ts) --------------------------------------------------

/** Firefox ESR and WebKitGTK as users get them, and WebKit as Safari runs isolated pages (see webkit.ts). */
const SITE_ENGINES: Array<{ name: EngineName; label: string; options?: EngineOptions }> = [
  { name: 'firefox', label: 'firefox' },
  { name: 'webkit', label: 'webkit' },
  { name: 'webkit', label: 'webkit with SharedArrayBuffer (as Safari)', options: { sharedArrayBuffer: true } },
];

for (const { name, label, options } of SITE_ENGINES) {
  const leftOut = engineLeftOut(name);
  describe.skipIf(leftOut)(leftOut ? `the site in ${label} (skipped: ${leftOut})` : `the site in ${label}`, () => {
    let engine: Engine;
    let isolatedHost: StaticServer;
    let plainHost: StaticServer;
    beforeAll(async () => {
      // record-errors.js in every page: WebKit's WebDriver reports no console errors (static-server.ts)
      [isolatedHost, plainHost] = await Promise.all([
        serveFiles(site, { headers: () => ISOLATED, recordErrors: true }),
        serveFiles(site, { recordErrors: true }),
      ]);
      engine = await launchEngine(name, options);
      console.log(`web.test.ts: ${engine.version}`);
    }, 90_000);
    afterAll(async () => {
      await engine?.close();
      for (const s of [isolatedHost, plainHost]) await s?.close();
    });

    it('the ravine page: RMSProp reaches the minimum in the float64 formula’s steps ±1 %, with no error', async () => {
      const page = await engine.newPage();
      try {
        await page.goto(`${isolatedHost.origin}/index.html`);
        await page.waitFor('Number(document.body.dataset.ready) >= 1');
        const run = await page.evaluate<{ lr: number; steps: number | null }>(
          `(() => { const r = window.ravineDemo.runs.get('rmsprop'); return { lr: r.lr, steps: r.steps ?? null }; })()`,
        );
        const reference = rmspropSteps(run.lr);
        expect(run.steps).not.toBeNull();
        expect(Math.abs(run.steps! - reference)).toBeLessThanOrEqual(reference / 100);
        expect(await page.errors()).toEqual([]);
      } finally {
        await page.close();
      }
    }, 60_000);

    it('the benchmark page, quick, isolated: every variant has a figure, and the threads rows say what ran', async () => {
      const page = await engine.newPage();
      try {
        await page.goto(`${isolatedHost.origin}/bench.html?quick&run`);
        await page.waitFor('document.body.dataset.done === "true"', 150_000);
        const json = await page.evaluate<BenchJson & { env: { threads: string } }>('window.benchResults');
        const note = await page.evaluate<string | null>(
          `document.getElementById('isolation').hidden ? null : document.getElementById('isolation').textContent`,
        );
        expect(json.env.crossOriginIsolated).toBe(true);
        for (const size of json.sizes)
          for (const key of LIBRARY) expect(size.measured[key]?.nsPerStep, `${key} at ${size.n}`).toBeGreaterThan(0);
        const threadsRow = json.sizes[0].variants.find((v) => v.key === 'threads-2') as
          | { key: string; label: string }
          | undefined;
        if (json.env.threads.startsWith('2 ')) {
          // 2 threads ran: so says the row, and the threads table has one line per size
          expect(threadsRow?.label).toBe('simd, 2 threads');
          expect(json.threads).toHaveLength(json.sizes.length);
          expect(note).toBeNull();
        } else {
          // they did not: the environment and the note say why, and no threads row claims 2
          expect(json.env.threads).toMatch(/^off: /);
          expect(note).toMatch(/^Threads are off: /);
          expect(threadsRow?.label ?? 'no row').not.toBe('simd, 2 threads');
          expect(json.threads).toEqual([]);
        }
        if (name === 'firefox' || options?.sharedArrayBuffer) expect(json.env.threads).toBe("2 and 'auto' (simd)");
        console.log(`web.test.ts, ${label}: threads ${json.env.threads}`);
        expect(await page.errors()).toEqual([]);
      } finally {
        await page.close();
      }
    }, 180_000);

    it('without the headers, coi-serviceworker isolates the page, and it stays isolated across a reload and a link', async () => {
      const page = await engine.newPage();
      try {
        await page.goto(`${plainHost.origin}/index.html`);
        await page
          .waitFor('navigator.serviceWorker.controller !== null && crossOriginIsolated', 20_000)
          .catch(async (error) => {
            // what the page and its service worker were at, for a failure seen once in a few runs in WebKit
            const state = await page.evaluate(`navigator.serviceWorker.getRegistration().then((r) => JSON.stringify({
            controller: Boolean(navigator.serviceWorker.controller), isolated: crossOriginIsolated,
            worker: r && [r.installing, r.waiting, r.active].map((w) => w?.state ?? null),
            navigation: performance.getEntriesByType('navigation')[0]?.type }))`);
            throw new Error(`${error.message}; ${state}; errors: ${await page.errors()}`);
          });
        // Loaded first: a reload that cuts the page's own requests short makes the worker's fetches fail, which
        // Firefox reports on the page ("A ServiceWorker intercepted the request and encountered an unexpected error").
        await page.waitFor('document.readyState === "complete" && Number(document.body.dataset.ready) >= 1');
        await page.reload();
        await page.waitFor('document.readyState === "complete" && Number(document.body.dataset.ready) >= 1');
        expect(await page.evaluate('navigator.serviceWorker.controller !== null')).toBe(true);
        expect(await page.evaluate('crossOriginIsolated')).toBe(true);
        await page.goto(`${plainHost.origin}/bench.html`);
        await page.waitFor('document.readyState === "complete"');
        expect(await page.evaluate('crossOriginIsolated')).toBe(true);
        expect(await page.errors()).toEqual([]);
      } finally {
        await page.close();
      }
    }, 60_000);
  });
}

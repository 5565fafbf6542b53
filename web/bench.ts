// The benchmark page: bench/'s own code (steps.ts: the variants; measure.ts: interleaved tinybench
// rounds; report.ts: the table; chart-spec.ts: the chart) run on the package as an app imports it,
// plus what only a browser has: TF.js on WebGL. Results download in bench/results/results.json's shape.
import { availableBackends, RMSProp } from 'rmsprop-wasm';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as vega from 'vega';
import { expressionInterpreter } from 'vega-interpreter';
import { compile } from 'vega-lite';
import { throughputSpec } from '../bench/chart-spec.js';
import { FULL_PLAN, measure, type Plan } from '../bench/measure.js';
import { rows, sizeLabel, textTable, type SizeResult } from '../bench/report.js';
import { gradient, libraryVariants, threadVariants, tfjsVariant, type Variant } from '../bench/steps.js';
import { busyCase, renderBusy } from './busy.js';

const K = 1024;
const M = K * K;
/** Shorter than `npm run bench -- --quick`, to finish in seconds; the full run uses its plan. */
const QUICK: Plan = { rounds: 3, sampleMs: 4, minBatches: 2, warmMs: 25, batchMs: 0.5, budgetMs: 300, minRounds: 1 };
const SIZES = { full: [1 * K, 4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M], quick: [1 * K, 64 * K] };
const COLUMNS = 6; // variant … × TF.js wasm: the stream and C columns of npm run bench have no browser figure

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const isolated = self.crossOriginIsolated === true;

/** The threads rows of results.json: ns per element on 1 thread (the simd backend), 2 and 'auto'. */
interface ThreadsRow {
  elements: number;
  autoThreads: number;
  ns: Record<string, number>;
}

interface Tfjs {
  description: string;
  backends: string[];
  webgl: string | null;
  skipped: Record<string, string>;
}

/** How long a TF.js backend may take to start before the page measures without it. */
const BACKEND_START_MS = 20_000;

/**
 * Starts TF.js backend `name`: true, or why not. One that does not start in time is removed: TF.js
 * counts its start as pending, which refuses every operation of every backend, until it is.
 */
async function startBackend(name: string): Promise<true | string> {
  if (!tf.findBackendFactory(name)) return `did not start within ${BACKEND_START_MS / 1000} s (a run before this one)`;
  const started = await Promise.race([
    tf.setBackend(name),
    new Promise<undefined>((resolve) => setTimeout(resolve, BACKEND_START_MS)),
  ]);
  if (started === undefined) {
    tf.removeBackend(name);
    return `did not start within ${BACKEND_START_MS / 1000} s`;
  }
  return started || 'failed to start';
}

/** Whether a worker of this page may load a script from a blob: URL (importScripts), as TF.js's threaded wasm does. */
function workersLoadBlobScripts(): Promise<boolean> {
  if (!self.crossOriginIsolated) return Promise.resolve(true); // (no threads for TF.js then: nothing to ask)
  const probe =
    "try { importScripts(URL.createObjectURL(new Blob([''], { type: 'text/javascript' }))); postMessage(true); } catch { postMessage(false); }";
  const url = URL.createObjectURL(new Blob([probe], { type: 'text/javascript' }));
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(url);
    } catch {
      URL.revokeObjectURL(url);
      return resolve(false);
    }
    const done = (ok: boolean) => {
      clearTimeout(timer);
      worker.terminate();
      URL.revokeObjectURL(url);
      resolve(ok);
    };
    worker.onmessage = (e) => done(e.data === true);
    worker.onerror = () => done(false);
    const timer = setTimeout(() => done(false), 5000); // (a worker that never answers: taken as refused)
  });
}

/** Registers TF.js's backends; says which run and why one does not (webgl needs a GPU or a software one). */
async function initTfjs(): Promise<Tfjs> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
  });
  await import('@tensorflow/tfjs-backend-wasm'); // registers the backend (setWasmPaths first)
  // TF.js's threaded wasm loads its code into workers from blob: URLs; where the page's CSP refuses
  // that, its start never ends (and takes every TF.js backend with it): its single-thread build then.
  const blobScripts = await workersLoadBlobScripts();
  if (!blobScripts) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const backends: string[] = [];
  const skipped: Record<string, string> = {};
  for (const b of ['cpu', 'wasm']) {
    const started = await startBackend(b);
    if (started === true) backends.push(b);
    else skipped[b] = started;
  }
  let webgl: string | null = null;
  const gl =
    document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
  if (!gl) skipped.webgl = 'this browser gives no WebGL context (no GPU, or software WebGL turned off)';
  else {
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    webgl = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    const started = await startBackend('webgl');
    if (started === true) backends.push('webgl');
    else skipped.webgl = `the TF.js webgl backend ${started}`;
  }
  let wasm = '';
  if (backends.includes('wasm')) {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const off = blobScripts ? '' : ": the page's Content-Security-Policy refuses blob: scripts in workers";
    wasm = ` (wasm SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : `off${off}`})`;
  }
  const description = `@tensorflow/tfjs-core ${tf.version_core}, ${backends.join(', ')} backends${wasm}${webgl ? `; WebGL: ${webgl}` : ''}`;
  return { description, backends, webgl, skipped };
}

function environment(tfjs: Tfjs, plan: Plan, mode: string) {
  return {
    date: new Date().toISOString(),
    userAgent: navigator.userAgent,
    cores: navigator.hardwareConcurrency,
    crossOriginIsolated: isolated,
    backends: availableBackends(),
    // what ran, once the first size has set its threads up (threadsState)
    threads: isolated
      ? 'not set up yet'
      : 'off: the page is not cross-origin isolated (SharedArrayBuffer needs COOP/COEP)',
    tfjs: tfjs.description,
    tfjsSkipped: tfjs.skipped,
    mode,
    plan,
  };
}

function showEnvironment(env: Record<string, unknown>): void {
  const dl = $('env');
  dl.replaceChildren();
  for (const [key, value] of Object.entries(env)) {
    const dt = document.createElement('dt');
    dt.textContent = key;
    const dd = document.createElement('dd');
    dd.textContent = typeof value === 'string' ? value : JSON.stringify(value);
    dl.append(dt, dd);
  }
}

/** What `threads: 2` gave on this page: the environment table and the note say it, not what was asked. */
function threadsState(ran: number, reason: string | undefined): string {
  return ran === 2
    ? "2 and 'auto' (simd)"
    : `off: asked for 2, the library ran ${ran} (${reason ?? 'no reason given'})`;
}

/** Shows why threads are off on an isolated page (where the note would otherwise stay hidden). */
function threadsOff(why: string): void {
  const note = $('isolation');
  note.hidden = false;
  note.textContent = `Threads are off: ${why}. Every other variant runs.`;
}

/** Every variant this browser can run at size n, in npm run bench's table order; `threads` says what threads ran. */
async function variantsAt(
  n: number,
  tfjs: Tfjs,
): Promise<{ variants: Variant[]; autoThreads?: number; threads?: string }> {
  const g = gradient(n);
  const variants = await libraryVariants(RMSProp, g, availableBackends());
  let autoThreads: number | undefined;
  let threads: string | undefined;
  if (isolated && availableBackends().includes('simd')) {
    try {
      const set = await threadVariants(RMSProp, g);
      variants.push(...set.variants);
      autoThreads = set.autoThreads;
      threads = threadsState(set.twoThreads, set.reason);
      if (set.twoThreads !== 2) threadsOff(`asked for 2, the library ran ${set.twoThreads} (${set.reason})`);
    } catch (error) {
      // A browser can isolate the page and still refuse what threads need (WebKitGTK: no shared memory
      // in postMessage): the library then throws, and this page measures everything else.
      threads = `off: threads: 2 failed (${error})`;
      threadsOff(`creating an optimizer with threads: 2 failed in this browser (${error})`);
    }
  } else if (isolated) {
    const probe = await RMSProp.create({ w: 1 }); // ('auto': its backendReason says why not simd)
    const why = probe.backendReason ?? 'no reason given';
    probe.dispose();
    threads = `off: no simd backend here (${why})`;
    threadsOff(`threads run the simd backend, which this page does not have (${why})`);
  }
  for (const b of tfjs.backends) variants.push(await tfjsVariant(b, `TF.js ${b}`, g));
  return { variants, autoThreads, threads };
}

function renderTable(result: SizeResult): void {
  const table = document.createElement('table');
  const header = ['variant', 'ns/element', 'GB/s', '× plain JS', '× TF.js cpu', '× TF.js wasm'];
  table.innerHTML = `<caption>${sizeLabel(result.n)} elements</caption><thead><tr>${header.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>`;
  const body = table.createTBody();
  for (const row of rows(result)) {
    const tr = body.insertRow();
    tr.dataset.variant = result.variants.find((v) => v.label === row[0])?.key;
    for (const cell of row.slice(0, COLUMNS)) tr.insertCell().textContent = cell;
  }
  $('tables').append(table);
  console.info(
    `${sizeLabel(result.n)} elements\n${textTable(
      header,
      rows(result).map((r) => r.slice(0, COLUMNS)),
    )}`,
  );
}

let view: vega.View | undefined;
async function renderChart(results: SizeResult[], subtitle: string): Promise<void> {
  // The page's full width (the tables' and more): the plot area beside a legend of about 230 px, or above it on a phone.
  const available = $('chart').clientWidth;
  const narrow = available < 760;
  const width = Math.max(240, available - (narrow ? 80 : 320));
  const spec = throughputSpec(results, subtitle, {
    width,
    height: narrow ? 320 : Math.round(Math.min(560, width * 0.62)),
  });
  const color = {
    ...(spec as { encoding: { color: object } }).encoding.color,
    legend: { orient: narrow ? 'bottom' : 'right', columns: narrow ? 1 : undefined, labelLimit: 400 },
  };
  const fitted = { ...spec, encoding: { ...(spec as { encoding: object }).encoding, color } } as typeof spec;
  view?.finalize();
  // interpreted, not compiled to Function: a page whose CSP refuses eval draws it too
  view = new vega.View(vega.parse(compile(fitted).spec, undefined, { ast: true }), {
    expr: expressionInterpreter,
    renderer: 'svg',
    container: $('chart'),
    hover: true,
  });
  await view.runAsync();
}

/** The smallest step of performance.now() seen: Chromium gives 5 µs to isolated pages and 100 µs to others. */
function timerResolution(): number {
  let smallest = Infinity;
  let last = performance.now();
  for (let changes = 0, start = last; changes < 20 && last - start < 100; ) {
    const now = performance.now();
    if (now > last) {
      smallest = Math.min(smallest, now - last);
      changes++;
      last = now;
    }
  }
  return +smallest.toFixed(4);
}

/** Timed batches at least 50 timer steps long, so that a coarse clock rounds a batch by 2 % at most. */
const forTimer = (plan: Plan, resolution: number): Plan => ({
  ...plan,
  batchMs: Math.max(plan.batchMs, 50 * resolution),
});

const frame = () => new Promise((resolve) => setTimeout(resolve, 0)); // lets the progress bar repaint

/** The benchmark, or where it stopped and why: a page that fails part way says so and can run again. */
async function run(quick: boolean): Promise<void> {
  try {
    await measureAll(quick);
  } catch (error) {
    $('progress-label').textContent = `Stopped: ${error instanceof Error ? error.message : String(error)}`;
    console.error(error);
    document.body.dataset.done = 'error';
  } finally {
    $<HTMLButtonElement>('run').disabled = false;
  }
}

async function measureAll(quick: boolean): Promise<void> {
  const button = $<HTMLButtonElement>('run');
  button.disabled = true;
  $<HTMLButtonElement>('download').disabled = true;
  $('tables').replaceChildren();
  const progress = $<HTMLProgressElement>('progress');
  const label = $('progress-label');
  label.textContent = 'Starting TF.js…';
  await frame();
  const tfjs = await initTfjs();
  const resolution = timerResolution();
  const plan = forTimer(quick ? QUICK : FULL_PLAN, resolution);
  const sizes = quick ? SIZES.quick : SIZES.full;
  const env = { ...environment(tfjs, plan, quick ? 'quick' : 'full'), timerResolutionMs: resolution };
  showEnvironment(env);
  const results: SizeResult[] = [];
  const threads: ThreadsRow[] = [];
  const subtitle = `${navigator.userAgent.match(/(Chrome|Firefox|Safari|Edg)\/[\d.]+/)?.[0] ?? 'this browser'}, ${navigator.hardwareConcurrency} cores, ${isolated ? 'cross-origin isolated' : 'not isolated (no threads)'}, ${env.date.slice(0, 10)}`;
  for (const [i, n] of sizes.entries()) {
    label.textContent = `Setting up ${sizeLabel(n)} elements (${i + 1} of ${sizes.length})…`;
    await frame();
    const { variants, autoThreads, threads: threadsRan } = await variantsAt(n, tfjs);
    if (threadsRan && env.threads !== threadsRan) {
      env.threads = threadsRan;
      showEnvironment(env);
    }
    let samples = 0;
    const expected = variants.length * plan.rounds;
    const measured = await measure(variants, plan, async () => {
      samples++;
      progress.value = (i + Math.min(1, samples / expected)) / sizes.length;
      label.textContent = `Measuring ${sizeLabel(n)} elements (${i + 1} of ${sizes.length}): ${samples} samples`;
      await frame();
    });
    for (const v of variants) v.dispose?.();
    const result: SizeResult = {
      n,
      variants: variants.map(({ key, label, bytes }) => ({ key, label, bytes })),
      measured,
    };
    results.push(result);
    if (measured['threads-2'] && threadsRan === threadsState(2, undefined)) {
      const per = (key: string) => measured[key].nsPerStep / n;
      threads.push({
        elements: n,
        autoThreads: autoThreads!,
        ns: { '1': per('simd'), '2': per('threads-2'), auto: per('threads-auto') },
      });
    }
    renderTable(result);
    await renderChart(results, subtitle);
  }
  // The busy case (web/busy.ts): in the full run, or with ?busy.
  const busy =
    isolated && (!quick || params.has('busy'))
      ? await busyCase(RMSProp, quick ? [256 * K] : [16 * K, 256 * K, 1 * M, 4 * M], quick, (text) => {
          label.textContent = text;
          return frame();
        })
      : [];
  if (busy.length > 0) renderBusy(busy, $('tables'));
  progress.value = 1;
  label.textContent = `Done: ${sizes.length} sizes, ${results[0].variants.length} variants each.`;
  const json = { env, sizes: results, threads, ...(busy.length > 0 && { busy }) };
  Object.assign(window, { benchResults: json });
  const download = $<HTMLButtonElement>('download');
  download.disabled = false;
  download.onclick = () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([`${JSON.stringify(json, null, 2)}\n`], { type: 'application/json' }));
    a.download = `rmsprop-wasm-browser-${env.mode}-${env.date.slice(0, 10)}.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  button.disabled = false;
  document.body.dataset.done = 'true';
}

if (!isolated) {
  const note = $('isolation');
  note.hidden = false;
  note.textContent =
    'Threads are off: this page is not cross-origin isolated, so the browser gives it no SharedArrayBuffer. ' +
    'The host must send Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp ' +
    '(the service worker coi-serviceworker.js adds them where it may run: https or localhost, and not in private windows). ' +
    'Every other variant runs.';
}
$<HTMLInputElement>('quick').checked = params.has('quick');
$('run').addEventListener('click', () => void run($<HTMLInputElement>('quick').checked));
showEnvironment({
  userAgent: navigator.userAgent,
  cores: navigator.hardwareConcurrency,
  crossOriginIsolated: isolated,
  backends: availableBackends(),
});
if (params.has('run')) void run(params.has('quick'));

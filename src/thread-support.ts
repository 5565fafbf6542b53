// Whether a step can run on threads here, and on how many (the threads themselves: threads.ts).
// Node's module; package.json's `browser` field swaps in ./platform/browser.js (see threads.ts).
import { platform } from './platform/node.js';
import { extensionOf, messageOf, sharedBuildRefused, wasmApi } from './backends.js';
import { MAX_THREADS, type BackendName } from './options.js';
import type { PlatformWorker } from './platform/types.js';
import { MIN_CHUNK } from './chunks.js';

const ISOLATION_NEEDED =
  'the page is not cross-origin isolated, so it cannot share memory with workers (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';

// Neither was cross-origin isolated in an isolated page in Chromium or Firefox (and Chromium gives a
// SharedWorker no Worker): the headers would not help.
const SHARED_WORKER =
  'this SharedWorker is not cross-origin isolated (browsers isolate pages and their dedicated workers, not shared workers), so it cannot share memory with workers (run the optimizer in the page, or in a dedicated Worker of a cross-origin isolated page)';
const SERVICE_WORKER =
  'a service worker is not cross-origin isolated, so it cannot share memory with workers (run the optimizer in a cross-origin isolated page, or in a dedicated Worker of one)';

// A Chromium extension sends no headers: its manifest's keys isolate its pages.
const EXTENSION_ISOLATION_NEEDED =
  'this extension page is not cross-origin isolated, so it cannot share memory with workers (add to manifest.json "cross_origin_embedder_policy": { "value": "require-corp" } and "cross_origin_opener_policy": { "value": "same-origin" })';
const EXTENSION_SERVICE_WORKER =
  "an extension's service worker is not cross-origin isolated, so it cannot share memory with workers (run the optimizer in an extension page or an offscreen document of an extension whose manifest sets cross_origin_embedder_policy and cross_origin_opener_policy)";
// Firefox 153 isolated no extension page or background with those keys, and refused their blob: workers.
const FIREFOX_EXTENSION =
  "Firefox's extension pages and background are not cross-origin isolated (Firefox does not take the manifest's cross_origin_embedder_policy and cross_origin_opener_policy) and start no blob: workers, so they cannot share memory with workers (a content script on a cross-origin isolated site can)";

/** Whether this code runs in a global scope of the class `name` (a browser's worker scopes). */
function inScope(name: string): boolean {
  const scope = (globalThis as Record<string, unknown>)[name];
  return typeof scope === 'function' && globalThis instanceof scope;
}

/** Why a scope that is not cross-origin isolated cannot share memory, and what would help where it runs. */
function notIsolated(): string {
  if (inScope('SharedWorkerGlobalScope')) return SHARED_WORKER;
  const extension = extensionOf();
  if (extension === 'firefox') return FIREFOX_EXTENSION;
  const chromium = extension === 'chromium';
  if (inScope('ServiceWorkerGlobalScope')) return chromium ? EXTENSION_SERVICE_WORKER : SERVICE_WORKER;
  return chromium ? EXTENSION_ISOLATION_NEEDED : ISOLATION_NEEDED;
}

/** Why this runtime cannot share a wasm memory with workers, once probed ('' when it can). */
let sharedMemoryRefused: string | undefined;

/**
 * Whether threads can share memory here, asked of what they need (a shared WebAssembly.Memory), not
 * of the SharedArrayBuffer global: WebKit's cross-origin isolated pages share wasm memory without one.
 */
function sharedMemoryUnavailable(): string | undefined {
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return notIsolated();
  if (sharedMemoryRefused === undefined) {
    const wasm = wasmApi();
    try {
      if (!wasm) throw new Error('this runtime has no WebAssembly');
      const { buffer } = new wasm.Memory({ initial: 0, maximum: 0, shared: true });
      const kind = Object.prototype.toString.call(buffer);
      sharedMemoryRefused = kind === '[object SharedArrayBuffer]' ? '' : `its buffer is an ${kind.slice(8, -1)}`;
    } catch (error) {
      sharedMemoryRefused = messageOf(error);
    }
  }
  return sharedMemoryRefused
    ? `this runtime cannot create a shared WebAssembly.Memory (${sharedMemoryRefused})`
    : undefined;
}

/** @internal The number of cores worth using, and why threads cannot be used here (or undefined). */
export function threadSupport(): { cores: number; unavailable?: string } {
  const unavailable = sharedMemoryUnavailable() ?? platform.workersUnavailable() ?? workersRefused;
  return unavailable ? { cores: 1, unavailable } : { cores: platform.cores() };
}

/** Why a worker started here failed to start or to receive a shared memory, once one did. */
let workersRefused: string | undefined;
let workersTried: Promise<void> | undefined;

/** @internal The reason threads fall back to one thread after `error`, a worker's refusal. */
export function refusedBy(error: unknown): string {
  const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
  // Node 20's refusal says only "Access to this API has been restricted"
  const denied = (error as { code?: unknown })?.code === 'ERR_ACCESS_DENIED' && !message.includes('--allow-worker');
  const hint = denied ? ": Node's permission model allows them with --allow-worker" : '';
  return `workers could not start or share memory here (${name}: ${message})${hint}`;
}

/**
 * How long `tryWorkers` waits for its worker's answer, and `create` for its pool's. Silence is no
 * refusal (a loaded machine, a throttled tab): the optimizer then steps without the silent workers,
 * which join steps once running.
 * @internal
 */
export const WORKER_ANSWER_MS = 10_000;

/**
 * @internal Starts a worker and posts it a shared memory, once per runtime, so that `createSync`,
 * which cannot wait for its workers, knows whether this page refuses them (a CSP without blob:
 * workers, WebKit's DataCloneError) and takes one thread saying why, as `create` does.
 */
export function tryWorkers(): Promise<void> {
  workersTried ??= new Promise<void>((resolve) => {
    let worker: PlatformWorker | undefined;
    let settled = false;
    const timer = setTimeout(() => settle(), WORKER_ANSWER_MS);
    const settle = (error?: Error) => {
      if (settled) return; // a worker that answered may then exit
      settled = true;
      clearTimeout(timer);
      if (error) workersRefused = refusedBy(error);
      worker?.terminate();
      resolve();
    };
    try {
      worker = platform.startWorker('onMessage(ready);', { message: settle, failed: (why) => settle(new Error(why)) });
      // a page, not none: WebKit's page stopped answering after a worker got a shared memory of 0 pages
      worker.postMessage(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
    } catch (error) {
      settle(error instanceof Error ? error : new Error(String(error)));
    }
  });
  return workersTried;
}

/** Below this, `threads: 'auto'` starts no workers: a step makes at most 4 chunks of MIN_CHUNK elements. */
const AUTO_THREADS_MIN_ELEMENTS = 4 * MIN_CHUNK;

/**
 * @internal The threads an optimizer of `elements` elements on `backend` starts with (`requested`:
 * its option), and why fewer.
 */
export function chooseThreads(
  requested: number | 'auto',
  backend: BackendName,
  elements: number,
): { threads: number; reason?: string } {
  if (requested === 1) return { threads: 1 };
  if (backend === 'js') return { threads: 1, reason: 'the js backend runs on the calling thread only' };
  if (requested === 'auto' && elements < AUTO_THREADS_MIN_ELEMENTS) {
    return {
      threads: 1,
      reason: `'auto' uses one thread below ${AUTO_THREADS_MIN_ELEMENTS} elements (a step of this optimizer updates ${elements}, its tensors padded to whole vectors): too few to share`,
    };
  }
  const { cores, unavailable } = threadSupport();
  if (unavailable) return { threads: 1, reason: unavailable };
  const refused = sharedBuildRefused(backend);
  if (refused) return { threads: 1, reason: refused };
  if (requested !== 'auto') return { threads: requested };
  return cores > 1
    ? { threads: Math.min(cores, MAX_THREADS) }
    : { threads: 1, reason: 'this machine reports one core' };
}

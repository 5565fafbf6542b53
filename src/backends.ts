import { scalarWasmBase64, simdWasmBase64 } from './generated/wasm.js';
import type { Kernel } from './kernel.js';
import { jsKernel } from './js-kernel.js';
import type { BackendChoice, BackendName } from './options.js';
import { decodeBase64 } from './base64.js';
import { withSharedMemory } from './shared-build.js';

/** @internal A heap plus a kernel that updates slices of it. */
export interface Backend {
  readonly name: BackendName;
  readonly buffer: ArrayBuffer;
  readonly kernel: Kernel;
  /** The wasm memory (js: where WebAssembly can make one), which dispose detaches when it is not shared. */
  readonly memory?: WebAssembly.Memory;
  /** For a shared (multi-threaded) wasm backend: what workers instantiate. */
  readonly shared?: { module: WebAssembly.Module; memory: WebAssembly.Memory };
}

/**
 * Thrown by `RMSProp.createSync` when the wasm it needs has not been compiled yet:
 * `await RMSProp.ready(options)` (or `create`) first. Nothing was changed.
 */
export class NotReadyError extends Error {
  /** `'NotReadyError'`, so that logs and `instanceof`-free checks can tell it apart. */
  override name = 'NotReadyError';
}

const WASM_PAGE = 65536;
/** wasm32 addresses at most 65536 pages. */
export const MAX_HEAP_BYTES = 65536 * WASM_PAGE;

type WasmBackend = Exclude<BackendName, 'js'>;
type WasmBuild = WasmBackend | 'simd-shared' | 'wasm-shared';
const BASE64: Record<WasmBackend, string> = { simd: simdWasmBase64, wasm: scalarWasmBase64 };
/** The builds being compiled or compiled, as promises (one compile per build and runtime). */
const compiling: Partial<Record<WasmBuild, Promise<WebAssembly.Module>>> = {};
/** The builds compiled so far, for synchronous instantiation. */
const compiled: Partial<Record<WasmBuild, WebAssembly.Module>> = {};

/** @internal This runtime's WebAssembly, if it has one. */
export function wasmApi(): typeof WebAssembly | undefined {
  return (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
}

/** @internal An error's message, or the thrown value as text. */
export const messageOf = (error: unknown): string => (error as Error)?.message || String(error);

/** Why this runtime refuses to compile wasm it can validate (a page's CSP), once known. */
let compileRefused: string | undefined;
/** The smallest module there is: compiling it tells whether compiling is allowed at all. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/**
 * Cloudflare Workers compile wasm bytes only while a Worker starts, and there an awaited
 * WebAssembly.compile never settles ("Top-level await in module is unsettled"): compiled at once.
 * Known by WebSocketPair, workerd's at every compatibility date (navigator only from 2022-03-21).
 */
const AT_ONCE = typeof (globalThis as { WebSocketPair?: unknown }).WebSocketPair === 'function';

function refusedReason(error: unknown): string {
  // (Chromium's message in an extension's content script is 'WebAssembly.Module(): ', which says nothing)
  const detail = messageOf(error).trim().replace(/:$/, '');
  if (AT_ONCE)
    return `this Cloudflare Worker compiles no WebAssembly in a request's handler (nor at its top level before compatibility date 2025-06-01): hand the package's modules to RMSProp.ready({ modules }), or create the optimizer (or await RMSProp.ready()) at the Worker's top level (${detail})`;
  if (extensionOf())
    return `this extension refuses to compile WebAssembly: its pages and background (or service worker) need 'wasm-unsafe-eval' in manifest.json's content_security_policy.extension_pages (Manifest V3's default, script-src 'self', refuses it) (${detail})`;
  return `this runtime refuses to compile WebAssembly; in a browser, the page's Content-Security-Policy must allow 'wasm-unsafe-eval' in script-src; where wasm runs only as an imported module (Cloudflare Workers, Next.js' Edge Runtime), hand the package's modules to RMSProp.ready({ modules }) (${detail})`;
}

const EXTENSIONS = {
  'chrome-extension:': 'chromium',
  'moz-extension:': 'firefox',
  'safari-web-extension:': 'safari',
} as const;

/**
 * @internal The browser whose extension's own page, background or service worker this code runs in
 * (not a content script: it runs as the page's), or undefined.
 */
export const extensionOf = (): 'chromium' | 'firefox' | 'safari' | undefined => {
  const protocol = String((globalThis as { location?: { protocol?: unknown } }).location?.protocol);
  return Object.hasOwn(EXTENSIONS, protocol) ? EXTENSIONS[protocol as keyof typeof EXTENSIONS] : undefined;
};

/** The builds handed over as modules (`RMSProp.ready`'s `modules`): they run where compiling is refused. */
const handed = new Set<WasmBackend>();

/**
 * @internal Runs `module` as `name`'s build from now on (checked by wasm-modules.ts); returns what
 * puts back the build there was.
 */
export function useModule(name: WasmBackend, module: WebAssembly.Module): () => void {
  const [before, pending, was] = [compiled[name], compiling[name], handed.has(name)];
  compiled[name] = module;
  compiling[name] = Promise.resolve(module);
  handed.add(name);
  return () => {
    if (compiled[name] !== module) return; // (another call has taken a module since)
    compiled[name] = before;
    compiling[name] = pending;
    if (!was) handed.delete(name);
  };
}

/** Why this runtime refuses to compile wasm (a page's CSP, Cloudflare Workers), or '' where it compiles; probed once. */
function compileRefusedHere(wasm: typeof WebAssembly): string {
  if (compileRefused === undefined) {
    try {
      // Instantiated too: WebKit under a CSP without 'wasm-unsafe-eval' compiles, then refuses that.
      new wasm.Instance(new wasm.Module(EMPTY_MODULE));
      compileRefused = '';
    } catch (error) {
      compileRefused = refusedReason(error);
    }
  }
  return compileRefused;
}

/**
 * @internal Why threads cannot run `name` here although it runs: its one-thread build is compiled
 * (or was handed over as a module), and the shared-memory build that threads run cannot be.
 */
export function sharedBuildRefused(name: BackendName): string | undefined {
  const wasm = wasmApi();
  if (name === 'js' || !wasm || !compiled[name] || compiled[buildOf(name, true)] || !compileRefusedHere(wasm))
    return undefined;
  return `threads run the shared-memory build of '${name}', which this runtime refuses to compile (a module handed to RMSProp.ready is the one-thread build)`;
}

/** Whether a one-page memory was made here once (a failure is not kept: memory may come back). */
let memoryMade = false;

/**
 * Why this runtime cannot make any wasm memory (or undefined): Node 20 and 22 reserve about 10 GB of
 * address space for each, which an address-space limit refuses (`ulimit -v` of 8 GB or less).
 */
function memoryRefused(wasm: typeof WebAssembly): string | undefined {
  if (memoryMade) return undefined;
  try {
    fixedMemory(wasm, WASM_PAGE, false);
    memoryMade = true;
    return undefined;
  } catch (error) {
    const detail = messageOf(error);
    const versions = (globalThis as { process?: { versions?: Record<string, string> } }).process?.versions;
    const inNodeOrDeno = typeof versions?.node === 'string' && versions.bun === undefined; // (V8's reservation)
    const advice = inNodeOrDeno
      ? '; under an address-space limit (ulimit -v), Node 20 and 22 need about 10 GB for each: raise the limit, or run Node with --disable-wasm-trap-handler'
      : '';
    return `this runtime cannot create a WebAssembly.Memory, even of one page (${detail})${advice}`;
  }
}

/** Why `name` cannot run here, or undefined when it can. */
function unavailableReason(name: BackendName): string | undefined {
  if (name === 'js') return undefined;
  const wasm = wasmApi();
  if (!wasm) return 'this runtime has no WebAssembly';
  // (a build compiled here, or handed over, runs though compiling is refused now: a Worker's handler)
  const refused = compiled[name] ? '' : compileRefusedHere(wasm);
  if (refused) {
    const others = [...handed].map((key) => `modules.${key}`);
    return others.length
      ? `modules.${name} was not handed to RMSProp.ready (only ${others.join(' and ')}): ${refused}`
      : refused;
  }
  const memory = memoryRefused(wasm);
  if (memory) return memory;
  if (name === 'simd' && !handed.has(name)) {
    // Validate the real SIMD binary rather than a probe, so exactly what we run is checked.
    if (!wasm.validate(decodeBase64(simdWasmBase64)))
      return "this runtime's WebAssembly does not support fixed-width SIMD";
  }
  return undefined;
}

/** The backends this runtime can run, fastest first. */
export function availableBackends(): BackendName[] {
  return (['simd', 'wasm', 'js'] as const).filter((name) => unavailableReason(name) === undefined);
}

/** The backend `choice` runs on, and for 'auto', why it is not simd when it is not. */
export function backendChoice(choice: BackendChoice): { name: BackendName; reason?: string } {
  if (choice === 'auto') {
    const name = availableBackends()[0];
    return name === 'simd' ? { name } : { name, reason: unavailableReason('simd') };
  }
  const reason = unavailableReason(choice);
  if (reason) throw new Error(`backend '${choice}' is not available: ${reason}`);
  return { name: choice };
}

function compile(bytes: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module> {
  const wasm = wasmApi()!;
  return AT_ONCE ? new Promise((done) => done(new wasm.Module(bytes))) : wasm.compile(bytes);
}

const buildOf = (name: WasmBackend, shared: boolean): WasmBuild => (shared ? `${name}-shared` : name);

/**
 * @internal
 * Compiles (once per runtime) the wasm build that `name` runs, shared or not. A refusal to compile
 * is remembered, so that later optimizers and `availableBackends()` know at once. A refused shared
 * build where the one-thread build runs (compiled before, handed over, or compiling now) is no
 * error: it resolves to why threads cannot run (a Worker's handler after its top level compiled).
 */
export async function compileBackend(name: BackendName, shared = false): Promise<string | undefined> {
  if (name === 'js') return undefined;
  const build = buildOf(name, shared);
  const bytes = () => (shared ? withSharedMemory(decodeBase64(BASE64[name])) : decodeBase64(BASE64[name]));
  const pending = (compiling[build] ??= compile(bytes()).then((module) => {
    compiled[build] = module;
    return module;
  }));
  try {
    await pending;
    return undefined;
  } catch (error) {
    delete compiling[build];
    compileRefused = refusedReason(error);
    const oneThread = shared
      ? await compiling[name]?.then(
          () => sharedBuildRefused(name),
          () => undefined,
        )
      : undefined;
    if (oneThread) return oneThread;
    throw new Error(`backend '${name}' is not available: ${compileRefused}`);
  }
}

/**
 * @internal
 * A fresh backend with a heap of exactly `bytes` bytes that can never grow; `shared` puts it in a
 * SharedArrayBuffer for worker threads (wasm backends only). Its wasm must have been compiled by
 * `compileBackend` (throws otherwise).
 */
export function createBackend(name: BackendName, bytes: number, shared = false): Backend {
  if (name === 'js') {
    // A wasm memory's buffer, where one can be made (a page that refuses to compile wasm makes them):
    // it cannot be transferred away (postMessage with [opt.params.w.buffer] throws in browsers, copies
    // in Node, as on the wasm backends), whereas a plain ArrayBuffer would go whole to the receiver.
    const memory = jsHeapMemory(bytes);
    const buffer = memory ? (memory.buffer as ArrayBuffer) : allocate(bytes, () => new ArrayBuffer(bytes));
    return { name, buffer, ...(memory && { memory }), kernel: jsKernel(buffer) };
  }
  const module = compiled[buildOf(name, shared)];
  if (!module)
    throw new NotReadyError(
      `${shared ? `the shared-memory build (for threads) of backend '${name}'` : `backend '${name}'`} is not compiled yet: await RMSProp.ready(${JSON.stringify({ backend: name, ...(shared && { threads: 2 }) })}) before RMSProp.createSync`,
    );
  const wasm = wasmApi()!;
  const memory = allocate(bytes, () => fixedMemory(wasm, bytes, shared));
  const instance = new wasm.Instance(module, { env: { memory } });
  const { step, average, sumSquares, firstNonFinite } = instance.exports as unknown as Kernel;
  return {
    name,
    buffer: memory.buffer as ArrayBuffer,
    memory,
    kernel: { step, average, sumSquares, firstNonFinite },
    ...(shared && { shared: { module, memory } }),
  };
}

/** `make()`'s memory of `bytes`, or a RangeError that says the system refused that many bytes, and what needs fewer. */
function allocate<T>(bytes: number, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RangeError(
      `this optimizer's memory, ${bytes} bytes, could not be allocated here (${error.message}): free memory, or need less (stateFormat '8bit' or 'bfloat16' keeps the state in fewer bytes)`,
      { cause: error },
    );
  }
}

/** A memory of at least `bytes` whose maximum is its size: it cannot grow, so its buffer and every view of it stay valid. */
function fixedMemory(wasm: typeof WebAssembly, bytes: number, shared: boolean): WebAssembly.Memory {
  const pages = Math.ceil(bytes / WASM_PAGE);
  return new wasm.Memory({ initial: pages, maximum: pages, shared });
}

/** The js backend's memory; undefined without WebAssembly (or if it refuses). */
function jsHeapMemory(bytes: number): WebAssembly.Memory | undefined {
  const wasm = wasmApi();
  try {
    return wasm && fixedMemory(wasm, bytes, false);
  } catch {
    return undefined;
  }
}

/**
 * @internal
 * Detaches a non-shared heap: every view of it (opt.params, opt.grads, opt.state, and any the
 * caller kept) becomes empty, so that none of them keeps the memory alive. `grow(0)` is how the
 * WebAssembly JS API detaches a memory's buffer; a js heap without one is transferred away. A shared heap
 * (threads) cannot be detached: its views keep their values, and the memory, until dropped.
 */
export function releaseBackend(backend: Backend): void {
  if (backend.shared) return;
  if (backend.memory) backend.memory.grow(0);
  else structuredClone(backend.buffer, { transfer: [backend.buffer] });
}

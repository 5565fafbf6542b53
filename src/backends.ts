import { scalarWasmBase64, simdWasmBase64 } from './generated/wasm.js';
import type { Kernel } from './kernel.js';
import { jsKernel } from './js-kernel.js';
import { describe, type BackendChoice, type BackendName } from './options.js';
import { decodeBase64 } from './base64.js';
import { buildName, NAME_SECTION, withSharedMemory } from './shared-build.js';

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
 * Thrown by `RMSProp.createSync` (and the TF.js adapter's first step) when the wasm it needs has
 * not been compiled yet: `await RMSProp.ready(options)` (or `create`) first. Nothing was changed.
 */
export class NotReadyError extends Error {
  /** `'NotReadyError'`, so that logs and `instanceof`-free checks can tell it apart. */
  override name = 'NotReadyError';
}

const WASM_PAGE = 65536;
/** wasm32 addresses at most 65536 pages. */
export const MAX_HEAP_BYTES = 65536 * WASM_PAGE;

type WasmBuild = 'simd' | 'wasm' | 'simd-shared' | 'wasm-shared';
const BASE64: Record<Exclude<BackendName, 'js'>, string> = { simd: simdWasmBase64, wasm: scalarWasmBase64 };
const modules: Partial<Record<WasmBuild, Promise<WebAssembly.Module>>> = {};
/** The builds compiled so far, for synchronous instantiation. */
const compiled: Partial<Record<WasmBuild, WebAssembly.Module>> = {};

function wasmApi(): typeof WebAssembly | undefined {
  return (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
}

/** Why this runtime refuses to compile wasm it can validate (a page's CSP), once known. */
let compileRefused: string | undefined;
/** The smallest module there is: compiling it tells whether compiling is allowed at all. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

function refusedReason(error: unknown): string {
  const detail = (error as Error)?.message || String(error);
  return `this runtime refuses to compile WebAssembly; in a browser, the page's Content-Security-Policy must allow 'wasm-unsafe-eval' in script-src; where wasm runs only as an imported module (Cloudflare Workers), hand the package's modules to RMSProp.ready({ modules }) (${detail})`;
}

/**
 * Builds compiled already, to run instead of the inlined bytes: `RMSProp.ready({ modules })`, for
 * runtimes that run wasm only as a module a program imports (Cloudflare Workers).
 */
export interface WasmModules {
  /** The SIMD build: `import simd from 'rmsprop-wasm/simd.wasm'`. */
  readonly simd?: WasmModule;
  /** The scalar build (backend 'wasm'): `import scalar from 'rmsprop-wasm/scalar.wasm'`. */
  readonly wasm?: WasmModule;
}

/**
 * A WebAssembly.Module where the compiler declares one (lib dom or webworker, Cloudflare's types),
 * else `object`: these declarations need no such lib.
 */
export type WasmModule = typeof globalThis extends {
  /** The WebAssembly namespace, where the compiler declares one. */
  WebAssembly: {
    /** Its Module class. */
    Module: {
      /** What a WebAssembly.Module is. */
      prototype: infer M;
    };
  };
}
  ? M
  : object;

const FILES = { simd: 'rmsprop-wasm/simd.wasm', wasm: 'rmsprop-wasm/scalar.wasm' } as const;
/** The backends whose build was handed over as a module: they run where compiling is refused. */
const handed = new Set<Exclude<BackendName, 'js'>>();
/** The name each inlined build carries, once read. */
const names: Partial<Record<Exclude<BackendName, 'js'>, string | undefined>> = {};

/**
 * @internal Takes `RMSProp.ready`'s `modules`, all checked before any is taken: each a
 * WebAssembly.Module of this package's build for its backend (the name the build carries).
 */
export function takeModules(given: unknown): void {
  if (given === undefined) return;
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new TypeError(`modules must be an object, { simd, wasm } (WebAssembly.Modules), got ${describe(given)}`);
  const wasm = wasmApi();
  const taken = Object.entries(given).map(([key, module]) => {
    if (key !== 'simd' && key !== 'wasm')
      throw new TypeError(`modules.${key}: no such build (modules take simd and wasm)`);
    if (handed.has(key) && compiled[key] === module) return [key, module] as const; // (checked when taken)
    if (!wasm || !(module instanceof wasm.Module))
      throw new TypeError(
        `modules.${key} must be a WebAssembly.Module (import '${FILES[key]}' where .wasm imports are modules), got ${describe(module)}`,
      );
    const expected = (names[key] ??= buildName(decodeBase64(BASE64[key])));
    const [name] = wasm.Module.customSections(module, NAME_SECTION).map((bytes) => new TextDecoder().decode(bytes));
    if (name !== expected)
      throw new RangeError(
        `modules.${key} is not ${FILES[key]} of this version of the package (it is ${name ? `build '${name}'` : 'no build of it'}; this version's is '${expected}')`,
      );
    return [key, module] as const;
  });
  for (const [key, module] of taken) {
    compiled[key] = module;
    modules[key] = Promise.resolve(module);
    handed.add(key);
  }
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
    new wasm.Memory({ initial: 1, maximum: 1 });
    memoryMade = true;
    return undefined;
  } catch (error) {
    const detail = (error as Error)?.message || String(error);
    return `this runtime cannot create a WebAssembly.Memory, even of one page (${detail}); under an address-space limit (ulimit -v), Node 20 and 22 need about 10 GB for each: raise the limit, or run Node with --disable-wasm-trap-handler`;
  }
}

/** Why `name` cannot run here, or undefined when it can. */
function unavailableReason(name: BackendName): string | undefined {
  if (name === 'js') return undefined;
  const wasm = wasmApi();
  if (!wasm) return 'this runtime has no WebAssembly';
  if (!handed.has(name)) {
    if (compileRefused === undefined) {
      try {
        // Instantiated too: WebKit under a CSP without 'wasm-unsafe-eval' compiles, then refuses that.
        new wasm.Instance(new wasm.Module(EMPTY_MODULE));
        compileRefused = '';
      } catch (error) {
        compileRefused = refusedReason(error);
      }
    }
    if (compileRefused) return compileRefused;
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

const buildOf = (name: Exclude<BackendName, 'js'>, shared: boolean): WasmBuild => (shared ? `${name}-shared` : name);

/**
 * @internal
 * Compiles (once per runtime) the wasm build that `name` runs, shared or not. A refusal to compile
 * is remembered, so that later optimizers and `availableBackends()` know at once.
 */
export async function compileBackend(name: BackendName, shared = false): Promise<void> {
  if (name === 'js') return;
  const build = buildOf(name, shared);
  const bytes = () => (shared ? withSharedMemory(decodeBase64(BASE64[name])) : decodeBase64(BASE64[name]));
  const pending = (modules[build] ??= wasmApi()!
    .compile(bytes())
    .then((module) => {
      compiled[build] = module;
      return module;
    }));
  try {
    await pending;
  } catch (error) {
    delete modules[build];
    compileRefused = refusedReason(error);
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

import { scalarSharedWasmBase64, scalarWasmBase64, simdSharedWasmBase64, simdWasmBase64 } from './generated/wasm.js';
import { jsKernel, type Kernel } from './kernel.js';
import type { BackendChoice, BackendName } from './options.js';
import { decodeBase64 } from './base64.js';

/** A heap plus a kernel that updates slices of it. */
export interface Backend {
  readonly name: BackendName;
  readonly buffer: ArrayBuffer;
  readonly kernel: Kernel;
  /** For a shared (multi-threaded) wasm backend: what workers instantiate. */
  readonly shared?: { module: WebAssembly.Module; memory: WebAssembly.Memory };
}

const WASM_PAGE = 65536;
/** wasm32 addresses at most 65536 pages. */
export const MAX_HEAP_BYTES = 65536 * WASM_PAGE;

type WasmBuild = 'simd' | 'wasm' | 'simd-shared' | 'wasm-shared';
const BASE64: Record<WasmBuild, string> = {
  simd: simdWasmBase64,
  wasm: scalarWasmBase64,
  'simd-shared': simdSharedWasmBase64,
  'wasm-shared': scalarSharedWasmBase64,
};
const modules: Partial<Record<WasmBuild, Promise<WebAssembly.Module>>> = {};

function wasmApi(): typeof WebAssembly | undefined {
  return (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
}

/** Why `name` cannot run here, or undefined when it can. */
export function unavailableReason(name: BackendName): string | undefined {
  if (name === 'js') return undefined;
  const wasm = wasmApi();
  if (!wasm) return 'this runtime has no WebAssembly';
  if (name === 'simd') {
    // Validate the real SIMD binary rather than a probe, so exactly what we run is checked.
    if (!wasm.validate(decodeBase64(simdWasmBase64))) return "this runtime's WebAssembly does not support fixed-width SIMD";
  }
  return undefined;
}

/** The backends this runtime can run, fastest first. */
export function availableBackends(): BackendName[] {
  return (['simd', 'wasm', 'js'] as const).filter((name) => unavailableReason(name) === undefined);
}

export function pickBackend(choice: BackendChoice): BackendName {
  if (choice === 'auto') return availableBackends()[0];
  const reason = unavailableReason(choice);
  if (reason) throw new Error(`backend '${choice}' is not available: ${reason}`);
  return choice;
}

function compiled(build: WasmBuild): Promise<WebAssembly.Module> {
  const pending = (modules[build] ??= wasmApi()!.compile(decodeBase64(BASE64[build])));
  pending.catch(() => delete modules[build]);
  return pending;
}

/**
 * A fresh backend with a heap of exactly `bytes` bytes that can never grow; `shared` puts it in a
 * SharedArrayBuffer for worker threads (wasm backends only).
 */
export async function createBackend(name: BackendName, bytes: number, shared = false): Promise<Backend> {
  if (name === 'js') {
    const buffer = new ArrayBuffer(bytes);
    return { name, buffer, kernel: jsKernel(buffer) };
  }
  const wasm = wasmApi()!;
  const module = await compiled(shared ? (`${name}-shared` as const) : name);
  const pages = Math.ceil(bytes / WASM_PAGE);
  // maximum = initial: the memory cannot grow, so its buffer and every view of it stay valid.
  const memory = new wasm.Memory({ initial: pages, maximum: pages, shared });
  const instance = await wasm.instantiate(module, { env: { memory } });
  const { step, sumSquares, firstNonFinite } = instance.exports as unknown as Kernel;
  return {
    name,
    buffer: memory.buffer as ArrayBuffer,
    kernel: { step, sumSquares, firstNonFinite },
    ...(shared && { shared: { module, memory } }),
  };
}

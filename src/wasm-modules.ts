// The package's builds handed over as WebAssembly.Modules (`RMSProp.ready({ modules })`), for
// runtimes that run wasm only as a module the program imports (Cloudflare Workers): each checked to
// be this version's build for its backend (the name scripts/build-wasm.mjs writes into every build).
import { useModule, wasmApi } from './backends.js';
import { buildNameSection, scalarWasmName, simdWasmName } from './generated/wasm.js';
import { describe, isRecord } from './options.js';

/** The package's builds as modules, to run in place of the inlined bytes: `RMSProp.ready({ modules })`. */
export interface WasmModules {
  /** The SIMD build: `import simd from 'rmsprop-wasm/simd.wasm'`. */
  readonly simd?: WasmModule | undefined;
  /** The scalar build (backend 'wasm'): `import scalar from 'rmsprop-wasm/scalar.wasm'`. */
  readonly wasm?: WasmModule | undefined;
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

const BUILDS = {
  simd: { file: 'rmsprop-wasm/simd.wasm', name: simdWasmName },
  wasm: { file: 'rmsprop-wasm/scalar.wasm', name: scalarWasmName },
} as const;

/**
 * @internal Takes `modules`, all checked before any is taken (an entry `undefined` is absent);
 * returns what puts back the builds there were.
 */
export function takeModules(given: unknown): () => void {
  if (given === undefined) return () => {};
  if (!isRecord(given))
    throw new TypeError(`modules must be an object, { simd, wasm } (WebAssembly.Modules), got ${describe(given)}`);
  const checked = Object.entries(given)
    .map(([key, module]) => [checkedKey(key), module] as const)
    .filter(([, module]) => module !== undefined)
    .map(([key, module]) => [key, checkModule(key, module)] as const);
  const restores = checked.map(([key, module]) => useModule(key, module));
  return () => {
    for (const restore of restores.reverse()) restore();
  };
}

function checkedKey(key: string): keyof typeof BUILDS {
  if (key === 'simd' || key === 'wasm') return key;
  throw new TypeError(
    `modules.${key}: no such build (modules.simd takes rmsprop-wasm/simd.wasm, modules.wasm rmsprop-wasm/scalar.wasm)`,
  );
}

function checkModule(key: keyof typeof BUILDS, module: unknown): WebAssembly.Module {
  const wasm = wasmApi();
  const { file, name: expected } = BUILDS[key];
  if (!wasm || !isModule(wasm, module))
    throw new TypeError(
      `modules.${key} must be a WebAssembly.Module (import '${file}' where .wasm imports are modules), got ${describe(module)}`,
    );
  const [name] = wasm.Module.customSections(module, buildNameSection).map((bytes) => new TextDecoder().decode(bytes));
  if (name !== expected)
    throw new RangeError(
      `modules.${key} is not ${file} of this version of the package (it is ${name ? `build '${name}'` : 'no build of it'}; this version's is '${expected}')`,
    );
  return module;
}

/**
 * Whether `module` is a WebAssembly.Module, of any realm: instanceof fails for one compiled in another
 * (Next.js' Edge sandbox compiles the .wasm a route imports outside it); the engine's own check does not.
 */
function isModule(wasm: typeof WebAssembly, module: unknown): module is WebAssembly.Module {
  try {
    wasm.Module.customSections(module as WebAssembly.Module, '');
    return true;
  } catch {
    return false;
  }
}

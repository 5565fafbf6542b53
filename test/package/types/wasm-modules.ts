// The builds as modules (Cloudflare Workers imports a .wasm file as one): their types come through
// the package's exports, with no DOM lib (WasmModule is then `object`).
import { RMSProp, type WasmModule } from 'rmsprop-wasm';
import scalar from 'rmsprop-wasm/scalar.wasm';
import simd from 'rmsprop-wasm/simd.wasm';

export const builds: readonly WasmModule[] = [simd, scalar];

export async function start(): Promise<void> {
  await RMSProp.ready({ modules: { simd, wasm: scalar } });
  await RMSProp.ready({ backend: 'simd', threads: 1, modules: { simd } });
  // @ts-expect-error: no such build
  await RMSProp.ready({ modules: { gpu: simd } });
}

// `rmsprop-wasm/simd.wasm` and `rmsprop-wasm/scalar.wasm` where a runtime or its bundler imports a
// .wasm file as a compiled module (Cloudflare Workers): hand it to RMSProp.ready({ modules }).
import type { WasmModule } from '../dist/index.js';

declare const module: WasmModule;
export default module;

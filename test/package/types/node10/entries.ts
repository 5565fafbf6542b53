// Every entry under `moduleResolution: "node"` (node10), which reads no `exports`: the main one
// through `types`, `rmsprop-wasm/tfjs` and the wasm builds through `typesVersions`.
import { RMSProp, schedules } from 'rmsprop-wasm';
import scalar from 'rmsprop-wasm/scalar.wasm';
import simd from 'rmsprop-wasm/simd.wasm';
import { rmsprop, type RMSPropWasmOptimizer } from 'rmsprop-wasm/tfjs';

await RMSProp.ready({ modules: { simd, wasm: scalar } });

const opt: RMSProp<'w'> = await RMSProp.create(
  { w: 4 },
  { lr: schedules.polynomialDecay({ initial: 0.1, decaySteps: 10 }) },
);
const adapter: RMSPropWasmOptimizer = await rmsprop({ lr: 0.01 });
export const kept: [RMSProp<'w'>, RMSPropWasmOptimizer] = [opt, adapter];

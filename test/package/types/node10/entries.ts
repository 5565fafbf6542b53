// Both entries under `moduleResolution: "node"` (node10), which reads no `exports`: the main one
// through `types`, `rmsprop-wasm/tfjs` through `typesVersions`.
import { RMSProp, schedules } from 'rmsprop-wasm';
import { rmsprop, type RMSPropWasmOptimizer } from 'rmsprop-wasm/tfjs';

const opt: RMSProp<'w'> = await RMSProp.create(
  { w: 4 },
  { lr: schedules.polynomialDecay({ initial: 0.1, decaySteps: 10 }) },
);
const adapter: RMSPropWasmOptimizer = await rmsprop({ lr: 0.01 });
export const kept: [RMSProp<'w'>, RMSPropWasmOptimizer] = [opt, adapter];

// Options forwarded from a config whose fields may be missing: under exactOptionalPropertyTypes an
// option given as undefined must type-check wherever the runtime takes it as not given (an audit: a
// `{ lr: config.lr }` was refused by the types), and undefined never shows in the resolved options.
import { RMSProp, schedules } from 'rmsprop-wasm';

const config: { lr?: number; momentum?: number; restore?: boolean; arrays?: 'base64' | 'float32' } = {};
const opt = await RMSProp.create({ w: 4 }, { lr: config.lr, momentum: config.momentum, threads: undefined });
const grouped = await RMSProp.create([{ params: { b: 2 }, lr: config.lr }]);
await RMSProp.ready({ backend: undefined, threads: undefined, modules: undefined });
opt.setOptions(0, { lr: config.lr });
const saved = opt.saveState({ arrays: config.arrays });
opt.loadState(saved, { restoreOptions: config.restore });
opt.setState('w', { squareAvg: new Float32Array(4), momentum: undefined });
const lr: number | ((step: number) => number) = opt.options.lr;
const staircase: { staircase?: boolean } = {};
schedules.exponentialDecay({ initial: 0.1, decaySteps: 10, decayRate: 0.5, staircase: staircase.staircase });
schedules.cosineDecay({ initial: 0.1, decaySteps: 10, alpha: config.lr, warmupTarget: undefined });
const momentum: number = grouped.groups[0]!.momentum;
// @ts-expect-error: a resolved option is never undefined
const none: undefined = opt.options.decay;
export { lr, momentum, none };

export { RMSProp } from './rmsprop.js';
export type { GradsInput, ParamInput, ParamsInput, TensorState } from './rmsprop.js';
export { PRESETS } from './options.js';
export type { BackendChoice, BackendName, PresetName, ResolvedOptions, RMSPropOptions } from './options.js';
export { availableBackends } from './backends.js';

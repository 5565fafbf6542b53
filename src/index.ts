/**
 * `rmsprop-wasm`: RMSProp for Node and browsers on the CPU, its update in WebAssembly SIMD over
 * `Float32Array`s, bit-identical on every backend. Start with {@link RMSProp.create}.
 * @module rmsprop-wasm
 */
export { RMSProp } from './rmsprop.js';
export type {
  CheckedGroups,
  GradsInput,
  GroupNamesOf,
  NamesOf,
  ParamGroup,
  ParamInput,
  ParamsInput,
} from './inputs.js';
export type { TensorState } from './tensors.js';
export { PRESETS } from './options.js';
export type {
  BackendChoice,
  BackendName,
  FixedOption,
  GroupInfo,
  GroupOptions,
  LearningRate,
  NonFinitePolicy,
  OptionChanges,
  OptimizerWideOption,
  PresetDefaults,
  PresetName,
  ResolvedOptions,
  RMSPropOptions,
  StateFormat,
} from './options.js';
export { availableBackends, NotReadyError } from './backends.js';
export type { WasmModule, WasmModules } from './wasm-modules.js';
export type { ReadyOptions } from './assemble.js';
export { decodeState, encodeState } from './state-binary.js';
export {
  STATE_FORMAT,
  STATE_VERSION,
  type ArrayKind,
  type LoadOptions,
  type SavedState,
  type SaveOptions,
  type StateArray,
} from './state.js';
export type { TorchParamGroup, TorchParamState, TorchStateDict } from './torch.js';
export * as schedules from './schedules.js';
export type { Schedule } from './schedules.js';

// Loading checks everything before it changes anything: every malformed field of a saved state, its
// binary form or a PyTorch state dict gets a TypeError or RangeError that names the field (never a
// V8 message such as "Cannot read properties of null"); torch ids must be the parameters' indices;
// step counts are safe integers ≥ 0.
import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, RMSProp, type SavedState, type TorchStateDict } from '../../src/index.js';
import { snapshot } from '../support/helpers.js';

type ErrorClass = typeof TypeError | typeof RangeError;

function everything(opt: RMSProp): Float32Array[] {
  return Object.keys(opt.params).flatMap((name) => [opt.params[name], ...Object.values(opt.state[name])]);
}

/** An optimizer one step in, and a good saved state / torch dict of another one, three steps in. */
async function setting() {
  const make = () => RMSProp.create({ w: new Float32Array([1, -2, 3, 4]), b: new Float32Array([0.5, -0.5]) }, { momentum: 0.9 });
  const opt = await make();
  opt.step({ w: new Float32Array([1, 1, 1, 1]), b: new Float32Array([2, 2]) });
  const other = await make();
  for (let k = 0; k < 3; k++) other.step({ w: new Float32Array([k, -k, 1, 2]), b: new Float32Array([1, k]) });
  return { opt, saved: other.saveState(), dict: JSON.parse(JSON.stringify(other.toTorchStateDict())) as TorchStateDict };
}

function expectUnchanged(opt: RMSProp, load: () => void, errorClass: ErrorClass, message: RegExp): void {
  const before = snapshot(everything(opt));
  let thrown: unknown;
  try {
    load();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(errorClass);
  expect((thrown as Error).message).toMatch(message);
  expect(snapshot(everything(opt))).toEqual(before);
  expect(opt.stepCount).toBe(1);
}

describe('a malformed saved state names the field', () => {
  const cases: Array<[string, (s: SavedState) => unknown, ErrorClass, RegExp]> = [
    ['a null parameter entry', (s) => ({ ...s, state: { ...s.state, w: null } }), TypeError, /state\['w'\] must be an object, got null/],
    ['a number as parameter entry', (s) => ({ ...s, state: { ...s.state, b: 7 } }), TypeError, /state\['b'\] must be an object, got 7/],
    ['an unknown array kind', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, velocity: s.state.w.squareAvg } } }), RangeError, /state\['w'\] has 'velocity'/],
    ['groups null', (s) => ({ ...s, groups: null }), TypeError, /groups must be an array, got null/],
    ['a null group', (s) => ({ ...s, groups: [null] }), TypeError, /groups\[0\] must be an object, got null/],
    ['group params not an array', (s) => ({ ...s, groups: [{ ...s.groups[0], params: 'w,b' }] }), TypeError, /groups\[0\]\.params must be an array/],
    ['group options null', (s) => ({ ...s, groups: [{ ...s.groups[0], options: null }] }), TypeError, /groups\[0\]\.options must be an object/],
    ['state null', (s) => ({ ...s, state: null }), TypeError, /'state' must be an object, got null/],
    ['a string step count', (s) => ({ ...s, stepCount: '3' }), TypeError, /stepCount must be a number, got "3"/],
    ['a step count beyond 2^53', (s) => ({ ...s, stepCount: 2 ** 53 }), RangeError, /stepCount must be an integer from 0 to 2\^53 − 1, got 9007199254740992/],
    ['a fractional step count', (s) => ({ ...s, stepCount: 1.5 }), RangeError, /stepCount.*1\.5/],
    ['a version that is not a number', (s) => ({ ...s, version: '1' }), TypeError, /version must be a number, got "1"/],
    ['a squareAvg that is a number', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: 4 } } }), TypeError, /squareAvg of 'w' must be a base64 string, an array of base64 pieces or a Float32Array, got 4/],
    ['no base64 pieces', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: [] } } }), TypeError, /squareAvg of 'w' must be a base64 string, an array of base64 pieces or a Float32Array, got an array/],
    ['a piece that is not a string', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: ['AAAAAA==', null] } } }), TypeError, /squareAvg of 'w'\[1\] must be a base64 string, got null/],
    ['a piece that is not base64', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: ['AAAAAAAAAAAAAAAAAAAA', 'A!=='] } } }), TypeError, /squareAvg of 'w'\[1\] is not valid base64/],
    ['pieces of the wrong total length', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: ['AAAAAA==', 'AAAAAA=='] } } }), RangeError, /squareAvg of 'w' has 2 elements, the parameter has 4/],
    ['a Float32Array of the wrong length', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: new Float32Array(5) } } }), RangeError, /squareAvg of 'w' has 5 elements, the parameter has 4/],
    ['a negative square average in a Float32Array', (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: new Float32Array([1, 2, -3, 4]) } } }), RangeError, /squareAvg of 'w' is negative \(-3\) at index 2/],
    // Fields that Object.prototype has are not fields of the state.
    ['a state without its own entries', (s) => ({ ...s, state: Object.create({ w: s.state.w, b: s.state.b }) }), RangeError, /missing parameter 'w'/],
  ];

  it.each(cases)('%s', async (_, corrupt, errorClass, message) => {
    const { opt, saved } = await setting();
    expectUnchanged(opt, () => opt.loadState(corrupt(saved) as SavedState), errorClass, message);
  });

  it('inherited enumerable properties are ignored', async () => {
    const { opt, saved } = await setting();
    // This optimizer keeps no gradAvg: one seen through the prototype would be refused.
    Object.defineProperty(Object.prototype, 'gradAvg', { value: 'AAAAAA==', enumerable: true, configurable: true, writable: true });
    try {
      opt.loadState(JSON.parse(JSON.stringify(saved)));
    } finally {
      delete (Object.prototype as Record<string, unknown>).gradAvg;
    }
    expect(opt.stepCount).toBe(3);
  });
});

describe('the binary form: malformed input names the field', () => {
  /** A well-formed container around `header` (any JSON text) and `data` bytes. */
  function container(header: string, data = new Uint8Array(0)): Uint8Array {
    const text = new TextEncoder().encode(header);
    const start = (12 + text.length + 3) & ~3;
    const bytes = new Uint8Array(start + data.length);
    bytes.set([0x52, 0x4d, 0x53, 0x50]);
    new DataView(bytes.buffer).setUint32(4, 1, true);
    new DataView(bytes.buffer).setUint32(8, text.length, true);
    bytes.set(text, 12);
    bytes.set(data, start);
    return bytes;
  }

  it.each([
    ['a null header', 'null', TypeError, /the header must be a JSON object, got null/],
    ['an array header', '[]', TypeError, /the header must be a JSON object, got an array/],
    ['a header without state', '{"format":"rmsprop-wasm-state"}', TypeError, /header's 'state' must be an object, got undefined/],
    ['a null parameter entry', '{"state":{"w":null}}', TypeError, /state\['w'\] must be an object, got null/],
    ['a malformed reference', '{"state":{"w":{"squareAvg":[0]}}}', TypeError, /squareAvg of 'w' must be \[byte offset, element count\]/],
    ['a reference past the end', '{"state":{"w":{"squareAvg":[0,4]}}}', RangeError, /truncated: squareAvg of 'w' ends at byte/],
  ] as Array<[string, string, ErrorClass, RegExp]>)('decodeState: %s', (_, header, errorClass, message) => {
    expect(() => decodeState(container(header))).toThrow(errorClass);
    expect(() => decodeState(container(header))).toThrow(message);
  });

  it.each([
    ['invalid base64', (s: SavedState) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: '!!!' } } }), TypeError, /encodeState: state\['w'\]\.squareAvg is not valid base64/],
    ['a partial float', (s: SavedState) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: 'AAA=' } } }), RangeError, /state\['w'\]\.squareAvg holds 2 bytes, not a whole number of float32s/],
    ['a null entry', (s: SavedState) => ({ ...s, state: { ...s.state, b: null } }), TypeError, /encodeState: state\['b'\] must be an object, got null/],
    ['a missing state', (s: SavedState) => ({ ...s, state: undefined }), TypeError, /encodeState: 'state' must be an object, got undefined/],
    ['not an object', () => 'state', TypeError, /encodeState needs a saved state object, got "state"/],
  ] as Array<[string, (s: SavedState) => unknown, ErrorClass, RegExp]>)('encodeState: %s', async (_, corrupt, errorClass, message) => {
    const { saved } = await setting();
    let thrown: unknown;
    try {
      encodeState(corrupt(saved) as SavedState);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(errorClass);
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('a PyTorch state dict: ids are the parameters\' indices, steps are safe integers', () => {
  const cases: Array<[string, (d: TorchStateDict) => unknown, ErrorClass, RegExp]> = [
    ...['7', 'abc', '-1', '1.5', '01', '2'].map((id): [string, (d: TorchStateDict) => unknown, ErrorClass, RegExp] => [
      `an id '${id}' that is not a parameter's index`,
      (d) => ({ ...d, state: { ...d.state, [id]: { ...d.state['0'], step: 999 } } }),
      RangeError,
      new RegExp(`state has an entry '${id.replace('.', '\\.')}', but this optimizer's parameters are numbered 0 to 1`),
    ]),
    ['a null entry', (d) => ({ ...d, state: { ...d.state, 0: null } }), TypeError, /state\['0'\] must be an object, got null/],
    ['a negative step', (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], step: -1 } } }), RangeError, /state\['0'\]\.step must be an integer from 0 to 2\^53 − 1, got -1/],
    ['a fractional step', (d) => ({ ...d, state: { ...d.state, 1: { ...d.state['1'], step: 2.5 } } }), RangeError, /state\['1'\]\.step.*2\.5/],
    ['a step beyond 2^53', (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], step: 2 ** 60 } } }), RangeError, /state\['0'\]\.step/],
    ['a string step', (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], step: '3' } } }), TypeError, /state\['0'\]\.step must be a number, got "3"/],
    ['a hole in square_avg', (d) => ({ ...d, state: { ...d.state, 1: { ...d.state['1'], square_avg: [1, , ] } } }), TypeError, /state\['1'\]\.square_avg\[1\] must be a number, got undefined/],
    ['a string in momentum_buffer', (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], momentum_buffer: [1, 2, '3', 4] } } }), TypeError, /state\['0'\]\.momentum_buffer\[2\] must be a number, got "3"/],
    ['param_groups null', (d) => ({ ...d, param_groups: null }), TypeError, /param_groups must be an array, got null/],
    ['a null param group', (d) => ({ ...d, param_groups: [null] }), TypeError, /param_groups\[0\] must be an object, got null/],
    ['params not an array', (d) => ({ ...d, param_groups: [{ ...d.param_groups[0], params: 0 }] }), TypeError, /param_groups\[0\]\.params must be an array of indices, got 0/],
    ['state null', (d) => ({ ...d, state: null }), TypeError, /'state' must be an object, got null/],
    ['not an object', () => 3, TypeError, /must be an object, got 3/],
  ];

  it.each(cases)('%s', async (_, corrupt, errorClass, message) => {
    const { opt, dict } = await setting();
    expectUnchanged(opt, () => opt.fromTorchStateDict(corrupt(dict) as TorchStateDict), errorClass, message);
  });

  it('the step count is the largest per-parameter step, found without spreading 200 000 arguments', async () => {
    const n = 200_000;
    const opt = await RMSProp.create(new Array<number>(n).fill(1));
    const state: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) state[i] = { step: i === 123_456 ? 9 : 4, square_avg: [0.25] };
    opt.fromTorchStateDict({ state, param_groups: [{ ...opt.toTorchStateDict().param_groups[0] }] } as TorchStateDict);
    expect(opt.stepCount).toBe(9);
    expect(opt.state['199999'].squareAvg[0]).toBe(0.25);
  }, 60_000);
});

describe('step counts stay exact: the optimizer never passes 2^53 − 1, so its own saved state always loads', () => {
  it('a step at 2^53 − 1 throws a RangeError and changes nothing; the saved state there loads back', async () => {
    const w = new Float32Array([1, 2]);
    const opt = await RMSProp.create({ w });
    const saved = opt.saveState();
    opt.loadState({ ...saved, stepCount: Number.MAX_SAFE_INTEGER - 1 });
    opt.step({ w: new Float32Array([1, 1]) });
    expect(opt.stepCount).toBe(Number.MAX_SAFE_INTEGER);
    const before = snapshot([w, opt.state.w.squareAvg]);
    expect(() => opt.step({ w: new Float32Array([1, 1]) })).toThrow(RangeError);
    expect(() => opt.step({ w: new Float32Array([1, 1]) })).toThrow(/2\^53/);
    expect(snapshot([w, opt.state.w.squareAvg])).toEqual(before);
    expect(opt.stepCount).toBe(Number.MAX_SAFE_INTEGER);
    const copy = await RMSProp.create({ w: 2 });
    copy.loadState(JSON.parse(JSON.stringify(opt.saveState())));
    expect(copy.stepCount).toBe(Number.MAX_SAFE_INTEGER);
    copy.fromTorchStateDict(opt.toTorchStateDict());
    expect(copy.stepCount).toBe(Number.MAX_SAFE_INTEGER);
  });
});

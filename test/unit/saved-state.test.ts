// Saved state that holds (issue 18): files of format version 1 still load; the binary form refuses
// every single flipped bit and any file whose references overlap, alias or leave bytes over,
// before allocating; checkpoints round-trip up to the sizes wasm holds, or say which form has no
// limit; caller arrays are read as the engine sees them, whatever their class's getters say.
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, RMSProp, STATE_VERSION, type SavedState } from '../../src/index.js';
import { runForJson } from '../support/child.js';
import { sameBits, snapshot } from '../support/helpers.js';

/** Runs `body`, in which `lib` is the package as a user imports it, in a fresh Node process. */
const runInChild = <T>(body: string, timeout?: number) => runForJson<T>(`import * as lib from 'rmsprop-wasm';\n${body}`, timeout);

const fixture = (name: string) => new URL(`../support/fixtures/${name}`, import.meta.url);

/** The layout of the version 1 fixtures (written at 0940c12 by the code of that time). */
const makeFixtureLayout = () => RMSProp.create([
  { params: { w: 5, ['__proto__']: 2 }, momentum: 0.9, centered: true },
  { params: { '0': 3 } },
], { preset: 'pytorch' });

/** The values the fixtures were written with, as the generating script set them. */
const FIXTURE_VALUES: Array<[name: string, kind: 'squareAvg' | 'gradAvg' | 'momentum', values: number[]]> = [
  ['w', 'squareAvg', [0.25, NaN, Infinity, -0, 1e-45]],
  ['w', 'gradAvg', [-1.5, -0, -Infinity, 3, 2 ** -126]],
  ['w', 'momentum', [1, 2, 3, 4, -5]],
  ['__proto__', 'squareAvg', [7, 8]],
  ['__proto__', 'gradAvg', [-7, -8]],
  ['__proto__', 'momentum', [0.5, -0.5]],
  ['0', 'squareAvg', [1e30, 0, 3.5]],
];

function expectFixtureValues(opt: RMSProp): void {
  expect(opt.stepCount).toBe(7);
  for (const [name, kind, values] of FIXTURE_VALUES) {
    expect(sameBits(opt.state[name][kind]!, new Float32Array(values)), `${kind} of ${name}`).toBeUndefined();
  }
}

/** A binary state container of `version` around `header` (JSON text) and `data`, with a correct CRC-32 from version 2 on. */
function container(version: number, header: string, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(header);
  const start = Math.ceil((12 + text.length) / 4) * 4;
  const crc = version >= 2 ? 4 : 0;
  const bytes = new Uint8Array(start + data.length + crc);
  const view = new DataView(bytes.buffer);
  bytes.set([0x52, 0x4d, 0x53, 0x50]);
  view.setUint32(4, version, true);
  view.setUint32(8, text.length, true);
  bytes.set(text, 12);
  bytes.set(data, start);
  if (crc) view.setUint32(start + data.length, crc32(bytes.subarray(0, start + data.length)), true);
  return bytes;
}

describe('files of format version 1 still load', () => {
  it('the JSON form', async () => {
    const opt = await makeFixtureLayout();
    opt.loadState(JSON.parse(readFileSync(fixture('state-v1.json'), 'utf8')));
    expectFixtureValues(opt);
  });

  it('the binary form', async () => {
    const opt = await makeFixtureLayout();
    opt.loadState(decodeState(new Uint8Array(readFileSync(fixture('state-v1.bin')))));
    expectFixtureValues(opt);
  });

  it('re-encoded, they become the current version, with a CRC-32 that zlib agrees with', async () => {
    const bytes = encodeState(JSON.parse(readFileSync(fixture('state-v1.json'), 'utf8')));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(4, true)).toBe(STATE_VERSION);
    expect(view.getUint32(bytes.length - 4, true)).toBe(crc32(bytes.subarray(0, bytes.length - 4)));
    const opt = await makeFixtureLayout();
    opt.loadState(decodeState(bytes));
    expectFixtureValues(opt);
  });
});

describe('every form of a state array loads, and encodes to the same bytes', () => {
  // A 4-element squareAvg [1, 2, 3, 4] as one base64 string, as pieces (any split on whole bytes), and as floats.
  const floats = new Float32Array([1, 2, 3, 4]);
  const whole = Buffer.from(floats.buffer).toString('base64');
  const bytes = Buffer.from(floats.buffer);
  const forms: Array<[string, string | string[] | Float32Array]> = [
    ['one string', whole],
    ['pieces', [bytes.subarray(0, 6).toString('base64'), bytes.subarray(6, 7).toString('base64'), bytes.subarray(7).toString('base64')]],
    ['a Float32Array', floats],
    ['a Float32Array view at an offset', new Float32Array(new Float32Array([9, 1, 2, 3, 4]).buffer, 4, 4)],
  ];
  it.each(forms)('%s', async (_, squareAvg) => {
    const opt = await RMSProp.create({ w: 4 });
    const saved: SavedState = { ...opt.saveState(), stepCount: 3, state: { w: { squareAvg } } };
    opt.loadState(saved);
    expect(sameBits(opt.state.w.squareAvg, floats)).toBeUndefined();
    expect(opt.stepCount).toBe(3);
    const copy = await RMSProp.create({ w: 4 });
    copy.loadState(decodeState(encodeState(saved)));
    expect(sameBits(copy.state.w.squareAvg, floats)).toBeUndefined();
    expect(Buffer.compare(encodeState(saved), encodeState({ ...saved, state: { w: { squareAvg: whole } } }))).toBe(0);
  });
});

describe('files that cannot lie', () => {
  it('every single-bit flip of a binary state file is refused', async () => {
    const bytes = encodeState(JSON.parse(readFileSync(fixture('state-v1.json'), 'utf8')));
    const accepted: number[] = [];
    const messages = new Set<string>();
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice();
      flipped[bit >> 3] ^= 1 << (bit & 7);
      try {
        decodeState(flipped);
        accepted.push(bit);
      } catch (error) {
        expect(error).toSatisfy((e) => e instanceof TypeError || e instanceof RangeError);
        messages.add((error as Error).message.replace(/0x[0-9a-f]{8}/g, '…').replace(/\d+/g, 'N'));
      }
    }
    expect(accepted).toEqual([]);
    expect([...messages].sort()).toEqual([
      'state bytes are corrupt: their CRC-N is …, the file says … (truncated, changed or damaged)',
      'state format version N is not supported; this library reads versions N and N',
      'these bytes are not an rmsprop-wasm state (the magic number is wrong)',
    ]);
  });

  // The data holds w's 4 floats then b's 2: references that overlap, alias or skip bytes are refused,
  // with a correct checksum (a crafted file) and in version 1 (which had none), before any copy.
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  const header = (w: string, b: string) => `{"format":"rmsprop-wasm-state","version":2,"stepCount":0,"groups":[],"state":{"w":{"squareAvg":${w}},"b":{"squareAvg":${b}}}}`;
  it.each([1, 2])('references that overlap, alias or leave bytes over are refused (version %i)', (version) => {
    const decode = (w: string, b: string) => () => decodeState(container(version, header(w, b), data));
    expect(decode('[0,4]', '[16,2]')).not.toThrow();
    expect(decode('[0,4]', '[0,2]')).toThrow(/squareAvg of 'b' \(data bytes 0 to 8\) overlaps squareAvg of 'w' \(bytes 0 to 16\): each array must have bytes of its own/);
    expect(decode('[0,4]', '[8,2]')).toThrow(/squareAvg of 'b' \(data bytes 8 to 16\) overlaps/);
    expect(decode('[0,6]', '[0,6]')).toThrow(/overlaps/);
    expect(decode('[0,4]', '[20,1]')).toThrow(/data bytes 16 to 20 belong to no array/);
    expect(decode('[0,4]', '[16,1]')).toThrow(/data bytes 20 to 24 belong to no array/);
    expect(decode('[0,4]', '[16,3]')).toThrow(/truncated: squareAvg of 'b' ends at byte/);
    expect(decode('[8,4]', '[0,2]')).not.toThrow(); // any order, as long as each byte has one owner
  });

  // A 4 MiB file whose 400 references all alias its 2 MiB of data: the code of 0940c12 decoded it to
  // 400 base64 strings of 2.8 M characters (1.1 GB). Peak RSS of a fresh process, before and after.
  it('a crafted 4 MiB file of aliased references is refused without allocating more than a few times its size', async () => {
    const result = await runInChild<Array<{ version: number; size: number; error: string; grew: number }>>(`
      import { crc32 } from 'node:zlib';
      const MiB = 2 ** 20;
      function craft(version) {
        const refs = Array.from({ length: 400 }, (_, i) => '"p' + i + '":{"squareAvg":[0,' + (2 * MiB / 4) + ']}').join(',');
        let header = '{"format":"rmsprop-wasm-state","version":' + version + ',"stepCount":0,"groups":[],"state":{' + refs + '}}';
        const crc = version >= 2 ? 4 : 0;
        header = header.padEnd(4 * MiB - 12 - 2 * MiB - crc, ' ');
        const text = new TextEncoder().encode(header);
        const bytes = new Uint8Array(12 + text.length + 2 * MiB + crc);
        const view = new DataView(bytes.buffer);
        bytes.set([0x52, 0x4d, 0x53, 0x50]);
        view.setUint32(4, version, true);
        view.setUint32(8, text.length, true);
        bytes.set(text, 12);
        if (crc) view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
        return bytes;
      }
      const files = [craft(1), craft(2)];
      lib.decodeState(lib.encodeState((await lib.RMSProp.create({ w: 4 })).saveState())); // the code, compiled
      const results = [];
      for (const bytes of files) {
        const before = process.resourceUsage().maxRSS * 1024;
        let error = 'accepted';
        try { lib.decodeState(bytes); } catch (e) { error = e.message; }
        results.push({ version: new DataView(bytes.buffer).getUint32(4, true), size: bytes.length, error, grew: process.resourceUsage().maxRSS * 1024 - before });
      }
      console.log(JSON.stringify(results));`);
    for (const { size, error, grew } of result) {
      expect(size).toBe(4 * 2 ** 20);
      expect(error).toMatch(/squareAvg of 'p\d+' \(data bytes 0 to 2097152\) overlaps squareAvg of 'p\d+'/);
      expect(grew).toBeLessThan(3 * size);
    }
  });
});

describe('checkpoints up to wasm\'s 4 GiB', () => {
  // 110 M elements: past 100.6 M, where the base64 of one array passed V8's longest string and
  // saveState() aborted Node (SIGABRT, nothing to catch). About 2.4 GB of peak RSS and 16 s here.
  it('110 M elements round-trip bit for bit through saveState/loadState and through the binary form, in a fresh process', async () => {
    const result = await runInChild<Record<string, unknown>>(`
      const n = 110_000_000;
      const opt = await lib.RMSProp.create({ w: n });
      const squareAvg = opt.state.w.squareAvg;
      const bits = new Uint32Array(squareAvg.buffer, squareAvg.byteOffset, n);
      // Every exponent and mantissa pattern, sign clear (a square average is never negative): NaNs, +∞, subnormals.
      for (let i = 0; i < n; i++) bits[i] = Math.imul(i, 2654435761) >>> 1;
      const original = squareAvg.slice();
      const same = () => Buffer.compare(new Uint8Array(original.buffer), new Uint8Array(squareAvg.buffer, squareAvg.byteOffset, n * 4)) === 0;
      let saved = opt.saveState();
      const pieces = saved.state.w.squareAvg.map((piece) => piece.length);
      squareAvg.fill(0);
      opt.loadState(saved);
      const json = same();
      saved = undefined;
      const bytes = lib.encodeState(opt.saveState({ arrays: 'float32' }));
      squareAvg.fill(0);
      opt.loadState(lib.decodeState(bytes));
      const binary = same();
      squareAvg.fill(0);
      opt.loadState(lib.decodeState(lib.encodeState(opt.saveState({ arrays: 'float32' }))));
      console.log(JSON.stringify({ pieces, json, binary, bytes: bytes.length, zeroed: same() }));`, 180_000);
    // 440 MB of floats: two pieces of 192 MiB and the rest, each piece's base64 2^28 characters at most.
    expect(result).toEqual({ pieces: [2 ** 28, 2 ** 28, Math.ceil((440e6 - 2 * 3 * 2 ** 26) / 3) * 4], json: true, binary: true, bytes: expect.any(Number), zeroed: false });
    expect(result.bytes).toBeGreaterThan(440e6);
  }, 200_000);

  // Past V8's longest number array the torch form cannot exist: a RangeError naming the limit and the
  // forms without one, where Array.from threw "Invalid array length" past ~130 M (and silently worked below).
  it('the torch form past 125 M elements throws a RangeError naming the limit and the forms that have none', async () => {
    const result = await runInChild<string[]>(`
      const opt = await lib.RMSProp.create({ w: 125_000_001 });
      opt.step();
      const small = await lib.RMSProp.create({ w: 1 });
      const dict = { state: { 0: { step: 1, square_avg: [] } }, param_groups: small.toTorchStateDict().param_groups };
      const messages = [];
      for (const call of [() => opt.toTorchStateDict(), () => opt.fromTorchStateDict(dict)]) {
        try { call(); messages.push('no error'); } catch (e) { messages.push(e.constructor.name + ': ' + e.message); }
      }
      console.log(JSON.stringify(messages));`, 120_000);
    expect(result[0]).toBe("RangeError: toTorchStateDict: parameter 'w' has 125000001 elements; the torch state dict's number arrays hold at most 125000000 (V8's longest array). Use saveState() or encodeState(), which have no such limit");
    expect(result[1]).toMatch(/^RangeError: fromTorchStateDict: parameter 'w' has 125000001 elements; .* at most 125000000/);
  }, 150_000);
});

describe('caller arrays are read as the engine sees them, not through their class\'s getters', () => {
  class LengthLiar extends Float32Array {
    claimed = 0;
    override get length(): number {
      return this.claimed;
    }
  }
  const liar = (values: ArrayLike<number>, claimed: number) => Object.assign(new LengthLiar(values), { claimed });

  it('a gradient longer than it claims is refused before any gradient is written', async () => {
    const opt = await RMSProp.create({ a: 4, b: 4 });
    const before = snapshot([...Object.values(opt.grads), ...Object.values(opt.params), opt.state.a.squareAvg, opt.state.b.squareAvg]);
    const step = () => opt.step({ a: new Float32Array([1, 2, 3, 4]), b: liar([1, 2, 3, 4, 5, 6, 7, 8], 4) });
    expect(step).toThrow(RangeError);
    expect(step).toThrow(/gradient 'b' has 8 elements, its parameter has 4/);
    expect(snapshot([...Object.values(opt.grads), ...Object.values(opt.params), opt.state.a.squareAvg, opt.state.b.squareAvg])).toEqual(before);
    expect(opt.stepCount).toBe(0);
  });

  it('a gradient shorter than it claims is stepped with its real values', async () => {
    const opt = await RMSProp.create({ w: new Float32Array([1, 2, 3, 4]) });
    const reference = await RMSProp.create({ w: new Float32Array([1, 2, 3, 4]) });
    opt.step({ w: liar([0.5, -1, 2, 3], 9) });
    reference.step({ w: new Float32Array([0.5, -1, 2, 3]) });
    expect(sameBits(opt.params.w, reference.params.w)).toBeUndefined();
  });

  // Two gradients swapped between the optimizer's own buffers (step({ a: grads.b, b: grads.a })): the
  // one that hides its buffer is still staged before a slot is written, so b steps with a's old values.
  it('a view of the optimizer\'s memory whose buffer getter lies is still staged', async () => {
    class BufferLiar extends Float32Array {
      override get buffer(): ArrayBuffer {
        return new ArrayBuffer(8);
      }
    }
    const grads = { a: [1, 2, 3, 4], b: [-5, 6, -7, 8] };
    const opt = await RMSProp.create({ a: 4, b: 4 });
    const reference = await RMSProp.create({ a: 4, b: 4 });
    opt.grads.a.set(grads.a);
    opt.grads.b.set(grads.b);
    const hidden = new BufferLiar(opt.grads.a.buffer, opt.grads.a.byteOffset, 4);
    opt.step({ a: opt.grads.b, b: hidden });
    reference.step({ a: new Float32Array(grads.b), b: new Float32Array(grads.a) });
    expect(sameBits(opt.params.b, reference.params.b)).toBeUndefined();
    expect(sameBits(opt.params.a, reference.params.a)).toBeUndefined();
  });

  it('a parameter array is sized by its real length, and written through the engine\'s set', async () => {
    const w = liar([1, 2, 3, 4], 2);
    Object.defineProperty(w, 'set', { value: () => {} }); // an own `set` that would drop the update
    const opt = await RMSProp.create({ w });
    const reference = await RMSProp.create({ w: new Float32Array([1, 2, 3, 4]) });
    opt.step({ w: new Float32Array([1, 1, 1, 1]) });
    reference.step({ w: new Float32Array([1, 1, 1, 1]) });
    expect(opt.params.w).toBe(w);
    expect(sameBits(new Float32Array(w.buffer), reference.params.w)).toBeUndefined();
  });

  it('a typed array that claims to be a Float32Array is refused', async () => {
    class Impostor extends Uint8Array {
      override get [Symbol.toStringTag](): 'Uint8Array' {
        return 'Float32Array' as 'Uint8Array';
      }
    }
    const fake = new Impostor(16);
    await expect(RMSProp.create({ w: fake as unknown as Float32Array })).rejects.toThrow(/parameter 'w' must be a Float32Array or an element count, got a Impostor/);
    const opt = await RMSProp.create({ w: 16 });
    expect(() => opt.step({ w: fake as unknown as Float32Array })).toThrow(/gradient 'w' must be a Float32Array/);
  });

  it('decodeState and loadState read the real bytes and lengths', async () => {
    const opt = await RMSProp.create({ w: 4 });
    opt.state.w.squareAvg.set([1, 2, 3, 4]);
    const bytes = encodeState(opt.saveState());
    class ByteLiar extends Uint8Array {
      override get length(): number {
        return 3;
      }
      override get byteOffset(): number {
        return 1;
      }
    }
    const copy = await RMSProp.create({ w: 4 });
    copy.loadState(decodeState(new ByteLiar(bytes)));
    expect(sameBits(copy.state.w.squareAvg, new Float32Array([1, 2, 3, 4]))).toBeUndefined();
    const saved: SavedState = { ...opt.saveState(), state: { w: { squareAvg: liar([4, 3, 2, 1], 4) } } };
    (saved.state.w.squareAvg as LengthLiar).claimed = 7;
    copy.loadState(saved);
    expect(sameBits(copy.state.w.squareAvg, new Float32Array([4, 3, 2, 1]))).toBeUndefined();
    expect(() => copy.loadState({ ...saved, state: { w: { squareAvg: liar([1, 2], 4) } } })).toThrow(/squareAvg of 'w' has 2 elements, the parameter has 4/);
  });
});

// Saved state that holds (issue 18): files of format version 1 still load; the binary form refuses
// every single flipped bit and any file whose references overlap, alias or leave bytes over,
// before allocating (checkpoints up to the sizes wasm holds: test/package/checkpoints.test.ts);
// caller arrays are read as the engine sees them, whatever their class's getters say.
// Saved state round-trips across backends and resumes the same run; loading checks everything
// before it changes anything: every malformed field of a saved state, its binary form or a PyTorch
// state dict gets a TypeError or RangeError that names the field (never a V8 message such as
// "Cannot read properties of null"); torch ids must be the parameters' indices; step counts are
// safe integers ≥ 0.
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeState,
  encodeState,
  RMSProp,
  schedules,
  type RMSPropOptions,
  type SavedState,
  type TorchStateDict,
} from '../../src/index.js';
import { runForJson } from '../support/child.js';
import {
  BACKENDS,
  detach,
  everything,
  firstDifference,
  randomArrays,
  sameBits,
  snapshot,
  snapshotDifference,
} from '../support/helpers.js';

/** Runs `body`, in which `lib` is the package as a user imports it, in a fresh Node process. */
const runInChild = <T>(body: string, timeout?: number) =>
  runForJson<T>(`import * as lib from 'rmsprop-wasm';\n${body}`, timeout);

const fixture = (name: string) => new URL(`../support/fixtures/${name}`, import.meta.url);

/** The layout of the version 1 fixtures (written at 0940c12 by the code of that time). */
const makeFixtureLayout = () =>
  RMSProp.create([{ params: { w: 5, ['__proto__']: 2 }, momentum: 0.9, centered: true }, { params: { '0': 3 } }], {
    preset: 'pytorch',
  });

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

  it('re-encoded, they take the current binary layout, with a CRC-32 that zlib agrees with', async () => {
    const bytes = encodeState(JSON.parse(readFileSync(fixture('state-v1.json'), 'utf8')));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(4, true)).toBe(4); // the binary layout's version; the header keeps the state's
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
    [
      'pieces',
      [
        bytes.subarray(0, 6).toString('base64'),
        bytes.subarray(6, 7).toString('base64'),
        bytes.subarray(7).toString('base64'),
      ],
    ],
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
    // (the envelope's version 4 with one bit flipped is 0, 5, 6, 12…: none reads as version 1, which had no CRC)
    expect([...messages].sort()).toEqual([
      'state bytes are corrupt: their CRC-N is …, the file says … (truncated, changed or damaged)',
      'state format version N is not supported; this library reads versions N to N',
      'these bytes are not an rmsprop-wasm state (the magic number is wrong)',
    ]);
  });

  // The data holds w's 4 floats then b's 2: references that overlap, alias or skip bytes are refused,
  // with a correct checksum (a crafted file) and in version 1 (which had none), before any copy.
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  const header = (w: string, b: string) =>
    `{"format":"rmsprop-wasm-state","version":2,"stepCount":0,"groups":[],"state":{"w":{"squareAvg":${w}},"b":{"squareAvg":${b}}}}`;
  it.each([1, 2])('references that overlap, alias or leave bytes over are refused (version %i)', (version) => {
    const decode = (w: string, b: string) => () => decodeState(container(version, header(w, b), data));
    expect(decode('[0,4]', '[16,2]')).not.toThrow();
    expect(decode('[0,4]', '[0,2]')).toThrow(
      /squareAvg of 'b' \(data bytes 0 to 8\) overlaps squareAvg of 'w' \(bytes 0 to 16\): each array must have bytes of its own/,
    );
    expect(decode('[0,4]', '[8,2]')).toThrow(/squareAvg of 'b' \(data bytes 8 to 16\) overlaps/);
    expect(decode('[0,6]', '[0,6]')).toThrow(/overlaps/);
    expect(decode('[0,4]', '[20,1]')).toThrow(/data bytes 16 to 20 belong to no array/);
    expect(decode('[0,4]', '[16,1]')).toThrow(/data bytes 20 to 24 belong to no array/);
    expect(decode('[0,4]', '[16,3]')).toThrow(/truncated: squareAvg of 'b' ends at byte/);
    expect(decode('[8,4]', '[0,2]')).not.toThrow(); // any order, as long as each byte has one owner
    // [offset, count, bytes per element] is version 3's form (compressed codes): refused before it
    expect(decode('[0,4]', '[16,2,2]')).toThrow(TypeError);
    // an empty array owns no byte: any offset within the data (V8 refused one not a multiple of 4)
    const empty = () => decodeState(container(version, header('[0,6]', '[14,0]'), data)).state.b.squareAvg;
    expect(empty()).toEqual(new Float32Array(0));
  });

  // Version 3's codes (1 or 2 bytes an element) may start anywhere in the data: one shared byte is an overlap too.
  it('version 3: codes that overlap an array by one byte, or of another width than 1, 2 or 4 bytes, are refused', () => {
    const decode = (w: string, b: string, bytes: Uint8Array) => () => decodeState(container(3, header(w, b), bytes));
    expect(decode('[0,4]', '[16,4,1]', data.subarray(0, 20))).not.toThrow();
    expect(decode('[0,4]', '[15,4,1]', data.subarray(0, 19))).toThrow(
      /squareAvg of 'b' \(data bytes 15 to 19\) overlaps squareAvg of 'w' \(bytes 0 to 16\)/,
    );
    expect(decode('[0,4]', '[16,2,3]', data)).toThrow(TypeError);
  });

  it('a file too short for its header and checksum, or whose header runs into its checksum, is called truncated', async () => {
    const short = container(3, '', new Uint8Array(0)).subarray(0, 13); // magic, version, length, one byte
    expect(() => decodeState(short)).toThrow(
      /state bytes are truncated: 13 bytes, the header and checksum alone need 16/,
    );
    const bytes = encodeState(await RMSProp.create({ w: 2 }));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint32(8, bytes.length - 12, true); // the header claims every byte after it, the checksum's too
    view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
    expect(() => decodeState(bytes)).toThrow(
      new RangeError(
        `state bytes are truncated: the header needs ${bytes.length} bytes, only ${bytes.length - 4} are present`,
      ),
    );
  });

  it('bytes that start off a 4-byte boundary decode (from a copy of their data)', async () => {
    const opt = await RMSProp.create({ w: 3 });
    opt.setState('w', { squareAvg: Float32Array.of(1, 2, 3) });
    const bytes = encodeState(opt);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(decodeState(shifted.subarray(1)).state.w.squareAvg).toEqual(Float32Array.of(1, 2, 3));
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

describe("caller arrays are read as the engine sees them, not through their class's getters", () => {
  class LengthLiar extends Float32Array {
    claimed = 0;
    override get length(): number {
      return this.claimed;
    }
  }
  const liar = (values: ArrayLike<number>, claimed: number) => Object.assign(new LengthLiar(values), { claimed });

  it('a gradient longer than it claims is refused before any gradient is written', async () => {
    const opt = await RMSProp.create({ a: 4, b: 4 });
    const before = snapshot([
      ...Object.values(opt.grads),
      ...Object.values(opt.params),
      opt.state.a.squareAvg,
      opt.state.b.squareAvg,
    ]);
    const step = () => opt.step({ a: new Float32Array([1, 2, 3, 4]), b: liar([1, 2, 3, 4, 5, 6, 7, 8], 4) });
    expect(step).toThrow(RangeError);
    expect(step).toThrow(/gradient 'b' has 8 elements, its parameter has 4/);
    expect(
      snapshot([
        ...Object.values(opt.grads),
        ...Object.values(opt.params),
        opt.state.a.squareAvg,
        opt.state.b.squareAvg,
      ]),
    ).toEqual(before);
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
  it("a view of the optimizer's memory whose buffer getter lies is still staged", async () => {
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

  it("a parameter array is sized by its real length, and written through the engine's set", async () => {
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
    await expect(RMSProp.create({ w: fake as unknown as Float32Array })).rejects.toThrow(
      /parameter 'w' must be a Float32Array or an element count, got an Impostor/,
    );
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
    expect(() => copy.loadState({ ...saved, state: { w: { squareAvg: liar([1, 2], 4) } } })).toThrow(
      /squareAvg of 'w' has 2 elements, the parameter has 4/,
    );
  });
});

// An array past one base64 piece, as a user saves it: JSON.stringify of saveState() in a fresh
// process. With pieces of 2^28 characters, Deno 2.9.6 aborted inside JSON.stringify (signal 5) and
// Chromium's tab crashed, nothing to catch, from 50.3 M elements of float32 state.
it('a state array of 51 M elements (204 MB, several base64 pieces) goes through JSON.stringify and back', async () => {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const result = await runForJson<{ pieces: number[]; same: boolean }>(
    `import { RMSProp } from '${entry}';
    const n = 51_000_000;
    const opt = await RMSProp.create({ w: n });
    const squareAvg = opt.state.w.squareAvg;
    for (let i = 0; i < n; i += 997) squareAvg[i] = i * 1e-3;
    const json = JSON.stringify(opt.saveState());
    squareAvg.fill(0);
    const saved = JSON.parse(json);
    opt.loadState(saved);
    let same = true;
    for (let i = 0; i < n; i++) if (squareAvg[i] !== (i % 997 === 0 ? Math.fround(i * 1e-3) : 0)) same = false;
    console.log(JSON.stringify({ pieces: saved.state.w.squareAvg.map((piece) => piece.length), same }));`,
    120_000,
  );
  expect(result.same).toBe(true);
  // 48 MiB a piece (2^26 characters of base64), the rest in the last
  expect(result.pieces).toEqual([2 ** 26, 2 ** 26, 2 ** 26, 2 ** 26, Math.ceil((204e6 - 4 * 3 * 2 ** 24) / 3) * 4]);
}, 150_000);

// A big checkpoint loaded as a user loads it: decodeState of the file's bytes, then loadState. The
// arrays are views of the bytes (they were views of a copy: a 2.4 GB checkpoint needed 4.8 GB).
// encodeState(opt) reads the state where it lies: its peak is the bytes alone (64 MiB here), where
// encodeState(opt.saveState({ arrays: 'float32' })) holds a copy of the state beside them (128 MiB).
it('encodeState(opt) of a 64 MB state and decodeState of it allocate no copy, and it loads bit for bit', async () => {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const result = await runForJson<{ encodeGrewMiB: number; grewMiB: number; same: boolean }>(
    `import { RMSProp, decodeState, encodeState } from '${entry}';
    const n = 16 * 2 ** 20;
    const opt = await RMSProp.create({ w: n });
    const squareAvg = opt.state.w.squareAvg;
    for (let i = 0; i < n; i++) squareAvg[i] = i;
    const peak = () => process.resourceUsage().maxRSS * 1024;
    const beforeEncode = peak();
    const bytes = encodeState(opt);
    const encodeGrewMiB = (peak() - beforeEncode) / 2 ** 20;
    squareAvg.fill(0);
    const before = process.memoryUsage().rss;
    const decoded = decodeState(bytes);
    const grewMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    opt.loadState(decoded);
    let same = true;
    for (let i = 0; i < n; i++) if (squareAvg[i] !== i) same = false;
    console.log(JSON.stringify({ encodeGrewMiB, grewMiB, same }));`,
    120_000,
  );
  expect(result.same).toBe(true);
  expect(result.encodeGrewMiB).toBeLessThan(96);
  expect(result.grewMiB).toBeLessThan(16);
}, 150_000);

describe.each([1, 2])('encodeState(opt), threads: %i', (threads) => {
  it.each(['float32', 'bfloat16', '8bit'] as const)(
    '%s state: the bytes of encodeState(opt.saveState(…)), and they resume it bit for bit',
    async (stateFormat) => {
      const make = () => RMSProp.create([3000, 5000, 0], { threads, stateFormat, centered: true, momentum: 0.9 });
      const opt = await make();
      for (let k = 0; k < 3; k++) opt.step(randomArrays(50 + k, [3000, 5000, 0]));
      const bytes = encodeState(opt);
      expect(bytes).toEqual(encodeState(opt.saveState({ arrays: 'float32' })));
      const resumed = await make();
      resumed.loadState(decodeState(bytes));
      for (const name of ['0', '1'] as const) resumed.params[name].set(opt.params[name]); // not in a saved state
      for (const o of [opt, resumed]) o.step(randomArrays(60, [3000, 5000, 0]));
      expect(resumed.stepCount).toBe(4);
      for (const name of ['0', '1'] as const) {
        expect(sameBits(resumed.params[name], opt.params[name]), name).toBeUndefined();
        for (const kind of ['squareAvg', 'gradAvg', 'momentum'] as const)
          expect(sameBits(resumed.state[name][kind]!, opt.state[name][kind]!), `${name} ${kind}`).toBeUndefined();
      }
      for (const o of [opt, resumed]) o.dispose();
    },
  );

  it('a disposed optimizer is refused', async () => {
    const opt = await RMSProp.create({ w: 4 }, { threads });
    opt.dispose();
    expect(() => encodeState(opt)).toThrow(/disposed/);
  });
});

describe('saved state', () => {
  const options: RMSPropOptions = {
    preset: 'optax',
    centered: true,
    momentum: 0.9,
    nesterov: true,
    biasCorrection: true,
    lr: schedules.exponentialDecay({ initial: 1e-2, decaySteps: 3, decayRate: 0.5 }),
  };
  const LENGTHS = [13, 0, 64];

  async function run(backend: (typeof BACKENDS)[number], from: number, to: number, opt?: RMSProp) {
    opt ??= await RMSProp.create(randomArrays(9, LENGTHS), { ...options, backend });
    for (let k = from; k < to; k++) {
      const grads = randomArrays(400 + k, LENGTHS);
      grads[0][k % 13] = k === 4 ? NaN : grads[0][k % 13]; // a NaN, to check it survives JSON
      opt.step(grads);
    }
    return opt;
  }

  it.each(BACKENDS.flatMap((a) => BACKENDS.map((b) => [a, b] as const)))(
    'save on %s → JSON → load on %s → continue equals the uninterrupted run',
    async (saveOn, loadOn) => {
      const uninterrupted = await run(saveOn, 0, 10);
      const first = await run(saveOn, 0, 6);
      const json = JSON.stringify(first.saveState());
      const params = Object.values(first.params).map((p) => p.slice());
      const second = await RMSProp.create(params, { ...options, backend: loadOn });
      second.loadState(JSON.parse(json));
      expect(second.stepCount).toBe(6);
      await run(loadOn, 6, 10, second);
      expect(firstDifference(everything(second), everything(uninterrupted))).toBeUndefined();
    },
  );

  it('the binary form round-trips, NaN, ±∞ and −0 included', async () => {
    const opt = await RMSProp.create({ w: new Float32Array([NaN, -0, Infinity, -Infinity, 1e-45]) }, { momentum: 0.5 });
    opt.state.w.squareAvg.set([NaN, -0, Infinity, 0, 1e-45]);
    opt.state.w.momentum!.set([NaN, -0, Infinity, -Infinity, -1e-45]);
    const saved = opt.saveState();
    const bytes = encodeState(saved);
    const { state, ...rest } = decodeState(bytes);
    expect(rest).toEqual({ ...saved, state: undefined });
    expect(sameBits(state.w.momentum as Float32Array, opt.state.w.momentum!)).toBeUndefined();
    const copy = await RMSProp.create({ w: 5 }, { momentum: 0.5 });
    copy.loadState(decodeState(bytes));
    expect(sameBits(copy.state.w.squareAvg, opt.state.w.squareAvg)).toBeUndefined();
    expect(Object.is(copy.state.w.squareAvg[1], -0)).toBe(true);
  });

  describe('malformed states are rejected with a reason, changing nothing', () => {
    const make = () => RMSProp.create({ w: 4, b: 2 }, { centered: true });
    const good = async () => {
      const opt = await make();
      opt.grads.w.fill(1);
      opt.step();
      return opt.saveState();
    };
    const cases: Array<[string, (s: SavedState) => unknown, RegExp, typeof TypeError | typeof RangeError]> = [
      [
        'wrong version',
        (s) => ({ ...s, version: 6 }),
        /version 6 is not supported; this library reads versions 1 to 5/,
        RangeError,
      ],
      ['wrong format', (s) => ({ ...s, format: 'adam' }), /format/, TypeError],
      ['missing name', (s) => ({ ...s, state: { w: s.state.w } }), /missing parameter 'b'/, RangeError],
      ['unknown name', (s) => ({ ...s, state: { ...s.state, z: s.state.w } }), /'z'/, RangeError],
      [
        'wrong length',
        (s) => ({ ...s, state: { ...s.state, b: s.state.w } }),
        /'b' has 4 elements, the parameter has 2/,
        RangeError,
      ],
      [
        'centered mismatch',
        (s) => ({ ...s, groups: [{ ...s.groups[0], options: { ...s.groups[0].options, centered: false } }] }),
        /centered/,
        RangeError,
      ],
      [
        'momentum mismatch',
        (s) => ({ ...s, groups: [{ ...s.groups[0], options: { ...s.groups[0].options, momentum: 0.9 } }] }),
        /momentum/,
        RangeError,
      ],
      ['bad step count', (s) => ({ ...s, stepCount: -1 }), /stepCount/, RangeError],
      [
        'negative square average',
        (s) => ({
          ...s,
          state: {
            ...s.state,
            b: { ...s.state.b, squareAvg: Buffer.from(new Float32Array([0, -1]).buffer).toString('base64') },
          },
        }),
        /squareAvg of 'b' is negative \(-1\) at index 1/,
        RangeError,
      ],
      [
        'not base64',
        (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: '!!!' } } }),
        /base64/,
        TypeError,
      ],
      ['not an object', () => 'state', /object/, TypeError],
    ];
    it.each(cases)('%s', async (_, corrupt, message, errorClass) => {
      const opt = await make();
      opt.grads.w.fill(2);
      opt.step();
      const before = snapshot(everything(opt));
      const bad = corrupt(await good());
      expect(() => opt.loadState(bad as SavedState)).toThrow(errorClass);
      expect(() => opt.loadState(bad as SavedState)).toThrow(message);
      expect(snapshot(everything(opt))).toEqual(before);
      expect(opt.stepCount).toBe(1);
    });

    it('truncated or foreign bytes', async () => {
      const bytes = encodeState(await good());
      expect(() => decodeState(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
      expect(() => decodeState(bytes.subarray(0, 20))).toThrow(/truncated/);
      expect(() => decodeState(bytes.subarray(0, 5))).toThrow(RangeError);
      const foreign = bytes.slice();
      foreign[0] = 0;
      expect(() => decodeState(foreign)).toThrow(/magic/);
    });

    // A detached array was V8's "Cannot perform Construct on a detached ArrayBuffer", naming nothing;
    // then decodeState called it truncated, and encodeState wrote it as an empty array (with a good CRC).
    it('bytes or arrays whose buffer is detached (transferred away) or shrunk below them: refused', async () => {
      const bytes = encodeState(await good());
      detach(bytes.buffer);
      expect(() => decodeState(bytes)).toThrow(
        new TypeError("decodeState: the Uint8Array's buffer was detached or shrunk below it"),
      );
      const saved = await good();
      const detached = new Float32Array(4);
      detach(detached.buffer);
      const shrinking = new ArrayBuffer(16, { maxByteLength: 16 } as never) as ArrayBuffer & {
        resize(n: number): void;
      };
      const shrunk = new Float32Array(shrinking, 0, 4);
      shrinking.resize(8);
      for (const gone of [detached, shrunk]) {
        expect(() => encodeState({ ...saved, state: { w: { squareAvg: gone } } })).toThrow(
          new TypeError(
            "encodeState: state['w'].squareAvg is a Float32Array whose buffer was detached or shrunk below it",
          ),
        );
      }
      const opt = await RMSProp.create({ w: 4 });
      const squareAvg = new Float32Array(4);
      detach(squareAvg.buffer);
      expect(() => opt.setState('w', { squareAvg })).toThrow(
        new TypeError("setState: squareAvg of 'w' is a Float32Array whose buffer was detached or shrunk below it"),
      );
    });
  });

  it('setState with a number for a name is a TypeError saying names are strings; a PyTorch dict through JSON with a NaN says why it is null', async () => {
    const opt = await RMSProp.create([new Float32Array([1, 2]), 2]);
    const squareAvg = new Float32Array([1, 1]);
    expect(() => opt.setState(1 as never, { squareAvg })).toThrow(
      new TypeError("setState: name must be a parameter's name, a string (an array's are '0', '1', …), got 1"),
    );
    expect([...opt.state[1].squareAvg]).toEqual([0, 0]);
    opt.setState('1', { squareAvg });
    expect([...opt.state[1].squareAvg]).toEqual([1, 1]);
    opt.step([new Float32Array([NaN, 1]), null]);
    const dict = JSON.parse(JSON.stringify(opt.toTorchStateDict()));
    expect(() => opt.fromTorchStateDict(dict)).toThrow(
      /square_avg\[0\] must be a number, got null \(JSON writes NaN and ±Infinity as null: keep such a state with saveState\)/,
    );
    const saved = JSON.parse(JSON.stringify(opt.saveState()));
    expect(() => opt.loadState(saved)).not.toThrow();
    expect(opt.state[0].squareAvg[0]).toBeNaN();
  });

  it('a misspelt state array is a TypeError (setState, loadState), a kind this parameter does not keep a RangeError; nothing changes', async () => {
    const opt = await RMSProp.create({ w: 4 });
    opt.grads.w.fill(1);
    opt.step();
    const before = snapshot(everything(opt));
    const squareAvg = new Float32Array(4);
    expect(() => opt.setState('w', { squareAvg, sqareAvg: squareAvg } as never)).toThrow(
      new TypeError('setState: \'w\' keeps squareAvg, not "sqareAvg"'),
    );
    expect(() => opt.setState('w', { momentum: squareAvg })).toThrow(
      new RangeError('setState: \'w\' keeps squareAvg, not "momentum"'),
    );
    const misspelt = opt.saveState();
    (misspelt.state.w as Record<string, unknown>).sqareAvg = misspelt.state.w.squareAvg;
    expect(() => opt.loadState(misspelt)).toThrow(TypeError);
    expect(() => opt.loadState(misspelt)).toThrow(/state\['w'\] has 'sqareAvg'; a parameter's arrays are squareAvg/);
    expect(snapshotDifference(snapshot(everything(opt)), before)).toBeUndefined();
    expect(opt.stepCount).toBe(1);
    opt.dispose();
  });

  it("toTorchStateDict refuses a schedule's bad rate as step() does (the dict would carry it; BigInt is no JSON)", async () => {
    for (const [bad, kind] of [
      [Number.NaN, RangeError],
      [-1, RangeError],
      ['x', TypeError],
      [2n, TypeError],
    ] as const) {
      const opt = await RMSProp.create({ w: 4 }, { preset: 'pytorch', lr: () => bad as never });
      expect(() => opt.step()).toThrow(kind);
      expect(() => opt.toTorchStateDict()).toThrow(kind);
      expect(() => opt.toTorchStateDict()).toThrow(/option 'lr': the schedule of group 0 returned .* at step 0/);
      opt.dispose();
    }
  });

  it('a PyTorch state dict exported here loads back unchanged, and resumes the same run', async () => {
    const opt = await RMSProp.create(
      [{ params: { a: randomArrays(1, [9])[0] }, momentum: 0.9, centered: true }, { params: { b: 4 } }],
      { preset: 'pytorch' },
    );
    for (let k = 0; k < 3; k++) opt.step({ a: randomArrays(k, [9])[0], b: randomArrays(k + 50, [4])[0] });
    const dict = JSON.parse(JSON.stringify(opt.toTorchStateDict()));
    expect(dict.param_groups.map((g: { params: number[] }) => g.params)).toEqual([[0], [1]]);
    expect(Object.keys(dict.state['0'])).toEqual(['step', 'square_avg', 'momentum_buffer', 'grad_avg']);
    const copy = await RMSProp.create([{ params: { a: 9 }, momentum: 0.9, centered: true }, { params: { b: 4 } }], {
      preset: 'pytorch',
    });
    copy.fromTorchStateDict(dict);
    expect(copy.toTorchStateDict()).toEqual(dict);
    expect(copy.stepCount).toBe(3);
    expect(() => copy.fromTorchStateDict({ ...dict, param_groups: [dict.param_groups[0]] })).toThrow(RangeError);
  });

  // The dicts above come from this library; this one is written by hand in PyTorch's layout, and the
  // step after it is torch.optim.RMSprop's (centered, momentum) in float64. A dict's alpha, a
  // schedule's lr and the centered/momentum flags passed unchecked by a round trip through itself.
  it.each(BACKENDS)(
    'a PyTorch dict written by hand loads, steps as torch.optim.RMSprop, exports what PyTorch would hold (%s)',
    async (backend) => {
      const lr = (t: number) => 0.01 / (1 + t); // a schedule: the next step's rate goes in param_groups
      const w = Float32Array.of(1, -2, 0.5);
      const opt = await RMSProp.create(
        { w },
        { preset: 'pytorch', lr, decay: 0.95, momentum: 0.9, centered: true, backend },
      );
      const [squareAvg, gradAvg, buffer] = [
        [0.25, 4, 1e-4],
        [0.1, -0.5, 0],
        [0.01, -0.2, 0.3],
      ];
      const group = { lr: 0.001, alpha: 0.95, eps: 1e-8, weight_decay: 0, momentum: 0.9, centered: true };
      const dict = {
        state: { 0: { step: 7, square_avg: squareAvg, momentum_buffer: buffer, grad_avg: gradAvg } },
        param_groups: [
          { ...group, maximize: false, foreach: null, differentiable: false, capturable: false, params: [0] },
        ],
      };
      // centered or momentum other than the optimizer's (or a negative one): refused, nothing changed
      for (const other of [{ centered: false }, { momentum: 0 }, { momentum: -0.9 }]) {
        const wrong = { ...dict, param_groups: [{ ...dict.param_groups[0], ...other }] };
        const before = snapshot(everything(opt));
        expect(() => opt.fromTorchStateDict(wrong)).toThrow(/centered|momentum/);
        expect(snapshot(everything(opt))).toEqual(before);
      }
      opt.fromTorchStateDict(dict);
      expect(opt.stepCount).toBe(7);
      const g = [0.3, -1, 2];
      const rate = 0.01 / 8; // lr(7)
      expect(opt.toTorchStateDict().param_groups[0]).toMatchObject({ ...group, lr: rate });
      opt.step({ w: Float32Array.from(g) });
      // torch: square_avg = α·sa + (1−α)g²; grad_avg = α·ga + (1−α)g; avg = √(sa − ga²) + ε;
      // buf = μ·buf + g/avg; w −= lr·buf
      const expected = g.map((gi, i) => {
        const sa = 0.95 * squareAvg[i] + 0.05 * gi * gi;
        const ga = 0.95 * gradAvg[i] + 0.05 * gi;
        const buf = 0.9 * buffer[i] + gi / (Math.sqrt(sa - ga * ga) + 1e-8);
        return { sa, ga, buf, w: [1, -2, 0.5][i] - rate * buf };
      });
      const close = (actual: ArrayLike<number>, wanted: number[]) =>
        Array.from(actual).every((x, i) => Math.abs(x - wanted[i]) <= 1e-6 * Math.abs(wanted[i]) + 1e-9);
      expect(
        close(
          w,
          expected.map((e) => e.w),
        ),
        `w ${[...w]}`,
      ).toBe(true);
      const after = opt.toTorchStateDict();
      const entry = after.state['0'];
      expect(entry.step).toBe(8);
      expect(
        close(
          entry.square_avg,
          expected.map((e) => e.sa),
        ),
      ).toBe(true);
      expect(
        close(
          entry.grad_avg!,
          expected.map((e) => e.ga),
        ),
      ).toBe(true);
      expect(
        close(
          entry.momentum_buffer!,
          expected.map((e) => e.buf),
        ),
      ).toBe(true);
      expect(after.param_groups[0]).toMatchObject({ ...group, lr: 0.01 / 9 });
    },
  );

  // Found by mutation: each of these was changed in the code and no test failed.
  it("loadState swaps two parameters' state given as views of the optimizer's own memory", async () => {
    const opt = await RMSProp.create({ a: 4, b: 4 });
    opt.state.a.squareAvg.set([1, 2, 3, 4]);
    opt.state.b.squareAvg.set([5, 6, 7, 8]);
    const saved = opt.saveState();
    opt.loadState({
      ...saved,
      state: { a: { squareAvg: opt.state.b.squareAvg }, b: { squareAvg: opt.state.a.squareAvg } },
    });
    expect([...opt.state.a.squareAvg, ...opt.state.b.squareAvg]).toEqual([5, 6, 7, 8, 1, 2, 3, 4]);
  });

  it('base64 with a character outside the alphabet in a last group of three is refused (RFC 4648)', async () => {
    const opt = await RMSProp.create({ w: 2 });
    const saved = opt.saveState();
    expect(() => opt.loadState({ ...saved, state: { w: { squareAvg: 'AAAAAAAAAA!=' } } })).toThrow(/base64/);
    expect(() => opt.loadState({ ...saved, state: { w: { squareAvg: 'AAAAAAAAAAA=' } } })).not.toThrow();
  });

  it('base64 with a character outside the alphabet at any place of a whole group of four is refused', async () => {
    const opt = await RMSProp.create({ w: 3 }); // 12 bytes: four whole groups, no padding
    const saved = opt.saveState();
    for (let at = 0; at < 16; at++) {
      const text = `${'A'.repeat(at)}!${'A'.repeat(15 - at)}`;
      expect(() => opt.loadState({ ...saved, state: { w: { squareAvg: text } } }), `'!' at ${at}`).toThrow(
        /squareAvg of 'w' is not valid base64/,
      );
    }
    expect(opt.state.w.squareAvg).toEqual(new Float32Array(3));
  });

  // Where padding goes, a wrong character changes the length the string would decode to: it must be
  // named as base64, not as a count of bytes or elements the array does not have.
  it.each([
    ['AAAAAAAAAAAAAAAAAAAAAA!=', "'!' before one '='"],
    ['AAAAAAAAAAAAAAAAAAAAAAA!', "'!' last"],
    ['AAAAAAAAAAAAAAAAAAAAA=A=', "'=' inside the last group"],
    ['AAAAAAAAAAAAAAAAAAAA=AAA', "'=' first in the last group"],
  ])('base64 whose last group is malformed is refused as base64: %s (%s)', async (text, _why) => {
    const opt = await RMSProp.create({ w: 4 }); // 16 bytes: 24 characters, '==' last
    const saved = opt.saveState();
    const load = (squareAvg: string) => opt.loadState({ ...saved, state: { w: { squareAvg } } });
    expect(() => load(text)).toThrow(/squareAvg of 'w' is not valid base64/);
    expect(opt.state.w.squareAvg).toEqual(new Float32Array(4));
    expect(() => load(`${'A'.repeat(22)}==`)).not.toThrow();
  });

  it('a state saved at step 0 loads as step 0', async () => {
    const opt = await RMSProp.create({ w: 2 });
    const saved = opt.saveState();
    opt.grads.w.fill(1);
    opt.step();
    opt.loadState(saved);
    expect(opt.stepCount).toBe(0);
  });

  // PyTorch has no state for a parameter before its first step; here state can be set before any
  // (setState, loadState, or a stepCount set back to 0), and the dict dropped it.
  it.each(['float32', 'bfloat16', '8bit'] as const)(
    'at step 0, the dict has state only where it differs from a fresh optimizer (%s, tf1: initialSquareAvg 1)',
    async (stateFormat) => {
      const sizes = { a: 5000, b: 5000 };
      const opt = await RMSProp.create(sizes, { preset: 'tf1', stateFormat, momentum: 0.9 });
      expect(opt.toTorchStateDict().state).toEqual({});
      // and with an initial square average float32 rounds (0.1), on a small tensor too (float32 in every format)
      const tenth = await RMSProp.create({ ...sizes, small: 3 }, { stateFormat, initialSquareAvg: 0.1, momentum: 0.9 });
      expect(tenth.toTorchStateDict().state).toEqual({});
      tenth.setState('small', { momentum: Float32Array.of(0, 0, 1e-3) }); // only momentum set
      expect(Object.keys(tenth.toTorchStateDict().state)).toEqual(['2']);
      const s = Float32Array.from({ length: 5000 }, (_, i) => 0.5 + (i % 7) / 8); // on every format's grid
      opt.setState('b', { squareAvg: s });
      const dict = opt.toTorchStateDict();
      expect(Object.keys(dict.state)).toEqual(['1']);
      expect(dict.state['1']).toEqual({ step: 0, square_avg: Array.from(s), momentum_buffer: Array(5000).fill(0) });
      const copy = await RMSProp.create(sizes, { preset: 'tf1', stateFormat, momentum: 0.9 });
      copy.fromTorchStateDict(dict);
      expect(Array.from(copy.state.b.squareAvg)).toEqual(Array.from(s));
      expect(copy.state.a.squareAvg.every((x) => x === 1)).toBe(true);
      opt.setState('a', { squareAvg: new Float32Array(5000).fill(2) }); // 8 bits: 1's codes, another scale
      expect(Object.keys(opt.toTorchStateDict().state)).toEqual(['0', '1']);
    },
  );

  // PyTorch creates every parameter's state at its first step, whatever the gradient: after a step of
  // zero gradients (S stays 0, as at create) each parameter still has its entry.
  it("after a step, every parameter has state, even one whose state equals a fresh optimizer's", async () => {
    const opt = await RMSProp.create({ w: 3 }, { preset: 'pytorch' });
    opt.step({ w: new Float32Array(3) });
    expect(opt.toTorchStateDict().state).toEqual({ '0': { step: 1, square_avg: [0, 0, 0] } });
  });
});

// Loading checks everything before it changes anything.
type ErrorClass = typeof TypeError | typeof RangeError;

/** An optimizer one step in, and a good saved state / torch dict of another one, three steps in. */
async function setting() {
  const make = () =>
    RMSProp.create({ w: new Float32Array([1, -2, 3, 4]), b: new Float32Array([0.5, -0.5]) }, { momentum: 0.9 });
  const opt = await make();
  opt.step({ w: new Float32Array([1, 1, 1, 1]), b: new Float32Array([2, 2]) });
  const other = await make();
  for (let k = 0; k < 3; k++) other.step({ w: new Float32Array([k, -k, 1, 2]), b: new Float32Array([1, k]) });
  return {
    opt,
    saved: other.saveState(),
    dict: JSON.parse(JSON.stringify(other.toTorchStateDict())) as TorchStateDict,
  };
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
    [
      'a null parameter entry',
      (s) => ({ ...s, state: { ...s.state, w: null } }),
      TypeError,
      /state\['w'\] must be an object, got null/,
    ],
    [
      'a number as parameter entry',
      (s) => ({ ...s, state: { ...s.state, b: 7 } }),
      TypeError,
      /state\['b'\] must be an object, got 7/,
    ],
    [
      'an unknown array kind',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, velocity: s.state.w.squareAvg } } }),
      TypeError,
      /state\['w'\] has 'velocity'/,
    ],
    [
      'a Float32Array that went through JSON (an object of indices)',
      (s) => ({
        ...s,
        state: { ...s.state, w: { ...s.state.w, squareAvg: JSON.parse(JSON.stringify(new Float32Array(2))) } },
      }),
      TypeError,
      /squareAvg of 'w' must be .*, got an Object$/,
    ],
    ['groups null', (s) => ({ ...s, groups: null }), TypeError, /groups must be an array, got null/],
    ['a null group', (s) => ({ ...s, groups: [null] }), TypeError, /groups\[0\] must be an object, got null/],
    [
      'group params not an array',
      (s) => ({ ...s, groups: [{ ...s.groups[0], params: 'w,b' }] }),
      TypeError,
      /groups\[0\]\.params must be an array/,
    ],
    [
      'group options null',
      (s) => ({ ...s, groups: [{ ...s.groups[0], options: null }] }),
      TypeError,
      /groups\[0\]\.options must be an object/,
    ],
    ['state null', (s) => ({ ...s, state: null }), TypeError, /'state' must be an object, got null/],
    ['a string step count', (s) => ({ ...s, stepCount: '3' }), TypeError, /stepCount must be a number, got "3"/],
    [
      'a step count beyond 2^53',
      (s) => ({ ...s, stepCount: 2 ** 53 }),
      RangeError,
      /stepCount must be an integer from 0 to 2\^53 − 1, got 9007199254740992/,
    ],
    ['a fractional step count', (s) => ({ ...s, stepCount: 1.5 }), RangeError, /stepCount.*1\.5/],
    ['a version that is not a number', (s) => ({ ...s, version: '1' }), TypeError, /version must be a number, got "1"/],
    [
      'a squareAvg that is a number',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: 4 } } }),
      TypeError,
      /squareAvg of 'w' must be a base64 string, an array of base64 pieces or a typed array \(Float32Array values; Uint16Array or Uint8Array codes\), got 4/,
    ],
    [
      'no base64 pieces',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: [] } } }),
      TypeError,
      /squareAvg of 'w' must be a base64 string, an array of base64 pieces or a typed array \(Float32Array values; Uint16Array or Uint8Array codes\), got an array/,
    ],
    [
      'base64 of 15 bytes, not whole float32 values (w has 4)',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: 'AAAAAAAAAAAAAAAAAAAA' } } }),
      RangeError,
      /^saved state: squareAvg of 'w' has 15 bytes, the parameter has 4 elements$/,
    ],
    [
      "'compressed' whose getter answers 'bfloat16' to the check, then something else",
      (s) => {
        let reads = 0;
        const compressed = Object.defineProperty({}, 'w', {
          enumerable: true,
          get: () => (reads++ ? 'float16' : 'bfloat16'),
        });
        return { ...s, compressed };
      },
      RangeError,
      /^saved state: squareAvg of 'w' has 8 elements \(bfloat16 codes\), the parameter has 4 elements$/,
    ],
    [
      'a piece that is not a string',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: ['AAAAAA==', null] } } }),
      TypeError,
      /squareAvg of 'w'\[1\] must be a base64 string, got null/,
    ],
    [
      'a piece that is not base64',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: ['AAAAAAAAAAAAAAAAAAAA', 'A!=='] } } }),
      TypeError,
      /squareAvg of 'w'\[1\] is not valid base64/,
    ],
    [
      'pieces of the wrong total length',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: ['AAAAAA==', 'AAAAAA=='] } } }),
      RangeError,
      /squareAvg of 'w' has 2 elements, the parameter has 4/,
    ],
    [
      'a Float32Array of the wrong length',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: new Float32Array(5) } } }),
      RangeError,
      /squareAvg of 'w' has 5 elements, the parameter has 4/,
    ],
    [
      'a negative square average in a Float32Array',
      (s) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: new Float32Array([1, 2, -3, 4]) } } }),
      RangeError,
      /squareAvg of 'w' is negative \(-3\) at index 2/,
    ],
    // Fields that Object.prototype has are not fields of the state.
    [
      'a state without its own entries',
      (s) => ({ ...s, state: Object.create({ w: s.state.w, b: s.state.b }) }),
      RangeError,
      /missing parameter 'w'/,
    ],
  ];

  it.each(cases)('%s', async (_, corrupt, errorClass, message) => {
    const { opt, saved } = await setting();
    expectUnchanged(opt, () => opt.loadState(corrupt(saved) as SavedState), errorClass, message);
  });

  // loadState kept the caller's typed arrays between their checks and its writes, and read later
  // entries (the caller's getters) in between: a getter could detach, shrink or change an array
  // already checked, for a partial load, a negative square average, or a parameter silently skipped.
  describe("a caller's getter that changes an array already read", () => {
    async function stepped(stateFormat: 'float32' | '8bit') {
      const n = stateFormat === '8bit' ? 5000 : 4;
      const opt = await RMSProp.create({ a: n, b: n, c: 4 }, { stateFormat });
      for (const g of Object.values(opt.grads)) g.fill(0.5);
      opt.step();
      return { opt, saved: opt.saveState({ arrays: 'float32' }) };
    }
    const withGetter = (state: Record<string, unknown>, getC: () => unknown) =>
      Object.defineProperty(state, 'c', { enumerable: true, get: getC }) as SavedState['state'];

    it('a resizable buffer shrunk under it: refused, nothing written', async () => {
      const { opt, saved } = await stepped('float32');
      const buffer = new ArrayBuffer(16, { maxByteLength: 16 });
      const state = withGetter(
        { a: { squareAvg: new Float32Array(4).fill(5) }, b: { squareAvg: new Float32Array(buffer).fill(7) } },
        () => {
          buffer.resize(0);
          return saved.state.c;
        },
      );
      expectUnchanged(
        opt,
        () => opt.loadState({ ...saved, state }),
        RangeError,
        /squareAvg of 'b' has 0 elements, the parameter has 4/,
      );
    });

    it('a negative square average written into it: refused', async () => {
      const { opt, saved } = await stepped('float32');
      const squareAvg = new Float32Array([1, 1, 1, 1]);
      const state = withGetter({ a: { squareAvg }, b: saved.state.b }, () => {
        squareAvg[2] = -5;
        return saved.state.c;
      });
      expectUnchanged(
        opt,
        () => opt.loadState({ ...saved, state }),
        RangeError,
        /squareAvg of 'a' is negative \(-5\) at index 2/,
      );
    });

    it('8-bit codes detached: refused, nothing written', async () => {
      const { opt, saved } = await stepped('8bit');
      const codes = (saved.state.b.squareAvg as Uint8Array).slice();
      const state = withGetter(
        {
          a: { ...saved.state.a, squareAvg: new Uint8Array(5000).fill(100) },
          b: { ...saved.state.b, squareAvg: codes },
        },
        () => {
          detach(codes.buffer);
          return saved.state.c;
        },
      );
      expectUnchanged(
        opt,
        () => opt.loadState({ ...saved, state }),
        TypeError,
        /squareAvg of 'b' is a Uint8Array whose buffer was detached or shrunk below it/,
      );
    });
  });

  it('8-bit block scales of an array this optimizer does not keep, as the array itself would be', async () => {
    const opt = await RMSProp.create({ w: 5000 }, { stateFormat: '8bit' });
    opt.grads.w.fill(0.5);
    opt.step();
    const saved = opt.saveState({ arrays: 'float32' });
    const withScales = { ...saved, state: { w: { ...saved.state.w, gradAvgScales: new Float32Array(5) } } };
    const message = /saved state has gradAvgScales for 'w', which this optimizer does not keep/;
    expectUnchanged(opt, () => opt.loadState(withScales), RangeError, message);
  });

  it('inherited enumerable properties are ignored', async () => {
    const { opt, saved } = await setting();
    // This optimizer keeps no gradAvg: one seen through the prototype would be refused.
    Object.defineProperty(Object.prototype, 'gradAvg', {
      value: 'AAAAAA==',
      enumerable: true,
      configurable: true,
      writable: true,
    });
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
    [
      'a header without state',
      '{"format":"rmsprop-wasm-state"}',
      TypeError,
      /header's 'state' must be an object, got undefined/,
    ],
    ['a null parameter entry', '{"state":{"w":null}}', TypeError, /state\['w'\] must be an object, got null/],
    [
      'a malformed reference',
      '{"state":{"w":{"squareAvg":[0]}}}',
      TypeError,
      /squareAvg of 'w' must be \[byte offset, element count\]/,
    ],
    // the reference shown, not "an array"
    [
      'a negative offset',
      '{"state":{"w":{"squareAvg":[-4,8]}}}',
      TypeError,
      /squareAvg of 'w' must be \[byte offset, element count\] .*, got \[-4,8\]$/,
    ],
    [
      'a reference past the end',
      '{"state":{"w":{"squareAvg":[0,4]}}}',
      RangeError,
      /truncated: squareAvg of 'w' ends at byte/,
    ],
  ] as Array<[string, string, ErrorClass, RegExp]>)('decodeState: %s', (_, header, errorClass, message) => {
    expect(() => decodeState(container(header))).toThrow(errorClass);
    expect(() => decodeState(container(header))).toThrow(message);
  });

  it.each([
    [
      'invalid base64',
      (s: SavedState) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: '!!!' } } }),
      TypeError,
      /encodeState: state\['w'\]\.squareAvg is not valid base64/,
    ],
    [
      'a partial float',
      (s: SavedState) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: 'AAA=' } } }),
      RangeError,
      /state\['w'\]\.squareAvg holds 2 bytes, not a whole number of 4-byte elements/,
    ],
    [
      'a null entry',
      (s: SavedState) => ({ ...s, state: { ...s.state, b: null } }),
      TypeError,
      /encodeState: state\['b'\] must be an object, got null/,
    ],
    [
      'a missing state',
      (s: SavedState) => ({ ...s, state: undefined }),
      TypeError,
      /encodeState: 'state' must be an object, got undefined/,
    ],
    [
      // loadState refuses it too: such bytes were written as float32 values (the ema fuzz noticed)
      'codes in a float32 slot',
      (s: SavedState) => ({ ...s, state: { ...s.state, w: { ...s.state.w, squareAvg: new Uint8Array(12) } } }),
      TypeError,
      /encodeState: state\['w'\]\.squareAvg must be a Float32Array or base64, got a Uint8Array/,
    ],
    [
      'a compressed format that is none',
      (s: SavedState) => ({ ...s, compressed: { w: 'float16' } }),
      TypeError,
      /encodeState: compressed\['w'\] must be 'bfloat16' or '8bit', got "float16"/,
    ],
    [
      // (a key test alone took ['bfloat16'], whose string is the key: the state then loaded as NaN)
      'a compressed format in an array',
      (s: SavedState) => ({ ...s, compressed: { w: ['bfloat16'] } }),
      TypeError,
      /encodeState: compressed\['w'\] must be 'bfloat16' or '8bit', got an array/,
    ],
    [
      'a version it does not read',
      (s: SavedState) => ({ ...s, version: 6 }),
      RangeError,
      /encodeState: format version 6 is not supported; this library reads versions 1 to 5/,
    ],
    ['not an object', () => 'state', TypeError, /encodeState needs a saved state object, got "state"/],
    // written with a good CRC-32, such a file was refused only by the loadState that resumed it
    [
      'no step count',
      (s: SavedState) => ({ ...s, stepCount: undefined }),
      TypeError,
      /^encodeState: stepCount must be a number, got undefined$/,
    ],
    [
      'a negative step count',
      (s: SavedState) => ({ ...s, stepCount: -1 }),
      RangeError,
      /^encodeState: stepCount must be an integer from 0 to 2\^53 − 1, got -1$/,
    ],
    [
      'no groups',
      (s: SavedState) => ({ ...s, groups: undefined }),
      TypeError,
      /^encodeState: groups must be an array of \{ params, options \}, got undefined$/,
    ],
    [
      'a group without options',
      (s: SavedState) => ({ ...s, groups: [{ params: ['w', 'b'] }] }),
      TypeError,
      /^encodeState: groups\[0\]\.options must be an object, got undefined$/,
    ],
    [
      'a BigInt in the options',
      (s: SavedState) => ({ ...s, groups: [{ ...s.groups[0], options: { lr: 1n } }] }),
      TypeError,
      /^encodeState: groups hold a value JSON cannot write \(.*BigInt/,
    ],
  ] as Array<[string, (s: SavedState) => unknown, ErrorClass, RegExp]>)(
    'encodeState: %s',
    async (_, corrupt, errorClass, message) => {
      const { saved } = await setting();
      let thrown: unknown;
      try {
        encodeState(corrupt(saved) as SavedState);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(errorClass);
      expect((thrown as Error).message).toMatch(message);
    },
  );
});

// A checkpoint kept as text and handed on unparsed (JSON not parsed, base64 not decoded): the message
// says so in a line, not by quoting the text (a long one made a message as long, or none: V8's string limit).
describe('a checkpoint passed as text: a short TypeError that says what to do, nothing changed', () => {
  it.each(['loadState', 'encodeState', 'decodeState'] as const)('%s', async (method) => {
    const opt = await RMSProp.create({ w: 100_000 }, { momentum: 0.9 });
    opt.step({ w: new Float32Array(100_000).fill(0.5) });
    const before = opt.saveState();
    const text = method === 'decodeState' ? Buffer.from(encodeState(opt)).toString('base64') : JSON.stringify(before);
    const call = {
      loadState: () => opt.loadState(text as never),
      encodeState: () => encodeState(text as never),
      decodeState: () => decodeState(text as never),
    }[method];
    expect(call).toThrow(TypeError);
    expect(call).toThrow(method === 'decodeState' ? /decode it to bytes first/ : /pass JSON\.parse\(text\)/);
    expect(call).toThrow(`a string of ${text.length} characters`);
    try {
      call();
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(200);
    }
    expect(opt.saveState()).toEqual(before);
    opt.dispose();
  });
});

describe("a PyTorch state dict: ids are the parameters' indices, steps are safe integers", () => {
  // biome-ignore lint/suspicious/noSparseArray: the hole is the malformed input under test
  const WITH_A_HOLE = [1, ,];
  const cases: Array<[string, (d: TorchStateDict) => unknown, ErrorClass, RegExp]> = [
    ...['7', 'abc', '-1', '1.5', '01', '2'].map((id): [string, (d: TorchStateDict) => unknown, ErrorClass, RegExp] => [
      `an id '${id}' that is not a parameter's index`,
      (d) => ({ ...d, state: { ...d.state, [id]: { ...d.state['0'], step: 999 } } }),
      RangeError,
      new RegExp(`state has an entry '${id.replace('.', '\\.')}', but this optimizer's parameters are numbered 0 to 1`),
    ]),
    [
      'a null entry',
      (d) => ({ ...d, state: { ...d.state, 0: null } }),
      TypeError,
      /state\['0'\] must be an object, got null/,
    ],
    [
      'a negative step',
      (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], step: -1 } } }),
      RangeError,
      /state\['0'\]\.step must be an integer from 0 to 2\^53 − 1, got -1/,
    ],
    [
      'a fractional step',
      (d) => ({ ...d, state: { ...d.state, 1: { ...d.state['1'], step: 2.5 } } }),
      RangeError,
      /state\['1'\]\.step.*2\.5/,
    ],
    [
      'a step beyond 2^53',
      (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], step: 2 ** 60 } } }),
      RangeError,
      /state\['0'\]\.step/,
    ],
    [
      'a string step',
      (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], step: '3' } } }),
      TypeError,
      /state\['0'\]\.step must be a number, got "3"/,
    ],
    [
      'a hole in square_avg',
      (d) => ({ ...d, state: { ...d.state, 1: { ...d.state['1'], square_avg: WITH_A_HOLE } } }),
      TypeError,
      /state\['1'\]\.square_avg\[1\] must be a number, got undefined/,
    ],
    [
      'a string in momentum_buffer',
      (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], momentum_buffer: [1, 2, '3', 4] } } }),
      TypeError,
      /state\['0'\]\.momentum_buffer\[2\] must be a number, got "3"/,
    ],
    // named as the saved state's fields were, before these checks came before the conversion
    [
      'a negative square_avg',
      (d) => ({ ...d, state: { ...d.state, 1: { ...d.state['1'], square_avg: [0.5, -1] } } }),
      RangeError,
      /^torch state dict: state\['1'\]\.square_avg\[1\] is negative \(-1\); a square average is ≥ 0$/,
    ],
    [
      'centered where this optimizer is not',
      (d) => ({ ...d, param_groups: [{ ...d.param_groups[0], centered: true }] }),
      RangeError,
      /^torch state dict: param_groups\[0\]\.centered is true, this optimizer's group 0 has centered = false$/,
    ],
    [
      'no momentum where this optimizer has one',
      (d) => ({ ...d, param_groups: [{ ...d.param_groups[0], momentum: 0 }] }),
      RangeError,
      /^torch state dict: param_groups\[0\]\.momentum is 0, this optimizer's group 0 has momentum = 0\.9/,
    ],
    ...[
      [[1, 2, 3], [4]],
      [1, [2, 3], 4],
      [[1, 2], [], [3, 4]],
      // biome-ignore lint/suspicious/noSparseArray: the hole is the malformed input under test
      [[1, , 2], [3]],
    ].map((list): [string, (d: TorchStateDict) => unknown, ErrorClass, RegExp] => [
      `nested lists that are not rectangular: ${JSON.stringify(list)}`,
      (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], square_avg: list } } }),
      TypeError,
      /state\['0'\]\.square_avg is nested lists that are not all of shape \[[\d, ]+\], as tensor\.tolist\(\) gives them/,
    ]),
    // dropped before, where loadState refuses the same in its own form (an audit's fuzzer)
    [
      'grad_avg where this optimizer is not centered',
      (d) => ({ ...d, state: { ...d.state, 0: { ...d.state['0'], grad_avg: [0, 0, 0, 0] } } }),
      RangeError,
      /^torch state dict: state\['0'\] has 'grad_avg', which this optimizer does not keep for 'w'$/,
    ],
    [
      "another optimizer's array",
      (d) => ({ ...d, state: { ...d.state, 1: { ...d.state['1'], exp_avg_sq: [0, 0] } } }),
      TypeError,
      /^torch state dict: state\['1'\] has 'exp_avg_sq'; RMSprop's state is step, square_avg, momentum_buffer, grad_avg$/,
    ],
    ['param_groups null', (d) => ({ ...d, param_groups: null }), TypeError, /param_groups must be an array, got null/],
    [
      'a null param group',
      (d) => ({ ...d, param_groups: [null] }),
      TypeError,
      /param_groups\[0\] must be an object, got null/,
    ],
    [
      'params not an array',
      (d) => ({ ...d, param_groups: [{ ...d.param_groups[0], params: 0 }] }),
      TypeError,
      /param_groups\[0\]\.params must be an array of indices, got 0/,
    ],
    ['state null', (d) => ({ ...d, state: null }), TypeError, /'state' must be an object, got null/],
    ['not an object', () => 3, TypeError, /must be an object, got 3/],
  ];

  it.each(cases)('%s', async (_, corrupt, errorClass, message) => {
    const { opt, dict } = await setting();
    expectUnchanged(opt, () => opt.fromTorchStateDict(corrupt(dict) as TorchStateDict), errorClass, message);
  });

  // Found by mutation (round 4): a square average of 0 (a weight whose gradients were all 0) or −0
  // is not negative; PyTorch saves such values and they load as they are.
  // (refusing the arrays a parameter does not keep first refused them given as undefined, which loadState skips)
  it('an array given as undefined is skipped, as loadState skips it', async () => {
    const opt = await RMSProp.create({ w: 4 });
    const dict = JSON.parse(JSON.stringify(opt.toTorchStateDict())) as TorchStateDict;
    const entry = { step: 2, square_avg: [1, 2, 3, 4], momentum_buffer: undefined, grad_avg: undefined };
    opt.fromTorchStateDict({ ...dict, state: { 0: entry } });
    expect([...opt.state.w.squareAvg]).toEqual([1, 2, 3, 4]);
    expect(opt.stepCount).toBe(2);
  });

  it('a square_avg of 0 and −0 loads (only a negative one is refused)', async () => {
    const opt = await RMSProp.create({ w: 4 });
    const dict = JSON.parse(JSON.stringify(opt.toTorchStateDict())) as TorchStateDict;
    const squareAvg = [0, -0, 0.25, 1e-30];
    opt.fromTorchStateDict({ ...dict, state: { 0: { step: 3, square_avg: squareAvg } } } as unknown as TorchStateDict);
    expect(sameBits(opt.state.w.squareAvg, Float32Array.from(squareAvg))).toBeUndefined();
    expect(opt.stepCount).toBe(3);
  });

  it("nested lists, as a 2-D parameter's tensor.tolist() gives them, load in row-major order", async () => {
    const { opt, dict } = await setting();
    const nested = {
      ...dict.state['0'],
      square_avg: [
        [1, 2],
        [3, 4],
      ],
      momentum_buffer: [
        [5, 6],
        [7, 8],
      ],
    };
    opt.fromTorchStateDict({ ...dict, state: { ...dict.state, 0: nested } } as unknown as TorchStateDict);
    expect([...opt.state.w.squareAvg, ...opt.state.w.momentum!]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a list that holds itself, or nests deeper than any tensor, is refused by name (it aborted the process, or overflowed the stack)', async () => {
    const { opt, dict } = await setting();
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    let deep: unknown = [1, 2, 3, 4];
    for (let k = 0; k < 100_000; k++) deep = [deep];
    const deepest: unknown = Array.from({ length: 999 }).reduce((inner: unknown) => [inner], [1, 2, 3, 4]);
    const before = snapshot(everything(opt));
    for (const square_avg of [cyclic, deep]) {
      const bad = { ...dict, state: { 0: { ...dict.state['0'], square_avg } } };
      expect(() => opt.fromTorchStateDict(bad as unknown as TorchStateDict)).toThrow(
        /state\['0'\]\.square_avg is lists nested over 1000 deep/,
      );
    }
    expect(snapshotDifference(snapshot(everything(opt)), before)).toBeUndefined();
    // 1000 deep, as tolist() of a tensor of shape [1, …, 1, 4] gives it, still loads
    opt.fromTorchStateDict({ ...dict, state: { 0: { ...dict.state['0'], square_avg: deepest } } } as never);
    expect([...opt.state.w.squareAvg]).toEqual([1, 2, 3, 4]);
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

// Saved states of another layout, from round 3 of mutation testing: each was accepted by a mutant
// that every other test let live.
/** An optimizer of two groups one step in, and the saved state of another one of the same layout, three steps in. */
async function groupedSetting() {
  const make = () =>
    RMSProp.create(
      [{ params: { w: new Float32Array([1, -2, 3, 4]), b: new Float32Array([0.5, -0.5]) } }, { params: { c: 3 } }],
      { momentum: 0.9 },
    );
  const opt = await make();
  opt.step({ w: new Float32Array([1, 1, 1, 1]), b: new Float32Array([2, 2]), c: new Float32Array([1, 2, 3]) });
  const other = await make();
  for (let k = 0; k < 3; k++)
    other.step({ w: new Float32Array([k, -k, 1, 2]), b: new Float32Array([1, k]), c: new Float32Array([k, 1, 1]) });
  return { opt, saved: other.saveState() };
}

function expectRefused(opt: RMSProp, saved: unknown, message: RegExp): void {
  const before = snapshot(everything(opt));
  expect(() => opt.loadState(saved as SavedState)).toThrow(RangeError);
  expect(() => opt.loadState(saved as SavedState)).toThrow(message);
  expect(snapshot(everything(opt))).toEqual(before);
  expect(opt.stepCount).toBe(1);
}

describe('loadState refuses a saved state of another layout', () => {
  // mutant: state-load.ts:112 (only the count of a group's parameters compared, not their names)
  it("a group's parameters in another order", async () => {
    const { opt, saved } = await groupedSetting();
    const groups = [{ ...saved.groups[0], params: ['b', 'w'] }, saved.groups[1]];
    expectRefused(opt, { ...saved, groups }, /group 0 holds parameters \[b, w\], this optimizer's holds \[w, b\]/);
  });

  it('parameters swapped between groups of one parameter each', async () => {
    const opt = await RMSProp.create([{ params: { x: 2 } }, { params: { y: 2 } }]);
    opt.step({ x: new Float32Array([1, 1]), y: new Float32Array([1, 1]) });
    const saved = opt.saveState();
    const groups = [
      { ...saved.groups[0], params: ['y'] },
      { ...saved.groups[1], params: ['x'] },
    ];
    expectRefused(opt, { ...saved, groups }, /group 0 holds parameters \[y\], this optimizer's holds \[x\]/);
  });
});

describe('loadState refuses 8-bit scales beside state of another format', () => {
  // mutant: state-load.ts:171 (a *Scales array accepted, and ignored, beside float32 state)
  it.each([
    ['squareAvgScales', /state\['w'\] has 'squareAvgScales', which only 8-bit state keeps \(its format is float32\)/],
    ['momentumScales', /state\['w'\] has 'momentumScales', which only 8-bit state keeps \(its format is float32\)/],
  ] as const)('float32 state with %s', async (kind, message) => {
    const { opt, saved } = await groupedSetting();
    const state = { ...saved.state, w: { ...saved.state.w, [kind]: new Float32Array(1) } };
    expectRefused(opt, { ...saved, state }, message);
  });
});

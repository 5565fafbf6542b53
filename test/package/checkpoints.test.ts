// Checkpoints round-trip up to the sizes wasm holds, or say which form has no limit. Each runs in
// a fresh Node process against the built package and needs gigabytes of memory and tens of seconds
// (75 s for the 110 M-element round trip at load 10 on 2 vCPUs), so it runs in the package tier
// with the other heavy tests; the format itself is covered by test/unit/saved-state.test.ts.
import { describe, expect, it } from 'vitest';
import { runForJson } from '../support/child.js';

/** Runs `body`, in which `lib` is the package as a user imports it, in a fresh Node process. */
const runInChild = <T>(body: string, timeout?: number) =>
  runForJson<T>(`import * as lib from 'rmsprop-wasm';\n${body}`, timeout);

describe("checkpoints up to wasm's 4 GiB", () => {
  // 110 M elements: past 100.6 M, where the base64 of one array passed V8's longest string and
  // saveState() aborted Node (SIGABRT, nothing to catch). About 2.4 GB of peak RSS and 16 s here.
  it('110 M elements round-trip bit for bit through saveState/loadState and through the binary form, in a fresh process', async () => {
    const result = await runInChild<Record<string, unknown>>(
      `
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
      console.log(JSON.stringify({ pieces, json, binary, bytes: bytes.length, zeroed: same() }));`,
      180_000,
    );
    // 440 MB of floats: eight pieces of 48 MiB and the rest, each piece's base64 2^26 characters at most.
    expect(result).toEqual({
      pieces: [...Array(8).fill(2 ** 26), Math.ceil((440e6 - 8 * 3 * 2 ** 24) / 3) * 4],
      json: true,
      binary: true,
      bytes: expect.any(Number),
      zeroed: false,
    });
    expect(result.bytes).toBeGreaterThan(440e6);
  }, 200_000);

  // Past V8's longest number array the torch form cannot exist: a RangeError naming the limit and the
  // forms without one, where Array.from threw "Invalid array length" past ~130 M (and silently worked below).
  it('the torch form past 125 M elements throws a RangeError naming the limit and the forms that have none', async () => {
    const result = await runInChild<string[]>(
      `
      const opt = await lib.RMSProp.create({ w: 125_000_001 });
      opt.step();
      const small = await lib.RMSProp.create({ w: 1 });
      const dict = { state: { 0: { step: 1, square_avg: [] } }, param_groups: small.toTorchStateDict().param_groups };
      const messages = [];
      for (const call of [() => opt.toTorchStateDict(), () => opt.fromTorchStateDict(dict)]) {
        try { call(); messages.push('no error'); } catch (e) { messages.push(e.constructor.name + ': ' + e.message); }
      }
      console.log(JSON.stringify(messages));`,
      120_000,
    );
    expect(result[0]).toBe(
      "RangeError: toTorchStateDict: parameter 'w' has 125000001 elements; the torch state dict's number arrays hold at most 125000000 (V8's longest array). Use saveState() or encodeState(), which have no such limit",
    );
    expect(result[1]).toMatch(
      /^RangeError: fromTorchStateDict: parameter 'w' has 125000001 elements; .* at most 125000000/,
    );
  }, 150_000);

  // Under the limit a parameter, over it in all: the number arrays outgrew V8's heap and the process
  // aborted ("JavaScript heap out of memory", 2 × 90 M centered with momentum), no error to catch.
  it('the torch form of more than 125 M numbers in all throws a RangeError, before any array is made', async () => {
    const result = await runInChild<string>(
      `
      const opt = await lib.RMSProp.create({ a: 63_000_000, b: 63_000_000 });
      opt.stepCount = 1;
      const before = process.memoryUsage().heapUsed;
      let message = 'no error';
      try { opt.toTorchStateDict(); } catch (e) { message = e.constructor.name + ': ' + e.message; }
      if (process.memoryUsage().heapUsed - before > 100e6) message += ' (after making arrays)';
      console.log(JSON.stringify(message));`,
      120_000,
    );
    expect(result).toBe(
      "RangeError: toTorchStateDict: the state is 126000000 numbers in all; the torch state dict holds at most 125000000 (plain arrays of 8-byte numbers in JavaScript's heap, which more would outgrow). Use saveState() or encodeState(), which have no such limit",
    );
  }, 150_000);
});

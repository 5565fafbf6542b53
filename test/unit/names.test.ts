// Any parameter name works: names that Object.prototype also has ('__proto__', 'constructor',
// 'toString', 'valueOf', 'hasOwnProperty') are ordinary names, gradients can be left out for them,
// a property added to Object.prototype changes nothing, every name round-trips through saveState,
// JSON, the binary form and the torch dict, and a Map is refused rather than ignored.
import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, RMSProp } from '../../src/index.js';
import { BACKENDS, sameBits, seedStep, snapshot } from '../support/helpers.js';

const NAMES = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'w'] as const;

/** A record with these own properties; Object.fromEntries defines '__proto__' as a name, not the prototype. */
const byName = <T>(make: (name: string, i: number) => T) =>
  Object.fromEntries(NAMES.map((name, i) => [name, make(name, i)]));

describe.each(BACKENDS)('parameter names that Object.prototype also has (%s)', (backend) => {
  it('are created, stepped and skipped like any other name', async () => {
    const params = byName((_, i) => new Float32Array([i + 1, -(i + 1)]));
    const opt = await RMSProp.create(params, { backend });
    expect(Object.keys(opt.params)).toEqual([...NAMES]);
    expect(Object.hasOwn(opt.params, '__proto__')).toBe(true);
    // Only w and constructor get a gradient; every other parameter is skipped.
    opt.step({ w: new Float32Array([0.5, -0.5]), constructor: new Float32Array([2, 2]) } as never);
    expect(opt.params.w[0]).toBeCloseTo(seedStep(6, 0.5), 6);
    expect(opt.params.constructor[1]).toBeCloseTo(seedStep(-2, 2), 6);
    for (const name of ['__proto__', 'toString', 'valueOf', 'hasOwnProperty']) {
      expect(Array.from(opt.params[name]), name).toEqual(Array.from(params[name]));
      expect(Array.from(opt.state[name].squareAvg), name).toEqual([0, 0]);
    }
    // All of them at once, __proto__ included.
    opt.step(byName((name) => new Float32Array(name === '__proto__' ? [1, 1] : [0, 0])));
    // biome-ignore lint/suspicious/noProto: a parameter named __proto__ is the case under test
    expect(opt.params.__proto__[0]).toBeCloseTo(seedStep(1, 1), 6);
    expect(opt.stepCount).toBe(2);
  });

  it('an enumerable property added to Object.prototype is not a gradient', async () => {
    const opt = await RMSProp.create({ w: new Float32Array([1]) }, { backend });
    Object.defineProperty(Object.prototype, 'injected', {
      value: new Float32Array([5]),
      enumerable: true,
      configurable: true,
      writable: true,
    });
    try {
      expect(opt.step({ w: new Float32Array([1]) })).toBe(true);
    } finally {
      delete (Object.prototype as Record<string, unknown>).injected;
    }
    expect(opt.params.w[0]).toBeCloseTo(seedStep(1, 1), 6);
  });

  it('every name round-trips through saveState, JSON, encodeState/decodeState, loadState and the torch dict', async () => {
    const opt = await RMSProp.create(
      byName((_, i) => 3 + i),
      { backend, momentum: 0.9, centered: true },
    );
    for (let k = 0; k < 3; k++)
      opt.step(byName((_, i) => Float32Array.from({ length: 3 + i }, (_, j) => Math.sin(k + i * 7 + j))));
    const saved = opt.saveState();
    expect(Object.keys(saved.state)).toEqual([...NAMES]);
    const arrays = (o: RMSProp) =>
      NAMES.flatMap((name) => [o.state[name].squareAvg, o.state[name].gradAvg!, o.state[name].momentum!]);
    const forms = {
      json: () => JSON.parse(JSON.stringify(saved)),
      binary: () => decodeState(encodeState(saved)),
      'binary after JSON': () => decodeState(encodeState(JSON.parse(JSON.stringify(saved)))),
    };
    for (const [form, load] of Object.entries(forms)) {
      const copy = await RMSProp.create(
        byName((_, i) => 3 + i),
        { backend, momentum: 0.9, centered: true },
      );
      copy.loadState(load());
      expect(copy.stepCount, form).toBe(3);
      arrays(copy).forEach((a, i) => expect(sameBits(a, arrays(opt)[i]), `${form}, array ${i}`).toBeUndefined());
    }
    const viaTorch = await RMSProp.create(
      byName((_, i) => 3 + i),
      { backend, momentum: 0.9, centered: true },
    );
    viaTorch.fromTorchStateDict(JSON.parse(JSON.stringify(opt.toTorchStateDict())));
    arrays(viaTorch).forEach((a, i) => expect(sameBits(a, arrays(opt)[i]), `torch, array ${i}`).toBeUndefined());
  });
});

describe('a Map is refused, not silently ignored', () => {
  it('as parameters', async () => {
    await expect(RMSProp.create(new Map([['w', new Float32Array(2)]]) as never)).rejects.toThrow(TypeError);
    await expect(RMSProp.create(new Map([['w', new Float32Array(2)]]) as never)).rejects.toThrow(/Map/);
  });

  it('as gradients: a TypeError, and no step is counted', async () => {
    const w = new Float32Array([1, 2]);
    const opt = await RMSProp.create({ w });
    const before = snapshot([w, opt.state.w.squareAvg]);
    expect(() => opt.step(new Map([['w', new Float32Array([1, 1])]]) as never)).toThrow(TypeError);
    expect(() => opt.step(new Map([['w', new Float32Array([1, 1])]]) as never)).toThrow(/Map/);
    expect(snapshot([w, opt.state.w.squareAvg])).toEqual(before);
    expect(opt.stepCount).toBe(0);
  });

  it('as options', async () => {
    await expect(RMSProp.create({ w: 2 }, new Map([['lr', 0.1]]) as never)).rejects.toThrow(
      /options must be an object of options, got a Map/,
    );
  });
});

// Every size wasm memory can hold: layouts up to 4 GiB create and step on every backend, with
// arrays past the 2 GiB mark (where signed 32-bit arithmetic on sizes or offsets would wrap);
// anything larger is a RangeError naming the bytes it needs. Expected values come from the seed
// formula in float64, rounded to float32 at the end.
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { readGroups } from '../../src/inputs.js';
import { planLayout } from '../../src/layout.js';
import { threadSupport } from '../../src/thread-support.js';
import { BACKENDS, seedStep } from '../support/helpers.js';

const LIMIT = 2 ** 32;
const bytesFor = (params: Record<string, number>) => planLayout(readGroups(params, undefined)).bytes;

/** The largest `big` (a multiple of 4) such that { big, small: 8 } still fits in 4 GiB. */
function largestFitting(): number {
  let low = 0;
  let high = LIMIT / 4;
  while (high - low > 4) {
    const mid = Math.floor((low + high) / 8) * 4;
    if (bytesFor({ big: mid, small: 8 }) <= LIMIT) low = mid;
    else high = mid;
  }
  return low;
}

/** One seed-preset step from S = 0, rounded to float32 as the parameter holds it. */
const seedStep32 = (w: number, g: number) => Math.fround(seedStep(w, g));

// The layout's size against what the docs count, not against itself: w and g (4 bytes each) and S
// in 4, 2 or 1 byte, plus per block of 1 024 elements a float64 sum (8 bytes) and, compressed, a
// rounding key (4) and an 8-bit scale (4): at most 0.02 bytes an element more.
it.each([
  ['float32', 12],
  ['bfloat16', 10],
  ['8bit', 9],
] as const)('%s state takes %i bytes an element, and hardly more', (stateFormat, perElement) => {
  const n = 100_000_000;
  const bytes = planLayout(readGroups({ w: n }, { stateFormat })).bytes;
  expect(bytes / n).toBeGreaterThanOrEqual(perElement);
  expect(bytes / n).toBeLessThan(perElement + 0.02);
});

it('357 M elements with float32 state fit in 4 GiB, 358 M do not (README: "about 357 M elements")', async () => {
  expect(bytesFor({ w: 357_000_000 })).toBeLessThanOrEqual(LIMIT);
  expect(bytesFor({ w: 358_000_000 })).toBeGreaterThan(LIMIT);
  await expect(RMSProp.create({ w: 358_000_000 }, { backend: 'js' })).rejects.toThrow(RangeError);
});

describe('a layout just under 4 GiB', () => {
  const big = largestFitting();

  it('is just under the limit, and four more elements are over it', () => {
    expect(bytesFor({ big, small: 8 })).toBeLessThanOrEqual(LIMIT);
    expect(bytesFor({ big, small: 8 })).toBeGreaterThan(LIMIT - 65536);
    expect(bytesFor({ big: big + 4, small: 8 })).toBeGreaterThan(LIMIT);
  });

  for (const backend of BACKENDS) {
    it(`creates and steps a tensor that sits above 4 GiB − 64 KiB (${backend})`, async () => {
      const opt = await RMSProp.create({ big, small: 8 }, { backend });
      try {
        const { small } = opt.params;
        // The last tensor's arrays sit at the top of memory, where a signed offset would be negative.
        expect(opt.state.small.squareAvg.byteOffset).toBeGreaterThan(2 ** 31);
        const w = Float32Array.from({ length: 8 }, (_, i) => 1 - i / 8);
        const g = Float32Array.from({ length: 8 }, (_, i) => (i - 3.5) / 2);
        small.set(w);
        expect(opt.step({ small: g })).toBe(true);
        for (let i = 0; i < 8; i++) expect(small[i]).toBeCloseTo(seedStep32(w[i], g[i]), 6);
        expect(opt.params.big[big - 1]).toBe(0); // no gradient for 'big': skipped
        expect(opt.stepCount).toBe(1);
      } finally {
        opt.dispose();
      }
    }, 60_000);
  }
});

// Each thread adds a scratch area for compressed state; near the limit they once made create throw
// for a layout that one thread fits.
it("8-bit state that fits on one thread but not beside 2 threads' scratch areas: threads 2 and 'auto' take one thread, saying why", async () => {
  const options = { stateFormat: '8bit' } as const;
  const bytes = (big: number, threads: number) => planLayout(readGroups({ big, small: 8 }, options), threads).bytes;
  let low = 0;
  let high = LIMIT;
  while (high - low > 1024) {
    const mid = Math.floor((low + high) / 2048) * 1024;
    if (bytes(mid, 1) <= LIMIT) low = mid;
    else high = mid;
  }
  expect(bytes(low, 2)).toBeGreaterThan(LIMIT);
  for (const threads of [2, 'auto'] as const) {
    const opt = await RMSProp.create({ big: low, small: 8 }, { ...options, threads });
    try {
      expect(opt.threads).toBe(1);
      // ('auto' where threads are unavailable, or on one core, takes one thread for that reason first)
      const { cores, unavailable } = threadSupport();
      if (!unavailable && (threads === 2 || cores > 1))
        expect(opt.threadsReason).toMatch(/scratch areas of \d+ threads .* one thread fits/);
      opt.params.small.fill(1);
      expect(opt.step({ small: new Float32Array(8).fill(0.5) })).toBe(true);
      expect(opt.params.small[0]).toBeCloseTo(seedStep32(1, 0.5), 6);
    } finally {
      opt.dispose();
    }
  }
}, 60_000);

it('{ w: 179 000 000 } (2.1 GB of memory) creates and steps every element (simd)', async () => {
  const n = 179_000_000;
  const opt = await RMSProp.create({ w: n }, { backend: 'simd' });
  try {
    const { w } = opt.params;
    const g = opt.grads.w;
    for (const [i, wi, gi] of [
      [0, 2, -1],
      [n >> 1, -1, 0.25],
      [n - 1, 1, 0.5],
    ]) {
      w[i] = wi;
      g[i] = gi;
    }
    opt.step();
    expect(w[0]).toBeCloseTo(seedStep32(2, -1), 6);
    expect(w[n >> 1]).toBeCloseTo(seedStep32(-1, 0.25), 6);
    expect(w[n - 1]).toBeCloseTo(seedStep32(1, 0.5), 6);
  } finally {
    opt.dispose();
  }
}, 60_000);

describe('beyond 4 GiB: a RangeError naming the bytes needed and the limit, before any memory is taken', () => {
  const cases: Array<[string, Record<string, number>]> = [
    ['2^31 elements', { w: 2 ** 31 }],
    ['2^32 elements', { w: 2 ** 32 }],
    ['2^53 − 1 elements', { w: Number.MAX_SAFE_INTEGER }],
    [
      'many tensors summing just over 4 GiB',
      Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, Math.ceil(largestFitting() / 16) + 8])),
    ],
  ];
  for (const [what, params] of cases) {
    it(what, async () => {
      const needed = bytesFor(params);
      expect(needed).toBeGreaterThan(LIMIT);
      const error = await RMSProp.create(params).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toContain(`${needed} bytes`);
      expect((error as Error).message).toContain(`${LIMIT} bytes`);
    });
  }
});

// The heap does not grow with steps: after 100 000 steps it is within 1 MB of the heap after 1 000
// (both measured after a full collection). A check of memory, not of time: nothing here is timed.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../src/index.js';
import { BACKENDS } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function expectFlatHeap(step: () => void): void {
  for (let i = 0; i < 1_000; i++) step();
  const after1k = heapUsed();
  for (let i = 1_000; i < 100_000; i++) step();
  const after100k = heapUsed();
  expect(Math.abs(after100k - after1k)).toBeLessThan(1 << 20);
}

describe.each(BACKENDS)('heap over 100 000 steps (%s)', (backend) => {
  it('zero-copy step()', async () => {
    const opt = await RMSProp.create({ w: 1000, b: 24 }, { backend, centered: true, momentum: 0.9 });
    opt.grads.w.fill(0.01);
    opt.grads.b.fill(-0.01);
    expectFlatHeap(() => void opt.step());
    expect(opt.stepCount).toBe(100_000);
  });

  it('your arrays, step(grads) with one reused gradients object', async () => {
    const opt = await RMSProp.create({ w: new Float32Array(1000), b: new Float32Array(24) }, { backend });
    const grads = { w: new Float32Array(1000).fill(0.01), b: new Float32Array(24).fill(-0.01) };
    expectFlatHeap(() => void opt.step(grads));
  });
});

// The `pytorch` preset against trajectories recorded from torch.optim.RMSprop (PyTorch 1.13,
// float32, CPU, foreach=False): test/support/fixtures/torch-rmsprop.json. PyTorch's CPU kernels use FMA, so
// the agreed bound after k steps is |w − w_ref| ≤ 1e-5·|w_ref| + 5e-4·lr·k/(1−momentum).
// State arrays get the same 1e-5 relative bound plus 1e-6 of the array's largest magnitude: grad_avg
// and momentum_buffer are sums of terms of both signs, and where they cancel to near zero FMA
// rounding differences exceed 1e-5 of the small result (seen: ~2e-7 of the largest element).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { BACKENDS, decodeFloat32, outsideBound, type TorchOptions, torchOptions } from '../support/helpers.js';

interface TorchCase {
  name: string;
  options: TorchOptions;
  n: number;
  steps: number;
  param0: string;
  grads: string[];
  params: string[];
  state: { square_avg: string; momentum_buffer: string | null; grad_avg: string | null };
}

const fixture = JSON.parse(readFileSync(new URL('../support/fixtures/torch-rmsprop.json', import.meta.url), 'utf8'));
const cases: TorchCase[] = fixture.cases;

describe.each(BACKENDS)('pytorch preset vs torch.optim.RMSprop on %s', (backend) => {
  it('has all 56 reference cases', () => expect(cases.length).toBe(56));

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const o = c.options;
    const momentum = o.momentum ?? 0;
    const w = decodeFloat32(c.param0);
    expect(w.length).toBe(c.n);
    const opt = await RMSProp.create({ w }, { ...torchOptions(o), backend });
    for (let k = 1; k <= c.steps; k++) {
      opt.step({ w: decodeFloat32(c.grads[k - 1]) });
      const slack = (5e-4 * o.lr * k) / (1 - momentum);
      expect(outsideBound(w, decodeFloat32(c.params[k - 1]), slack), `after step ${k}`).toBeUndefined();
    }
    const state = opt.state.w;
    const stateCases: Array<[string, Float32Array | undefined, string | null]> = [
      ['square_avg', state.squareAvg, c.state.square_avg],
      ['momentum_buffer', state.momentum, c.state.momentum_buffer],
      ['grad_avg', state.gradAvg, c.state.grad_avg],
    ];
    for (const [name, ours, theirs] of stateCases) {
      expect(ours === undefined, `${name} present`).toBe(theirs === null);
      if (!ours || !theirs) continue;
      const reference = decodeFloat32(theirs);
      const largest = reference.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
      expect(outsideBound(ours, reference, 1e-6 * largest), name).toBeUndefined();
    }
  });
});

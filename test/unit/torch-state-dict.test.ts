// toTorchStateDict / fromTorchStateDict against state_dicts real PyTorch wrote and loaded:
// test/support/fixtures/torch-state-dict.json, recorded by torch-state-dict.py (torch 2.13.0+cpu,
// float32, foreach=False) on two parameters ([3, 4] and [5]), 5 steps, then 6–8 from the dict.
// Bounds as in torch-reference.test.ts: params after k steps 1e-5·|w_ref| + 5e-4·lr·k/(1−momentum),
// state arrays 1e-5 relative plus 1e-6 of the array's largest magnitude.
// Intended differences from torch's own dict: our arrays are flat lists (torch's tolist() nests them
// by shape), `foreach` is null (torch writes the value it was given, False here) and `step` is a
// number (torch keeps a float32 tensor). Torch takes our dict once its state keys are ints and its
// lists tensors of the param's shape (JSON keys are strings: left so, torch keeps the state aside
// silently and starts afresh; see `loads` in the fixture).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type BackendName, RMSProp, type TorchStateDict } from '../../src/index.js';
import { BACKENDS, outsideBound, type TorchOptions, torchOptions } from '../support/helpers.js';

type Nested = number | Nested[];
type Arrays = Record<string, Nested>;
interface TorchCase {
  name: string;
  options: TorchOptions;
  param0: Arrays;
  grads: Arrays[];
  torch: { params5: Arrays; state_dict5: TorchStateDict; params8: Arrays; state_dict8: TorchStateDict };
  ours_to_torch: { loads: Record<string, string>; params8: Arrays; state_dict8: TorchStateDict };
}

const fixture = JSON.parse(readFileSync(new URL('../support/fixtures/torch-state-dict.json', import.meta.url), 'utf8'));
const cases: TorchCase[] = fixture.cases;
const STATE_KEYS = ['square_avg', 'momentum_buffer', 'grad_avg'] as const;

const flat = (x: Nested): Float32Array => Float32Array.from([x].flat(Infinity as 1) as number[]);
const f32 = (arrays: Arrays): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(arrays).map(([name, v]) => [name, flat(v)]));

function create(c: TorchCase, backend: BackendName, params: Arrays, changes: Record<string, number> = {}) {
  return RMSProp.create(f32(params), { ...torchOptions(c.options), backend, ...changes });
}

function steps(opt: RMSProp, grads: Arrays[]): void {
  for (const g of grads) opt.step(f32(g));
}

function expectParams(opt: RMSProp, expected: Arrays, c: TorchCase, k: number): void {
  const slack = (5e-4 * c.options.lr * k) / (1 - (c.options.momentum ?? 0));
  for (const [name, ref] of Object.entries(f32(expected))) {
    expect(outsideBound(opt.params[name], ref, slack), `param ${name} after ${k} steps`).toBeUndefined();
  }
}

/** The same entries, keys and step as torch's dict, and its arrays within the state bound. */
function expectState(ours: TorchStateDict, theirs: TorchStateDict): void {
  expect(Object.keys(ours.state).sort()).toEqual(Object.keys(theirs.state).sort());
  for (const [id, entry] of Object.entries(theirs.state)) {
    const mine = ours.state[id];
    expect(Object.keys(mine).sort(), `state['${id}'] keys`).toEqual(Object.keys(entry).sort());
    expect(mine.step, `state['${id}'].step`).toBe(entry.step);
    for (const key of STATE_KEYS) {
      if (entry[key] === undefined) continue;
      const ref = flat(entry[key] as Nested);
      const largest = ref.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
      expect(outsideBound(flat(mine[key] as Nested), ref, 1e-6 * largest), `state['${id}'].${key}`).toBeUndefined();
    }
  }
}

describe('the torch fixture', () => {
  it('has 4 cases, recorded with torch 2.x', () => {
    expect(cases.map((c) => c.name)).toEqual(['defaults', 'momentum', 'centered-momentum', 'decay-maximize']);
    expect(fixture.torch).toMatch(/^2\./);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: torch took our dict once converted', (_, c) => {
    expect(c.ours_to_torch.loads.step_as_number).toBe('ok');
    expect(c.ours_to_torch.loads.as_is).toMatch(/^state not attached/);
  });
});

describe.each(BACKENDS)('torch state_dict on %s', (backend) => {
  describe.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const [five, more] = [c.grads.slice(0, 5), c.grads.slice(5)];

    it("continues from torch's dict after 5 steps as torch did", async () => {
      const opt = await create(c, backend, c.torch.params5);
      opt.fromTorchStateDict(c.torch.state_dict5);
      expect(opt.stepCount).toBe(5);
      steps(opt, more);
      expectParams(opt, c.torch.params8, c, 3);
      expectState(opt.toTorchStateDict(), c.torch.state_dict8);
      opt.dispose();
    });

    it('takes the options from the dict with restoreOptions', async () => {
      const changes = { lr: 0.5, decay: 0.5, eps: 0.1, weightDecay: 0.25, maximize: !(c.options.maximize ?? false) };
      const opt = await create(c, backend, c.torch.params5, changes as unknown as Record<string, number>);
      expect(opt.options).toMatchObject({ lr: 0.5, decay: 0.5, eps: 0.1, weightDecay: 0.25 });
      opt.fromTorchStateDict(c.torch.state_dict5, { restoreOptions: true });
      const group = c.torch.state_dict5.param_groups[0];
      expect(opt.options).toMatchObject({
        lr: group.lr,
        decay: group.alpha,
        eps: group.eps,
        weightDecay: group.weight_decay,
        momentum: group.momentum,
        centered: group.centered,
        maximize: group.maximize,
      });
      steps(opt, more);
      expectParams(opt, c.torch.params8, c, 3);
      expectState(opt.toTorchStateDict(), c.torch.state_dict8);
      opt.dispose();
    });

    it('writes after 5 steps the dict torch wrote (arrays flat, foreach null)', async () => {
      const opt = await create(c, backend, c.param0);
      steps(opt, five);
      expectParams(opt, c.torch.params5, c, 5);
      const ours = opt.toTorchStateDict();
      const theirs = c.torch.state_dict5;
      expectState(ours, theirs);
      expect(ours.param_groups.length).toBe(theirs.param_groups.length);
      ours.param_groups.forEach((group, g) => {
        const { foreach, ...rest } = theirs.param_groups[g] as unknown as Record<string, unknown>;
        expect(foreach).toBe(false);
        expect(group.foreach).toBeNull();
        expect(Object.keys(group).sort()).toEqual(Object.keys(theirs.param_groups[g]).sort());
        expect(group).toMatchObject(rest);
      });
      for (const entry of Object.values(ours.state)) {
        for (const key of STATE_KEYS) expect(entry[key]?.every((x) => typeof x === 'number') ?? true).toBe(true);
      }
      opt.dispose();
    });

    it('runs steps 1–8 as torch continued from our dict after 5', async () => {
      const opt = await create(c, backend, c.param0);
      steps(opt, c.grads);
      expectParams(opt, c.ours_to_torch.params8, c, 8);
      expectState(opt.toTorchStateDict(), c.ours_to_torch.state_dict8);
      opt.dispose();
    });
  });
});

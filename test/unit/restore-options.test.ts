// loadState({ restoreOptions: true }) and fromTorchStateDict's: a run whose lr was lowered mid-way
// (as a plateau rule does) resumes, in a new process, as if it had never stopped, and a PyTorch dict's
// param_groups set lr, alpha, eps, weight_decay, momentum and maximize. Without the option, options
// stay as the optimizer has them; a bad saved option refuses the whole load.
import { describe, expect, it } from 'vitest';
import { RMSProp, type RMSPropOptions, schedules, type TorchStateDict } from '../../src/index.js';
import { runForJson } from '../support/child.js';
import { everything, firstDifference, snapshot, snapshotDifference } from '../support/helpers.js';

const OPTIONS: RMSPropOptions = { preset: 'pytorch', momentum: 0.9, centered: true, backend: 'js' };

/** A step's gradient, the same in this process and the child's: a function of the element and step. */
const GRADIENT = '(i, step) => Math.sin(0.7 * i + step) + 0.1';

function train(opt: RMSProp<'w'>, steps: number): void {
  const gradient = new Function(`return ${GRADIENT}`)() as (i: number, step: number) => number;
  for (let k = 0; k < steps; k++) {
    opt.grads.w.forEach((_, i) => {
      opt.grads.w[i] = gradient(i, opt.stepCount);
    });
    opt.step();
  }
}

describe('loadState with restoreOptions', () => {
  it('a run whose lr, decay and clipNorm changed mid-way resumes in a new process bit for bit', async () => {
    const whole = await RMSProp.create({ w: 64 }, OPTIONS);
    train(whole, 5);
    whole.setOptions(0, { lr: 1e-3, decay: 0.9, clipNorm: 0.5, weightDecay: 0.01 });
    train(whole, 3);
    const saved = JSON.stringify(whole.saveState());
    const weights = Array.from(whole.params.w);
    train(whole, 6); // the uninterrupted run

    const resumed = await runForJson<{ w: number[]; lr: unknown; clipNorm: unknown; kept: unknown }>(`
      import { RMSProp } from 'rmsprop-wasm';
      const gradient = ${GRADIENT};
      const options = ${JSON.stringify(OPTIONS)};
      const kept = await RMSProp.create({ w: 64 }, options);
      kept.loadState(JSON.parse(${JSON.stringify(saved)}));
      const opt = await RMSProp.create({ w: 64 }, options);
      opt.params.w.set(${JSON.stringify(weights)});
      opt.loadState(JSON.parse(${JSON.stringify(saved)}), { restoreOptions: true });
      for (let k = 0; k < 6; k++) {
        opt.grads.w.forEach((_, i) => { opt.grads.w[i] = gradient(i, opt.stepCount); });
        opt.step();
      }
      console.log(JSON.stringify({ w: Array.from(opt.params.w), lr: opt.options.lr, clipNorm: opt.options.clipNorm, kept: kept.options.lr }));
    `);
    expect(resumed.lr).toBe(1e-3);
    expect(resumed.clipNorm).toBe(0.5);
    expect(resumed.kept).toBe(1e-2); // without the option: the pytorch preset's lr, as created
    expect(firstDifference([new Float32Array(resumed.w)], [whole.params.w])).toBeUndefined();
    whole.dispose();
  });

  it("each group's options come back, clipping saved as off (null) included", async () => {
    const make = (clipNorm: number) =>
      RMSProp.create(
        [
          { params: { a: 8 }, lr: 0.1 },
          { params: { b: 8 }, clipValue: 0.25 },
        ],
        { clipNorm, eps: 1e-6 },
      );
    const source = await make(Infinity);
    source.setOptions(0, { lr: 0.05, maximize: true });
    source.setOptions(1, { clipValue: Infinity, eps: 1e-5 });
    const target = await make(2);
    target.loadState(JSON.parse(JSON.stringify(source.saveState())), { restoreOptions: true });
    for (const g of [0, 1]) {
      const { params: _, ...theirs } = source.groups[g];
      const { params: __, ...ours } = target.groups[g];
      expect(ours).toEqual(theirs);
    }
    expect(target.groups[0]).toMatchObject({ lr: 0.05, maximize: true, clipNorm: Infinity, eps: 1e-6 });
    expect(target.groups[1]).toMatchObject({ lr: 1e-3, clipValue: Infinity, clipNorm: Infinity, eps: 1e-5 });
    source.dispose();
    target.dispose();
  });

  it("a group's schedule stays, whatever the saved lr; a saved schedule leaves a number as it is", async () => {
    const schedule = schedules.exponentialDecay({ initial: 0.1, decaySteps: 10, decayRate: 0.5 });
    const scheduled = await RMSProp.create({ w: 4 }, { lr: schedule, decay: 0.5 });
    const constant = await RMSProp.create({ w: 4 }, { lr: 0.2, decay: 0.5 });
    scheduled.setOptions(0, { decay: 0.8 });
    constant.setOptions(0, { decay: 0.7 });
    const [fromSchedule, fromConstant] = [scheduled.saveState(), constant.saveState()];
    scheduled.loadState(fromConstant, { restoreOptions: true });
    constant.loadState(fromSchedule, { restoreOptions: true });
    expect(scheduled.options).toMatchObject({ lr: schedule, decay: 0.7 });
    expect(constant.options).toMatchObject({ lr: 0.2, decay: 0.8 });
    scheduled.dispose();
    constant.dispose();
  });

  it("saveState's options are checked as loadState's: a misspelt one is refused, not ignored", async () => {
    const opt = await RMSProp.create({ w: 4 });
    expect(() => opt.saveState({ array: 'float32' } as never)).toThrow(/saveState: unknown option 'array'/);
    expect(() => opt.saveState({ arrays: 'float64' } as never)).toThrow(/saveState option 'arrays' must be/);
    expect(() => opt.saveState('float32' as never)).toThrow(/saveState options must be an object/);
    expect(opt.saveState({ arrays: 'float32' }).state.w.squareAvg).toBeInstanceOf(Float32Array);
    opt.dispose();
  });

  it('options fixed at create stay as the optimizer has them, whatever valid value was saved', async () => {
    const source = await RMSProp.create({ w: 4 }, { backend: 'js', nonFinite: 'skip', globalClipNorm: 2 });
    const target = await RMSProp.create({ w: 4 }, { backend: 'wasm' });
    target.loadState(source.saveState(), { restoreOptions: true });
    expect([target.backend, target.options.nonFinite, target.options.globalClipNorm]).toEqual([
      'wasm',
      'propagate',
      Infinity,
    ]);
    source.dispose();
    target.dispose();
  });

  it('without it, options stay as the optimizer has them', async () => {
    const source = await RMSProp.create({ w: 4 }, { lr: 0.5 });
    const target = await RMSProp.create({ w: 4 }, { lr: 0.25 });
    target.loadState(source.saveState());
    target.loadState(source.saveState(), { restoreOptions: false });
    expect(target.options.lr).toBe(0.25);
    source.dispose();
    target.dispose();
  });

  it('a bad saved option or a bad restoreOptions is refused by name, and nothing changes', async () => {
    const source = await RMSProp.create([{ params: { a: 4 } }, { params: { b: 4 } }], { momentum: 0.5 });
    source.grads.a.fill(1);
    source.grads.b.fill(-1);
    source.step();
    const target = await RMSProp.create([{ params: { a: 4 } }, { params: { b: 4 } }], { momentum: 0.5, lr: 0.3 });
    const before = snapshot(everything(target));
    const cases: Array<[saved: object, options: unknown, error: RegExp]> = [];
    const withGroup1 = (options: Record<string, unknown>) => {
      const saved = source.saveState();
      Object.assign(saved.groups[1].options, options);
      return saved;
    };
    cases.push([withGroup1({ lr: -1 }), { restoreOptions: true }, /groups\[1\]\.options: option 'lr'.*-1/]);
    cases.push([withGroup1({ decay: 'schedule' }), { restoreOptions: true }, /groups\[1\]\.options: option 'decay'/]);
    cases.push([
      withGroup1({ nesterovv: true }),
      { restoreOptions: true },
      // (the known ones listed include those fixed at create, which a saved state carries)
      /groups\[1\]\.options: unknown option 'nesterovv' \(known options: preset, backend, .*centered/,
    ]);
    cases.push([withGroup1({ momentum: 0.7, nesterov: 1 }), { restoreOptions: true }, /option 'nesterov'/]);
    cases.push([
      source.saveState(),
      { restoreOptions: 'yes' },
      /loadState option 'restoreOptions' must be a boolean, got/,
    ]);
    cases.push([source.saveState(), 'restore', /loadState options must be an object/]);
    // a misspelt key would turn the restore off without a word
    cases.push([source.saveState(), { restoreOption: true }, /loadState: unknown option 'restoreOption'/]);
    // null stands for Infinity (off) in clipping options only: elsewhere it is the value refused
    cases.push([withGroup1({ lr: null }), { restoreOptions: true }, /groups\[1\]\.options: option 'lr'.*got null/]);
    cases.push([withGroup1({ maximize: null }), { restoreOptions: true }, /option 'maximize'.*got null/]);
    // options fixed at create are kept as the optimizer has them, but a bad one is a bad state
    const fixed: Array<[string, unknown, ErrorConstructor]> = [
      ['stateFormat', 'x', TypeError],
      ['preset', 'bogus', TypeError],
      ['threads', -1, RangeError],
      ['backend', 'gpu', TypeError],
      ['nonFinite', 'x', TypeError],
      ['initialSquareAvg', -1, RangeError],
      ['globalClipNorm', -1, RangeError],
    ];
    for (const [key, value, kind] of fixed) {
      const saved = withGroup1({ [key]: value });
      const refusal = `groups\\[1\\]\\.options: option '${key}'.*${JSON.stringify(value)}`;
      expect(() => target.loadState(saved as never, { restoreOptions: true })).toThrow(kind);
      cases.push([saved, { restoreOptions: true }, new RegExp(refusal)]);
    }
    for (const [saved, options, error] of cases) {
      expect(() => target.loadState(saved as never, options as never)).toThrow(error);
      expect(snapshotDifference(snapshot(everything(target)), before)).toBeUndefined();
      expect(target.stepCount).toBe(0);
      expect(target.groups.map((g) => g.lr)).toEqual([0.3, 0.3]);
      expect(target.groups.map((g) => g.momentum)).toEqual([0.5, 0.5]);
    }
    source.dispose();
    target.dispose();
  });
});

describe('fromTorchStateDict with restoreOptions', () => {
  it("takes each param group's lr, alpha, eps, weight_decay, momentum and maximize", async () => {
    const opt = await RMSProp.create([{ params: { a: 2 } }, { params: { b: 3 }, lr: 0.5 }], {
      preset: 'pytorch',
      momentum: 0.9,
    });
    const dict: TorchStateDict = opt.toTorchStateDict();
    Object.assign(dict.param_groups[1], { lr: 0.004, alpha: 0.95, eps: 1e-6, weight_decay: 0.1, momentum: 0.5 });
    Object.assign(dict.param_groups[1], { maximize: true });
    opt.fromTorchStateDict(dict);
    expect(opt.groups[1]).toMatchObject({ lr: 0.5, decay: 0.99, momentum: 0.9, maximize: false });
    opt.fromTorchStateDict(dict, { restoreOptions: true });
    expect(opt.groups[1]).toMatchObject({
      lr: 0.004,
      decay: 0.95,
      eps: 1e-6,
      weightDecay: 0.1,
      momentum: 0.5,
      maximize: true,
    });
    expect(opt.groups[0]).toMatchObject({ lr: 1e-2, decay: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0.9 });
    dict.param_groups[0].alpha = 1.5;
    const before = snapshot(everything(opt));
    // the dict's own names: 'alpha' for our decay, 'weight_decay' for weightDecay
    expect(() => opt.fromTorchStateDict(dict, { restoreOptions: true })).toThrow(
      /param_groups\[0\]: 'alpha' \(option 'decay'.*1\.5/,
    );
    dict.param_groups[0].alpha = 0.99;
    dict.param_groups[1].weight_decay = -1;
    expect(() => opt.fromTorchStateDict(dict, { restoreOptions: true })).toThrow(
      /param_groups\[1\]: 'weight_decay' \(option 'weightDecay'.*-1/,
    );
    // its options argument is checked first, under its own name
    expect(() => opt.fromTorchStateDict(null as never, { restore: true } as never)).toThrow(
      /fromTorchStateDict: unknown option 'restore'/,
    );
    expect(snapshotDifference(snapshot(everything(opt)), before)).toBeUndefined();
    expect(opt.groups[1].lr).toBe(0.004);
    opt.dispose();
  });
});

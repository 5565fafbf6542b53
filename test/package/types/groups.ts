// What the types promise about parameter groups, checked by the compiler: each `@ts-expect-error`
// line must be an error, or the compilation fails ("unused directive"). A group takes its
// parameters and the options a group may set; anything else is refused at run time, and here.
import { RMSProp, schedules } from 'rmsprop-wasm';

const grouped = await RMSProp.create(
  [
    { params: { w: 3 }, lr: 0.1, momentum: 0.9, stateFormat: '8bit' },
    { params: { b: new Float32Array(2) }, lr: schedules.constant(0.1), centered: true },
  ],
  { globalClipNorm: 1, threads: 'auto' },
);
const b: Float32Array = grouped.params.b;
const fromVariable = [{ params: [4, 5] }, { params: { c: 2 }, weightDecay: 1e-4 }] as const;
const listed = RMSProp.createSync(fromVariable, { backend: 'js' });
const c: Float32Array = listed.params.c;

// @ts-expect-error: a misspelt option in a group
await RMSProp.create([{ params: { w: 3 }, learningRate: 0.1 }]);
// @ts-expect-error: the backend is the whole optimizer's: give it in create's second argument
await RMSProp.create([{ params: { w: 3 }, backend: 'js' }]);
// @ts-expect-error: threads too
await RMSProp.create([{ params: { w: 3 } }, { params: { v: 3 }, threads: 2 }]);
// @ts-expect-error: nonFinite too
RMSProp.createSync([{ params: { w: 3 }, nonFinite: 'skip' }]);
// @ts-expect-error: globalClipNorm too
await RMSProp.create([{ params: { w: 3 }, globalClipNorm: 1 }]);
const wide = [{ params: { w: 3 }, backend: 'js' as const }];
// @ts-expect-error: through a variable as well
await RMSProp.create(wide);

export { b, c };

// What the types promise about parameter names, checked by the compiler: each `@ts-expect-error`
// line must be an error, or the compilation fails ("unused directive").
import { RMSProp, type GradsInput } from 'rmsprop-wasm';

const opt = await RMSProp.create({ w: new Float32Array(6), b: 2 });
const params: Float32Array = opt.params.w; // a Float32Array, not `| undefined`, under noUncheckedIndexedAccess
const squareAvg: Float32Array = opt.state.b.squareAvg;
opt.grads.b.fill(0);
opt.step({ w: new Float32Array(6) });
opt.step({ w: new Float32Array(6), b: null });
opt.step();
// @ts-expect-error: 'x' is not a parameter
opt.params.x;
// @ts-expect-error: no gradient for a name that is not a parameter
opt.step({ x: new Float32Array(6) });
// @ts-expect-error: gradients are Float32Arrays
opt.step({ w: new Float64Array(6) });
// @ts-expect-error: an array's indices name no parameter of { w, b } (at run time: "unknown gradient '0'")
opt.step([new Float32Array(6), new Float32Array(2)]);

const listed = await RMSProp.create([new Float32Array(3), 4]);
const first: Float32Array = listed.params['0'];
listed.step([new Float32Array(3), null]);
// @ts-expect-error: a two-parameter array has no '2'
listed.params['2'];

const grouped = await RMSProp.create(
  [
    { params: { w: 3, b: 1 }, lr: 1e-2 },
    { params: { emb: 8 }, weightDecay: 0 },
  ],
  { preset: 'pytorch' },
);
const embedding: Float32Array = grouped.params.emb;
grouped.step({ w: new Float32Array(3), emb: new Float32Array(8) });
// @ts-expect-error: names come from every group, and only from them
grouped.params.other;

// Groups given as arrays: numbered across the groups, as PyTorch numbers parameters ('0' | '1' | '2'
// here from TypeScript 5.4, whose const type parameters infer the nested tuples; any number in 5.0).
const arrays = await RMSProp.create([{ params: [new Float32Array(2), 3], lr: 1e-2 }, { params: [4] }]);
const third: Float32Array | undefined = arrays.params['2'];
arrays.step([null, null, new Float32Array(4)]);
// @ts-expect-error: their names are numbers
arrays.params.other;
// after a record, whose size is no type, an array's names are any number
const mixed = await RMSProp.create([{ params: { w: 2 } }, { params: [4] }]);
const afterRecord: Float32Array | undefined = mixed.params['1'];
// @ts-expect-error: nor any other name
mixed.params.other;

// Names only known at run time: any string, and then lookups may be undefined.
const dynamic = await RMSProp.create(Object.fromEntries([['layer1', 4]]) as Record<string, number>);
// biome-ignore lint/complexity/useLiteralKeys: written as a lookup by a name computed at run time
const maybe: Float32Array | undefined = dynamic.params['layer1'];
const anyGrads: GradsInput = { layer1: new Float32Array(4) };
dynamic.step(anyGrads);

export { third, afterRecord, params, squareAvg, first, embedding, maybe };

// What the types promise from TypeScript 5.4 on, whose const type parameters infer tuples nested in
// objects (5.0 infers arrays there, and gives such names as any number): groups given as arrays are
// numbered across the groups, exactly.
import { RMSProp } from 'rmsprop-wasm';

const arrays = await RMSProp.create([{ params: [new Float32Array(2), 3], lr: 1e-2 }, { params: [4] }]);
const third: Float32Array = arrays.params['2'];
// @ts-expect-error: three parameters in all: no '3'
arrays.params['3'];
// a record's names stay exact beside arrays' (those after it: any number)
const named = await RMSProp.create([{ params: [5] }, { params: { b: 1 } }, { params: [6] }]);
const b: Float32Array = named.params.b;
// @ts-expect-error: and only its names
named.params.c;

export { third, b };

// What the README's examples use without defining: the user's own arrays and functions.
declare const gradW: Float32Array;
declare const gradB: Float32Array;
declare const initialW: Float32Array;
declare const w: Float32Array;
declare const b: Float32Array;
declare const emb: Float32Array;
declare function computeGradients(params: Readonly<Record<'w' | 'b', Float32Array>>, grads: Readonly<Record<'w' | 'b', Float32Array>>): void;

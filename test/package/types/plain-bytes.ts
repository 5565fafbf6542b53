// encodeState's bytes lie in a plain ArrayBuffer: from TypeScript 5.7 on, whose Uint8Array says which
// buffer it has, they go to Blob, fetch or crypto.subtle without a cast (an audit: a plain Uint8Array
// return type said the buffer might be shared). Earlier compilers take either.
import { encodeState, RMSProp } from 'rmsprop-wasm';

const opt = await RMSProp.create({ w: 4 });
const buffer: ArrayBuffer = encodeState(opt).buffer;
export { buffer };

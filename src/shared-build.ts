// The build that threads run is the single-thread build with its memory import made shared (limits
// flags 3, a maximum of 65 536 pages): AssemblyScript emits nothing else different (kernels use no
// atomics; test/package/generated.test.ts holds this against its shared targets), so the package
// ships each build once and derives the other here.

const IMPORT_SECTION = 2;
const MEMORY_KIND = 2;
const SHARED_LIMITS = 3;
const MAX_PAGES = 65536;

/** An unsigned LEB128 number at `at` (wasm's encoding of counts and sizes), and the byte after it. */
function readLeb128(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
}

/** `value` as unsigned LEB128 bytes. */
function leb128(value: number): number[] {
  const out: number[] = [];
  do {
    const low = value % 128;
    value = Math.floor(value / 128);
    out.push(value > 0 ? low | 0x80 : low);
  } while (value > 0);
  return out;
}

/** `wasm` with its imported memory shared, of at most 65 536 pages; every other byte unchanged. @internal */
export function withSharedMemory(wasm: Uint8Array): Uint8Array<ArrayBuffer> {
  let at = 8; // magic and version
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, contentAt] = readLeb128(wasm, at + 1);
    const end = contentAt + size;
    if (id !== IMPORT_SECTION) {
      at = end;
      continue;
    }
    // the memory is the first import (the only one the kernels have)
    let [count, p] = readLeb128(wasm, contentAt);
    if (count === 0) break;
    for (let name = 0; name < 2; name++) {
      const [length, next] = readLeb128(wasm, p);
      p = next + length;
    }
    const kind = wasm[p++];
    if (kind !== MEMORY_KIND)
      throw new Error(`wasm import of kind ${kind} before the memory: not this package's build`);
    const flags = wasm[p];
    const [initial, afterInitial] = readLeb128(wasm, p + 1);
    const limitsEnd = flags & 1 ? readLeb128(wasm, afterInitial)[1] : afterInitial;
    const limits = [SHARED_LIMITS, ...leb128(initial), ...leb128(MAX_PAGES)];
    const content = [...wasm.subarray(contentAt, p), ...limits, ...wasm.subarray(limitsEnd, end)];
    const section = [IMPORT_SECTION, ...leb128(content.length), ...content];
    const out = new Uint8Array(at + section.length + (wasm.length - end));
    out.set(wasm.subarray(0, at));
    out.set(section, at);
    out.set(wasm.subarray(end), at + section.length);
    return out;
  }
  throw new Error('the wasm build imports no memory');
}

// Compiles loops.ts (next to this file) with the asc API and writes the wasm bytes to stdout; the
// bytes never touch the disk. A plain-Node child of the benchmark, because loading AssemblyScript's
// 13 MB binaryen module through tsx's loader takes about 10 s against under 1 s here.
import asc from 'assemblyscript/asc';
import { fileURLToPath } from 'node:url';

// --shared: for a shared memory (bench/stream-threads.ts), as the library's -shared builds.
const shared = process.argv.includes('--shared')
  ? ['--enable', 'threads', '--sharedMemory', '--maximumMemory', '65536']
  : [];
let wasm;
const { error, stderr } = await asc.main(
  [
    'loops.ts',
    '--baseDir',
    fileURLToPath(new URL('.', import.meta.url)),
    '--outFile',
    'loops.wasm',
    '--enable',
    'simd',
    '-O3',
    '--runtime',
    'stub',
    '--importMemory',
    '--noAssert',
    '--use',
    'abort=',
    ...shared,
  ],
  {
    writeFile: (name, contents) => {
      if (name.endsWith('.wasm')) wasm = contents;
    },
  },
);
if (error || !wasm) {
  process.stderr.write(`asc failed on bench/assembly/loops.ts: ${error?.message}\n${stderr.toString()}`);
  process.exit(1);
}
process.stdout.write(wasm);

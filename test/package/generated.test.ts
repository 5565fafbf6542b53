// The generated files must hold exactly what their build scripts write today: the ABI's constants
// and dispatch (from the table in scripts/abi.ts), and src/generated/wasm.ts (what assembly/ compiles to).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { abiModules } from '../../scripts/build-abi.js';
import * as generated from '../../src/generated/wasm.js';
import { withSharedMemory } from '../../src/shared-build.js';
// @ts-expect-error: a plain .mjs build script without type declarations
import { compileWasm, generatedModule, GENERATED, SHIPPED } from '../../scripts/build-wasm.mjs';

it('the ABI constants and the wasm dispatch are not stale against scripts/abi.ts (run `npm run build` if this fails)', () => {
  const modules = abiModules();
  expect(Object.keys(modules).length).toBe(3);
  for (const [file, text] of Object.entries(modules)) {
    expect(readFileSync(file, 'utf8') === text, `${file} differs from what scripts/build-abi.ts writes`).toBe(true);
  }
});

it('the builds shipped as files (wasm/, for Cloudflare Workers) are the inlined ones (run `npm run build` if this fails)', () => {
  const inlined: Record<string, string> = { simd: generated.simdWasmBase64, scalar: generated.scalarWasmBase64 };
  for (const [build, file] of Object.entries(SHIPPED as Record<string, string>)) {
    const shipped = readFileSync(new URL(`../../${file}`, import.meta.url));
    expect(
      shipped.equals(Buffer.from(inlined[build]!, 'base64')),
      `${file} differs from the inlined ${build} build`,
    ).toBe(true);
  }
});

it('the inlined wasm is not stale against assembly/ (run `npm run build` if this fails)', async () => {
  const builds: Record<string, Uint8Array> = await compileWasm();
  const inlined: Record<string, string> = { simd: generated.simdWasmBase64, scalar: generated.scalarWasmBase64 };
  expect(Object.keys(builds)).toEqual(['simd', 'scalar', 'simd-shared', 'scalar-shared']);
  for (const [target, base64] of Object.entries(inlined)) {
    expect(Buffer.from(builds[target]).toString('base64') === base64, `the ${target} build is stale`).toBe(true);
    // the threads' build is derived from it at run time: it must be what AssemblyScript emits for a shared memory
    const shared = withSharedMemory(Buffer.from(base64, 'base64'));
    expect(Buffer.from(shared).equals(builds[`${target}-shared`]), `the ${target}-shared build differs`).toBe(true);
  }
  // the whole file too, so the `: string` annotations (which keep the .d.ts small) cannot drift either
  expect(
    readFileSync(GENERATED, 'utf8') === generatedModule(builds),
    `${GENERATED} differs from what the build script writes`,
  ).toBe(true);
}, 600_000); // four builds, the SIMD ones over a minute each (binaryen's optimizer), a core each where there are two;
// with other work on both cores they took over 300 s once

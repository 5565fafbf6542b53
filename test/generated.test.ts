// src/generated/wasm.ts must hold exactly what assembly/ compiles to today.
import { expect, it } from 'vitest';
import { scalarWasmBase64, simdWasmBase64 } from '../src/generated/wasm.js';
// @ts-expect-error: a plain .mjs build script without type declarations
import { compileWasm } from '../scripts/build-wasm.mjs';

it('the inlined wasm is not stale against assembly/ (run `npm run build` if this fails)', async () => {
  const { simd, scalar } = await compileWasm();
  expect(Buffer.from(simd).toString('base64') === simdWasmBase64, 'SIMD build is stale').toBe(true);
  expect(Buffer.from(scalar).toString('base64') === scalarWasmBase64, 'scalar build is stale').toBe(true);
}, 60_000);

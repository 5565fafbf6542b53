// `npm run docs` (TypeDoc over the public entries, typedoc.json) must build with no warning: every
// exported member documented, every link resolved, nothing public referring to an unexported type.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { root, run, tempDir } from '../support/pack.js';

const tmp = tempDir('docs');
afterAll(() => tmp.remove());

it('the API reference builds from the JSDoc without warnings (typedoc.json treats them as errors)', async () => {
  const out = join(tmp.path, 'api');
  const typedoc = join(root, 'node_modules/typedoc/bin/typedoc');
  // run() rejects with TypeDoc's output, which lists each warning, when it exits non-zero
  const { stdout, stderr } = await run(process.execPath, [typedoc, '--out', out], root);
  expect(`${stdout}${stderr}`).not.toMatch(/warning|error/i);
  // both entries are documented under their import names: the core (src/index.ts) and rmsprop-wasm/tfjs (src/tfjs/index.ts)
  expect(readdirSync(join(out, 'modules'))).toEqual(
    expect.arrayContaining(['rmsprop-wasm.html', 'rmsprop-wasm_tfjs.html']),
  );
  // the first page (docs/api-home.md) says what the package is and links both entries
  const home = readFileSync(join(out, 'index.html'), 'utf8');
  expect(home).toContain('The package has two entries');
  expect(home).toContain('href="modules/rmsprop-wasm.html"');
  expect(home).toContain('href="modules/rmsprop-wasm_tfjs.html"');
}, 120_000);

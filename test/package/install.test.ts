// The package as users install it today: from the tarball `npm pack` writes, and from a git URL
// (npm clones the repository, installs its dev dependencies, runs `prepare` to build dist/, then
// packs it). Each install goes into a fresh project outside this repository, and a Node program
// there imports the package by name and must give the same bits as the sources under test.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { BACKENDS } from '../support/helpers.js';
import { freshProject, pack, root, run, tempDir } from '../support/pack.js';
// @ts-expect-error: plain JS shared with the browser pages
import { runFixedCase } from './browser/fixed-case.js';

// What the installed package computes, by ES import and by require; threads: 2 checks that Node
// takes the package's Node platform module (worker_threads), not the browser one.
const PROGRAM = (load: string) => `${load}
const results = [];
for (const backend of ${JSON.stringify(BACKENDS)}) results.push(await runFixedCase(RMSProp, backend));
const threaded = await runFixedCase(RMSProp, 'simd', 2);
console.log(JSON.stringify({ available: availableBackends(), results, threaded }));`;
const ESM = PROGRAM(`import { RMSProp, availableBackends } from 'rmsprop-wasm';
import { runFixedCase } from './fixed-case.mjs';`);
// require() of an ES module: Node >= 20.19 and >= 22.12 (engines); the test runs on those only.
const CJS = `const { RMSProp, availableBackends } = require('rmsprop-wasm');
import('./fixed-case.mjs').then(async ({ runFixedCase }) => {
${PROGRAM('')}
});`;

type Output = { available: string[]; results: Array<Record<string, unknown>>; threaded: Record<string, unknown> };

async function runIn(dir: string, file: string, source: string): Promise<Output> {
  copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(dir, 'fixed-case.mjs'));
  writeFileSync(join(dir, file), source);
  const { stdout, stderr } = await run(process.execPath, [file], dir);
  expect(stderr).toBe(''); // no warning either (require of ESM is stable on the tested Node versions)
  return JSON.parse(stdout) as Output;
}

async function expectSameAsSources(output: Output) {
  expect(output.available).toEqual(['simd', 'wasm', 'js']);
  for (const [i, backend] of BACKENDS.entries())
    expect(output.results[i], backend).toEqual(await runFixedCase(RMSProp, backend));
  expect(output.threaded.threads).toBe(2);
  expect({ ...output.threaded, threads: 1 }).toEqual(await runFixedCase(RMSProp, 'simd'));
}

describe('from the packed tarball', () => {
  const tmp = tempDir('tarball');
  let app: string;
  beforeAll(async () => {
    const { tarball } = await pack(tmp.path);
    app = join(tmp.path, 'app');
    mkdirSync(app);
    await freshProject(app, tarball);
  }, 180_000);
  afterAll(() => tmp.remove());

  it('imports (ESM) and steps, with the bits of the sources', async () => {
    await expectSameAsSources(await runIn(app, 'esm.mjs', ESM));
  }, 60_000);

  it('is required (CommonJS) and steps, with the bits of the sources', async () => {
    await expectSameAsSources(await runIn(app, 'cjs.cjs', CJS));
  }, 60_000);

  // Jest runs tests in its own module system, which loads an ES module package only under Node's
  // --experimental-vm-modules (its require() of one from Node 24.9): README.md says so, as here.
  it('runs in Jest with --experimental-vm-modules: imported by an ES module test, and by await import() from a CommonJS one', async () => {
    copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(app, 'fixed-case.mjs'));
    const expected = await Promise.all(BACKENDS.map((backend) => runFixedCase(RMSProp, backend)));
    writeFileSync(join(app, 'expected.json'), JSON.stringify({ expected, backends: BACKENDS }));
    const body = `const { readFileSync } = await import('node:fs');
    const { expected, backends } = JSON.parse(readFileSync(new URL('./expected.json', 'file://' + process.cwd() + '/'), 'utf8'));
    const { runFixedCase } = await import('./fixed-case.mjs');
    for (const [i, backend] of backends.entries()) expect(await runFixedCase(RMSProp, backend)).toEqual(expected[i]);
    const threaded = await runFixedCase(RMSProp, 'simd', 2);
    expect([threaded.threads, { ...threaded, threads: 1 }]).toEqual([2, expected[0]]);`;
    writeFileSync(
      join(app, 'esm.test.mjs'),
      `import { RMSProp } from 'rmsprop-wasm';\ntest('steps', async () => {\n${body}\n});\n`,
    );
    writeFileSync(
      join(app, 'cjs.test.cjs'),
      `test('steps', async () => {\nconst { RMSProp } = await import('rmsprop-wasm');\n${body}\n});\n`,
    );
    const jest = join(root, 'node_modules/jest/bin/jest.js');
    const { stderr } = await run(
      process.execPath,
      [
        '--experimental-vm-modules',
        '--no-warnings',
        jest,
        '--rootDir',
        app,
        '--config',
        '{"transform":{},"testTimeout":60000}',
        '--ci',
      ],
      app,
    );
    expect(stderr).toMatch(/Tests:\s+2 passed, 2 total/);
  }, 120_000);
});

describe('from a git URL', () => {
  const tmp = tempDir('git');
  afterAll(() => tmp.remove());

  // npm clones the committed HEAD: run this after committing to test the work tree's changes.
  it('npm install git+file://<this repository> builds dist/ (prepare) and the package imports and steps', async () => {
    const { stdout: tracked } = await run('git', ['ls-files', 'dist'], root);
    expect(tracked, 'dist/ must not be committed: the git install has to build it').toBe('');
    await freshProject(tmp.path, `git+file://${root.replace(/\/$/, '')}`);
    expect(existsSync(join(tmp.path, 'node_modules/rmsprop-wasm/dist/index.js'))).toBe(true);
    await expectSameAsSources(await runIn(tmp.path, 'esm.mjs', ESM));
  }, 300_000);
});

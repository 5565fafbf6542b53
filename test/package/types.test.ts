// The published types, as a user's compiler sees them: the TypeScript examples of the README and of
// the guides in docs/ (each ```ts block; a ```ts not-in-node: … block is left to the reader) and
// test/types/names.ts (parameter names known to the type system; each `@ts-expect-error` there
// must be an error) compile against the built .d.ts through the package's `exports`, under strict,
// noUncheckedIndexedAccess, exactOptionalPropertyTypes and skipLibCheck: false, with the oldest and
// newest TypeScript the README promises. The TF.js example compiles in a project of its own with the
// DOM lib (TF.js needs it); errors inside TF.js' declarations and their dependencies' (which need
// skipLibCheck under these flags) are not ours and are left out, errors anywhere else count.
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The older compilers are local dev dependencies (test/package/type-compilers/5.0 and 5.4), so that
 * `npm ci` installs them from the lockfile (no network during the test) and the root's `tsc` stays 5.9.
 */
const compilers = join(root, 'test/package/type-compilers');
const COMPILERS = [
  join(compilers, '5.0/node_modules/typescript'),
  join(compilers, '5.4/node_modules/typescript'),
  join(root, 'node_modules/typescript'),
];
let project: string;

/** The ```ts blocks of a Markdown file (README.md, a guide), each as a module that imports what it uses from the package. */
function readmeExamples(readme: string): string[] {
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, code]) => {
    const imports = /from 'rmsprop-wasm/.test(code) ? '' : "import { RMSProp, schedules } from 'rmsprop-wasm';\n";
    return `${imports}${code}\nexport {};\n`;
  });
}

const isTfjs = (code: string) => code.includes("'rmsprop-wasm/tfjs'");

/**
 * The compiler's errors, less those located in third-party declarations (with their continuation
 * lines): this package is linked from outside node_modules, so none of its files is under one.
 */
function ownErrors(output: string): string {
  const kept: string[] = [];
  let keep = true;
  for (const line of output.split('\n')) {
    if (!/^\s/.test(line)) keep = !line.includes('node_modules/');
    if (keep && line.trim()) kept.push(line);
  }
  return kept.join('\n');
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.d.ts')))
    throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  const missing = COMPILERS.filter((compiler) => !existsSync(join(compiler, 'bin/tsc')));
  if (missing.length)
    throw new Error(`${missing.join(', ')} missing: run \`npm ci\` (the lockfile pins every compiler)`);
  project = mkdtempSync(join(tmpdir(), 'rmsprop-types-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules/rmsprop-wasm'), 'dir');
  symlinkSync(join(root, 'node_modules/@tensorflow'), join(project, 'node_modules/@tensorflow'), 'dir');
  writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
  cpSync(join(root, 'test/package/types'), project, { recursive: true });
  const guides = readdirSync(join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`);
  for (const document of ['README.md', ...guides]) {
    const prefix = document
      .replace(/^docs\//, '')
      .replace(/\.md$/, '')
      .toLowerCase();
    readmeExamples(readFileSync(join(root, document), 'utf8')).forEach((code, i) => {
      writeFileSync(join(project, isTfjs(code) ? 'tfjs' : '', `${prefix}-${i + 1}.ts`), code);
    });
  }
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

it('the README has TypeScript examples to check, the TF.js one among them', () => {
  const examples = readmeExamples(readFileSync(join(root, 'README.md'), 'utf8'));
  expect(examples.filter((code) => !isTfjs(code)).length).toBeGreaterThanOrEqual(3);
  expect(examples.filter(isTfjs).length).toBeGreaterThanOrEqual(1);
});

for (const compiler of COMPILERS) {
  it(`the README's and the guides' examples and the typed names compile with TypeScript from ${compiler.slice(root.length)}`, async () => {
    const tsc = join(compiler, 'bin/tsc');
    const from54 = compiler.includes('type-compilers/5.0') ? [] : [join(project, 'ts54')]; // (types/ts54 says why)
    for (const folder of [project, join(project, 'tfjs'), join(project, 'node10'), ...from54]) {
      const result = await promisify(execFile)(process.execPath, [tsc, '-p', folder]).then(
        () => '',
        (error: { stdout?: string; message: string }) => error.stdout || error.message,
      );
      expect(ownErrors(result)).toBe('');
    }
  }, 60_000);
}

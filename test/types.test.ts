// The published types, as a user's compiler sees them: the README's TypeScript examples and
// test/types/names.ts (parameter names known to the type system; each `@ts-expect-error` there
// must be an error) compile against the built .d.ts through the package's `exports`, under strict,
// noUncheckedIndexedAccess, exactOptionalPropertyTypes and skipLibCheck: false, with the oldest and
// newest TypeScript the README promises.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The older compilers live in a project of their own, so that the root's `tsc` stays 5.9. */
const compilers = join(root, 'test/type-compilers');
const COMPILERS = [join(compilers, 'node_modules/typescript-5.0'), join(compilers, 'node_modules/typescript-5.4'), join(root, 'node_modules/typescript')];
let project: string;

/** The ```ts blocks of README.md, each as a module that imports what it uses from the package. */
export function readmeExamples(readme: string): string[] {
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, code]) => {
    const imports = /from 'rmsprop-wasm'/.test(code) ? '' : "import { RMSProp, schedules } from 'rmsprop-wasm';\n";
    return `${imports}${code}\nexport {};\n`;
  });
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.d.ts'))) throw new Error('dist/ is missing: `npm test` builds it with tsc first');
  if (!COMPILERS.every((compiler) => existsSync(compiler))) {
    await promisify(execFile)('npm', ['ci', '--no-audit', '--no-fund', '--prefix', compilers]);
  }
  project = mkdtempSync(join(tmpdir(), 'rmsprop-types-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules/rmsprop-wasm'), 'dir');
  symlinkSync(join(root, 'node_modules/@tensorflow'), join(project, 'node_modules/@tensorflow'), 'dir');
  writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
  cpSync(join(root, 'test/types'), project, { recursive: true });
  readmeExamples(readFileSync(join(root, 'README.md'), 'utf8')).forEach((code, i) => writeFileSync(join(project, `readme-${i + 1}.ts`), code));
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

it('the README has TypeScript examples to check', () => {
  expect(readmeExamples(readFileSync(join(root, 'README.md'), 'utf8')).length).toBeGreaterThanOrEqual(3);
});

for (const compiler of COMPILERS) {
  it(`the README's examples and the typed names compile with TypeScript from ${compiler.slice(root.length)}`, async () => {
    const tsc = join(compiler, 'bin/tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', project]).then(
      () => '',
      (error: { stdout?: string; message: string }) => error.stdout || error.message,
    );
    expect(result).toBe('');
  }, 60_000);
}

// Every ```ts and ```js block of README.md and docs/*.md runs as written: each in a fresh Node process
// against the built package (dist/, through package.json's exports), in an empty folder of its own
// (a block may write files). TypeScript is stripped of its types by esbuild first; test/package/types.test.ts
// type-checks the ts blocks. A ts/js block that cannot run in Node says so in its fence's info
// string, with the reason: ```ts not-in-node: <reason>; it is listed as skipped with that reason, and
// so is every block of another language (```sh, ```python, a plain ``` block), with its language.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transform } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { root, runScript } from '../support/child.js';

interface Example {
  file: string;
  line: number;
  /** The fence's language: `ts`, `js`, `sh`, `python`…, or '' for a plain block. */
  lang: string;
  /** Why the block is not run, if it is not: a ts/js block's `not-in-node: <reason>`, or its language. */
  skip: string | undefined;
  code: string;
}

/** Why a block of another language than ts/js is not run. */
const notRun = (lang: string) =>
  lang === 'sh' ? 'shell commands' : lang === '' ? 'not code: a formula, headers or output' : `${lang}, not JavaScript`;

/** Every fenced block of a Markdown file, with the line it starts on and whether it runs. */
function examples(file: string, markdown: string): Example[] {
  return [...markdown.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```/gm)].map((m) => {
    const lang = m[1]!;
    const runs = lang === 'ts' || lang === 'js';
    return {
      file,
      line: markdown.slice(0, m.index).split('\n').length,
      lang,
      skip: runs ? /not-in-node:\s*(.+)/.exec(m[2]!)?.[1]?.trim() : notRun(lang),
      code: m[3]!,
    };
  });
}

const documents = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const all = documents.flatMap((file) => examples(file, readFileSync(join(root, file), 'utf8')));
const tmp = mkdtempSync(join(tmpdir(), 'rmsprop-doc-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A block as Node runs it: types stripped, working in a folder of its own (imports resolve from the repository's root). */
async function runnable(example: Example, cwd: string): Promise<string> {
  const js =
    example.lang === 'ts'
      ? (await transform(example.code, { loader: 'ts', format: 'esm', target: 'es2022' })).code
      : example.code;
  return `process.chdir(${JSON.stringify(cwd)});\n${js}`;
}

it('the README and the guides have examples to run', () => {
  expect(all.filter((e) => e.file === 'README.md' && !e.skip).length).toBeGreaterThanOrEqual(4);
  // a ts/js block that is not run says why, in words (`not-in-node: <reason>`)
  expect(all.filter((e) => (e.lang === 'ts' || e.lang === 'js') && e.skip !== undefined && e.skip.length < 10)).toEqual(
    [],
  );
  expect(new Set(all.map((e) => e.file)).size).toBeGreaterThanOrEqual(4);
});

describe.each(documents)('%s', (file) => {
  const blocks = all.filter((e) => e.file === file);
  if (blocks.length === 0) it.skip('has no code block', () => {});
  for (const example of blocks) {
    const name = `the ${example.lang || 'plain'} block at line ${example.line} runs in a fresh Node process`;
    if (example.skip) {
      it.skip(`the ${example.lang || 'plain'} block at line ${example.line} is not run: ${example.skip}`, () => {});
      continue;
    }
    it(name, async () => {
      const cwd = mkdtempSync(join(tmp, 'block-'));
      const { status, stdout, stderr } = await runScript(await runnable(example, cwd));
      expect(status, `${file}:${example.line} exited with ${status}\n${stdout}\n${stderr}`).toBe(0);
    }, 120_000);
  }
});

// Every ```ts and ```js block of README.md and docs/*.md runs as written: each in a fresh Node process
// against the built package (dist/, through package.json's exports), in an empty folder of its own
// (a block may write files). TypeScript is stripped of its types by esbuild first; test/types.test.ts
// type-checks the README's blocks. A block that cannot run in Node says so in its fence's info
// string, with the reason: ```ts not-in-node: <reason>; it is listed below as skipped, with that reason.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transform } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { root, runScript } from './child.js';

export interface Example {
  file: string;
  line: number;
  lang: 'ts' | 'js';
  /** Why the block does not run in Node, from its fence (`not-in-node: …`), if it does not. */
  skip: string | undefined;
  code: string;
}

/** The ```ts / ```js blocks of a Markdown file, with the line each starts on. */
export function examples(file: string, markdown: string): Example[] {
  return [...markdown.matchAll(/^```(ts|js)([^\n]*)\n([\s\S]*?)^```/gm)].map((m) => ({
    file,
    line: markdown.slice(0, m.index).split('\n').length,
    lang: m[1] as 'ts' | 'js',
    skip: /not-in-node:\s*(.+)/.exec(m[2]!)?.[1]?.trim(),
    code: m[3]!,
  }));
}

const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const all = documents.flatMap((file) => examples(file, readFileSync(join(root, file), 'utf8')));
const tmp = mkdtempSync(join(tmpdir(), 'rmsprop-doc-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A block as Node runs it: types stripped, working in a folder of its own (imports resolve from the repository's root). */
export async function runnable(example: Example, cwd: string): Promise<string> {
  const js = example.lang === 'ts' ? (await transform(example.code, { loader: 'ts', format: 'esm', target: 'es2022' })).code : example.code;
  return `process.chdir(${JSON.stringify(cwd)});\n${js}`;
}

it('the README and the guides have examples to run', () => {
  expect(all.filter((e) => e.file === 'README.md' && !e.skip).length).toBeGreaterThanOrEqual(4);
  expect(new Set(all.map((e) => e.file)).size).toBeGreaterThanOrEqual(4);
});

describe.each(documents)('%s', (file) => {
  const blocks = all.filter((e) => e.file === file);
  if (blocks.length === 0) it.skip('has no ```ts or ```js block', () => {});
  for (const example of blocks) {
    const name = `the ${example.lang} block at line ${example.line} runs in a fresh Node process`;
    if (example.skip) {
      it.skip(`${name} (skipped: ${example.skip})`, () => {});
      continue;
    }
    it(name, async () => {
      const cwd = mkdtempSync(join(tmp, 'block-'));
      const { status, stdout, stderr } = await runScript(await runnable(example, cwd));
      expect(status, `${file}:${example.line} exited with ${status}\n${stdout}\n${stderr}`).toBe(0);
    }, 120_000);
  }
});

// `npm start` with a bad command line says what is wrong and how to call it, and exits 2: no stack trace.
import { execFile } from 'node:child_process';
import { expect, it } from 'vitest';
import { childEnv, root } from '../support/pack.js';

function npmStart(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      'npm',
      ['start', '--silent', '--', ...args],
      { cwd: root, env: childEnv(), timeout: 60_000 },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

it.each([
  [['--bogus'], /Unknown option '--bogus'/],
  [['--out'], /'--out <value>' argument missing/],
  [['stray'], /Unexpected argument 'stray'/],
  [['--backend', 'gpu'], /unknown backend 'gpu'/],
])(
  'npm start -- %s prints the reason and the usage, and exits 2',
  async (args, reason) => {
    const { code, stdout, stderr } = await npmStart(args as string[]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(reason);
    expect(stderr).toMatch(/^usage: npm start -- \[--quick\]/m);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
  },
  60_000,
);

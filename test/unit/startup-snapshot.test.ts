// A program that imports the package and is built into a V8 startup snapshot (`node --build-snapshot`,
// or a single executable application with "useSnapshot": true), then creates its optimizer once
// restored. Node 20's workers failed ("undefined is not an integer typed array") and Node 22 aborted
// when node:worker_threads had been loaded while the snapshot was built (an audit): the package
// loads it at its first optimizer, not at import.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { doesNotApply, root } from '../support/child.js';

/** The program: imported at build time, run when the snapshot is restored. */
const PROGRAM = `const { RMSProp } = require('./dist/index.js');
require('node:v8').startupSnapshot.setDeserializeMainFunction(async () => {
  const opt = await RMSProp.create({ w: 65536 }, { threads: 2 });
  opt.grads.w.fill(1);
  opt.step();
  console.log(JSON.stringify({ backend: opt.backend, threads: opt.threads, reason: opt.threadsReason, w: opt.params.w[0] }));
  opt.dispose();
});`;

describe.skipIf(
  doesNotApply('startup snapshots', {
    bun: 'Bun has no V8 startup snapshots',
    deno: 'Deno has no node --build-snapshot',
  }),
)('a program in a V8 startup snapshot', () => {
  it('creates a threaded optimizer once restored: 2 threads, the formula’s first step', async () => {
    const { build } = await import('esbuild');
    const folder = mkdtempSync(join(tmpdir(), 'rmsprop-snapshot-'));
    try {
      // A snapshot's entry must be one CommonJS file (it cannot require files): bundled, as users do.
      const bundle = join(folder, 'program.cjs');
      await build({
        stdin: { contents: PROGRAM, resolveDir: root, loader: 'js' },
        bundle: true,
        platform: 'node',
        format: 'cjs',
        outfile: bundle,
        logLevel: 'error',
      });
      const blob = join(folder, 'snapshot.blob');
      const run = (args: string[]) =>
        execFileSync(process.execPath, args, { cwd: folder, encoding: 'utf8', timeout: 60_000 });
      run(['--snapshot-blob', blob, '--build-snapshot', bundle]);
      const result = JSON.parse(run(['--snapshot-blob', blob]).trim().split('\n').pop() ?? '');
      // seed preset from 0: S = 0.1·g², w = −lr·g/√(S + ε), in float64 from the formula
      expect(result).toEqual({ backend: 'simd', threads: 2, w: expect.closeTo(-1e-3 / Math.sqrt(0.1 + 1e-8), 9) });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

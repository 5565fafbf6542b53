// vitest's globalSetup: tests that run the built package (child processes, the package tier) read
// dist/, which `npm run test:unit` and `test:package` build first; a file run alone with vitest does
// not, and a dist/ older than src/ tested the code before the change without a word. In watch mode
// a rerun after an edit rebuilds it first (the check at start alone let reruns test the old code).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TestProject } from 'vitest/node';
import { root } from './child.js';

/** The first source file whose build in dist/ is missing or older than it, or undefined. */
function staleSource(dir: string): string | undefined {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const stale = staleSource(path);
      if (stale) return stale;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const built = join(root, 'dist', relative(join(root, 'src'), path).replace(/\.ts$/, '.js'));
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(path).mtimeMs) return path;
    }
  }
  return undefined;
}

export default function checkDistFresh(project: TestProject): void {
  const stale = staleSource(join(root, 'src'));
  if (stale)
    throw new Error(
      `dist/ is older than ${relative(root, stale)}: build it with \`npx tsc -p .\` (npm run test:unit and test:package do)`,
    );
  project.onTestsRerun(() => {
    const edited = staleSource(join(root, 'src'));
    if (!edited) return;
    console.log(`dist/ is older than ${relative(root, edited)}: rebuilding it (tsc -p .) before the rerun`);
    // (a type error is reported and the watch goes on: a throw here ended vitest)
    const { status } = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
      cwd: root,
      stdio: 'inherit',
    });
    if (status !== 0) console.log(`tsc exited with ${status}: the rerun tests what it built`);
  });
}

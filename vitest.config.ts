// Two tiers (`vitest run --project unit` / `--project package`):
// - unit: every promise of the library in Node, from src/ and the built dist/ in fresh child processes;
// - package: the package as users get it (packed, installed, bundled, in Chromium, the site, the
//   types under each TypeScript the README promises, the API docs, the demo and the example).
// Tests time nothing (speed lives in bench/): a test's timeout only catches a hang. It leaves room
// for a loaded 2-core machine, where vitest's default of 5 s failed correct but heavy tests
// (100 000 js steps; a 512 K-element threaded step with workers asleep) while other work ran.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    globalSetup: ['test/support/dist-fresh.ts'],
    projects: [
      // Two files at a time: vitest's default leaves a core idle on 2 (cores − 1), and the unit tier's
      // heavy files wait mostly on child processes of their own.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: 2 } },
      { extends: true, test: { name: 'package', include: ['test/package/**/*.test.ts'] } },
    ],
  },
});

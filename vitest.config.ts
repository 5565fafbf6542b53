// Tests time nothing (speed lives in bench/): a test's timeout only catches a hang. It leaves room
// for a loaded 2-core machine, where vitest's default of 5 s failed correct but heavy tests
// (100 000 js steps; a 512 K-element threaded step with workers asleep) while other work ran.
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { testTimeout: 30_000 } });

// .ci/run runs this tier on Node, Bun and Deno, and says which in RMSPROP_TEST_RUNTIME: the tests
// (in vitest's worker processes) and the fresh processes they start must run on that runtime, not
// on a Node that a launcher or a child_process shim put in its place.
import { describe, expect, it } from 'vitest';
import { RMSProp } from '../../src/index.js';
import { runForJson, runtime } from '../support/child.js';

const expected = process.env.RMSPROP_TEST_RUNTIME;
if (!expected) console.warn('skipped: the runtime checks run under .ci/run, which sets RMSPROP_TEST_RUNTIME');

describe.skipIf(!expected)(`the runtime .ci/run asked for (${expected})`, () => {
  it('runs the tests', () => {
    expect(runtime).toBe(expected);
  });

  it('runs the fresh processes, and gives them 2 threads', async () => {
    const child = await runForJson<{ runtime: string; threads: number }>(`
      import { RMSProp } from 'rmsprop-wasm';
      const opt = await RMSProp.create({ w: 4 }, { threads: 2 });
      const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';
      console.log(JSON.stringify({ runtime, threads: opt.threads }));
      opt.dispose();`);
    expect(child).toEqual({ runtime: expected, threads: 2 });
    const here = await RMSProp.create({ w: 4 }, { threads: 2 });
    expect(here.threads).toBe(2);
    here.dispose();
  });
});

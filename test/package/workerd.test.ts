// Cloudflare Workers' runtime, workerd, runs wasm only as a module the program imports: it refuses
// `new WebAssembly.Module(bytes)` and `WebAssembly.compile`, so the inlined builds cannot run there,
// and the optimizer took js telling the user to fix a page's CSP (an audit). The packed package in a
// fresh project, a Worker that imports 'rmsprop-wasm/simd.wasm' and '…/scalar.wasm' (bundled as
// wrangler bundles: esbuild, the .wasm imports resolved through the package's exports and left as
// modules) and hands them to RMSProp.ready({ modules }), run by `workerd test`: each backend's bits
// must equal what the sources give in Node.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { availableBackends, RMSProp } from '../../src/index.js';
import { BACKENDS } from '../support/helpers.js';
import { freshProject, pack, root, run, tempDir } from '../support/pack.js';
// @ts-expect-error: plain JS shared with the browser pages
import { runFixedCase } from './browser/fixed-case.js';

const tmp = tempDir('workerd');
afterAll(() => tmp.remove());

const WORKER = `import simd from 'rmsprop-wasm/simd.wasm';
import scalar from 'rmsprop-wasm/scalar.wasm';
import { RMSProp, availableBackends } from 'rmsprop-wasm';
import { runFixedCase } from './fixed-case.js';

export default {
  async test() {
    const before = { available: availableBackends(), auto: await runFixedCase(RMSProp, 'auto') };
    const opt = await RMSProp.create({ w: 8 });
    before.reason = opt.backendReason;
    opt.dispose();
    await RMSProp.ready({ modules: { simd, wasm: scalar } });
    const results = [];
    for (const backend of ${JSON.stringify(BACKENDS)}) results.push(await runFixedCase(RMSProp, backend));
    const threaded = await runFixedCase(RMSProp, 'auto', 2);
    console.log(JSON.stringify({ before, available: availableBackends(), results, threaded }));
  },
};
`;

const CONFIG = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "main", worker = .worker)]);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "simd.wasm", wasm = embed "simd.wasm"),
    (name = "scalar.wasm", wasm = embed "scalar.wasm"),
  ],
  compatibilityDate = "2026-07-01",
);
`;

let output: {
  before: { available: string[]; auto: Record<string, unknown>; reason: string };
  available: string[];
  results: Array<Record<string, unknown>>;
  threaded: Record<string, unknown>;
};

beforeAll(async () => {
  const app = join(tmp.path, 'app');
  const out = join(tmp.path, 'out');
  mkdirSync(join(app, 'src'), { recursive: true });
  mkdirSync(out);
  await freshProject(app, (await pack(tmp.path)).tarball);
  writeFileSync(join(app, 'src', 'worker.js'), WORKER);
  copyFileSync(join(root, 'test/package/browser/fixed-case.js'), join(app, 'src', 'fixed-case.js'));
  // wrangler's way with `import x from '….wasm'`: resolved as any import, then left as a module of the Worker
  const wasmModules: esbuild.Plugin = {
    name: 'wasm-modules',
    setup(build) {
      build.onResolve({ filter: /\.wasm$/ }, async ({ path, resolveDir, kind, pluginData }) => {
        if (pluginData) return undefined;
        const resolved = await build.resolve(path, { resolveDir, kind, pluginData: true });
        if (resolved.errors.length) return { errors: resolved.errors };
        copyFileSync(resolved.path, join(out, basename(resolved.path)));
        return { path: `./${basename(resolved.path)}`, external: true };
      });
    },
  };
  await esbuild.build({
    absWorkingDir: app,
    entryPoints: ['src/worker.js'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    outfile: join(out, 'worker.js'),
    plugins: [wasmModules],
    logLevel: 'silent',
  });
  writeFileSync(join(out, 'config.capnp'), CONFIG);
  const { stdout } = await run(join(root, 'node_modules/.bin/workerd'), ['test', 'config.capnp'], out);
  output = JSON.parse(stdout.trim().split('\n').pop()!);
}, 300_000);

it('workerd refuses to compile the inlined builds: js, and the reason says what to do', async () => {
  expect(output.before.available).toEqual(['js']);
  expect(output.before.reason).toMatch(
    /\(Cloudflare Workers\), hand the package's modules to RMSProp\.ready\(\{ modules \}\)/,
  );
  expect(output.before.auto).toEqual(await runFixedCase(RMSProp, 'js'));
});

it('the modules it imports run every backend there, bit-identical to the sources in Node', async () => {
  expect(output.available).toEqual(availableBackends());
  for (const [i, backend] of BACKENDS.entries()) {
    expect(output.results[i], backend).toEqual(await runFixedCase(RMSProp, backend));
  }
  // no Web Workers in workerd: one thread, saying so, on simd
  const { threadsReason, ...threaded } = output.threaded;
  expect(threadsReason).toBe('this runtime has no Web Workers');
  expect(threaded).toEqual({ ...(await runFixedCase(RMSProp, 'simd')), threadsReason: undefined });
});

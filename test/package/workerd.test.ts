// Cloudflare Workers' runtime, workerd, compiles wasm bytes only while a Worker starts (its top
// level), and there synchronously: in a handler it refuses `new WebAssembly.Module(bytes)` and
// `WebAssembly.compile`, and an awaited compile at the top level never settles. The optimizer took js
// in handlers, telling the user to fix a page's CSP (an audit). The packed package in a fresh
// project, three Workers bundled as wrangler bundles them (esbuild; a .wasm import resolved through
// the package's exports and left as a module), run by `workerd test`:
//   modules  docs/cloudflare-workers.md's: imports 'rmsprop-wasm/simd.wasm' and '…/scalar.wasm',
//            readies and creates at the top level, steps in its handler
//   plain    nothing at the top level: js in the handler, saying what to do
//   top      creates at the top level without modules: compiled there at once, simd
// and two with the compatibility date 2021-11-03, whose globals have no navigator (from 2022-03-21):
//   old         compiles nothing even at the top level (workerd does from 2025-06-01): js with the
//               Worker's reason, then simd from the modules its handler hands to ready
//   oldStartup  top's, with the flag that 2025-06-01 brings (allow_eval_during_startup): simd
// and two with nodejs_compat, bundled for Node (WRANGLER_BUILD_PLATFORM=node, as OpenNext asks: no
// `browser` field, so the package's Node platform module runs there):
//   nodeJan  2026-01-01, where process.getBuiltinModule('node:worker_threads') is undefined
//   nodeJul  2026-07-01, where node:worker_threads is a stub whose Worker throws
// Each backend's bits must equal what the sources give in Node.
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

const IMPORTS = `import { RMSProp, availableBackends } from 'rmsprop-wasm';
import { runFixedCase } from './fixed-case.js';`;
const report = (fields: string) => `export default { async test() { ${fields} } };\n`;

const WORKERS = {
  modules: `import simd from 'rmsprop-wasm/simd.wasm';
import scalar from 'rmsprop-wasm/scalar.wasm';
${IMPORTS}
await RMSProp.ready({ modules: { simd, wasm: scalar } });
const kept = await RMSProp.create({ w: 4 }, { lr: 0.1 });
${report(`const results = [];
    for (const backend of ${JSON.stringify(BACKENDS)}) results.push(await runFixedCase(RMSProp, backend));
    const threaded = await runFixedCase(RMSProp, 'auto', 2);
    kept.grads.w.fill(1);
    kept.step();
    const top = { backend: kept.backend, steps: kept.stepCount, w: Array.from(kept.params.w) };
    console.log(JSON.stringify({ modules: { available: availableBackends(), results, threaded, top } }));`)}`,
  plain: `${IMPORTS}
${report(`const available = availableBackends();
    const auto = await runFixedCase(RMSProp, 'auto');
    const opt = await RMSProp.create({ w: 8 });
    console.log(JSON.stringify({ plain: { available, auto, reason: opt.backendReason } }));`)}`,
  top: `${IMPORTS}
const kept = await RMSProp.create({ w: 4 }, { lr: 0.1 });
${report(`const wasm = await RMSProp.create({ w: 4 }, { backend: 'wasm' }).then(() => 'created', (error) => error.message);
    const auto = await runFixedCase(RMSProp, 'auto');
    console.log(JSON.stringify({ top: { backend: kept.backend, wasm, auto } }));`)}`,
};
const OLD_WORKERS = {
  old: `import simd from 'rmsprop-wasm/simd.wasm';
${IMPORTS}
const kept = await RMSProp.create({ w: 4 }, { lr: 0.1 });
${report(`await RMSProp.ready({ modules: { simd } });
    const auto = await runFixedCase(RMSProp, 'auto');
    console.log(JSON.stringify({ old: { backend: kept.backend, reason: kept.backendReason, auto } }));`)}`,
  oldStartup: WORKERS.top.replace('{ top:', '{ oldStartup:'),
};
const nodeCompat = (name: string) => `import simd from 'rmsprop-wasm/simd.wasm';
${IMPORTS}
await RMSProp.ready({ modules: { simd } });
${report(`const threaded = await runFixedCase(RMSProp, 'auto', 2);
    console.log(JSON.stringify({ ${name}: { threaded } }));`)}`;
const NODE_WORKERS = { nodeJan: nodeCompat('nodeJan'), nodeJul: nodeCompat('nodeJul') };

const CONFIG = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [
  (name = "modules", worker = .modules), (name = "plain", worker = .plain), (name = "top", worker = .top),
]);
const modules :Workerd.Worker = (
  modules = [
    (name = "modules.js", esModule = embed "modules.js"),
    (name = "simd.wasm", wasm = embed "simd.wasm"),
    (name = "scalar.wasm", wasm = embed "scalar.wasm"),
  ],
  compatibilityDate = "2026-07-01",
);
const plain :Workerd.Worker = (modules = [(name = "plain.js", esModule = embed "plain.js")], compatibilityDate = "2026-07-01");
const top :Workerd.Worker = (modules = [(name = "top.js", esModule = embed "top.js")], compatibilityDate = "2026-07-01");
`;
// (a Worker that fails to start stops the others: these run in a workerd of their own)
const OLD_CONFIG = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "old", worker = .old), (name = "oldStartup", worker = .oldStartup)]);
const old :Workerd.Worker = (
  modules = [(name = "old.js", esModule = embed "old.js"), (name = "simd.wasm", wasm = embed "simd.wasm")],
  compatibilityDate = "2021-11-03",
);
const oldStartup :Workerd.Worker = (
  modules = [(name = "oldStartup.js", esModule = embed "oldStartup.js")],
  compatibilityDate = "2021-11-03",
  compatibilityFlags = ["allow_eval_during_startup"],
);
`;
const NODE_CONFIG = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "nodeJan", worker = .nodeJan), (name = "nodeJul", worker = .nodeJul)]);
const nodeJan :Workerd.Worker = (
  modules = [(name = "nodeJan.js", esModule = embed "node/nodeJan.js"), (name = "simd.wasm", wasm = embed "simd.wasm")],
  compatibilityDate = "2026-01-01",
  compatibilityFlags = ["nodejs_compat"],
);
const nodeJul :Workerd.Worker = (
  modules = [(name = "nodeJul.js", esModule = embed "node/nodeJul.js"), (name = "simd.wasm", wasm = embed "simd.wasm")],
  compatibilityDate = "2026-07-01",
  compatibilityFlags = ["nodejs_compat"],
);
`;

type Run = Record<string, unknown>;
const output: {
  modules?: {
    available: string[];
    results: Run[];
    threaded: Run;
    top: { backend: string; steps: number; w: number[] };
  };
  plain?: { available: string[]; auto: Run; reason: string };
  top?: { backend: string; wasm: string; auto: Run };
  old?: { backend: string; reason: string; auto: Run };
  oldStartup?: { backend: string; wasm: string; auto: Run };
  nodeJan?: { threaded: Run };
  nodeJul?: { threaded: Run };
} = {};
/** How the old-date Workers' workerd failed, if it did; and the nodejs_compat ones'. */
let oldFailed = '';
let nodeFailed = '';

beforeAll(async () => {
  const app = join(tmp.path, 'app');
  const out = join(tmp.path, 'out');
  mkdirSync(join(app, 'src'), { recursive: true });
  mkdirSync(out);
  await freshProject(app, (await pack(tmp.path)).tarball);
  for (const [name, source] of Object.entries({ ...WORKERS, ...OLD_WORKERS, ...NODE_WORKERS }))
    writeFileSync(join(app, 'src', `${name}.js`), source);
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
    entryPoints: Object.keys({ ...WORKERS, ...OLD_WORKERS }).map((name) => `src/${name}.js`),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    outdir: out,
    plugins: [wasmModules],
    logLevel: 'silent',
  });
  // = WRANGLER_BUILD_PLATFORM=node: Node's resolution (no `browser` field), node: built-ins left to nodejs_compat
  await esbuild.build({
    absWorkingDir: app,
    entryPoints: Object.keys(NODE_WORKERS).map((name) => `src/${name}.js`),
    bundle: true,
    format: 'esm',
    platform: 'node',
    conditions: ['workerd', 'worker'],
    outdir: join(out, 'node'),
    plugins: [wasmModules],
    logLevel: 'silent',
  });
  writeFileSync(join(out, 'config.capnp'), CONFIG);
  writeFileSync(join(out, 'old.capnp'), OLD_CONFIG);
  writeFileSync(join(out, 'node.capnp'), NODE_CONFIG);
  const workerd = (config: string) => run(join(root, 'node_modules/.bin/workerd'), ['test', config], out);
  const { stdout } = await workerd('config.capnp');
  const old = await workerd('old.capnp').catch((error: Error) => {
    oldFailed = error.message;
    return { stdout: '' };
  });
  const node = await workerd('node.capnp').catch((error: Error) => {
    nodeFailed = error.message;
    return { stdout: '' };
  });
  for (const line of `${stdout}\n${old.stdout}\n${node.stdout}`.split('\n').filter((l) => l.startsWith('{')))
    Object.assign(output, JSON.parse(line));
}, 300_000);

it('in a handler workerd refuses to compile the inlined builds: js, and the reason says what to do', async () => {
  expect(output.plain?.available).toEqual(['js']);
  expect(output.plain?.reason).toMatch(
    /^this Cloudflare Worker compiles no WebAssembly in a request's handler \(nor at its top level before compatibility date 2025-06-01\): hand the package's modules to RMSProp\.ready\(\{ modules \}\), or create the optimizer \(or await RMSProp\.ready\(\)\) at the Worker's top level \(/,
  );
  expect(output.plain?.auto).toEqual(await runFixedCase(RMSProp, 'js'));
});

it('the modules a Worker imports run every backend there, bit-identical to the sources in Node', async () => {
  const { available, results, threaded: withThreads, top } = output.modules!;
  expect(available).toEqual(availableBackends());
  for (const [i, backend] of BACKENDS.entries()) {
    expect(results[i], backend).toEqual(await runFixedCase(RMSProp, backend));
  }
  // no Web Workers in workerd: one thread, saying so, on simd
  const { threadsReason, ...threaded } = withThreads;
  expect(threadsReason).toBe('this runtime has no Web Workers');
  expect(threaded).toEqual({ ...(await runFixedCase(RMSProp, 'simd')), threadsReason: undefined });
  // made at the top level, stepped in the handler: as in Node
  const inNode = await RMSProp.create({ w: 4 }, { lr: 0.1 });
  inNode.grads.w.fill(1);
  inNode.step();
  expect(top).toEqual({ backend: 'simd', steps: 1, w: Array.from(inNode.params.w) });
  inNode.dispose();
});

// (a review: a refused compile in a handler made 'auto' take js there after, simd compiled all the same)
it('an optimizer created at the top level without modules compiles simd there, and handlers then run it', async () => {
  expect(output.top?.backend).toBe('simd');
  expect(output.top?.wasm).toMatch(/^backend 'wasm' is not available: this Cloudflare Worker compiles no WebAssembly/);
  expect(output.top?.auto).toEqual(await runFixedCase(RMSProp, 'simd'));
});

// (the package knew workerd by navigator.userAgent, which a Worker has from compatibility date
// 2022-03-21: before, a top-level create awaited a compile, and the Worker failed to start, "unsettled")
it('a Worker dated before navigator (2021-11-03) compiles at the top level where workerd lets it, else says what to do', async () => {
  expect(oldFailed).toBe('');
  expect(output.oldStartup).toEqual({
    backend: 'simd',
    wasm: expect.stringMatching(/^backend 'wasm' is not available: this Cloudflare Worker compiles no WebAssembly/),
    auto: await runFixedCase(RMSProp, 'simd'),
  });
  expect(output.old?.backend).toBe('js');
  expect(output.old?.reason).toMatch(
    /^this Cloudflare Worker compiles no WebAssembly in a request's handler \(nor at its top level before compatibility date 2025-06-01\): hand the package's modules to RMSProp\.ready\(\{ modules \}\)/,
  );
  expect(output.old?.auto).toEqual(await runFixedCase(RMSProp, 'simd'));
});

// (a review: bundled for Node, the package read node:worker_threads from process.getBuiltinModule at
// import, which nodejs_compat gives as undefined at some dates, and the Worker failed to start)
it.each(['nodeJan', 'nodeJul'] as const)(
  "%s: nodejs_compat, bundled for Node: the package loads, simd from the modules, one thread saying why, Node's bits",
  async (name) => {
    expect(nodeFailed).toBe('');
    const { threads, threadsReason, ...bits } = output[name]!.threaded;
    expect(threads).toBe(1);
    expect(threadsReason).toMatch(
      name === 'nodeJan'
        ? /^this runtime \(Node [\d.]+\) has no node:worker_threads$/
        : /^threads run the shared-memory build of 'simd', which this runtime refuses to compile/,
    );
    expect({ ...bits, threads: 1, threadsReason: null }).toEqual(await runFixedCase(RMSProp, 'simd'));
  },
);

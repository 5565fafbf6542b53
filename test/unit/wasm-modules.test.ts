// Runtimes that run wasm only as a module the program imports (Cloudflare Workers' workerd refuses
// `new WebAssembly.Module(bytes)` and `WebAssembly.compile`, "Wasm code generation disallowed by
// embedder"): an audit found the optimizer on js there, told to fix a page's CSP. The package ships
// its builds as files (wasm/) for such a program to import and hand to RMSProp.ready({ modules }).
// Simulated in a fresh Node process whose WebAssembly compiles nothing from bytes; the package tier
// runs the same in workerd itself (test/package/workerd.test.ts).
import { expect, it } from 'vitest';
import { runForJson } from '../support/child.js';

/** A child's first lines: its WebAssembly compiles nothing from bytes, refusing with `message`; `real` is the one it had. */
const refusingWasm = (message: string) => `
    const real = WebAssembly;
    const refuse = () => { throw new real.CompileError(${JSON.stringify(message)}); };
    function Module() { refuse(); }
    Module.prototype = real.Module.prototype;
    for (const key of ['customSections', 'exports', 'imports']) Module[key] = real.Module[key];
    globalThis.WebAssembly = {
      ...Object.fromEntries(Object.getOwnPropertyNames(real).map((key) => [key, real[key]])),
      Module,
      compile: async () => refuse(),
      compileStreaming: async () => refuse(),
      instantiate: async (x, imports) => (x instanceof real.Module ? real.instantiate(x, imports) : refuse()),
    };`;

it('a runtime that refuses to compile bytes runs the builds handed to ready({ modules }), bit-identical to js', async () => {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const file = (name: string) => new URL(`../../wasm/${name}`, import.meta.url).href;
  const result = await runForJson<{
    before: { available: string[]; backend: string; reason: string };
    refused: Array<[string, string, string[]]>;
    after: string[];
    threaded: unknown[];
    runs: Array<{ asked: string; backend: string; bits: string }>;
    sync: string;
  }>(`
    import { readFileSync } from 'node:fs';
    import { createHash } from 'node:crypto';
    const simd = new WebAssembly.Module(readFileSync(new URL('${file('simd.wasm')}')));
    const scalar = new WebAssembly.Module(readFileSync(new URL('${file('scalar.wasm')}')));
    ${refusingWasm('WebAssembly.Module(): Wasm code generation disallowed by embedder')}
    const { RMSProp, availableBackends } = await import('${entry}');
    const fallback = await RMSProp.create({ w: 10 });
    const before = { available: availableBackends(), backend: fallback.backend, reason: fallback.backendReason };
    const refused = [];
    for (const options of [
      { modules: { simd: readFileSync(new URL('${file('simd.wasm')}')) } },
      { modules: { simd: scalar } },
      { modules: { simd, wasm: simd } },
      { modules: { scalar } },
      { modules: 'simd' },
      { modules: { simd }, threads: 0 },
      { modules: { wasm: scalar }, backend: 'simd' },
      { modules: { simd: undefined } },
      { modules: { scalar: undefined } },
    ]) {
      try {
        await RMSProp.ready(options);
        refused.push(['none', '', availableBackends()]);
      } catch (error) {
        refused.push([error.name, error.message, availableBackends()]);
      }
    }
    await RMSProp.ready({ modules: { simd, wasm: scalar } });
    await RMSProp.ready({ modules: { simd, wasm: scalar }, threads: 2 }); // (again, and threads: see below)
    const after = availableBackends();
    // threads run the shared-memory build, which this runtime cannot compile: one thread, saying why
    const threaded = [await RMSProp.create({ w: 70000 }, { threads: 2 }), RMSProp.createSync({ w: 70000 }, { threads: 'auto' })]
      .map((opt) => [opt.backend, opt.threads, opt.threadsReason]);
    const runs = [];
    for (const asked of ['auto', 'simd', 'wasm', 'js']) {
      const opt = await RMSProp.create({ w: 5000, b: 7 }, { backend: asked, centered: true, momentum: 0.9, lr: 0.01 });
      opt.params.w.forEach((_, i, w) => { w[i] = Math.sin(i * 0.37); });
      opt.params.b.forEach((_, i, b) => { b[i] = i / 7; });
      for (let step = 0; step < 3; step++) {
        opt.grads.w.set(opt.params.w);
        opt.grads.b.forEach((_, i, g) => { g[i] = opt.params.b[i] - 1; });
        opt.step();
      }
      const hash = createHash('sha256');
      for (const array of [opt.params.w, opt.params.b, ...Object.values(opt.state.w)]) hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
      runs.push({ asked, backend: opt.backend, bits: hash.digest('hex') });
      opt.dispose();
    }
    const sync = RMSProp.createSync({ w: 10 }, { backend: 'wasm' }).backend;
    console.log(JSON.stringify({ before, refused, after, threaded, runs, sync }));`);
  expect(result.before).toEqual({
    available: ['js'],
    backend: 'js',
    reason: expect.stringMatching(
      /Cloudflare Workers, Next\.js' Edge Runtime\), hand the package's modules to RMSProp\.ready\(\{ modules \}\)/,
    ),
  });
  const takenNone = ['js'];
  expect(result.refused).toEqual([
    ['TypeError', expect.stringMatching(/^modules\.simd must be a WebAssembly\.Module .*got a Buffer$/), takenNone],
    [
      'RangeError',
      expect.stringMatching(
        /^modules\.simd is not rmsprop-wasm\/simd\.wasm of this version .*build 'scalar [0-9a-f]{16}'/,
      ),
      takenNone,
    ],
    ['RangeError', expect.stringMatching(/^modules\.wasm is not rmsprop-wasm\/scalar\.wasm/), takenNone],
    [
      'TypeError',
      'modules.scalar: no such build (modules.simd takes rmsprop-wasm/simd.wasm, modules.wasm rmsprop-wasm/scalar.wasm)',
      takenNone,
    ],
    ['TypeError', 'modules must be an object, { simd, wasm } (WebAssembly.Modules), got "simd"', takenNone],
    ['RangeError', expect.stringMatching(/'threads'/), takenNone],
    // a call that throws after taking them puts them back
    [
      'Error',
      expect.stringMatching(
        /^backend 'simd' is not available: modules\.simd was not handed to RMSProp\.ready \(only modules\.wasm\): this runtime refuses/,
      ),
      takenNone,
    ],
    ['none', '', takenNone], // an entry undefined is absent
    ['TypeError', expect.stringMatching(/^modules\.scalar: no such build/), takenNone], // (a name checked all the same)
  ]);
  expect(result.after).toEqual(['simd', 'wasm', 'js']);
  const oneThread = [
    'simd',
    1,
    expect.stringMatching(/^threads run the shared-memory build of 'simd', which this runtime refuses to compile/),
  ];
  expect(result.threaded).toEqual([oneThread, oneThread]);
  expect(result.runs.map((run) => [run.asked, run.backend])).toEqual([
    ['auto', 'simd'],
    ['simd', 'simd'],
    ['wasm', 'wasm'],
    ['js', 'js'],
  ]);
  for (const run of result.runs) expect(run.bits, run.asked).toBe(result.runs[3].bits);
  expect(result.sync).toBe('wasm');
});

// Next.js' Edge sandbox (next dev, next start) compiles the .wasm a route imports in its host realm:
// `instanceof WebAssembly.Module` is false inside, and ready() refused the package's own build as "not
// a WebAssembly.Module, got a WebAssembly.Module" (an audit). Simulated with a module from a vm context.
it('a build compiled in another realm is taken, bit-identical to js; an object made to look like one is refused', async () => {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const file = new URL('../../wasm/simd.wasm', import.meta.url).href;
  const result = await runForJson<{ instance: boolean; refused: string[]; backend: string; same: boolean }>(`
    import { readFileSync } from 'node:fs';
    import { runInNewContext } from 'node:vm';
    const simd = runInNewContext('new WebAssembly.Module(bytes)', { bytes: readFileSync(new URL('${file}')) });
    const instance = simd instanceof WebAssembly.Module;
    ${refusingWasm('WebAssembly.Module(): Wasm code generation disallowed by embedder')}
    const { RMSProp } = await import('${entry}');
    const refused = [];
    try {
      await RMSProp.ready({ modules: { simd: Object.create(WebAssembly.Module.prototype) } });
    } catch (error) {
      refused.push(error.name, error.message);
    }
    await RMSProp.ready({ modules: { simd } });
    const run = async (backend) => {
      const opt = await RMSProp.create({ w: 1000 }, { backend, momentum: 0.9 });
      opt.params.w.forEach((_, i, w) => { w[i] = Math.cos(i); });
      for (let step = 0; step < 3; step++) { opt.grads.w.set(opt.params.w); opt.step(); }
      return [opt.backend, Array.from(opt.params.w)];
    };
    const [[backend, simdBits], [, jsBits]] = [await run('simd'), await run('js')];
    console.log(JSON.stringify({ instance, refused, backend, same: simdBits.every((v, i) => Object.is(v, jsBits[i])) }));`);
  expect(result).toEqual({
    instance: false, // (the realm this simulates)
    refused: ['TypeError', expect.stringMatching(/^modules\.simd must be a WebAssembly\.Module .*got /)],
    backend: 'simd',
    same: true,
  });
});

// A Worker's top level compiles (workerd from 2025-06-01), its handlers do not: an optimizer with
// threads made in a handler ran js under 'auto' (and a forced backend threw) where a Worker bundled
// for Node under nodejs_compat had worker_threads (a review), though the one-thread build compiled at
// the top level runs. Simulated with a WebAssembly that compiles until told to refuse.
it('compiling refused after the one-thread build compiled: threads run that build on one thread, saying why', async () => {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const result = await runForJson<{ runs: Array<[string, number, string]>; same: boolean }>(`
    ${refusingWasm('WebAssembly.Module(): Wasm code generation disallowed by embedder')}
    const refusing = globalThis.WebAssembly;
    globalThis.WebAssembly = real; // the top level: compiling allowed
    const { RMSProp } = await import('${entry}');
    (await RMSProp.create({ w: 10 })).dispose(); // compiles simd's one-thread build
    globalThis.WebAssembly = refusing; // a handler
    const runs = [];
    let bits;
    for (const [backend, sync] of [['auto', false], ['simd', false], ['auto', true]]) {
      const options = { backend, threads: 2, momentum: 0.9 };
      if (sync) await RMSProp.ready(options);
      const opt = sync ? RMSProp.createSync({ w: 70000 }, options) : await RMSProp.create({ w: 70000 }, options);
      opt.params.w.forEach((_, i, w) => { w[i] = Math.sin(i); });
      for (let step = 0; step < 3; step++) { opt.grads.w.set(opt.params.w); opt.step(); }
      runs.push([opt.backend, opt.threads, opt.threadsReason]);
      bits ??= Array.from(opt.params.w);
      opt.dispose();
    }
    const js = await RMSProp.create({ w: 70000 }, { backend: 'js', momentum: 0.9 });
    js.params.w.forEach((_, i, w) => { w[i] = Math.sin(i); });
    for (let step = 0; step < 3; step++) { js.grads.w.set(js.params.w); js.step(); }
    console.log(JSON.stringify({ runs, same: bits.every((v, i) => Object.is(v, js.params.w[i])) }));`);
  const oneThread = [
    'simd',
    1,
    expect.stringMatching(/^threads run the shared-memory build of 'simd', which this runtime refuses to compile/),
  ];
  expect(result).toEqual({ runs: [oneThread, oneThread, oneThread], same: true });
});

// A browser extension's pages and service worker under Manifest V3's default CSP (script-src 'self')
// refuse wasm; the reason told them to fix "the page's" CSP, where the fix is a manifest key (an audit
// in Chromium). Simulated as above, with the extension's location.
it("in a browser extension that refuses wasm, the reason names the manifest's key", async () => {
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const { backend, reason } = await runForJson<{ backend: string; reason: string }>(`
    ${refusingWasm('WebAssembly.Module(): ')}
    globalThis.location = { protocol: 'chrome-extension:' };
    const { RMSProp } = await import('${entry}');
    const opt = await RMSProp.create({ w: 10 });
    console.log(JSON.stringify({ backend: opt.backend, reason: opt.backendReason }));`);
  expect(backend).toBe('js');
  expect(reason).toBe(
    "this extension refuses to compile WebAssembly: its pages and background (or service worker) need 'wasm-unsafe-eval' in manifest.json's content_security_policy.extension_pages (Manifest V3's default, script-src 'self', refuses it) (WebAssembly.Module())",
  );
});

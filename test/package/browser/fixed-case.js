// One fixed optimisation run, executed both in Node and in a real browser page; it returns the raw
// bits of the parameters and every state array for each backend. `sync`: created as TF.js' adapter
// does (ready, then createSync), with a pause after each step, where a refused worker's news arrives.
export async function runFixedCase(RMSProp, backend, threads = 1, sync = false) {
  const n = 67;
  const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * (i % 5 === 0 ? 1e-3 : 1));
  const b = new Float32Array([0.5, -0.25, 0, -0]);
  const params = { w, b, z: 9 };
  const options = {
    backend,
    threads,
    preset: 'pytorch',
    lr: 0.01,
    centered: true,
    momentum: 0.9,
    weightDecay: 0.01,
    maximize: false,
    nonFinite: 'skip',
  };
  if (sync) await RMSProp.ready(options);
  const opt = sync ? RMSProp.createSync(params, options) : await RMSProp.create(params, options);
  const skipped = [];
  for (let k = 1; k <= 10; k++) {
    if (sync) await new Promise((resolve) => setTimeout(resolve, 20));
    const gw = Float32Array.from({ length: n }, (_, i) => Math.cos(i * k) * (i % 7 === 0 ? 1e-6 : 1));
    if (k === 4) gw[30] = NaN; // this step must change nothing
    opt.grads.z.fill(k % 3 === 0 ? 0 : 1 / k);
    if (!opt.step({ w: gw, b: new Float32Array([k, -k, 1e-40, 0]), z: opt.grads.z })) skipped.push(k);
  }
  const bits = (a) => Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));
  const out = {
    backend: opt.backend,
    threads: opt.threads,
    threadsReason: opt.threadsReason ?? null,
    skipped,
    steps: opt.stepCount,
  };
  for (const name of ['w', 'b', 'z']) {
    out[name] = bits(opt.params[name]);
    for (const [key, array] of Object.entries(opt.state[name])) out[`${name}.${key}`] = bits(array);
  }
  opt.dispose();
  return out;
}

// The one function a test page gives the test (browser/check.js unbundled, bundlers/page.js bundled):
// the fixed case on each backend, and what 'auto' picks there and why it did not pick the fastest.
export function exposeCheck(RMSProp, availableBackends) {
  const failure = (error) => ({ error: `${error?.name}: ${error?.message}` });
  globalThis.rmspropCheck = async ({ backends, threads, sync }) => {
    const results = [];
    for (const backend of backends) results.push(await runFixedCase(RMSProp, backend, threads, sync).catch(failure));
    const auto = await RMSProp.create({ w: 8 }).then((opt) => {
      const picked = { backend: opt.backend, backendReason: opt.backendReason ?? null };
      opt.dispose();
      return picked;
    }, failure);
    return { isolated: globalThis.crossOriginIsolated, available: availableBackends(), results, auto };
  };
}

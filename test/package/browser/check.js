// The page of test/package/browser.test.ts: the unbundled dist/ in a browser, and one function for
// the test to call (as test/package/bundlers/page.js gives the bundled package).
import { availableBackends, RMSProp } from '/dist/index.js';
import { runFixedCase } from './fixed-case.js';

const failure = (error) => ({ error: `${error?.name}: ${error?.message}` });

globalThis.rmspropCheck = async ({ backends, threads }) => {
  const results = [];
  for (const backend of backends) results.push(await runFixedCase(RMSProp, backend, threads).catch(failure));
  // what 'auto' picks on this page, and why it did not pick the fastest
  const auto = await RMSProp.create({ w: 8 }).then((opt) => {
    const picked = { backend: opt.backend, backendReason: opt.backendReason ?? null };
    opt.dispose();
    return picked;
  }, failure);
  return { isolated: globalThis.crossOriginIsolated, available: availableBackends(), results, auto };
};

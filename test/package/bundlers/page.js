// The page that every bundler builds in test/bundlers.test.ts: it imports the package by name, as
// an app would, and gives the test one function to call.
import { RMSProp, availableBackends } from 'rmsprop-wasm';
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

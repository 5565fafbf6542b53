// The page that every bundler builds in test/package/bundlers.test.ts: it imports the package by name, as
// an app would, with the one function the test calls.
import { availableBackends, RMSProp } from 'rmsprop-wasm';
import { exposeCheck } from './fixed-case.js';

exposeCheck(RMSProp, availableBackends);

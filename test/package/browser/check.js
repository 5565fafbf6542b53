// The page of test/package/browser.test.ts: the unbundled dist/ in a browser (as test/package/bundlers/page.js
// gives the bundled package), with the one function the test calls.
import { availableBackends, RMSProp } from '/dist/index.js';
import { exposeCheck } from './fixed-case.js';

exposeCheck(RMSProp, availableBackends);

// What the browser tests share: the server policies a test page is loaded under, what the page's
// rmspropCheck returns (test/package/browser/fixed-case.js), and the checks made of it.
import { expect } from 'vitest';

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, and so threads). */
export const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
/**
 *   plain     no headers: every backend, one thread (not cross-origin isolated)
 *   isolated  COOP/COEP: 2 threads
 *   strict    COOP/COEP + CSP without blob: workers: one thread, and threadsReason names worker-src
 *   nowasm    COOP/COEP + CSP without 'wasm-unsafe-eval': 'auto' falls back to js and says why
 */
export const PAGE_MODES: Record<string, Record<string, string>> = {
  plain: {},
  isolated: ISOLATED,
  strict: { ...ISOLATED, 'content-security-policy': "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'" },
  nowasm: { ...ISOLATED, 'content-security-policy': "script-src 'self'; worker-src 'self' blob:" },
};

/** The headers of a page's document by its `?mode=` (subresources need none). */
export const pageHeaders = (url: URL): Record<string, string> =>
  PAGE_MODES[url.searchParams.get('mode') ?? 'plain'] ?? {};

export type PageCheck = {
  isolated: boolean;
  available: string[];
  results: Array<Record<string, unknown>>;
  auto: { backend?: string; backendReason?: string | null; error?: string };
};

/** Each backend ran on one thread, said why with `reason` (the js backend: that it never threads), and gave Node's bits. */
export function expectOneThreadEach(
  check: PageCheck,
  backends: readonly string[],
  inNode: Record<string, Record<string, unknown>>,
  reason: RegExp,
): void {
  expect(check.available).toEqual(['simd', 'wasm', 'js']);
  for (const [i, backend] of backends.entries()) {
    const { threads, threadsReason, ...bits } = check.results[i];
    expect(bits.error, backend).toBeUndefined();
    expect(threads, backend).toBe(1);
    expect(threadsReason, backend).toMatch(backend === 'js' ? /js backend/ : reason);
    expect({ ...bits, threads: 1, threadsReason: null }, backend).toEqual(inNode[backend]);
  }
}

/** The nowasm page: 'auto' ran js and named the CSP, forced wasm backends refused naming it, js gave Node's bits. */
export function expectNoWasm(check: PageCheck, inNode: Record<string, Record<string, unknown>>): void {
  expect(check.available).toEqual(['js']);
  expect(check.auto.backend).toBe('js');
  expect(check.auto.backendReason).toMatch(/Content-Security-Policy/);
  expect(check.auto.backendReason).toMatch(/wasm-unsafe-eval/);
  expect(check.results[0]).toEqual(inNode.js);
  for (const forced of check.results.slice(1)) expect(forced.error).toMatch(/^\w*Error: .*Content-Security-Policy/);
}

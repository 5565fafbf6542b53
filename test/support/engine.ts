// The one interface the cross-engine browser tests drive: Chromium (playwright-core), Firefox ESR
// (puppeteer-core over WebDriver BiDi) and WebKitGTK (WebKitWebDriver's classic WebDriver), each
// launched by its own small module beside this one.

export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ENGINE_NAMES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

export interface EnginePage {
  goto(url: string): Promise<void>;
  /** Runs a JS expression (it may be a promise) in the page and returns its JSON-serialisable value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy. */
  waitFor(expression: string, timeoutMs?: number): Promise<void>;
  reload(): Promise<void>;
  /** Uncaught exceptions and console errors since the page opened (engine-specific: see each launcher). */
  errors(): Promise<string[]>;
  close(): Promise<void>;
}

export interface Engine {
  name: EngineName;
  /** The browser and its version, for test names and reports. */
  version: string;
  /** A page in a fresh profile's one context (WebKit: one page open at a time, see webkit.ts). */
  newPage(): Promise<EnginePage>;
  close(): Promise<void>;
}

/**
 * Why this run leaves `name` out, or undefined. TEST_BROWSERS (a comma list) names the engines to run;
 * .ci/run sets it to chromium on Node 22 and 24 so that Firefox and WebKit run once, on Node 20.
 */
export function engineLeftOut(name: EngineName): string | undefined {
  const wanted = process.env.TEST_BROWSERS;
  if (!wanted) return undefined;
  return wanted.split(',').includes(name) ? undefined : `TEST_BROWSERS=${wanted} leaves ${name} out`;
}

export interface EngineOptions {
  /**
   * WebKit only: turn on JavaScriptCore's SharedArrayBuffer (JSC_useSharedArrayBuffer=1), which Safari
   * gives cross-origin isolated pages and WebKitGTK's default build does not (see webkit.ts).
   */
  sharedArrayBuffer?: boolean;
}

/** Launches one engine (a dynamic import, so that a run without Firefox never loads puppeteer-core). */
export async function launchEngine(name: EngineName, options: EngineOptions = {}): Promise<Engine> {
  switch (name) {
    case 'chromium':
      return (await import('./chromium.js')).chromiumEngine();
    case 'firefox':
      return (await import('./firefox.js')).launchFirefox();
    case 'webkit':
      return (await import('./webkit.js')).launchWebKit(options);
  }
}

/**
 * Polls an async check until it is truthy (for engines whose protocol has no wait of its own). A check
 * that throws is tried again (a page that reloads itself, as coi-serviceworker does, drops evaluations).
 */
export async function poll(check: () => Promise<unknown>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`,
      );
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

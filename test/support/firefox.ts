// Debian's Firefox ESR for the cross-engine browser tests, driven by puppeteer-core over WebDriver BiDi
// (.ci/run installs firefox-esr; puppeteer-core cannot download a browser here).
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { type Engine, poll } from './engine.js';

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/** Nothing that reaches for the network (puppeteer already turns off updates and telemetry). */
export const FIREFOX_PREFS: Readonly<Record<string, unknown>> = {
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'extensions.blocklist.enabled': false,
};

/** Headless Firefox ESR in a fresh profile; errors: page exceptions and console errors (BiDi log events). */
export async function launchFirefox(): Promise<Engine> {
  if (!existsSync(FIREFOX))
    throw new Error(`no Firefox at ${FIREFOX}: apt-get install firefox-esr (or set FIREFOX_PATH)`);
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: FIREFOX_PREFS,
  });
  return {
    name: 'firefox',
    version: `Firefox ${(await browser.version()).replace(/^firefox\//, '')}`,
    async newPage() {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`exception: ${(e as Error).message ?? e}`));
      return {
        goto: async (url) => {
          try {
            await page.goto(url);
          } catch (error) {
            // The page navigated again before it loaded (coi-serviceworker reloads it): BiDi reports the first
            // navigation as aborted, while Chromium's and WebKit's drivers wait; callers wait for what they need.
            if (!String(error).includes('NS_BINDING_ABORTED')) throw error;
          }
        },
        evaluate: <T>(expression: string) => page.evaluate(expression) as Promise<T>,
        // (not waitForFunction: it builds a Function, which a page's CSP may forbid)
        waitFor: (expression, timeout = 30_000) => poll(() => page.evaluate(expression), timeout, expression),
        reload: async () => void (await page.reload()),
        errors: async () => [...errors],
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

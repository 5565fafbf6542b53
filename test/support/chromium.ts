// Debian's Chromium for the browser tests (.ci/run installs it; playwright-core cannot download one here).
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { type Engine, poll } from './engine.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium with nothing that reaches for the network: this machine's closed network
 * refuses background connections many at a time, and every start would look up Google's hosts.
 */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

/** Chromium behind the common interface of test/support/engine.ts (errors: page exceptions and console errors). */
export async function chromiumEngine(extraArgs: readonly string[] = []): Promise<Engine> {
  const browser = await launchChromium(extraArgs);
  return {
    name: 'chromium',
    version: `Chromium ${browser.version()}`,
    async newPage() {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
      return {
        goto: async (url) => void (await page.goto(url)),
        evaluate: (expression) => page.evaluate(expression),
        waitFor: (expression, timeout = 30_000) => poll(() => page.evaluate(expression), timeout, expression),
        reload: async () => void (await page.reload()),
        errors: async () => [...errors],
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

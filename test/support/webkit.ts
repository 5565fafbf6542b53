// Debian's WebKitGTK for the cross-engine browser tests: WebKitWebDriver (webkit2gtk-driver) driving
// MiniBrowser, which needs a display, so each engine starts its own Xvfb (.ci/run installs both).
// Classic WebDriver over HTTP: no dependency, and no console events (see record-errors.js).
// WebKitGTK 2.50 keeps JavaScriptCore's SharedArrayBuffer off even on cross-origin isolated pages: the
// global is undefined and posting a shared WebAssembly.Memory to a worker throws DataCloneError (Safari
// turns it on there). `sharedArrayBuffer: true` runs it as Safari does, with JSC_useSharedArrayBuffer=1.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Engine, EngineOptions, EnginePage } from './engine.js';
import { poll } from './engine.js';

const DRIVER = process.env.WEBKIT_WEBDRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
/** MiniBrowser ships in libwebkit2gtk-4.1-0, under the architecture's lib folder. */
function miniBrowser(): string | undefined {
  if (process.env.WEBKIT_MINIBROWSER_PATH) return process.env.WEBKIT_MINIBROWSER_PATH;
  for (const arch of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) {
    const path = `/usr/lib/${arch}/webkit2gtk-4.1/MiniBrowser`;
    if (existsSync(path)) return path;
  }
}

const ERRORS_KEY = 'rmsprop-wasm-test-errors'; // record-errors.js keeps them there
/**
 * A WebDriver call that takes longer has hung: a page's whole check takes under a second. Once in a
 * CI run (fresh clone, the package tier loading both cores) the first page of a session never
 * answered, and the test's 60 s ran out with no word of where.
 */
const CALL_TIMEOUT_MS = 25_000;
/** A new session (a MiniBrowser starting) takes about a second: longer, it is started once more (see newPage). */
const SESSION_TIMEOUT_MS = 15_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

/** Xvfb on the first free display (it writes the number to fd 3). */
async function startXvfb(): Promise<{ display: string; process: ChildProcess }> {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  xvfb.stderr!.on('data', (d) => (stderr += d));
  const display = await new Promise<string>((started, failed) => {
    (xvfb.stdio[3] as NodeJS.ReadableStream).once('data', (d) => started(`:${String(d).trim()}`));
    xvfb.once('error', failed);
    xvfb.once('exit', (code) => failed(new Error(`Xvfb exited (${code}): ${stderr}`)));
  });
  return { display, process: xvfb };
}

/**
 * WebKitGTK's MiniBrowser under its own Xvfb. Each page is a WebDriver session of its own (a fresh
 * MiniBrowser, as a fresh profile), one at a time. Errors are what record-errors.js kept: so the pages
 * must come from a static server with `recordErrors` (test/support/static-server.ts).
 */
export async function launchWebKit({ sharedArrayBuffer = false }: EngineOptions = {}): Promise<Engine> {
  const browserPath = miniBrowser();
  if (!existsSync(DRIVER) || !browserPath)
    throw new Error('no WebKitWebDriver or MiniBrowser: apt-get install webkit2gtk-driver xvfb');
  const xvfb = await startXvfb();
  let driver: ChildProcess | undefined;
  let base = '';
  const call = async <T>(method: string, path: string, body?: unknown, timeout = CALL_TIMEOUT_MS): Promise<T> => {
    const response = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeout),
    }).catch((error: Error) => {
      const why = error.name === 'TimeoutError' ? `no answer in ${timeout} ms` : `failed (${error.message})`;
      throw new Error(`WebKitWebDriver ${method} ${path}: ${why}`, { cause: error });
    });
    const { value } = (await response.json()) as { value: T & { error?: string; message?: string } };
    if (value && typeof value === 'object' && 'error' in value && value.error)
      throw new Error(`WebKitWebDriver ${method} ${path}: ${value.error}: ${value.message}`);
    return value;
  };
  // The driver leads a process group of its own, so that ending it ends the MiniBrowsers it started.
  const stopDriver = () => {
    if (driver?.pid === undefined || driver.exitCode !== null || driver.signalCode !== null) return;
    try {
      process.kill(-driver.pid);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // already ended
    }
  };
  const startDriver = async () => {
    const port = await freePort();
    driver = spawn(DRIVER, [`--port=${port}`], {
      env: { ...process.env, DISPLAY: xvfb.display, ...(sharedArrayBuffer && { JSC_useSharedArrayBuffer: '1' }) },
      stdio: 'ignore',
      detached: true,
    });
    base = `http://127.0.0.1:${port}`;
    await poll(
      () =>
        call<{ ready: boolean }>('GET', '/status').then(
          (s) => s.ready,
          () => false,
        ),
      20_000,
      'WebKitWebDriver',
    );
  };
  const stop = () => {
    process.off('exit', stop);
    try {
      stopDriver();
    } finally {
      xvfb.process.kill();
    }
  };
  process.once('exit', stop); // a detached driver outlives its parent otherwise
  let version = '';
  let open = false;
  try {
    await startDriver();
  } catch (error) {
    stop();
    throw error;
  }
  const capabilities = { alwaysMatch: { 'webkitgtk:browserOptions': { binary: browserPath, args: ['--automation'] } } };
  type Session = { sessionId: string; capabilities: { browserVersion: string } };
  const startSession = (timeout: number) => call<Session>('POST', '/session', { capabilities }, timeout);

  async function newPage(): Promise<EnginePage> {
    if (open) throw new Error('WebKit: one page at a time (one WebDriver session); close the other first');
    // A session that does not start (once in a CI run, both cores busy: no answer in 25 s) is the
    // browser's launch, not the page under test: it is started once more, from a new driver.
    const session = await startSession(SESSION_TIMEOUT_MS).catch(async (error: Error) => {
      if ((error.cause as Error | undefined)?.name !== 'TimeoutError') throw error;
      stopDriver();
      await startDriver();
      return startSession(CALL_TIMEOUT_MS);
    });
    open = true;
    const id = session.sessionId;
    version ||= session.capabilities.browserVersion;
    await call('POST', `/session/${id}/timeouts`, { script: 120_000, pageLoad: 60_000 });
    const errors: string[] = [];
    // The expression goes into the script's text (not eval: a page's CSP may forbid eval).
    const evaluate = async <T>(expression: string): Promise<T> => {
      const script = `const done = arguments[arguments.length - 1];
        (async () => (${expression}))().then((ok) => done({ ok: ok === undefined ? null : ok }),
          (e) => done({ error: String(e && e.stack || e) }));`;
      const result = await call<{ ok?: T; error?: string }>('POST', `/session/${id}/execute/async`, {
        script,
        args: [],
      });
      if (result.error !== undefined) throw new Error(`in WebKit: ${result.error}`);
      return result.ok as T;
    };
    const harvest = async () => {
      const kept = await evaluate<string | null>(
        `(() => { try { const v = sessionStorage.getItem('${ERRORS_KEY}'); sessionStorage.removeItem('${ERRORS_KEY}'); return v; } catch { return null; } })()`,
      ).catch(() => null);
      if (kept) errors.push(...(JSON.parse(kept) as string[]));
    };
    return {
      goto: async (url) => {
        await harvest();
        await call('POST', `/session/${id}/url`, { url });
      },
      evaluate,
      waitFor: (expression, timeout = 30_000) => poll(() => evaluate(expression), timeout, expression),
      reload: async () => void (await call('POST', `/session/${id}/refresh`, {})),
      errors: async () => {
        await harvest();
        return [...errors];
      },
      close: async () => {
        open = false;
        await call('DELETE', `/session/${id}`);
      },
    };
  }

  // One session up front, to learn the version (and to fail here if MiniBrowser cannot start).
  try {
    await (await newPage()).close();
  } catch (error) {
    stop();
    throw error;
  }
  return {
    name: 'webkit',
    version: `WebKitGTK ${version}${sharedArrayBuffer ? ' (JSC_useSharedArrayBuffer=1)' : ''}`,
    newPage,
    close: async () => stop(),
  };
}

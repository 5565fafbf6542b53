// Served into every HTML page of the cross-engine tests (static-server.ts, recordErrors): WebKitWebDriver's
// classic WebDriver reports no console messages, so the page keeps its own uncaught exceptions, unhandled
// rejections, failed loads and console.error calls, in sessionStorage so that they outlive a reload.
(() => {
  const KEY = 'rmsprop-wasm-test-errors';
  const record = (text) => {
    try {
      const list = JSON.parse(sessionStorage.getItem(KEY) ?? '[]');
      list.push(`${location.pathname}: ${text}`);
      sessionStorage.setItem(KEY, JSON.stringify(list));
    } catch {
      // no sessionStorage (an opaque origin): nothing to keep it in
    }
  };
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    record(`console: ${args.map(String).join(' ')}`);
    consoleError(...args);
  };
  addEventListener(
    'error',
    (event) => {
      const target = event.target;
      if (target && target !== window && 'src' in target) record(`failed to load ${target.src || target.href}`);
      else record(`exception: ${event.message}`);
    },
    true,
  );
  addEventListener('unhandledrejection', (event) =>
    record(`unhandled rejection: ${event.reason?.stack ?? event.reason}`),
  );
})();

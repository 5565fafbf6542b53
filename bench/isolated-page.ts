// An entry module (source text importing bench/ and dist/ by absolute path) bundled for browsers with
// esbuild and served at `/` of a cross-origin isolated static host, so that performance.now() is precise to
// microseconds and threads may run: what the browser benchmarks open in each engine.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { serveFiles, type StaticServer } from '../test/support/static-server.js';

/** A path inside bench/ as a file path. */
export const benchPath = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** Serves `entry`, bundled, as `/page.js` of a page at `/`; `recordErrors` as serveFiles takes it. */
export async function serveIsolatedPage(entry: string, recordErrors = false): Promise<StaticServer> {
  const bundle = await build({
    stdin: { contents: entry, resolveDir: benchPath('.'), loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  });
  return serveFiles(benchPath('.'), {
    headers: () => ({ 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }),
    routes: {
      '/': {
        type: 'text/html',
        body: '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/page.js"></script>',
      },
      '/page.js': { type: 'text/javascript', body: bundle.outputFiles[0].text },
    },
    recordErrors,
  });
}

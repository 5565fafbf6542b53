// The static host of the browser tests: files under one folder, a few pages from memory, and the
// response headers (COOP/COEP, a CSP) chosen per request, as a test needs them.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
};

export interface StaticServer {
  server: Server;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Headers of each response, from its URL (its query says which the test wants). */
  headers?: (url: URL) => Record<string, string>;
  /** Responses by path, served before the files. */
  routes?: Record<string, { type: string; body: string | Uint8Array }>;
}

/** Serves `dir` (its index.html for `/`) on a free port of 127.0.0.1; nothing outside it. */
export async function serveFiles(
  dir: string,
  { headers = () => ({}), routes = {} }: ServeOptions = {},
): Promise<StaticServer> {
  const base = resolve(dir);
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (route) return void res.writeHead(200, { 'content-type': route.type, ...headers(url) }).end(route.body);
    const path = normalize(join(base, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    if (!path.startsWith(base + sep) || !existsSync(path) || !statSync(path).isFile())
      return void res.writeHead(404).end();
    res
      .writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', ...headers(url) })
      .end(readFileSync(path));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  return {
    server,
    origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () => new Promise((closed) => server.close(() => closed())),
  };
}

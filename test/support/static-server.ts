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
  /** Puts record-errors.js first in every HTML page (for WebKit, whose WebDriver reports no console errors). */
  recordErrors?: boolean;
}

const RECORDER = '/__record-errors.js';
const recorderSource = () => readFileSync(new URL('record-errors.js', import.meta.url));
/** The page with the recorder as its first script: after <head>, or after the doctype in a page without one. */
function withRecorder(html: string): string {
  const tag = `<script src="${RECORDER}"></script>`;
  const head = /<head[^>]*>/i.exec(html) ?? /<!doctype html>/i.exec(html);
  return head ? html.slice(0, head.index + head[0].length) + tag + html.slice(head.index + head[0].length) : tag + html;
}

/** Serves `dir` (its index.html for `/`) on a free port of 127.0.0.1; nothing outside it. */
export async function serveFiles(
  dir: string,
  { headers = () => ({}), routes = {}, recordErrors = false }: ServeOptions = {},
): Promise<StaticServer> {
  const base = resolve(dir);
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (recordErrors && url.pathname === RECORDER)
      return void res.writeHead(200, { 'content-type': 'text/javascript', ...headers(url) }).end(recorderSource());
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (route) {
      const html = recordErrors && route.type === 'text/html';
      const body = html ? withRecorder(Buffer.from(route.body).toString('utf8')) : route.body;
      return void res.writeHead(200, { 'content-type': route.type, ...headers(url) }).end(body);
    }
    const path = normalize(join(base, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    if (!path.startsWith(base + sep) || !existsSync(path) || !statSync(path).isFile())
      return void res.writeHead(404).end();
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    const body = readFileSync(path);
    res
      .writeHead(200, { 'content-type': type, ...headers(url) })
      .end(recordErrors && type === 'text/html' ? withRecorder(body.toString('utf8')) : body);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  return {
    server,
    origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () => new Promise((closed) => server.close(() => closed())),
  };
}

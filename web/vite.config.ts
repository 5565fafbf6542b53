// `npm run web` (dev server) and `npm run web:build` (static site in out/web/). Both serve the pages
// cross-origin isolated, which SharedArrayBuffer (the library's threads) needs; a static host that
// cannot send these headers gets them from coi-serviceworker (docs/browsers.md, "Cross-origin isolation").
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  base: './', // relative links: the folder works under any path of any static host
  resolve: {
    // The pages import the package by name, as an app that installed it does; this folder is inside
    // the package, so the name points at its root and its package.json `exports` (dist/) decide.
    alias: { 'rmsprop-wasm': fileURLToPath(new URL('..', import.meta.url)) },
  },
  server: { headers: ISOLATION },
  preview: { headers: ISOLATION },
  build: {
    outDir: '../out/web',
    emptyOutDir: true,
    target: 'es2022',
    // Not minified: TF.js's threaded wasm backend sends its Emscripten module to its workers as source
    // text (Function.prototype.toString), and minified names break it there ("ReferenceError: e is not
    // defined" in every worker). This library's threads survive minification (tried: same bits as one
    // thread). Compression on the host does most of what minifying would.
    minify: false,
    chunkSizeWarningLimit: 4096, // vega and TF.js are large, and only the benchmark page loads them
    rollupOptions: {
      input: {
        ravine: fileURLToPath(new URL('index.html', import.meta.url)),
        bench: fileURLToPath(new URL('bench.html', import.meta.url)),
      },
    },
  },
});

// What `npm pack` ships: every file a consumer's runtime or type checker can reach from the
// package's entries (exports, imports, main, types), and every file the README links, through the
// documents it links (so that the README reads whole wherever it is rendered from the package);
// nothing else, within size budgets.
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, posix } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import webpack from 'webpack';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pack, root, run, tempDir, type Packed } from '../support/pack.js';

// The code (dist/): 77 kB gzipped file by file at the time of writing, the four wasm builds (base64,
// 180 kB) 18.9 kB of that. Source maps with the sources they need, or a second copy of the wasm, would
// break it. The whole package: 230 kB packed, of which the documents the README links (BENCHMARKS.md
// and its chart, the presets' sources, the demo's two figures, the TF.js example, CONTRIBUTING.md) are
// about 140 kB, the ravine figure 96 kB of it. The site's screenshots (230 kB each) would break it:
// they stay in the repository (web/README.md). Since then the guides in docs/ (which the README
// links) and the js backend's loop per mode came: 256 kB packed. Then the thread policy ('auto'), the
// engines' fallbacks and the split of RMSProp into modules (each file gzipped alone): 107.0 kB of code;
// then the threads' wasm builds derived from the others at run time (src/shared-build.ts): 99.7 kB.
// Then compressed state (stateFormat: the kernels' decode/encode loops, the codecs, the layout's
// segments, saved state version 3, docs/state-formats.md): 117.4 kB of code, 287 kB packed. Then the
// seed family's fused loops (bfloat16, then 8 bits: four loops each in the simd build, 1.2 kB gzipped
// for the 8-bit ones, whose step runs 1.2-1.35x as fast): 120.5 kB of code, 293 kB packed (299 kB
// with BENCHMARKS.md's growth). Then the demo's figures with coordinates to 0.1 px (demo/plots.ts):
// the ravine 58 kB, 261 kB packed. Then fixes of paths users take (ready's one worker that tells
// createSync whether the page refuses threads, the torch dict before the first step, the schedules'
// checks of their options' names and kinds): 123.1 kB of code; then the TF.js adapter's (saved
// weights in the last step's order, matched by name, kept as variables; setOptions): 123.9 kB; with
// the reviews' mends (a fresh state found without decoding, the weights' variables by name, a partial
// setWeights): 124.8 kB. Then compressed state's loads ahead chosen by timing (src/loads-ahead.ts,
// 21–25 % off the 16 M step's time on AMD Zen 4, where they cost): 127.1 kB. Then the fixes of two
// reviews (loadState reads every field before it checks one; the TF.js adapter's loaded names,
// re-created and dropped variables) and thread-support.ts split from threads.ts: 128.4 kB. Then the
// fixes of three more reviews (groups' and gradients' types, the torch dict's total, the TF.js
// options checked at construction, getWeights after a dispose, arrays with holes) and state-binary.ts
// split from state.ts (1.1 kB of it: each file gzips alone), less the figures that comments held
// (moved to BENCHMARKS.md): 130.5 kB. Then stochastic rounding keyed by each value's index and
// tensor size, not its address (the block keys in the kernels, their layout, the js codecs, the
// fused bfloat16 loop by runs; 0.95 kB of it the wasm's base64): 133.8 kB. Then js-kernel.ts split
// from kernel.ts: 134.2 kB. Then a review's fixes (refused calls in the TF.js adapter, a detached
// parameter at create) and the adapter's slots.ts split from its index (0.64 kB of it): 135.5 kB.
// Then a review's TF.js fixes (a checkpoint restored by name; a variable disposed at the restore and
// re-created; state matched by unique names, a live unseen variable's waiting), the codecs' constants
// named from the ABI and a test hook of the pool: 136.8 kB. Then state taken by position saved under
// its variable's name, names kept unique, a disposed variable's loaded state waiting: 137.2 kB.
// Then files split by idea (chunks.ts and kernel-calls.ts from threads.ts, the TF.js adapter's
// inputs.ts, state-load.ts, typed-arrays.ts: 0.7–1 kB each, as each file gzips alone), less the
// declarations of 23 exports nothing imported: 139.7 kB. Then decodeState's views of the bytes it is
// given and the messages' 'an': 140.1 kB. Then a review's fixes of refused calls (the optimizer's
// memory seen through another SharedArrayBuffer, arrays detached or shrunk below them refused by name,
// the TF.js adapter's guard against calls from its own step, messages that name the group, the call
// and the torch dict's fields), less the declarations of typed-arrays.ts' internals: 141.0 kB of code,
// 300.3 kB packed with the example's tsconfig.json and the TSDoc example made whole. Then
// encodeState(opt) (a checkpoint encoded from the optimizer's memory, without a copy): 141.3 kB, and
// with their CHANGELOG entries and guides 301.7 kB packed (BENCHMARKS.md is 52 kB of it, the ravine 58 kB).
// With the docs of two more reviews (shared optimizers in TF.js, WebKit, the browsers' shared views):
// 303.0 kB packed. The packed budget has 3 kB of room for the documents: a site screenshot (230 kB)
// or a source map still breaks it. Then the heap's kind and length read through its getter (asLongAs):
// 142.0 kB of code. Internal declarations stripped from dist's types (@internal): 130.9 kB of code,
// 295.6 kB packed. Three long functions split into named parts (decodeState, readStockWeights,
// planLayout; doc comments ship in dist/*.js): 131.4 kB; Keras' polynomialDecay and inverseTimeDecay
// schedules: 132.0 kB of code, 296.7 kB packed; cosineDecayRestarts and the TF.js drop-in's fixes for
// loaded state (waiting state dropped with its variable, iter, momentum 0): 132.7 kB, 297.6 kB packed.
// Then `_1` copies waiting, joining in linear time and getWeights after changes made through `core`
// (a revision count), with their CHANGELOG entries and doc fixes: 133.5 kB of code, 298.6 kB packed.
// Then the ema option (a kernel in each of the four wasm builds, 0.2 kB; the average's layout, job,
// load, save and swap, 2.4 kB) and its guide, docs/averages.md: 136.8 kB of code, 305.7 kB packed.
// Then a review's refactors (the ema code out of tensors.ts into averages.ts, the kept state arrays
// named once in layout.ts, checks written once; each module gzipped on its own costs its header and
// imports again): 138.3 kB of code, 308.4 kB packed. Then groups given as arrays numbered across
// the groups, in the types too (GroupNamesOf counts the tuples before), and a TF.js gradient's shape
// checked, with their CHANGELOG entries: 138.8 kB of code, 309.3 kB packed. Then clearer refusals
// (a later group's parameter named with its group and index, setState's name, createSync's build),
// their entries, and BENCHMARKS.md's clipNorm table: 139.2 kB of code, 310.5 kB packed. Then ema in
// the TF.js drop-in (swapAverages, the variables read and written for it, averages carried to a new
// core and restarted after setWeights) and its section of docs/averages.md: 140.2 kB, 312.3 kB packed;
// averages carried per variable (a skipped join, a re-created variable): 140.5 kB, 312.9 kB packed;
// the site's CSP notes and the drop-in's ema figures in BENCHMARKS.md: 313.6 kB packed. Then the
// fixes of three audits (big checkpoints, browser workers, lifecycles: conversions a chunk at a time,
// a refused allocation named, create's bounded wait for workers, the js heap in a wasm memory,
// messages for shared and service workers and Node 20's flag, a worker started after dispose) with
// their CHANGELOG entries and notes in README and threads.md: 142.2 kB of code, 316.6 kB packed.
// Then the TF.js drop-in's ε from the backend (webgl's 1e-4) and its own instanceof, comments a
// review found stale, and docs: 142.8 kB of code, 317.9 kB packed. Then three audits' fixes (a wasm
// memory probed before a wasm backend is taken, Node 20's flag read from a new context, the permission
// model's hint; 0.6 kB) and RMSProp.ready({ modules }) for Cloudflare Workers (1.9 kB: the modules'
// checks, ReadyOptions' and WasmModules' declarations, reading a build's name): 145.3 kB of code. The
// builds shipped as files for it (wasm/simd.wasm and scalar.wasm, 13.4 kB gzipped), its guide and
// the drop-in's averages asked of the core: 145.4 kB of code, 332.8 kB packed. Then a review's fixes
// (a ready that throws takes no module, one thread where the shared build cannot be compiled, the
// builds' names generated rather than read from the bytes; wasm-modules.ts a file of its own) and
// workerd's compile at a Worker's start: 146.4 kB of code, 334.3 kB packed with the README's notes;
// CONTRIBUTING's table of the bench programs and a preset checklist: 335.1 kB packed; BENCHMARKS.md's
// contents line: 335.7 kB packed. Reasons for browser extensions (the manifest's keys) and their
// section in docs/browsers.md: 146.8 kB of code, 336.7 kB packed. A second review's fixes (a
// Worker's own reason, a build compiled here counted as runnable, restores that undo only their own
// call): 147.1 kB of code, 337.0 kB packed. Deno's workers ended with the worker that made them (a
// sleeping worker passes through its event loop) and the TF.js drop-in's getWeights variables in a
// module of their own (each module is gzipped alone here, so a split costs its imports and header):
// 148.2 kB of code, 337.7 kB packed. The refusals a fuzzer found (fixed options in a restored state,
// a schedule's rate in the PyTorch dict) and their CHANGELOG entry: 148.5 kB of code, 338.2 kB packed.
// Firefox extensions' own reason and docs/browsers.md's section on them: 148.7 kB of code, 338.8 kB packed.
// workerd known at every compatibility date: 148.8 kB, 339.3 kB. Pages without a bundler (the Node
// platform takes Node's built-ins from process.getBuiltinModule, and hands over to the browser one
// where there is none) and their section in docs/browsers.md: 149.1 kB of code, 340.4 kB packed.
// docs/saved-state.md's section on adding parameters mid-training: 341.0 kB packed. Modules from
// another realm taken (Next.js' Edge sandbox) and docs/nextjs.md: 149.4 kB of code, 343.1 kB packed.
// A review's fixes (built-ins read one by one, a missing one meaning one thread, for nodejs_compat;
// threads on the one-thread build where the shared one is refused): 149.8 kB of code, 344.1 kB packed.
// The platform chosen at first use (startup snapshots), and what a saved 'RMSProp' loads as where the
// TF.js entry is imported, with their CHANGELOG entries and docs: 150.1 kB of code, 345.0 kB packed.
// tfjs/package.json, for Parcel and other resolvers that read no exports map: 345.1 kB packed.
// The TF.js drop-in training from `new` at once (a js core while the wasm compiles, then everything
// moved), its CHANGELOG entry and docs: 150.8 kB of code, 346.2 kB packed. The drop-in's making of
// cores and its moving of values to and from variables in modules of their own (src/tfjs/index.ts was
// 732 lines; the same code, each module gzipped alone): 152.2 kB of code, 347.1 kB packed. Fixes from
// two audits (minimize taking a variable listed twice once, option errors that name the group and the
// option at fault, `options` without `params`), their CHANGELOG entries and docs: 152.7 kB, 348.7 kB.
// The worker's loop as a function of its own (esbuild's keepNames), long strings quoted by their start
// in errors, and their CHANGELOG entries: 153.2 kB of code, 349.7 kB packed.
const CODE_BUDGET = 153_300;
const BUDGET = 349_800;
/** What npm adds whatever `files` says. */
const ALWAYS = ['package.json', 'README.md', 'LICENSE'];

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tmp = tempDir('pack');
let packed: Packed;
/** The tarball's contents, unpacked: `package/…`. */
let unpacked: string;
beforeAll(async () => {
  packed = await pack(tmp.path);
  await run('tar', ['-xzf', packed.tarball, '-C', tmp.path], tmp.path);
  unpacked = join(tmp.path, 'package');
}, 60_000);
afterAll(() => tmp.remove());

/** Every path string under an exports / imports / browser map (all conditions, both sides). */
function targets(map: unknown): string[] {
  if (typeof map === 'string') return [normalize(map)];
  if (map && typeof map === 'object') return Object.values(map).flatMap(targets);
  return [];
}

/** The modules that package.json's `browser` field puts in place of others (its values). */
function browserReplacements(): string[] {
  const { browser } = pkg;
  if (browser && typeof browser === 'object') return Object.values(browser).flatMap(targets);
  return [];
}

/** The files reachable from `entries` through the specifiers they import; `map` renames .js targets (for .d.ts). */
function reachable(entries: string[], map: (file: string) => string): { reached: Set<string>; missing: string[] } {
  const shipped = new Set(packed.files.map((file) => file.path));
  const reached = new Set<string>();
  const missing: string[] = [];
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop()!;
    if (reached.has(file)) continue;
    if (!shipped.has(file)) {
      missing.push(file);
      continue;
    }
    reached.add(file);
    const source = readFileSync(join(root, file), 'utf8');
    for (const [, specifier] of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
      if (specifier.startsWith('.')) queue.push(map(normalize(join(dirname(file), specifier))));
      else if (specifier.startsWith('#')) queue.push(...targets(pkg.imports?.[specifier]).map(map));
    }
  }
  return { reached, missing };
}

it(`packs within ${BUDGET / 1000} kB, the code within ${CODE_BUDGET / 1000} kB`, () => {
  const code = packed.files
    .filter((file) => file.path.startsWith('dist/'))
    .reduce((sum, file) => sum + gzipSync(readFileSync(join(unpacked, file.path)), { level: 9 }).length, 0);
  console.log(
    `npm pack: ${packed.size} B packed, ${packed.unpackedSize} B unpacked, ${packed.files.length} files; dist/ ${code} B gzipped file by file`,
  );
  expect(packed.size).toBeLessThanOrEqual(BUDGET);
  expect(code).toBeLessThanOrEqual(CODE_BUDGET);
});

/** The relative links and images of a Markdown file (outside code): `[t](x)`, `![a](x)`, `[t]: x`, `<img src=x>`, `<a href=x>`. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^(```|~~~)[\s\S]*?^\1/gm, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
    ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]),
    ...[...prose.matchAll(/<(?:img|a|source)\b[^>]*?\b(?:src|href|srcset)\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t)); // not http:, https:, mailto:…
}

/** GitHub's anchors of a Markdown file's headings (lower case, punctuation dropped, spaces to hyphens, -1 for a repeat). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of markdown.replace(/^(```|~~~)[\s\S]*?^\1/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading
      .replace(/<[^>]+>/g, '')
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/**
 * From the packed README, every relative link and image, and those of the Markdown files it links:
 * each must name a file (or a folder with files) in the tarball, and an `#anchor` a heading there.
 */
function linkClosure(): { reached: Set<string>; broken: string[] } {
  const reached = new Set<string>();
  const broken: string[] = [];
  const queue = ['README.md'];
  while (queue.length) {
    const from = queue.pop()!;
    if (reached.has(from)) continue;
    reached.add(from);
    const markdown = readFileSync(join(unpacked, from), 'utf8');
    for (const link of relativeLinks(markdown)) {
      const [pathPart, anchor] = link.split('#') as [string, string | undefined];
      const target =
        pathPart === '' ? from : posix.normalize(posix.join(posix.dirname(from), decodeURIComponent(pathPart)));
      const file = join(unpacked, target);
      if (target.startsWith('..') || !existsSync(file)) {
        broken.push(`${from}: ${link} (no ${target} in the package)`);
        continue;
      }
      if (statSync(file).isDirectory()) {
        const inside = packed.files.filter((f) => f.path.startsWith(`${target.replace(/\/$/, '')}/`));
        if (inside.length === 0) broken.push(`${from}: ${link} (an empty folder)`);
        inside.forEach((f) => reached.add(f.path));
        continue;
      }
      if (anchor && target.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor))
        broken.push(`${from}: ${link} (no heading #${anchor} in ${target})`);
      if (target.endsWith('.md')) queue.push(target);
      else reached.add(target);
    }
  }
  return { reached, broken };
}

it('every relative link and image of the packed README (and of the documents it links) resolves inside the package', () => {
  const { reached, broken } = linkClosure();
  expect(broken).toEqual([]);
  // the README does link documents and pictures (a README that linked nothing would pass the above)
  expect([...reached]).toEqual(expect.arrayContaining(['BENCHMARKS.md', 'docs/images/ravine.svg']));
});

it("npm pack's tarball is ignored by git (it lands in the work tree)", async () => {
  const tarball = packed.tarball.slice(packed.tarball.lastIndexOf('/') + 1);
  await run('git', ['check-ignore', '--quiet', '--no-index', tarball], root); // exits 1 when not ignored
});

it('ships no source maps, sources, tests or build inputs: only dist/, the package documents and what the README links', () => {
  const { reached } = linkClosure();
  const outside = packed.files
    .map((file) => file.path)
    .filter((path) => !path.startsWith('dist/') && !ALWAYS.includes(path) && !reached.has(path))
    .filter((path) => !targets(pkg.exports).includes(path)) // the wasm builds and their types
    .filter((path) => path !== 'tfjs/package.json'); // the TF.js entry for resolvers without exports
  expect(outside).toEqual([]);
  expect(packed.files.filter((file) => file.path.endsWith('.map'))).toEqual([]);
});

/** A folder with the unpacked tarball installed (node_modules/rmsprop-wasm) and `index.js` holding `source`. */
function appImporting(name: string, source: string): string {
  const app = join(tmp.path, name);
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(unpacked, join(app, 'node_modules/rmsprop-wasm'), 'dir');
  writeFileSync(join(app, 'index.js'), source);
  return app;
}

// Parcel reads no exports map unless told to (packageExports), nor do older resolvers: they find
// 'rmsprop-wasm/tfjs' as a folder of the package, which tfjs/package.json points at the entry.
it("'rmsprop-wasm/tfjs' resolves where the exports map is not read (webpack told to ignore it)", async () => {
  const app = appImporting('no-exports', "import { rmsprop } from 'rmsprop-wasm/tfjs';\nconsole.log(rmsprop);\n");
  const stats = await new Promise<webpack.Stats>((resolve, reject) => {
    webpack(
      {
        mode: 'development',
        context: app,
        entry: './index.js',
        output: { path: join(app, 'out') },
        externals: /^@tensorflow\//,
        resolve: { exportsFields: [] },
      },
      (error, result) => (error ? reject(error) : resolve(result!)),
    );
  });
  expect(stats.toString({ all: false, errors: true })).toBe('');
  const modules = stats.toJson({ modules: true }).modules?.map((m) => m.name ?? '') ?? [];
  expect(modules.filter((name) => name.endsWith('/dist/tfjs/index.js'))).toHaveLength(1);
});

// A page that only loads models may import the TF.js entry for that alone: bundlers drop a bare
// import of a package that declares no side effects (esbuild did, with "sideEffects": false).
it("a bundler keeps a bare import 'rmsprop-wasm/tfjs', which registers what saved models load as", async () => {
  const app = appImporting('bare-import', "import 'rmsprop-wasm/tfjs';\n");
  const bundle = await esbuild.build({
    absWorkingDir: app,
    entryPoints: ['index.js'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    external: ['@tensorflow/*'],
    write: false,
    logLevel: 'silent',
  });
  expect(bundle.outputFiles[0].text).toContain('registerClass(');
});

it('every shipped module is reachable from an entry, and every entry and import is shipped', () => {
  const all = [pkg.main, pkg.types, ...targets(pkg.exports), ...targets(pkg.imports), ...browserReplacements()].map(
    (path: string) => normalize(path),
  );
  const js = reachable(
    all.filter((path) => path.endsWith('.js')),
    (file) => file,
  );
  // Types: the public declarations, and the declaration beside each module that runs (tsc emits
  // them in pairs, and a tool that loads one of those modules by path looks for its types there).
  const declarations = [
    ...all.filter((path) => path.endsWith('.d.ts')),
    ...[...js.reached].map((file) => file.replace(/\.js$/, '.d.ts')),
  ];
  const types = reachable(declarations, (file) => file.replace(/\.js$/, '.d.ts'));
  expect([...js.missing, ...types.missing]).toEqual([]);
  const unreached = packed.files
    .map((file) => file.path)
    .filter((path) => path.startsWith('dist/') && !js.reached.has(path) && !types.reached.has(path));
  expect(unreached).toEqual([]);
  // the entries a consumer names exist: the core, the TF.js adapter, and a platform module for each side
  expect([...js.reached]).toEqual(
    expect.arrayContaining([
      'dist/index.js',
      'dist/tfjs/index.js',
      'dist/platform/node.js',
      'dist/platform/browser.js',
    ]),
  );
});

it('the generated wasm module is declared as strings, not as 180 kB of literal types', () => {
  const declaration = readFileSync(join(root, 'dist/generated/wasm.d.ts'), 'utf8');
  expect(declaration).toMatch(/export declare const simdWasmBase64: string;/);
  expect(declaration.length).toBeLessThan(1000);
});

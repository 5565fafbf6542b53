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

// Size budgets, as xxhash-wasm keeps one: the code (dist/ and the wasm builds, gzipped file by file:
// what an app can carry) and the packed tarball (with the documents the README links; BENCHMARKS.md
// and the ravine figure are a third of it). They catch what nobody meant to ship: source maps with
// their sources, a second copy of the wasm, a site screenshot (230 kB; they stay in the repository,
// web/README.md). A raise says what it pays for in its commit message: `git log -p` of this file has
// them all, from 77 kB of code and 230 kB packed. Now 161.2 kB of code and 365.7 kB packed.
const CODE_BUDGET = 161_300;
const BUDGET = 365_900;
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

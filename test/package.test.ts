// What `npm pack` ships: every file a consumer's runtime or type checker can reach from the
// package's entries (exports, imports, main, types), nothing else, within a size budget.
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pack, root, tempDir, type Packed } from './pack.js';

// 85.7 kB packed at the time of writing; gzipped alone, the four wasm builds (base64, 180 kB) are
// 18.9 kB of that and the README 15.5 kB. Source maps with the sources they need, or a second copy
// of the wasm, would break it.
const BUDGET = 100_000;
const DOCUMENTS = ['package.json', 'README.md', 'LICENSE'];

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tmp = tempDir('pack');
let packed: Packed;
beforeAll(async () => {
  packed = await pack(tmp.path);
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

it(`packs within ${BUDGET / 1000} kB`, () => {
  console.log(`npm pack: ${packed.size} B packed, ${packed.unpackedSize} B unpacked, ${packed.files.length} files`);
  expect(packed.size).toBeLessThanOrEqual(BUDGET);
});

it('ships no source maps, sources, tests or build inputs: only dist/ and the package documents', () => {
  const outside = packed.files.map((file) => file.path).filter((path) => !path.startsWith('dist/') && !DOCUMENTS.includes(path));
  expect(outside).toEqual([]);
  expect(packed.files.filter((file) => file.path.endsWith('.map'))).toEqual([]);
});

it('every shipped module is reachable from an entry, and every entry and import is shipped', () => {
  const all = [pkg.main, pkg.types, ...targets(pkg.exports), ...targets(pkg.imports), ...browserReplacements()].map((path: string) => normalize(path));
  const js = reachable(all.filter((path) => path.endsWith('.js')), (file) => file);
  // Types: the public declarations, and the declaration beside each module that runs (tsc emits
  // them in pairs, and a tool that loads one of those modules by path looks for its types there).
  const declarations = [...all.filter((path) => path.endsWith('.d.ts')), ...[...js.reached].map((file) => file.replace(/\.js$/, '.d.ts'))];
  const types = reachable(declarations, (file) => file.replace(/\.js$/, '.d.ts'));
  expect([...js.missing, ...types.missing]).toEqual([]);
  const unreached = packed.files.map((file) => file.path)
    .filter((path) => path.startsWith('dist/') && !js.reached.has(path) && !types.reached.has(path));
  expect(unreached).toEqual([]);
  // the entries a consumer names exist: the core, the TF.js adapter, and a platform module for each side
  expect([...js.reached]).toEqual(expect.arrayContaining(['dist/index.js', 'dist/tfjs/index.js', 'dist/platform/node.js', 'dist/platform/browser.js']));
});

it('the generated wasm module is declared as strings, not as 180 kB of literal types', () => {
  const declaration = readFileSync(join(root, 'dist/generated/wasm.d.ts'), 'utf8');
  expect(declaration).toMatch(/export declare const simdWasmBase64: string;/);
  expect(declaration.length).toBeLessThan(1000);
});

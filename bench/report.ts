// Derived figures, the targets of issue 3, and the tables (plain text for stdout, Markdown for
// BENCHMARKS.md). One place computes every ratio.
import type { Measured } from './measure.js';
import { SEED_BYTES, type Variant } from './steps.js';

export interface SizeResult {
  n: number;
  variants: Array<Pick<Variant, 'key' | 'label' | 'bytes'>>;
  measured: Record<string, Measured>;
}

export const sizeLabel = (n: number) =>
  n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20} M` : n >= 1024 && n % 1024 === 0 ? `${n >> 10} K` : String(n);

/** Ratio helpers over one size's medians; undefined when a variant was not measured. */
function ratios(r: SizeResult) {
  const ns = (key: string) => r.measured[key]?.nsPerStep;
  const div = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b;
  return {
    ns,
    /** How many times faster `key` is than `than`. */
    speedup: (key: string, than: string) => div(ns(than), ns(key)),
    /** Share of the streaming limit, the limit scaled to the bytes this variant moves. */
    ofStream: (v: Pick<Variant, 'key' | 'bytes'>) => {
      const share = div(ns('stream'), ns(v.key));
      return share === undefined ? undefined : (share * v.bytes) / SEED_BYTES;
    },
  };
}

const COLUMNS = [
  'variant',
  'ns/element',
  'GB/s',
  '× plain JS',
  '× TF.js cpu',
  '× TF.js wasm',
  '% of stream',
  'time / C sse4.2',
  'time / C native',
];

const fmt = (x: number | undefined, digits = 2, suffix = '') =>
  x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(digits)}${suffix}`;
/** 3 figures or so; below 0.1 as a fraction ("1/190×"), which reads where 0.00× said nothing. */
const fmtRatio = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x)
    ? '–'
    : x >= 100
      ? `${x.toFixed(0)}×`
      : x >= 10
        ? `${x.toFixed(1)}×`
        : x >= 0.1
          ? `${x.toFixed(2)}×`
          : `1/${Math.round(1 / x)}×`;
/** GB/s with 2 significant figures below 1 (TF.js cpu moves 0.014 GB/s, not 0.0). */
const fmtRate = (x: number) => (!Number.isFinite(x) ? '–' : x >= 1 ? x.toFixed(1) : String(+x.toPrecision(2)));

export function rows(r: SizeResult): string[][] {
  const { ns, speedup, ofStream } = ratios(r);
  return r.variants
    .filter((v) => ns(v.key) !== undefined)
    .map((v) => {
      const t = ns(v.key)!;
      return [
        v.label,
        fmt(t / r.n, 3),
        fmtRate((v.bytes * r.n) / t),
        fmtRatio(speedup(v.key, 'plain')),
        fmtRatio(speedup(v.key, 'tfjs-cpu')),
        fmtRatio(speedup(v.key, 'tfjs-wasm')),
        fmt((ofStream(v) ?? NaN) * 100, 0, ' %'),
        fmt(speedup('c-sse', v.key), 2),
        fmt(speedup('c-native', v.key), 2),
      ];
    });
}

/** Text columns (the first `textColumns`) are left-aligned, figures right-aligned. */
export function textTable(header: string[], body: string[][], textColumns = 1): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (row: string[]) =>
    row.map((cell, c) => (c < textColumns ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(header: string[], body: string[][], textColumns = 1): string {
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  return [line(header), line(header.map((_, c) => (c < textColumns ? '---' : '---:'))), ...body.map(line)].join('\n');
}

export const sizeTable = (r: SizeResult, render = textTable) => render(COLUMNS, rows(r), 1);

const SUMMARY = [
  'elements',
  'plain JS',
  'js',
  'wasm',
  'simd',
  'simd GB/s',
  'simd × plain JS',
  'simd × js',
  'simd × TF.js cpu',
  'simd × TF.js wasm',
  'simd % of stream',
  'simd time / C sse4.2',
];

/** One row per size: ns/element of plain JS and our backends, then the simd backend's ratios. */
export function summaryTable(results: SizeResult[], render = textTable): string {
  return render(
    SUMMARY,
    results.map((r) => {
      const { ns, speedup, ofStream } = ratios(r);
      const perElement = (key: string) => fmt((ns(key) ?? NaN) / r.n, 3);
      return [
        sizeLabel(r.n),
        perElement('plain'),
        perElement('js'),
        perElement('wasm'),
        perElement('simd'),
        fmt((SEED_BYTES * r.n) / (ns('simd') ?? NaN), 1),
        fmtRatio(speedup('simd', 'plain')),
        fmtRatio(speedup('simd', 'js')),
        fmtRatio(speedup('simd', 'tfjs-cpu')),
        fmtRatio(speedup('simd', 'tfjs-wasm')),
        fmt((ofStream({ key: 'simd', bytes: SEED_BYTES }) ?? NaN) * 100, 0, ' %'),
        fmt(speedup('c-sse', 'simd'), 2),
      ];
    }),
  );
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/**
 * Each target as `worst` of a ratio over a set of sizes. `higherIsBetter` ratios must reach
 * `limit`, the others stay under it.
 */
function target(
  results: SizeResult[],
  name: string,
  pick: (r: SizeResult) => number | undefined,
  sizes: (n: number) => boolean,
  limit: number,
  higherIsBetter: boolean,
  show: (x: number) => string,
): Target {
  const values = results
    .filter((r) => sizes(r.n))
    .map((r) => ({ n: r.n, x: pick(r) }))
    .filter((v): v is { n: number; x: number } => v.x !== undefined);
  if (values.length === 0) return { target: name, measured: 'not measured in this run', met: undefined };
  const worst = values.reduce((a, b) => ((higherIsBetter ? b.x < a.x : b.x > a.x) ? b : a));
  const lo = Math.min(...values.map((v) => v.x));
  const hi = Math.max(...values.map((v) => v.x));
  const range =
    values.length > 1 ? ` (range ${show(lo)}–${show(hi)} over ${values.map((v) => sizeLabel(v.n)).join(', ')})` : '';
  return {
    target: name,
    measured: `worst ${show(worst.x)} at ${sizeLabel(worst.n)}${range}`,
    met: higherIsBetter ? worst.x >= limit : worst.x <= limit,
  };
}

export function targets(results: SizeResult[], overhead: SizeResult | undefined): Target[] {
  const K = 1024;
  const M = K * K;
  const all = () => true;
  const from16K = (n: number) => n >= 16 * K;
  const mid = (n: number) => n >= 16 * K && n <= 256 * K;
  const large = (n: number) => n >= 4 * M;
  // three decimals: a worst case of 1.055 printed as 1.05× read as a pass beside its "NO" for ≤ 1.05×
  const x = (v: number) => `${v.toFixed(3)}×`;
  const pct = (v: number) => `${(v * 100).toFixed(0)} %`;
  const s = (r: SizeResult) => ratios(r);
  const out = [
    target(
      results,
      'simd ≥ 6× the plain JS loop, every size from 16 K',
      (r) => s(r).speedup('simd', 'plain'),
      from16K,
      6,
      true,
      x,
    ),
    target(
      results,
      'simd ≥ 9× the js backend, every size from 16 K',
      (r) => s(r).speedup('simd', 'js'),
      from16K,
      9,
      true,
      x,
    ),
    target(
      results,
      'simd time ≤ 1.05× C -O3 -msse4.2, 16 K–256 K',
      (r) => s(r).speedup('c-sse', 'simd'),
      mid,
      1.05,
      false,
      x,
    ),
    target(
      results,
      'simd ≥ 70 % of the streaming limit at 4 M and 16 M',
      (r) => s(r).ofStream({ key: 'simd', bytes: SEED_BYTES }),
      large,
      0.7,
      true,
      pct,
    ),
    target(results, 'simd ≥ 200× TF.js cpu, every size', (r) => s(r).speedup('simd', 'tfjs-cpu'), all, 200, true, x),
    target(results, 'simd ≥ 8× TF.js wasm, every size', (r) => s(r).speedup('simd', 'tfjs-wasm'), all, 8, true, x),
    target(
      results,
      'your-arrays step ≤ 1.5× the zero-copy step, 16 K–256 K',
      (r) => s(r).speedup('simd', 'simd-byo'),
      mid,
      1.5,
      false,
      x,
    ),
    target(
      results,
      'centered + momentum ≤ 1.3× the plain step, every size',
      (r) => s(r).speedup('simd', 'simd-cm'),
      all,
      1.3,
      false,
      x,
    ),
  ];
  if (overhead) {
    const o = s(overhead);
    const zeroCopy = o.speedup('one', 'many');
    const copying = o.speedup('one-byo', 'many-byo');
    out.push({
      target: '100 tensors × 1 K ≤ 1.3× one tensor of 100 K',
      measured: `${fmt(zeroCopy)}× zero-copy; ${fmt(copying)}× with your arrays`,
      met: zeroCopy === undefined ? undefined : zeroCopy <= 1.3 && (copying === undefined || copying <= 1.3),
    });
  }
  return out;
}

export function targetTable(ts: Target[], render = textTable): string {
  return render(
    ['target', 'measured', 'met'],
    ts.map((t) => [t.target, t.measured, t.met === undefined ? '–' : t.met ? 'yes' : 'NO']),
    3,
  );
}

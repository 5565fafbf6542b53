// The throughput chart's spec, shared by `npm run bench` (bench/chart.ts renders it headless) and the
// browser page (web/bench.ts renders it live).
import type { TopLevelSpec } from 'vega-lite';
import { sizeLabel, type SizeResult } from './report.js';

const REFERENCES = new Set(['stream', 'c-sse', 'c-native', 'seed-only']);
const KINDS = ['this library, plain JS', 'TF.js', 'limits and references'];
// Our simd in a strong colour; neighbours on the chart in colours far apart.
const COLOURS = ['#7f7f7f', '#bcbd22', '#ff7f0e', '#d62728', '#9467bd', '#e377c2', '#8c564b', '#17becf', '#2ca02c', '#1f77b4', '#000000', '#aec7e8'];

/** The throughput chart's vega-lite spec: one line per variant over the sizes measured. */
export function throughputSpec(results: SizeResult[], subtitle: string): TopLevelSpec {
  const labels = results[0].variants.map((v) => v.label);
  const values = results.flatMap((r) =>
    r.variants
      .filter((v) => r.measured[v.key])
      .map((v) => ({
        variant: v.label,
        kind: REFERENCES.has(v.key) ? KINDS[2] : v.key.startsWith('tfjs') ? KINDS[1] : KINDS[0],
        elements: r.n,
        throughput: r.n / r.measured[v.key].nsPerStep, // elements per ns = G elements/s
      })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'RMSProp step throughput vs tensor size (higher is better)', subtitle: [subtitle, 'solid: this library and plain JS; dashed: TF.js; dotted: limits and references'] },
    width: 720,
    height: 440,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'elements',
        type: 'quantitative',
        scale: { type: 'log', base: 2 },
        axis: { values: results.map((r) => r.n), labelExpr: `{${results.map((r) => `${r.n}: '${sizeLabel(r.n)}'`).join(', ')}}[datum.value]`, title: 'elements per step' },
      },
      y: { field: 'throughput', type: 'quantitative', scale: { type: 'log' }, title: 'G elements/s (log); × 20 = GB/s' },
      color: { field: 'variant', type: 'nominal', sort: labels, scale: { domain: labels, range: COLOURS }, title: null, legend: { labelLimit: 400, symbolType: 'stroke' } },
      strokeDash: {
        field: 'kind',
        type: 'nominal',
        scale: { domain: KINDS, range: [[1, 0], [8, 4], [2, 3]] },
        title: null,
        legend: null, // the colour legend names every line; the subtitle names the dashes
      },
    },
  };
}

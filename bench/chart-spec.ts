// The throughput chart's spec, shared by `npm run bench` (bench/chart.ts renders it headless) and the
// browser page (web/bench.ts renders it live).
import type { TopLevelSpec } from 'vega-lite';
import { sizeLabel, type SizeResult } from './report.js';

const REFERENCES = new Set(['stream', 'c-sse', 'c-native', 'seed-only']);
const KINDS = ['this library, plain JS', 'TF.js', 'limits and references'];
// Our simd in a strong colour; neighbours on the chart in colours far apart.
const COLOURS = [
  '#7f7f7f',
  '#bcbd22',
  '#ff7f0e',
  '#d62728',
  '#9467bd',
  '#e377c2',
  '#8c564b',
  '#17becf',
  '#2ca02c',
  '#1f77b4',
  '#000000',
  '#aec7e8',
  '#ff9896',
  '#98df8a',
];
// A shape per line as well as a colour: where two lines run together, both markers still show.
const STAR = 'M0,-1L0.29,-0.4L0.95,-0.31L0.47,0.15L0.59,0.81L0,0.5L-0.59,0.81L-0.47,0.15L-0.95,-0.31L-0.29,-0.4Z';
const X = 'M-1,-0.6L-0.6,-1L0,-0.4L0.6,-1L1,-0.6L0.4,0L1,0.6L0.6,1L0,0.4L-0.6,1L-1,0.6L-0.4,0Z';
const HEXAGON = 'M-1,0L-0.5,-0.87L0.5,-0.87L1,0L0.5,0.87L-0.5,0.87Z';
const SHAPES = [
  'circle',
  'square',
  'triangle-up',
  'diamond',
  'cross',
  'triangle-down',
  'triangle-right',
  'triangle-left',
  X,
  HEXAGON,
  STAR,
  'stroke',
  'circle',
  'square',
];

/** The subtitle's key to the line styles of the kinds drawn (KINDS: ours, TF.js, references). */
function styleLegend(kinds: ReadonlySet<string>): string {
  const styles: Array<[string, string]> = [
    [KINDS[0], 'solid: this library and plain JS'],
    [KINDS[1], 'dashed: TF.js'],
    [KINDS[2], 'dotted: limits and references'],
  ];
  return styles
    .filter(([kind]) => kinds.has(kind))
    .map(([, text]) => text)
    .join('; ');
}

/**
 * The throughput chart's vega-lite spec: one line per variant over the sizes measured, in elements per
 * second (variants move different bytes per element, so no GB/s axis); `width`/`height` for the plot area.
 */
export function throughputSpec(
  results: SizeResult[],
  subtitle: string,
  { width = 720, height = 440 } = {},
): TopLevelSpec {
  const labels = results[0].variants.map((v) => v.label);
  const values = results.flatMap((r) =>
    r.variants
      .filter((v) => r.measured[v.key])
      .map((v) => ({
        variant: v.label,
        kind: REFERENCES.has(v.key) ? KINDS[2] : v.key.startsWith('tfjs') ? KINDS[1] : KINDS[0],
        elements: r.n,
        throughput: (r.n / r.measured[v.key].nsPerStep) * 1e9, // elements per second
      })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'RMSProp step throughput vs tensor size (higher is better)',
      // (each line style named only when some line has it: the browser's run has no references)
      subtitle: [subtitle, styleLegend(new Set(values.map((v) => v.kind)))],
    },
    width,
    height,
    background: 'white',
    config: {
      axis: { labelFontSize: 12, titleFontSize: 13 },
      legend: { labelFontSize: 13, symbolSize: 110, symbolStrokeWidth: 2, rowPadding: 6 },
      title: { fontSize: 16, subtitleFontSize: 12 },
    },
    data: { values },
    mark: { type: 'line', strokeWidth: 2, point: { filled: false, size: 70, strokeWidth: 2 } },
    encoding: {
      x: {
        field: 'elements',
        type: 'quantitative',
        scale: { type: 'log', base: 2 },
        axis: {
          values: results.map((r) => r.n),
          labelExpr: `{${results.map((r) => `${r.n}: '${sizeLabel(r.n)}'`).join(', ')}}[datum.value]`,
          title: 'elements per step',
        },
      },
      y: {
        field: 'throughput',
        type: 'quantitative',
        scale: { type: 'log' },
        axis: { format: '~s', title: 'elements per second (log scale)' },
      },
      color: {
        field: 'variant',
        type: 'nominal',
        sort: labels,
        scale: { domain: labels, range: COLOURS },
        title: null,
        legend: { labelLimit: 400 },
      },
      shape: { field: 'variant', type: 'nominal', sort: labels, scale: { domain: labels, range: SHAPES }, title: null },
      strokeDash: {
        field: 'kind',
        type: 'nominal',
        scale: {
          domain: KINDS,
          range: [
            [1, 0],
            [8, 4],
            [2, 3],
          ],
        },
        title: null,
        legend: null, // the colour legend names every line; the subtitle names the dashes
      },
      tooltip: [
        { field: 'variant', type: 'nominal' },
        { field: 'elements', type: 'quantitative', format: ',' },
        { field: 'throughput', type: 'quantitative', format: '.3~s', title: 'elements/s' },
      ],
    },
  };
}

// The chart: a vega-lite spec rendered headless by vega to SVG, and by resvg to PNG.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { sizeLabel, type SizeResult } from './report.js';

const REFERENCES = new Set(['stream', 'c-sse', 'c-native']);

export async function throughputChart(results: SizeResult[], subtitle: string): Promise<{ svg: string; png: Buffer }> {
  const labels = results[0].variants.map((v) => v.label);
  const values = results.flatMap((r) =>
    r.variants
      .filter((v) => r.measured[v.key])
      .map((v) => ({
        variant: v.label,
        kind: REFERENCES.has(v.key) ? 'limit / native reference' : v.key.startsWith('tfjs') ? 'TF.js' : 'this library or plain JS',
        elements: r.n,
        throughput: r.n / r.measured[v.key].nsPerStep, // elements per ns = G elements/s
      })),
  );
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'RMSProp step throughput vs tensor size (higher is better)', subtitle },
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
      y: { field: 'throughput', type: 'quantitative', scale: { type: 'log' }, title: 'throughput (G elements/s, log)' },
      color: { field: 'variant', type: 'nominal', sort: labels, scale: { scheme: 'tableau20' }, title: null },
      strokeDash: { field: 'kind', type: 'nominal', title: null },
    },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'width', value: 1600 }, font: { loadSystemFonts: true } }).render().asPng();
  return { svg, png };
}

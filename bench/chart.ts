// The chart: bench/chart-spec.ts's vega-lite spec rendered headless by vega to SVG, and by resvg to PNG.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { throughputSpec } from './chart-spec.js';
import type { SizeResult } from './report.js';

export async function throughputChart(results: SizeResult[], subtitle: string): Promise<{ svg: string; png: Buffer }> {
  const spec = throughputSpec(results, subtitle);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'width', value: 1600 }, font: { loadSystemFonts: true } })
    .render()
    .asPng();
  return { svg, png };
}

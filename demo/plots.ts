import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { LABEL, loss, REGION, type Method, type Ravine, type RavineRun } from './ravine.js';
import type { EpochRecord } from './train.js';

const COLOR = { domain: ['gradient descent', 'momentum', 'RMSProp'], range: ['#e45756', '#4c78a8', '#54a24b'] };
const SHORT: Record<Method, string> = { gd: 'gradient descent', momentum: 'momentum', rmsprop: 'RMSProp' };
const CONFIG = { font: 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif', view: { stroke: '#ddd' } };

/** Every step early on, then thinner, so that a 20 000-step path stays a small SVG. */
const keep = (t: number, last: number) => t <= 300 || t === last || t % Math.ceil(t / 300) === 0;
/** Dots on the paths every this many steps show the speed along the valley, which the lines alone hide. */
const MARK_EVERY = 1000;

export function ravineSpec(ravine: Ravine, runs: readonly RavineRun[]): TopLevelSpec {
  const [w0, b0] = ravine.start;
  const maxSteps = Math.max(...runs.map((r) => r.path.length / 2 - 1));
  const wMax = Math.abs(w0) * 1.1;
  const bMax = Math.abs(b0) * 1.5;
  const wMin = -wMax, wHigh = wMax * 0.25;
  // Only the arcs inside the frame: vega sizes the picture by every mark, clipped or not.
  const contours: object[] = [];
  const f0 = loss(ravine, w0, b0);
  let arc = 0;
  for (let k = 0; k < 9; k++) {
    const level = f0 * 4 ** -k * 1.6; // geometric levels, the outer ones cut by the frame
    arc++;
    for (let i = 0; i <= 720; i++) {
      const a = (2 * Math.PI * i) / 720;
      const w = Math.sqrt(2 * level) * Math.cos(a), b = Math.sqrt((2 * level) / ravine.kappa) * Math.sin(a);
      if (w < wMin || w > wHigh || Math.abs(b) > bMax) arc++;
      else contours.push({ arc, i, w, b });
    }
  }
  const paths: object[] = [];
  const marks: object[] = [];
  const distances: object[] = [];
  for (const run of runs) {
    const last = run.path.length / 2 - 1;
    const end = run.steps ?? last;
    const optimizer = SHORT[run.method];
    for (let t = 0; t <= last; t++) {
      const w = run.path[2 * t], b = run.path[2 * t + 1];
      if (t <= end && keep(t, end)) paths.push({ optimizer, t, w, b });
      if (t <= end && t > 0 && t % MARK_EVERY === 0) marks.push({ optimizer, t, w, b });
      if (t > 0 && keep(t, last)) distances.push({ optimizer, t, d: Math.max(Math.hypot(w, b), 1e-5) });
    }
  }
  // One line each: headless vega estimates text width generously, and a long line widens the picture.
  const legend = [...runs.map((r) => `${SHORT[r.method]}: lr ${r.lr}, ${r.steps ?? 'never'} steps to ‖θ − θ*‖ < ${REGION}`), `dots every ${MARK_EVERY} steps; dashed: the region's edge`];
  const x = { field: 'w', type: 'quantitative' as const, scale: { domain: [wMin, wHigh] }, title: 'w (flat direction)' };
  const y = { field: 'b', type: 'quantitative' as const, scale: { domain: [-bMax, bMax] }, title: 'b (steep direction)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `f(w, b) = ½(w² + ${ravine.kappa}·b²), each optimizer at its best lr`, subtitle: legend },
    config: CONFIG,
    vconcat: [
      {
        width: 720, height: 300,
        layer: [
          { data: { values: contours }, mark: { type: 'line', clip: true, strokeWidth: 0.8, color: '#bbb' }, encoding: { x, y, detail: { field: 'arc' }, order: { field: 'i' } } },
          {
            data: { values: paths }, mark: { type: 'line', clip: true, strokeWidth: 1.4, point: false },
            encoding: { x, y, color: { field: 'optimizer', scale: COLOR, title: null, legend: { orient: 'top-right' } }, order: { field: 't' } },
          },
          { data: { values: marks }, mark: { type: 'point', filled: true, size: 30, opacity: 1 }, encoding: { x, y, color: { field: 'optimizer', scale: COLOR } } },
          { data: { values: [{ w: 0, b: 0 }, { w: w0, b: b0 }] }, mark: { type: 'point', shape: 'cross', color: 'black', size: 80 }, encoding: { x, y } },
        ],
      },
      {
        width: 720, height: 220,
        layer: [
          {
            data: { values: distances }, mark: { type: 'line', clip: true, strokeWidth: 1.2 },
            encoding: {
              x: { field: 't', type: 'quantitative', scale: { type: 'log', domain: [1, maxSteps], nice: false }, title: 'step' },
              y: { field: 'd', type: 'quantitative', scale: { type: 'log', domain: [1e-5, 10] }, title: '‖θ − θ*‖' },
              color: { field: 'optimizer', scale: COLOR },
              order: { field: 't' },
            },
          },
          { data: { values: [{ d: REGION }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#555' }, encoding: { y: { field: 'd', type: 'quantitative' } } },
        ],
      },
    ],
  };
}

export function lossSpec(curves: ReadonlyArray<{ method: Method; lr: number; epochs: readonly EpochRecord[] }>, target: number, title: string): TopLevelSpec {
  const values = curves.flatMap(({ method, epochs }) =>
    epochs.map((e) => ({ optimizer: SHORT[method], epoch: e.epoch, loss: Math.max(e.trainLoss, 1e-6), accuracy: e.testAccuracy })),
  );
  const color = { field: 'optimizer', scale: COLOR, title: null } as const;
  const epoch = { field: 'epoch', type: 'quantitative', title: 'epoch' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: [...curves.map((c) => `${LABEL[c.method]}: lr ${c.lr}`), `dashed: target loss ${target}`] },
    config: CONFIG,
    data: { values },
    hconcat: [
      {
        width: 400, height: 280,
        layer: [
          { mark: { type: 'line', clip: true }, encoding: { x: epoch, y: { field: 'loss', type: 'quantitative', scale: { type: 'log', domain: [0.01, 2], nice: false }, title: 'training loss (cross-entropy)' }, color } },
          { data: { values: [{ loss: target }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#555' }, encoding: { y: { field: 'loss', type: 'quantitative' } } },
        ],
      },
      {
        width: 300, height: 280,
        mark: { type: 'line', clip: true, interpolate: 'step-after' },
        encoding: { x: epoch, y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0.6, 1] }, axis: { format: '%' }, title: 'held-out accuracy' }, color },
      },
    ],
  };
}

/** Where resvg looks for system fonts; without any, PNG text would be blank, so only the SVG is written. */
function systemFontsPresent(): boolean {
  const dirs = ['/usr/share/fonts', '/usr/local/share/fonts', '/Library/Fonts', '/System/Library/Fonts', 'C:\\Windows\\Fonts'];
  return dirs.some((d) => existsSync(d) && readdirSync(d).length > 0);
}

/** Renders a spec headless to DIR/NAME.svg and, when fonts are found, DIR/NAME.png; returns the paths written. */
export async function render(spec: TopLevelSpec, dir: string, name: string): Promise<string[]> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const svgPath = join(dir, `${name}.svg`);
  await writeFile(svgPath, svg);
  if (!systemFontsPresent()) return [svgPath];
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
  const pngPath = join(dir, `${name}.png`);
  await writeFile(pngPath, png);
  return [svgPath, pngPath];
}

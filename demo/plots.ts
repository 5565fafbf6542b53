import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import {
  CLOSE_UP_STEPS,
  LABEL,
  loss,
  REGION,
  type Method,
  type Ravine,
  type RavineMethod,
  type RavineRun,
} from './ravine.js';
import type { EpochRecord } from './train.js';

const COLOR = {
  domain: ['gradient descent', 'momentum', 'RMSProp', 'gradient descent near 2/κ'],
  range: ['#e45756', '#4c78a8', '#54a24b', '#f58518'],
};
const SHORT: Record<RavineMethod, string> = {
  gd: 'gradient descent',
  momentum: 'momentum',
  rmsprop: 'RMSProp',
  'rmsprop-momentum': 'RMSProp + momentum',
};
const CONFIG = { font: 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif', view: { stroke: '#ddd' } };

/** Every step early on, then thinner, so that a 20 000-step path stays a small SVG. */
const keep = (t: number, last: number) => t <= 300 || t === last || t % Math.ceil(t / 300) === 0;
/** Dots on the paths every this many steps show the speed along the valley, which the lines alone hide. */
const MARK_EVERY = 1000;

/** One path on the picture; `name` is its legend entry (one of COLOR.domain). */
export interface PicturedRun {
  name: string;
  run: RavineRun;
}

/** The best-lr runs under their optimizer's name, and gradient descent at `zigzag` (near 2/κ) if given. */
export function pictured(best: readonly RavineRun[], zigzag?: RavineRun): PicturedRun[] {
  return [
    ...best.map((run) => ({ name: SHORT[run.method], run })),
    ...(zigzag ? [{ name: COLOR.domain[3], run: zigzag }] : []),
  ];
}

/** Arcs of the contour ellipses inside a frame, as line data (`arc` breaks the line where it leaves). */
function contourArcs(ravine: Ravine, levels: number[], inFrame: (w: number, b: number) => boolean): object[] {
  const contours: object[] = [];
  let arc = 0;
  for (const level of levels) {
    arc++;
    for (let i = 0; i <= 720; i++) {
      const a = (2 * Math.PI * i) / 720;
      const w = Math.sqrt(2 * level) * Math.cos(a),
        b = Math.sqrt((2 * level) / ravine.kappa) * Math.sin(a);
      if (!inFrame(w, b)) arc++;
      else contours.push({ arc, i, w, b });
    }
  }
  return contours;
}

export function ravineSpec(ravine: Ravine, runs: readonly PicturedRun[]): TopLevelSpec {
  const [w0, b0] = ravine.start;
  const maxSteps = Math.max(...runs.map((r) => r.run.path.length / 2 - 1));
  const wMax = Math.abs(w0) * 1.1;
  const bMax = Math.abs(b0) * 1.5;
  const wMin = -wMax,
    wHigh = wMax * 0.25;
  const f0 = loss(ravine, w0, b0);
  // Geometric levels, the outer ones cut by the frame. Only the arcs inside it: vega sizes the picture
  // by every mark, clipped or not.
  const contours = contourArcs(
    ravine,
    Array.from({ length: 9 }, (_, k) => f0 * 4 ** -k * 1.6),
    (w, b) => w >= wMin && w <= wHigh && Math.abs(b) <= bMax,
  );
  const paths: object[] = [];
  const marks: object[] = [];
  const distances: object[] = [];
  const closeUp: object[] = [];
  let closeUpW = [w0, w0];
  for (const { name: optimizer, run } of runs) {
    const last = run.path.length / 2 - 1;
    const end = run.steps ?? last;
    for (let t = 0; t <= last; t++) {
      const w = run.path[2 * t],
        b = run.path[2 * t + 1];
      if (t <= end && keep(t, end)) paths.push({ optimizer, t, w, b });
      if (t <= end && t > 0 && t % MARK_EVERY === 0) marks.push({ optimizer, t, w, b });
      if (t > 0 && keep(t, last)) distances.push({ optimizer, t, d: Math.max(Math.hypot(w, b), 1e-5) });
      if (t <= CLOSE_UP_STEPS) {
        closeUp.push({ optimizer, t, w, b });
        if (optimizer === COLOR.domain[3]) closeUpW = [Math.min(closeUpW[0], w), Math.max(closeUpW[1], w)];
      }
    }
  }
  // The close-up frames the zig-zag's first steps (or, without it, a sliver of the valley at the start).
  const span = Math.max(closeUpW[1] - closeUpW[0], Math.abs(w0) * 0.04);
  const closeW = [closeUpW[0] - 0.1 * span, closeUpW[0] + 1.15 * span];
  const closeB = [-1.3 * Math.abs(b0), 1.3 * Math.abs(b0)];
  // One line each: headless vega estimates text width generously, and a long line widens the picture.
  const legend = [
    ...runs.map(
      ({ name, run }) => `${name}: lr ${+run.lr.toPrecision(3)}, ${run.steps ?? 'never'} steps to ‖θ − θ*‖ < ${REGION}`,
    ),
    `top: dots every ${MARK_EVERY} steps; bottom left: the first ${CLOSE_UP_STEPS} steps; dashed: the region's edge`,
  ];
  const x = {
    field: 'w',
    type: 'quantitative' as const,
    scale: { domain: [wMin, wHigh] },
    title: 'w (flat direction)',
  };
  const y = {
    field: 'b',
    type: 'quantitative' as const,
    scale: { domain: [-bMax, bMax] },
    title: 'b (steep direction)',
  };
  const closeX = { ...x, scale: { domain: closeW, nice: false } };
  const closeY = { ...y, scale: { domain: closeB, nice: false } };
  const color = { field: 'optimizer', scale: COLOR };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `f(w, b) = ½(w² + ${ravine.kappa}·b²): each optimizer at its best lr, and gradient descent near its limit 2/κ`,
      subtitle: legend,
    },
    config: CONFIG,
    vconcat: [
      {
        width: 720,
        height: 300,
        layer: [
          {
            data: { values: contours },
            mark: { type: 'line', clip: true, strokeWidth: 0.8, color: '#bbb' },
            encoding: { x, y, detail: { field: 'arc' }, order: { field: 'i' } },
          },
          {
            data: { values: paths },
            mark: { type: 'line', clip: true, strokeWidth: 1.4, point: false },
            encoding: {
              x,
              y,
              color: { ...color, title: null, legend: { orient: 'top-right', labelLimit: 300 } },
              order: { field: 't' },
            },
          },
          {
            data: { values: marks },
            mark: { type: 'point', filled: true, size: 30, opacity: 1 },
            encoding: { x, y, color },
          },
          {
            data: {
              values: [
                { w: 0, b: 0 },
                { w: w0, b: b0 },
              ],
            },
            mark: { type: 'point', shape: 'cross', color: 'black', size: 80 },
            encoding: { x, y },
          },
        ],
      },
      {
        hconcat: [
          {
            width: 330,
            height: 220,
            layer: [
              // The valley floor (b = 0); the contours are nearly flat lines at this scale.
              {
                data: { values: [{ b: 0 }] },
                mark: { type: 'rule', color: '#bbb' },
                encoding: { y: { field: 'b', type: 'quantitative' } },
              },
              {
                data: { values: closeUp },
                mark: { type: 'line', clip: true, strokeWidth: 1.2, point: { size: 10, filled: true } },
                encoding: { x: closeX, y: closeY, color, order: { field: 't' } },
              },
            ],
          },
          {
            width: 330,
            height: 220,
            layer: [
              {
                data: { values: distances },
                mark: { type: 'line', clip: true, strokeWidth: 1.2 },
                encoding: {
                  x: {
                    field: 't',
                    type: 'quantitative',
                    scale: { type: 'log', domain: [1, maxSteps], nice: false },
                    title: 'step',
                  },
                  y: {
                    field: 'd',
                    type: 'quantitative',
                    scale: { type: 'log', domain: [1e-5, 10] },
                    title: '‖θ − θ*‖',
                  },
                  color,
                  order: { field: 't' },
                },
              },
              {
                data: { values: [{ d: REGION }] },
                mark: { type: 'rule', strokeDash: [4, 4], color: '#555' },
                encoding: { y: { field: 'd', type: 'quantitative' } },
              },
            ],
          },
        ],
      },
    ],
  };
}

export function lossSpec(
  curves: ReadonlyArray<{ method: Method; lr: number; epochs: readonly EpochRecord[] }>,
  target: number,
  title: string,
): TopLevelSpec {
  const values = curves.flatMap(({ method, epochs }) =>
    epochs.map((e) => ({
      optimizer: SHORT[method],
      epoch: e.epoch,
      loss: Math.max(e.trainLoss, 1e-6),
      accuracy: e.testAccuracy,
    })),
  );
  // the three optimizers Iris trains with (the ravine's fourth path is not here: no legend entry for it)
  const color = {
    field: 'optimizer',
    scale: { domain: COLOR.domain.slice(0, 3), range: COLOR.range.slice(0, 3) },
    title: null,
  } as const;
  const epoch = { field: 'epoch', type: 'quantitative', title: 'epoch' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: title,
      subtitle: [...curves.map((c) => `${LABEL[c.method]}: lr ${c.lr}`), `dashed: target loss ${target}`],
    },
    config: CONFIG,
    data: { values },
    hconcat: [
      {
        width: 400,
        height: 280,
        layer: [
          {
            mark: { type: 'line', clip: true },
            encoding: {
              x: epoch,
              y: {
                field: 'loss',
                type: 'quantitative',
                scale: { type: 'log', domain: [0.01, 2], nice: false },
                title: 'training loss (cross-entropy)',
              },
              color,
            },
          },
          {
            data: { values: [{ loss: target }] },
            mark: { type: 'rule', strokeDash: [4, 4], color: '#555' },
            encoding: { y: { field: 'loss', type: 'quantitative' } },
          },
        ],
      },
      {
        width: 300,
        height: 280,
        mark: { type: 'line', clip: true, interpolate: 'step-after' },
        encoding: {
          x: epoch,
          y: {
            field: 'accuracy',
            type: 'quantitative',
            scale: { domain: [0.6, 1] },
            axis: { format: '%' },
            title: 'held-out accuracy',
          },
          color,
        },
      },
    ],
  };
}

/** Where resvg looks for system fonts; without any, PNG text would be blank, so only the SVG is written. */
function systemFontsPresent(): boolean {
  const dirs = [
    '/usr/share/fonts',
    '/usr/local/share/fonts',
    '/Library/Fonts',
    '/System/Library/Fonts',
    'C:\\Windows\\Fonts',
  ];
  return dirs.some((d) => existsSync(d) && readdirSync(d).length > 0);
}

/**
 * Paths and positions to a tenth of a pixel (Vega writes up to 16 digits): the ravine's SVG packs to
 * about 60 kB instead of 96 (docs/images is in the npm package, within test/package's budget), unchanged
 * to the eye. The points' aria-labels keep their values.
 */
function compactPositions(svg: string): string {
  const tenth = (x: string) => String(Math.round(Number(x) * 10) / 10);
  return svg.replace(
    / (d|transform)="([^"]*)"/g,
    (_, name: string, value: string) => ` ${name}="${value.replace(/-?\d+\.\d{2,}/g, tenth)}"`,
  );
}

/** Renders a spec headless to DIR/NAME.svg and, when fonts are found, DIR/NAME.png; returns the paths written. */
export async function render(spec: TopLevelSpec, dir: string, name: string): Promise<string[]> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = compactPositions(await view.toSVG());
  view.finalize();
  const svgPath = join(dir, `${name}.svg`);
  await writeFile(svgPath, svg);
  if (!systemFontsPresent()) return [svgPath];
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
  const pngPath = join(dir, `${name}.png`);
  await writeFile(pngPath, png);
  return [svgPath, pngPath];
}

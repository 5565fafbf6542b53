// The ravine page: demo/ravine.ts's runs (the same as `npm start`), RMSProp by the package as an app
// imports it, drawn on three stacked canvases: contours (redrawn on resize or κ), the trails (a few
// segments added per frame) and the current points (cleared every frame), so that a frame costs the
// same at step 10 as at step 10 000.
import { availableBackends, RMSProp, type BackendChoice } from 'rmsprop-wasm';
import {
  bestRun,
  CLOSE_UP_STEPS,
  LABEL,
  LR_GRID,
  MAX_STEPS,
  MOMENTUM,
  RAVINE,
  RAVINE_METHODS as METHODS,
  REGION,
  runRavine,
  zigzagLr,
  type RavineMethod as Method,
  type RavineRun,
} from '../demo/ravine.js';

const COLOR: Record<Method, string> = {
  gd: '#e45756',
  momentum: '#4c78a8',
  rmsprop: '#54a24b',
  'rmsprop-momentum': '#9d5fc4',
};
/**
 * The seed's picture on top: momentum thin and underneath, RMSProp wide, RMSProp + momentum thin over it, gradient descent
 * last and thin (both end on the valley floor, and both stay visible there).
 */
const DRAW_ORDER: readonly Method[] = ['momentum', 'rmsprop', 'rmsprop-momentum', 'gd'];
const WIDTH: Record<Method, number> = { gd: 1.5, momentum: 1, rmsprop: 4, 'rmsprop-momentum': 1.5 };
/**
 * Defaults: gradient descent near its limit (the zig-zag of the seed's picture); the others at their
 * best rate of the grid, searched when the page loads (bestRun, as npm start).
 */
const DEFAULTS = { kappa: RAVINE.kappa, start: RAVINE.start, decay: 0.9 };
const defaultLr = (m: Method, kappa: number, best: number) => (m === 'gd' ? zigzagLr(kappa) : best);

const state = {
  kappa: DEFAULTS.kappa,
  start: [...DEFAULTS.start] as [number, number],
  lr: {} as Record<Method, number>,
  decay: DEFAULTS.decay,
  backend: 'auto' as BackendChoice,
  stepsPerSecond: 60,
  playing: true,
};
const runs = new Map<Method, RavineRun>();
/** Each method's best run of the grid for the current valley, start and RMSProp settings (the table). */
const best = new Map<Method, Omit<RavineRun, 'path'>>();

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const SUPERSCRIPT: Record<string, string> = {
  '-': '⁻',
  '+': '',
  0: '⁰',
  1: '¹',
  2: '²',
  3: '³',
  4: '⁴',
  5: '⁵',
  6: '⁶',
  7: '⁷',
  8: '⁸',
  9: '⁹',
};
/** 3 significant digits; 7.6·10⁻⁴ outside [0.01, 1000). */
const fmt = (x: number) => {
  if (x === 0 || (Math.abs(x) >= 0.01 && Math.abs(x) < 1000)) return String(+x.toPrecision(3));
  const [mantissa, exponent] = x.toExponential(2).split('e');
  return `${+mantissa}·10${[...exponent].map((c) => SUPERSCRIPT[c]).join('')}`;
};
const ravine = () => ({ kappa: state.kappa, start: state.start });

// --- geometry -----------------------------------------------------------------------------------

interface Frame {
  w: [number, number];
  b: [number, number];
}
/** The whole valley, fixed (as npm start's picture), so that moving the start does not move the axes. */
const MAIN: Frame = (() => {
  const wMax = Math.abs(RAVINE.start[0]) * 1.1,
    bMax = Math.abs(RAVINE.start[1]) * 1.5;
  return { w: [-wMax, wMax * 0.25], b: [-bMax, bMax] };
})();
/** Around the start, wide enough for the first CLOSE_UP_STEPS steps of the zig-zag at the default settings. */
function closeFrame(): Frame {
  const [w0, b0] = state.start;
  const span = 0.036 * (MAIN.w[1] - MAIN.w[0]);
  const towards = w0 <= 0 ? 1 : -1; // the paths head for w = 0
  const w: [number, number] = towards > 0 ? [w0 - 0.1 * span, w0 + 1.15 * span] : [w0 - 1.15 * span, w0 + 0.1 * span];
  const h = 1.3 * Math.max(Math.abs(b0), 0.01);
  return { w, b: [-h, h] };
}

class Plot {
  readonly bg: HTMLCanvasElement;
  readonly trail: HTMLCanvasElement;
  readonly heads: HTMLCanvasElement;
  frame: Frame;
  /** Steps drawn so far on the trail, per method. */
  drawn = new Map<Method, number>();
  width = 0;
  height = 0;
  constructor(
    readonly root: HTMLElement,
    frame: Frame,
    readonly maxStep: number,
  ) {
    [this.bg, this.trail, this.heads] = Array.from(root.querySelectorAll('canvas'));
    this.frame = frame;
  }
  x = (w: number) => ((w - this.frame.w[0]) / (this.frame.w[1] - this.frame.w[0])) * this.width;
  y = (b: number) => (1 - (b - this.frame.b[0]) / (this.frame.b[1] - this.frame.b[0])) * this.height;
  toW = (x: number) => this.frame.w[0] + (x / this.width) * (this.frame.w[1] - this.frame.w[0]);
  toB = (y: number) => this.frame.b[0] + (1 - y / this.height) * (this.frame.b[1] - this.frame.b[0]);

  /** Matches the canvases' pixels to their CSS size; true if it changed. */
  fit(): boolean {
    const { width, height } = this.root.getBoundingClientRect();
    const ratio = devicePixelRatio || 1;
    if (width === this.width && height === this.height && this.bg.width === Math.round(width * ratio)) return false;
    this.width = width;
    this.height = height;
    for (const c of [this.bg, this.trail, this.heads]) {
      c.width = Math.round(width * ratio);
      c.height = Math.round(height * ratio);
      c.getContext('2d')!.setTransform(ratio, 0, 0, ratio, 0, 0);
    }
    return true;
  }

  drawBackground(levels: number[]): void {
    const ctx = this.bg.getContext('2d')!;
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, this.width, this.height);
    ctx.strokeStyle = '#bbb';
    ctx.lineWidth = 1;
    const sx = this.width / (this.frame.w[1] - this.frame.w[0]),
      sy = this.height / (this.frame.b[1] - this.frame.b[0]);
    for (const level of levels) {
      ctx.beginPath();
      ctx.ellipse(
        this.x(0),
        this.y(0),
        Math.sqrt(2 * level) * sx,
        Math.sqrt((2 * level) / state.kappa) * sy,
        0,
        0,
        2 * Math.PI,
      );
      ctx.stroke();
    }
    ctx.fillStyle = '#555';
    ctx.font = '11px system-ui, sans-serif';
    for (const w of ticks(this.frame.w)) ctx.fillText(fmtTick(w), this.x(w) + 2, this.height - 3);
    for (const b of ticks(this.frame.b)) if (b !== 0) ctx.fillText(fmtTick(b), 2, this.y(b) - 2);
    ctx.strokeStyle = '#000';
    cross(ctx, this.x(0), this.y(0));
    cross(ctx, this.x(state.start[0]), this.y(state.start[1]));
  }

  /** Every path to its end, faint; the live trail starts over. */
  drawGhosts(): void {
    const ctx = this.trail.getContext('2d')!;
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.globalAlpha = 0.22;
    for (const [method, run] of drawn()) this.segment(ctx, method, run, 0, Math.min(lastStep(run), this.maxStep));
    ctx.globalAlpha = 1;
    this.drawn.clear();
  }

  /** The trails up to step t (only the part not drawn yet) and the current points. */
  advance(t: number): void {
    const trail = this.trail.getContext('2d')!;
    const heads = this.heads.getContext('2d')!;
    heads.clearRect(0, 0, this.width, this.height);
    for (const [method, run] of drawn()) {
      const to = Math.min(t, lastStep(run), this.maxStep);
      const from = this.drawn.get(method) ?? 0;
      if (to > from) this.segment(trail, method, run, from, to);
      this.drawn.set(method, to);
      heads.fillStyle = COLOR[method];
      heads.beginPath();
      heads.arc(this.x(run.path[2 * to]), this.y(run.path[2 * to + 1]), 4, 0, 2 * Math.PI);
      heads.fill();
    }
  }

  private segment(ctx: CanvasRenderingContext2D, method: Method, run: RavineRun, from: number, to: number): void {
    ctx.strokeStyle = COLOR[method];
    ctx.lineWidth = WIDTH[method];
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(this.x(run.path[2 * from]), this.y(run.path[2 * from + 1]));
    let lastX = NaN,
      lastY = NaN;
    for (let t = from + 1; t <= to; t++) {
      const x = this.x(run.path[2 * t]),
        y = this.y(run.path[2 * t + 1]);
      // A 20 000-step path is mostly sub-pixel moves; skipping them keeps the ghosts cheap.
      if (Math.abs(x - lastX) < 0.5 && Math.abs(y - lastY) < 0.5 && t < to) continue;
      ctx.lineTo(Math.max(-1e4, Math.min(1e4, x)), Math.max(-1e4, Math.min(1e4, y)));
      lastX = x;
      lastY = y;
    }
    ctx.stroke();
  }
}

function ticks([lo, hi]: [number, number]): number[] {
  const raw = (hi - lo) / 5;
  const unit = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * unit).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(Math.abs(v) < step / 1e6 ? 0 : v);
  return out;
}
const fmtTick = (v: number) => String(+v.toPrecision(3));

function cross(ctx: CanvasRenderingContext2D, x: number, y: number): void {
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x - 5, y);
  ctx.lineTo(x + 5, y);
  ctx.moveTo(x, y - 5);
  ctx.lineTo(x, y + 5);
  ctx.stroke();
}

const drawn = () => DRAW_ORDER.filter((m) => runs.has(m)).map((m) => [m, runs.get(m)!] as const);

/** The last step worth drawing: where the run settles for good, or its end. */
const lastStep = (run: RavineRun) => Math.min(run.steps ?? Infinity, run.path.length / 2 - 1);

const main = new Plot($('main-plot'), MAIN, MAX_STEPS);
const close = new Plot($('close-up'), closeFrame(), CLOSE_UP_STEPS);
const plots = [main, close];

function contourLevels(plot: Plot): number[] {
  const f0 = 0.5 * (RAVINE.start[0] ** 2 + state.kappa * RAVINE.start[1] ** 2);
  return plot === main
    ? Array.from({ length: 9 }, (_, k) => f0 * 4 ** -k * 1.6)
    : Array.from({ length: 24 }, (_, k) => f0 * 1.3 ** -k * 1.6);
}

function redrawAll(): void {
  close.frame = closeFrame();
  for (const p of plots) {
    p.fit();
    p.drawBackground(contourLevels(p));
    p.drawGhosts();
    p.advance(Math.floor(clock.t));
  }
  $('close-caption').textContent =
    `Close-up of the first ${CLOSE_UP_STEPS} steps from the start (w from ${fmtTick(close.frame.w[0])} to ${fmtTick(close.frame.w[1])}): at full width each step of w is below a pixel.`;
}

// --- the runs -----------------------------------------------------------------------------------

let generation = 0;
/** Runs `methods` again with the current settings; a newer call makes an older one's results moot. */
async function recompute(methods: readonly Method[] = METHODS): Promise<void> {
  const mine = ++generation;
  const fresh = await Promise.all(
    methods.map((m) =>
      runRavine(m, state.lr[m], {
        RMSProp,
        ravine: ravine(),
        backend: state.backend,
        decay: state.decay,
      }),
    ),
  );
  if (mine !== generation) return;
  methods.forEach((m, i) => runs.set(m, fresh[i]));
  clock.t = 0;
  redrawAll();
  updateCounters();
  document.body.dataset.ready = String(mine);
}

let searches = 0;
/** The grid search of each method for the current settings, into the table; a newer call makes an older one's moot. */
async function searchBest(methods: readonly Method[] = METHODS): Promise<void> {
  const mine = ++searches;
  for (const m of methods) $(`${m}-best-steps`).textContent = '…';
  for (const m of methods) {
    const { best: run } = await bestRun(m, { RMSProp, ravine: ravine(), backend: state.backend, decay: state.decay });
    if (mine !== searches) return;
    const { path: _path, ...summary } = run;
    best.set(m, summary);
    updateTable();
  }
  document.body.dataset.searched = String(mine);
}

/** Waits until the settings stop changing (a dragged slider) before searching 40 runs again. */
let searchTimer: ReturnType<typeof setTimeout> | undefined;
function searchSoon(methods: readonly Method[] = METHODS): void {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void searchBest(methods), 250);
}

// --- playback -----------------------------------------------------------------------------------

const clock = { t: 0, last: 0, frames: 0, late: 0, drawMs: [] as number[] };
const endStep = () => Math.max(0, ...[...runs.values()].map(lastStep));

function frame(now: number): void {
  const dt = clock.last ? now - clock.last : 0;
  clock.last = now;
  if (state.playing && runs.size && clock.t < endStep()) {
    clock.frames++;
    if (dt > 25) clock.late++; // a frame later than 1.5 × 16.7 ms: dropped at 60 Hz
    clock.t = Math.min(endStep(), clock.t + (state.stepsPerSecond * Math.min(dt, 100)) / 1000);
    const start = performance.now();
    for (const p of plots) p.advance(Math.floor(clock.t));
    if (clock.drawMs.push(performance.now() - start) > 600) clock.drawMs.shift(); // the last 10 s at 60 Hz
    updateCounters();
  }
  requestAnimationFrame(frame);
}

const stepsText = (run: Omit<RavineRun, 'path'>, last: number, unit = ' steps') =>
  run.diverged
    ? `diverges (|θ| > 10⁶ at step ${last})`
    : run.steps === undefined
      ? `not within ${MAX_STEPS.toLocaleString('en-US')} steps`
      : `${run.steps.toLocaleString('en-US')}${unit}`;

/** The side-by-side table: each method at its best rate of the grid, and as drawn now. */
function updateTable(): void {
  for (const m of METHODS) {
    const b = best.get(m),
      run = runs.get(m);
    if (b) {
      $(`${m}-best-lr`).textContent = fmt(b.lr);
      $(`${m}-best-steps`).textContent = stepsText(b, MAX_STEPS, '');
      $(`${m}-best-steps`).dataset.steps = String(b.steps ?? '');
      $(`${m}-best-lr`).dataset.lr = String(b.lr);
    }
    if (run) {
      $(`${m}-now-lr`).textContent = fmt(run.lr);
      $(`${m}-now-steps`).textContent = stepsText(run, run.path.length / 2 - 1, '');
      $(`${m}-now-steps`).dataset.steps = String(run.steps ?? '');
    }
  }
}

function updateCounters(): void {
  const t = Math.floor(clock.t);
  $('step-out').textContent = t.toLocaleString('en-US');
  for (const m of METHODS) {
    const run = runs.get(m);
    if (!run) continue;
    const out = $(`${m}-steps`);
    out.textContent = `${stepsText(run, run.path.length / 2 - 1)}${run.steps !== undefined && t >= run.steps ? ' ✓' : ''}`;
    out.dataset.steps = String(run.steps ?? '');
  }
  updateTable();
  // The drawing's own cost per frame (a 60 Hz frame lasts 16.7 ms), and frames the browser delivered late.
  const ms = [...clock.drawMs].sort((a, b) => a - b);
  $('status').textContent = ms.length
    ? `${clock.frames} frames; drawing one: median ${ms[ms.length >> 1].toFixed(2)} ms, max ${ms.at(-1)!.toFixed(1)} ms; ${clock.late} came more than 25 ms after the previous one`
    : '';
}

// --- controls -----------------------------------------------------------------------------------

const LR_RANGE = { min: -5, max: 0 }; // log10 of lr

/** Why each method takes the steps it takes (the table's last column; the text under it says more). */
const WHY: Record<Method, string> = {
  gd: 'One rate for both directions, and it must stay under 2/κ for the steep one: along the floor each step is then lr·w, tiny.',
  momentum: `Across the valley the velocity flips sign and cancels; along the floor it adds up, to 1/(1 − ${MOMENTUM}) = ${+(1 / (1 - MOMENTUM)).toFixed(1)} times gradient descent's step.`,
  rmsprop:
    "Each direction's step divided by the RMS of its own gradients: both move about lr per step, straight at the minimum, in about distance/lr steps whatever κ.",
  'rmsprop-momentum':
    'Both ideas: steps of the same size in the two directions, and speed that builds along the floor (as Adam combines them).',
};

/** One row per method: the grid's best rate and its steps, the rate drawn now and its steps, and why. */
function summaryTable(): void {
  $('lr-grid').textContent = LR_GRID.map(fmt).join(', ');
  $('region').textContent = fmt(REGION);
  $('max-steps').textContent = MAX_STEPS.toLocaleString('en-US');
  const body = $<HTMLTableSectionElement>('summary-body');
  for (const m of METHODS) {
    const tr = body.insertRow();
    tr.dataset.method = m;
    tr.style.setProperty('--colour', COLOR[m]);
    tr.innerHTML = `<th scope="row"><span class="swatch"></span>${LABEL[m]}</th>
      <td id="${m}-best-lr"></td><td id="${m}-best-steps">…</td><td id="${m}-now-lr"></td><td id="${m}-now-steps"></td>
      <td class="why">${WHY[m]}</td>`;
  }
}

function optimizerControls(): void {
  const box = $('optimizers');
  for (const m of METHODS) {
    const fs = document.createElement('fieldset');
    fs.className = `optimizer ${m}`;
    fs.style.setProperty('--colour', COLOR[m]);
    fs.innerHTML = `
      <legend><span class="swatch"></span>${LABEL[m]}</legend>
      <label for="${m}-lr">learning rate</label>
      <div class="lr"><input type="range" id="${m}-lr" min="${LR_RANGE.min}" max="${LR_RANGE.max}" step="0.01" aria-describedby="${m}-steps">
        <input type="number" id="${m}-lr-number" min="1e-5" max="1" step="any" aria-label="${LABEL[m]} learning rate"></div>
      <button type="button" id="${m}-best">best learning rate</button>
      <p>to ‖θ − θ*‖ &lt; ${REGION}: <output id="${m}-steps"></output></p>`;
    box.append(fs);
    const slider = $<HTMLInputElement>(`${m}-lr`),
      number = $<HTMLInputElement>(`${m}-lr-number`);
    const show = () => {
      if (state.lr[m] === undefined) return;
      slider.value = String(Math.log10(state.lr[m]));
      number.value = String(+state.lr[m].toPrecision(3));
      slider.setAttribute('aria-valuetext', `lr ${fmt(state.lr[m])}`);
    };
    show();
    slider.addEventListener('input', () => {
      state.lr[m] = +(10 ** +slider.value).toPrecision(3);
      show();
      void recompute([m]);
    });
    number.addEventListener('change', () => {
      const lr = +number.value;
      if (!(lr > 0 && lr <= 1)) return show(); // out of range: back to the current rate
      state.lr[m] = lr;
      show();
      void recompute([m]);
    });
    const bestButton = $<HTMLButtonElement>(`${m}-best`);
    bestButton.title = `The grid of npm start: ${LR_GRID.join(', ')}`;
    bestButton.addEventListener('click', async () => {
      bestButton.disabled = true;
      bestButton.textContent = `trying ${LR_GRID.length} rates…`;
      const { best: run } = await bestRun(m, { RMSProp, ravine: ravine(), backend: state.backend, decay: state.decay });
      state.lr[m] = run.lr;
      show();
      bestButton.disabled = false;
      bestButton.textContent = 'best learning rate';
      await recompute([m]);
    });
    shows.push(show);
    if (m === 'rmsprop') rmspropExtras(fs);
  }
}
/** Puts each rate control to state.lr (after the first search sets the defaults). */
const shows: Array<() => void> = [];

const RMSPROPS: readonly Method[] = ['rmsprop', 'rmsprop-momentum'];

function rmspropExtras(fs: HTMLFieldSetElement): void {
  const extra = document.createElement('div');
  extra.innerHTML = `
    <p class="note-small">decay and backend: both RMSProp paths</p>
    <label for="decay">decay <output id="decay-out"></output></label>
    <input type="range" id="decay" min="0.5" max="0.995" step="0.005">
    <label for="backend">backend</label>
    <select id="backend">${['auto', ...availableBackends()].map((b) => `<option>${b}</option>`).join('')}</select>`;
  fs.append(extra);
  const decay = $<HTMLInputElement>('decay');
  decay.value = String(state.decay);
  $('decay-out').textContent = String(state.decay);
  decay.addEventListener('input', () => {
    state.decay = +decay.value;
    $('decay-out').textContent = decay.value;
    void recompute(RMSPROPS);
    searchSoon(RMSPROPS);
  });
  const backend = $<HTMLSelectElement>('backend');
  backend.addEventListener('change', () => {
    state.backend = backend.value as BackendChoice;
    void recompute(RMSPROPS);
    searchSoon(RMSPROPS);
  });
}

function valleyControls(): void {
  const kappa = $<HTMLInputElement>('kappa');
  // Set once: the slider keeps its own position (written back rounded, a step of 0.01 snapped back to it).
  kappa.value = String(Math.log10(state.kappa));
  const show = () => {
    $('kappa-out').textContent = String(state.kappa);
    kappa.setAttribute('aria-valuetext', `κ ${state.kappa}`);
    $('start-out').textContent = `(${fmt(state.start[0])}, ${fmt(state.start[1])})`;
  };
  show();
  kappa.addEventListener('input', () => {
    // Two significant digits, so that the slider (steps of 0.01 in log10 κ) lands on 100, 2 500 and 10 000 again.
    state.kappa = +(10 ** +kappa.value).toPrecision(2);
    show();
    void recompute();
    searchSoon();
  });
  const setStart = (w: number, b: number) => {
    state.start = [w, b];
    show();
    void recompute();
    searchSoon();
  };
  $('reset-start').addEventListener('click', () => setStart(...DEFAULTS.start));
  // (here, not an inline onsubmit, which a Content-Security-Policy without 'unsafe-inline' refuses)
  $('controls').addEventListener('submit', (e) => e.preventDefault());
  const surface = main.heads;
  surface.addEventListener('click', (e) => {
    const box = surface.getBoundingClientRect();
    setStart(+main.toW(e.clientX - box.left).toPrecision(3), +main.toB(e.clientY - box.top).toPrecision(3));
  });
  surface.addEventListener('keydown', (e) => {
    const dw = (MAIN.w[1] - MAIN.w[0]) / 40,
      db = (MAIN.b[1] - MAIN.b[0]) / 40;
    const move: Record<string, [number, number]> = {
      ArrowLeft: [-dw, 0],
      ArrowRight: [dw, 0],
      ArrowUp: [0, db],
      ArrowDown: [0, -db],
    };
    const d = move[e.key];
    if (!d) return;
    e.preventDefault();
    const clamp = (v: number, [lo, hi]: [number, number]) => Math.min(hi, Math.max(lo, v));
    setStart(
      +clamp(state.start[0] + d[0], MAIN.w).toPrecision(3),
      +clamp(state.start[1] + d[1], MAIN.b).toPrecision(3),
    );
  });
}

function playbackControls(): void {
  const speed = $<HTMLSelectElement>('speed');
  speed.addEventListener('change', () => (state.stepsPerSecond = +speed.value));
  const play = $<HTMLButtonElement>('play');
  play.addEventListener('click', () => {
    state.playing = !state.playing;
    play.textContent = state.playing ? 'pause' : 'play';
  });
  $('restart').addEventListener('click', () => {
    clock.t = 0;
    for (const p of plots) p.drawGhosts();
    // (paused, nothing else would move the dots and counters back to the start)
    for (const p of plots) p.advance(clock.t);
    updateCounters();
  });
  $('to-end').addEventListener('click', () => {
    clock.t = endStep();
    for (const p of plots) p.advance(clock.t);
    updateCounters();
  });
}

summaryTable();
optimizerControls();
valleyControls();
playbackControls();
new ResizeObserver(() => {
  if (plots.some((p) => p.root.getBoundingClientRect().width !== p.width)) redrawAll();
}).observe($('main-plot'));
/** For the test and the curious: the runs drawn, as the page computed them. */
Object.assign(window, { ravineDemo: { state, runs, best, clock } });
// The first screen: every method's best rate searched, then gradient descent moved to its zig-zag.
await searchBest();
for (const m of METHODS) state.lr[m] = defaultLr(m, state.kappa, best.get(m)!.lr);
for (const show of shows) show();
await recompute();
requestAnimationFrame(frame);

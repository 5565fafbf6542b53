// Plain TS shared by `npm start` (demo/main.ts) and the browser page (web/ravine.ts): the library comes
// in as an argument, so the page runs the package a user installs and Node runs src/.
import type { BackendChoice, RMSPropOptions } from '../src/index.js';

/**
 * What the demo and the benchmark use of the library's RMSProp class, as the caller imported it (src/
 * in Node, the package's dist/ in the browser): structural, so either one fits.
 */
export interface RMSPropClass {
  create(
    params: Record<string, number | Float32Array>,
    options?: RMSPropOptions,
  ): Promise<{
    readonly params: Record<string, Float32Array>;
    readonly grads: Record<string, Float32Array>;
    readonly threads: number;
    readonly threadsReason?: string;
    step(grads?: Record<string, Float32Array>): boolean;
    dispose(): void;
  }>;
}

/** f(w, b) = ½(w² + κ·b²): a valley κ times steeper across (b) than along (w); minimum at (0, 0). */
export interface Ravine {
  readonly kappa: number;
  readonly start: readonly [number, number];
}

export const RAVINE: Ravine = { kappa: 2500, start: [-5, 0.2] };
/** ‖θ − θ*‖ below this counts as inside the minimum region. */
export const REGION = 1e-3;
export const MAX_STEPS = 20_000;
/** One log grid (1-2-5 per decade) for every optimizer, so none gets a hand-picked rate. */
export const LR_GRID = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1];
export const MOMENTUM = 0.9;
/**
 * Gradient descent diverges across the valley above lr = 2/κ; at 0.95 of that limit each step flips b
 * and shrinks it by only 0.9, which is the zig-zag of the seed's picture (its best rate barely zig-zags).
 */
export const zigzagLr = (kappa: number) => 1.9 / kappa;
/** The close-up (npm start's picture and the page) shows this many first steps: at full width a step of w is below a pixel. */
export const CLOSE_UP_STEPS = 60;

/** npm start's three (on the ravine and on Iris). */
export type Method = 'gd' | 'momentum' | 'rmsprop';
export const METHODS: readonly Method[] = ['gd', 'momentum', 'rmsprop'];
/** The ravine page adds RMSProp with momentum: the library's two ideas together, as Adam combines them. */
export type RavineMethod = Method | 'rmsprop-momentum';
export const RAVINE_METHODS: readonly RavineMethod[] = [...METHODS, 'rmsprop-momentum'];
export const LABEL: Readonly<Record<RavineMethod, string>> = {
  gd: 'gradient descent',
  momentum: `momentum ${MOMENTUM}`,
  rmsprop: 'RMSProp (seed)',
  'rmsprop-momentum': `RMSProp + momentum ${MOMENTUM}`,
};

export interface RavineRun {
  readonly method: RavineMethod;
  readonly lr: number;
  /** First step from which θ stays inside the region up to maxSteps; undefined if it never settles. */
  readonly steps: number | undefined;
  readonly diverged: boolean;
  /** θ after each step, interleaved (w0, b0, w1, b1, …), starting with the initial point. */
  readonly path: Float32Array;
  readonly finalDistance: number;
}

export const loss = (r: Ravine, w: number, b: number) => 0.5 * (w * w + r.kappa * b * b);

/** A step function over θ = [w, b] and its gradient g, both float32. */
type Stepper = { theta: Float32Array; grad: Float32Array; step(): void; dispose(): void };

async function stepper(
  method: RavineMethod,
  lr: number,
  backend: BackendChoice,
  rmsprop: RMSPropClass,
  decay?: number,
): Promise<Stepper> {
  if (method === 'rmsprop' || method === 'rmsprop-momentum') {
    // Zero-copy: θ and its gradient live in the optimizer's wasm memory.
    const momentum = method === 'rmsprop-momentum' ? MOMENTUM : 0;
    const opt = await rmsprop.create(
      { theta: 2 },
      { preset: 'seed', lr, backend, momentum, ...(decay === undefined ? {} : { decay }) },
    );
    return { theta: opt.params.theta, grad: opt.grads.theta, step: () => opt.step(), dispose: () => opt.dispose() };
  }
  const theta = new Float32Array(2);
  const grad = new Float32Array(2);
  const dispose = () => {};
  if (method === 'gd') {
    return {
      theta,
      grad,
      dispose,
      step: () => {
        for (let i = 0; i < 2; i++) theta[i] -= lr * grad[i];
      },
    };
  }
  const velocity = new Float32Array(2); // heavy ball, as torch.optim.SGD: v ← μv + g, θ ← θ − lr·v
  return {
    theta,
    grad,
    dispose,
    step: () => {
      for (let i = 0; i < 2; i++) {
        velocity[i] = MOMENTUM * velocity[i] + grad[i];
        theta[i] -= lr * velocity[i];
      }
    },
  };
}

export interface RavineOptions {
  /** The library's RMSProp class (needed for method 'rmsprop'). */
  RMSProp: RMSPropClass;
  ravine?: Ravine;
  maxSteps?: number;
  backend?: BackendChoice;
  /** RMSProp's decay (default: the seed preset's, 0.9). */
  decay?: number;
}

export async function runRavine(
  method: RavineMethod,
  lr: number,
  { RMSProp, ravine = RAVINE, maxSteps = MAX_STEPS, backend = 'auto', decay }: RavineOptions,
): Promise<RavineRun> {
  const s = await stepper(method, lr, backend, RMSProp, decay);
  try {
    return walk(s, method, lr, ravine, maxSteps);
  } finally {
    s.dispose(); // the page runs this on every change of a control
  }
}

function walk(s: Stepper, method: RavineMethod, lr: number, ravine: Ravine, maxSteps: number): RavineRun {
  const path = new Float32Array(2 * (maxSteps + 1));
  s.theta.set(ravine.start);
  path.set(s.theta, 0);
  let lastOutside = 0;
  let t = 1;
  let diverged = false;
  for (; t <= maxSteps; t++) {
    s.grad[0] = s.theta[0];
    s.grad[1] = ravine.kappa * s.theta[1];
    s.step();
    path[2 * t] = s.theta[0];
    path[2 * t + 1] = s.theta[1];
    const d = Math.hypot(s.theta[0], s.theta[1]);
    if (!(d < REGION)) lastOutside = t;
    if (!(d < 1e6)) {
      diverged = true;
      break;
    }
  }
  const steps = diverged || lastOutside === maxSteps ? undefined : lastOutside + 1;
  const end = Math.min(t, maxSteps);
  return {
    method,
    lr,
    steps,
    diverged,
    path: path.subarray(0, 2 * (end + 1)),
    finalDistance: Math.hypot(path[2 * end], path[2 * end + 1]),
  };
}

/** Every rate of the grid; the best is the one that settles in the region in the fewest steps. */
export async function bestRun(
  method: RavineMethod,
  options: RavineOptions,
  onRun?: () => void,
): Promise<{ best: RavineRun; all: Array<Omit<RavineRun, 'path'>> }> {
  let best: RavineRun | undefined;
  const all: Array<Omit<RavineRun, 'path'>> = [];
  for (const lr of LR_GRID) {
    const run = await runRavine(method, lr, options);
    const { path: _path, ...summary } = run;
    all.push(summary);
    onRun?.();
    if (!best || rank(run) < rank(best)) best = run;
  }
  return { best: best!, all };
}

/** Settled runs by steps; then those that never settled by how close they ended. */
const rank = (r: RavineRun) => (r.steps !== undefined ? r.steps : r.diverged ? Infinity : MAX_STEPS + r.finalDistance);

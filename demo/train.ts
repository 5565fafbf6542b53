import { RMSProp, type BackendChoice, type BackendName } from '../src/index.js';
import { mulberry32, shuffle } from './iris.js';
import { allocate, initialize, Mlp, PARAM_NAMES, paramSizes, type Data, type Shape, type Tensors } from './mlp.js';
import { MOMENTUM, type Method } from './ravine.js';

/** Parameters, the buffers backpropagation writes gradients into, and one update. */
export interface Optimizer {
  readonly params: Tensors;
  readonly grads: Tensors;
  readonly backend?: BackendName;
  step(): void;
}

export async function createOptimizer(
  method: Method,
  lr: number,
  shape: Shape,
  backend: BackendChoice = 'auto',
): Promise<Optimizer> {
  if (method === 'rmsprop') {
    // Zero-copy: parameters and gradients are views into the optimizer's wasm memory.
    const opt = await RMSProp.create(paramSizes(shape), { preset: 'seed', lr, backend });
    return { params: opt.params as Tensors, grads: opt.grads as Tensors, backend: opt.backend, step: () => opt.step() };
  }
  const params = allocate(shape);
  const grads = allocate(shape);
  if (method === 'gd') {
    return {
      params,
      grads,
      step: () => {
        for (const name of PARAM_NAMES) {
          const p = params[name],
            g = grads[name];
          for (let i = 0; i < p.length; i++) p[i] -= lr * g[i];
        }
      },
    };
  }
  const velocity = allocate(shape);
  return {
    params,
    grads,
    step: () => {
      for (const name of PARAM_NAMES) {
        const p = params[name],
          g = grads[name],
          v = velocity[name];
        for (let i = 0; i < p.length; i++) {
          v[i] = MOMENTUM * v[i] + g[i];
          p[i] -= lr * v[i];
        }
      }
    },
  };
}

export interface TrainOptions {
  readonly shape: Shape;
  readonly epochs: number;
  readonly batch: number;
  readonly seed: number;
  readonly backend?: BackendChoice;
  /** Compute training loss and held-out accuracy after each epoch (not timed). */
  readonly evaluate?: boolean;
  /** Stop after this many optimizer steps (for the wide network). */
  readonly maxSteps?: number;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
}

export interface TrainResult {
  readonly epochs: EpochRecord[];
  readonly params: Tensors;
  readonly backend?: BackendName;
  readonly steps: number;
  readonly epochsRun: number;
  /** Milliseconds in forward + backward (with batch assembly) and in `optimizer.step()`. */
  readonly backpropMs: number;
  readonly optimizerMs: number;
}

/** Mini-batch training; the seed fixes the initial weights and the batch order, the same for every method. */
export async function train(
  method: Method,
  lr: number,
  train: Data,
  test: Data,
  o: TrainOptions,
  onEpoch?: () => void,
): Promise<TrainResult> {
  const opt = await createOptimizer(method, lr, o.shape, o.backend);
  const random = mulberry32(o.seed);
  initialize(opt.params, o.shape, random);
  const mlp = new Mlp(o.shape);
  const order = Int32Array.from({ length: train.count }, (_, i) => i);
  const epochs: EpochRecord[] = [];
  let backpropMs = 0;
  let optimizerMs = 0;
  let steps = 0;
  let epochsRun = 0;
  for (let epoch = 1; epoch <= o.epochs && steps !== o.maxSteps; epoch++) {
    shuffle(order, random);
    for (let start = 0; start < train.count && steps !== o.maxSteps; start += o.batch) {
      const t0 = performance.now();
      mlp.lossAndGrad(opt.params, opt.grads, train, order.subarray(start, start + o.batch));
      const t1 = performance.now();
      opt.step();
      const t2 = performance.now();
      backpropMs += t1 - t0;
      optimizerMs += t2 - t1;
      steps++;
    }
    if (o.evaluate) {
      const heldOut = mlp.evaluate(opt.params, test);
      epochs.push({
        epoch,
        trainLoss: mlp.evaluate(opt.params, train).loss,
        testLoss: heldOut.loss,
        testAccuracy: heldOut.accuracy,
      });
    }
    epochsRun++;
    onEpoch?.();
  }
  return { epochs, params: opt.params, backend: opt.backend, steps, epochsRun, backpropMs, optimizerMs };
}

/** First epoch from which the training loss stays below the target to the end, or undefined. */
export function epochsToTarget(r: TrainResult, target: number): number | undefined {
  let first: number | undefined;
  for (const e of r.epochs) first = e.trainLoss < target ? (first ?? e.epoch) : undefined;
  return first;
}

/** True when every parameter of `a` and `b` has the same bits. */
export function bitIdentical(a: Tensors, b: Tensors): boolean {
  for (const name of PARAM_NAMES) {
    const x = new Uint32Array(a[name].buffer, a[name].byteOffset, a[name].length);
    const y = new Uint32Array(b[name].buffer, b[name].byteOffset, b[name].length);
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

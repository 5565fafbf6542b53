/**
 * A one-hidden-layer perceptron: x → tanh(W1·x + b1) → W2·h + b2 → softmax, mean cross-entropy.
 * Parameters and gradients are float32 (what the optimizer updates); activations are float64 scratch.
 */
export interface Shape {
  readonly inputs: number;
  readonly hidden: number;
  readonly classes: number;
}

export const PARAM_NAMES = ['w1', 'b1', 'w2', 'b2'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
export type Tensors = Record<ParamName, Float32Array>;

/** A labelled set: `x` holds `count` rows of `inputs` features. */
export interface Data {
  readonly x: Float64Array;
  readonly y: Uint8Array;
  readonly count: number;
}

export function paramSizes({ inputs, hidden, classes }: Shape): Record<ParamName, number> {
  return { w1: hidden * inputs, b1: hidden, w2: classes * hidden, b2: classes };
}

export const paramCount = (shape: Shape) => Object.values(paramSizes(shape)).reduce((a, b) => a + b, 0);

export function allocate(shape: Shape): Tensors {
  const sizes = paramSizes(shape);
  return {
    w1: new Float32Array(sizes.w1),
    b1: new Float32Array(sizes.b1),
    w2: new Float32Array(sizes.w2),
    b2: new Float32Array(sizes.b2),
  };
}

/** Glorot-uniform weights, zero biases. */
export function initialize(p: Tensors, { inputs, hidden, classes }: Shape, random: () => number): void {
  const glorot = (w: Float32Array, fanIn: number, fanOut: number) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < w.length; i++) w[i] = (2 * random() - 1) * limit;
  };
  glorot(p.w1, inputs, hidden);
  glorot(p.w2, hidden, classes);
  p.b1.fill(0);
  p.b2.fill(0);
}

export class Mlp {
  readonly #h: Float64Array;
  readonly #dh: Float64Array;
  readonly #logits: Float64Array;

  constructor(readonly shape: Shape) {
    this.#h = new Float64Array(shape.hidden);
    this.#dh = new Float64Array(shape.hidden);
    this.#logits = new Float64Array(shape.classes);
  }

  /** Fills `#h` and `#logits` for row `r`; returns log Σ exp(logits) for the loss. */
  #forward(p: Tensors, data: Data, r: number): number {
    const { inputs: D, hidden: H, classes: C } = this.shape;
    // Arrays in locals: the optimizer's records are frozen dictionaries, slow to look up in a hot loop.
    const { w1, b1, w2, b2 } = p;
    const h = this.#h;
    const logits = this.#logits;
    const x = data.x;
    const xo = r * D;
    for (let j = 0; j < H; j++) {
      let z = b1[j];
      for (let d = 0, wo = j * D; d < D; d++) z += w1[wo + d] * x[xo + d];
      h[j] = Math.tanh(z);
    }
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      let z = b2[c];
      for (let j = 0, wo = c * H; j < H; j++) z += w2[wo + j] * h[j];
      logits[c] = z;
      if (z > max) max = z;
    }
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[c] - max);
    return max + Math.log(sum);
  }

  /** Mean cross-entropy over `rows`; its gradient with respect to every parameter is written into `g`. */
  lossAndGrad(p: Tensors, g: Tensors, data: Data, rows: ArrayLike<number>): number {
    const { inputs: D, hidden: H, classes: C } = this.shape;
    const h = this.#h;
    const dh = this.#dh;
    const logits = this.#logits;
    const x = data.x;
    const n = rows.length;
    const w2 = p.w2;
    const { w1: gw1, b1: gb1, w2: gw2, b2: gb2 } = g;
    for (const name of PARAM_NAMES) g[name].fill(0);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      const logSum = this.#forward(p, data, r);
      const label = data.y[r];
      total += logSum - logits[label];
      dh.fill(0);
      for (let c = 0; c < C; c++) {
        // ∂loss/∂logit = (softmax − one-hot) / n
        const dz = (Math.exp(logits[c] - logSum) - (c === label ? 1 : 0)) / n;
        gb2[c] += dz;
        for (let j = 0, wo = c * H; j < H; j++) {
          gw2[wo + j] += dz * h[j];
          dh[j] += dz * w2[wo + j];
        }
      }
      const xo = r * D;
      for (let j = 0; j < H; j++) {
        const dz = dh[j] * (1 - h[j] * h[j]);
        gb1[j] += dz;
        for (let d = 0, wo = j * D; d < D; d++) gw1[wo + d] += dz * x[xo + d];
      }
    }
    return total / n;
  }

  /** Mean cross-entropy and accuracy over every row of `data`. */
  evaluate(p: Tensors, data: Data): { loss: number; accuracy: number } {
    let total = 0;
    let correct = 0;
    const logits = this.#logits;
    for (let r = 0; r < data.count; r++) {
      const logSum = this.#forward(p, data, r);
      total += logSum - logits[data.y[r]];
      let argmax = 0;
      for (let c = 1; c < this.shape.classes; c++) if (logits[c] > logits[argmax]) argmax = c;
      if (argmax === data.y[r]) correct++;
    }
    return { loss: total / data.count, accuracy: correct / data.count };
  }
}

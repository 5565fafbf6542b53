/**
 * The seed preset's constants, which every variant of the benchmark uses (bench/native/rmsprop.c
 * repeats them in C); the library's own defaults live in src/options.ts.
 */
export const SEED = { lr: 1e-3, decay: 0.9, eps: 1e-8 } as const;

/**
 * The baseline a user would write: plain JS over Float32Array, float64 math, constants hoisted.
 * The seed formula: S = βS + (1−β)g², w −= lr·g/√(S+ε).
 */
export function plainRMSPropStep(
  w: Float32Array,
  g: Float32Array,
  s: Float32Array,
  lr: number,
  decay: number,
  eps: number,
): void {
  const oneMinusDecay = 1 - decay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const si = decay * s[i] + oneMinusDecay * gi * gi;
    s[i] = si;
    w[i] -= (lr * gi) / Math.sqrt(si + eps);
  }
}

/**
 * The baseline a user would write: plain JS over Float32Array, float64 math, constants hoisted.
 * The seed formula: S = βS + (1−β)g², w −= lr·g/√(S+ε).
 */
export function plainRMSPropStep(w: Float32Array, g: Float32Array, s: Float32Array, lr: number, decay: number, eps: number): void {
  const oneMinusDecay = 1 - decay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const si = decay * s[i] + oneMinusDecay * gi * gi;
    s[i] = si;
    w[i] -= (lr * gi) / Math.sqrt(si + eps);
  }
}

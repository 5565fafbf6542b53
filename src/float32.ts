// Float32 arithmetic in JS, as the wasm kernels do it: every operation's result rounded to float32
// once (a float64 operation on float32 inputs, then rounded, is the correctly rounded float32 result).

/** @internal */
export const f = Math.fround;

/** The smallest normal float32: state values below it are flushed to zero. @internal */
export const MIN_NORMAL = 1.1754943508222875e-38;

// `x - x` rather than 0: a literal 0 would make V8 box every result (a Smi/double phi).
/** @internal */
export const flush = (x: number) => (Math.abs(x) < MIN_NORMAL ? x - x : x);
// S is never negative (loadState refuses negative values), so it needs no |x|, as in the kernels.
/** @internal */
export const flushSquare = (x: number) => (x < MIN_NORMAL ? x - x : x);
// wasm's pmax then pmin (`a < b ? b : a`, `b < a ? b : a`): NaN passes through, as in the kernels.
/** @internal */
export const clamp = (x: number, low: number, high: number) => {
  // biome-ignore lint/complexity/useMathMinMax: Math.max/min put -0 below +0; wasm's pmax/pmin, mirrored here, do not
  const atLeastLow = x < low ? low : x;
  // biome-ignore lint/complexity/useMathMinMax: as above
  return high < atLeastLow ? high : atLeastLow;
};
// A centered group's compressed state stores its variance v = S − ḡ² for S (assembly/quantized.ts):
// S rebuilt from v and ḡ as addSquares computes it, and v from S and ḡ as subtractSquares does (below
// the smallest normal, negative and −∞ too, 0; NaN kept).
/** @internal */
export const fromVariance = (v: number, a: number) => f(v + f(a * a));
/** @internal */
export const toVariance = (s: number, a: number) => flushSquare(Math.max(f(s - f(a * a)), 0));

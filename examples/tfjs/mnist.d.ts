// The part of the `mnist` package (no types of its own) that train.ts uses.
declare module 'mnist' {
  interface Digit {
    /** Samples `from` … `to` (inclusive) of this digit: 784 pixels in [0, 1], and a one-hot label. */
    set(from: number, to: number): Array<{ input: number[]; output: number[] }>;
  }
  const digits: readonly Digit[];
  export default digits;
}

// Norm and global-norm clipping: each tensor's scale, from the norms the kernel's sumSquares leaves
// in its reduction block sums (value clipping happens inside the kernels, and in those sums).
import type { Kernel } from './kernel.js';
import { REDUCTION_BLOCK } from './kernel.js';
import type { Group, Tensor } from './tensors.js';

/** How a step's gradients are scaled: not at all, by one global scale, or per tensor. @internal */
export type ClipKind = 'none' | 'global' | 'per tensor';

/** Each tensor's clipping scale for the current step; its arrays are allocated once, so that a step allocates nothing. @internal */
export class Clipping {
  /** Per tensor: the factor its gradient is scaled by. */
  readonly scale: Float64Array;
  /** Per tensor: its gradient norm was NaN or ∞, so it is left unscaled. */
  readonly #unscaled: Uint8Array;

  constructor(tensorCount: number) {
    this.scale = new Float64Array(tensorCount);
    this.#unscaled = new Uint8Array(tensorCount);
  }

  /**
   * Computes each present tensor's scale. Norms come from the kernel's block sums, added in block
   * order, then across tensors in order, all in float64. A tensor whose norm is NaN or ∞ (a NaN or
   * ±∞ gradient under 'propagate') is left unscaled and out of the global norm: scaling by such a
   * norm would make the whole tensor NaN, or zero it, and through the global norm every tensor;
   * unscaled, its NaN and ∞ stay in their own elements.
   */
  compute(
    kernel: Pick<Kernel, 'sumSquares'>,
    heap64: Float64Array,
    tensors: readonly Tensor[],
    groups: readonly Group[],
    present: Uint8Array,
  ): ClipKind {
    // Read here, not passed in: a double argument to a call V8 does not inline is boxed every step.
    const globalClipNorm = groups[0].options.globalClipNorm;
    const scale = this.scale;
    const unscaled = this.#unscaled;
    let perTensor = false;
    for (let g = 0; g < groups.length; g++) if (groups[g].options.clipNorm !== Infinity) perTensor = true;
    if (!perTensor && globalClipNorm === Infinity) return 'none';
    let globalSum = 0;
    for (let i = 0; i < tensors.length; i++) {
      scale[i] = 1;
      unscaled[i] = 0;
      if (!present[i]) continue;
      const t = tensors[i];
      const group = groups[t.group];
      const { options } = group;
      kernel.sumSquares(t.length, t.gradAt, group.clipValueArg!, t.sumsAt);
      let sum = 0;
      const blocks = Math.ceil(t.length / REDUCTION_BLOCK);
      for (let b = 0; b < blocks; b++) sum += heap64[t.sumsAt / 8 + b];
      if (!(sum < Infinity)) {
        unscaled[i] = 1;
        perTensor = true; // this tensor's scale differs from its group's
        continue;
      }
      if (options.clipNorm !== Infinity) {
        const norm = Math.sqrt(sum);
        scale[i] = options.clipNorm / Math.max(norm, options.clipNorm);
      }
      globalSum += scale[i] * scale[i] * sum;
    }
    if (globalClipNorm !== Infinity) {
      const globalScale = globalClipNorm / Math.max(Math.sqrt(globalSum), globalClipNorm);
      for (let i = 0; i < tensors.length; i++) if (!unscaled[i]) scale[i] *= globalScale;
    }
    return perTensor ? 'per tensor' : 'global';
  }
}

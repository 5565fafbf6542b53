// torch.optim.RMSprop's options, by torch's names, as the pytorch preset's: plain JavaScript, so that
// the PyTorch fixture's Node side (fixtures/torch-state-dict-ours.mjs) and the tests (helpers.ts) share it.

/**
 * torch's options (its defaults where absent) as this library's.
 * @param {{ lr: number, alpha?: number, eps?: number, momentum?: number, centered?: boolean, weight_decay?: number, maximize?: boolean }} o
 */
export const torchOptions = (o) => ({
  preset: /** @type {const} */ ('pytorch'),
  lr: o.lr,
  decay: o.alpha ?? 0.99,
  eps: o.eps ?? 1e-8,
  weightDecay: o.weight_decay ?? 0,
  momentum: o.momentum ?? 0,
  centered: o.centered ?? false,
  maximize: o.maximize ?? false,
});

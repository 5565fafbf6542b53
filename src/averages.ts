// The parameters' moving averages (the ema option, Keras' use_ema) around the kernel's own step of
// them (assembly/index.ts `average`, issued with each update by kernel-calls.ts): where each starts,
// the overwrites every emaOverwriteEvery steps, and swapAverages.
import { checkOwnArray, type Group, type Tensor } from './tensors.js';
import { bitsOf, setArray } from './typed-arrays.js';

/**
 * Marks which averages start at the next step (`starts`, one per tensor: loadState's, for averages
 * a state did not hold); returns whether any does. @internal
 */
export function setAverageStarts(tensors: readonly Tensor[], starts: readonly boolean[]): boolean {
  tensors.forEach((t, i) => {
    t.averageStarts = starts[i];
  });
  return starts.includes(true);
}

/** After a step: each average that starts there becomes a copy of w (as Keras' first step, momentum 0, makes it). @internal */
export function startAverages(tensors: readonly Tensor[]): void {
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t.averageStarts) continue;
    setArray(t.average!, t.param);
    t.averageStarts = false;
  }
}

/**
 * After step `stepCount`: the parameters of each group whose emaOverwriteEvery divides it take their
 * average (Keras' ema_overwrite_frequency), your own arrays too. Returns whether any did.
 * Allocates nothing. @internal
 */
export function overwriteWithAverages(
  groups: readonly Group[],
  tensors: readonly Tensor[],
  stepCount: number,
): boolean {
  let overwrote = false;
  for (let g = 0; g < groups.length; g++) {
    const { options, first, count } = groups[g];
    const every = options.emaOverwriteEvery;
    if (every === 0 || stepCount % every !== 0) continue;
    overwrote = true;
    for (let i = first; i < first + count; i++) {
      const t = tensors[i];
      setArray(t.param, t.average!);
      if (t.external) setArray(t.external, t.param); // its length checked by this step (StepGradients.checkLengths)
    }
  }
  return overwrote;
}

/**
 * Swaps each parameter with its average (swapAverages), bit for bit (as integers: a NaN's payload
 * stays). Your own arrays are checked first (a resized one is refused before anything moves).
 * @internal
 */
export function swapAverages(tensors: readonly Tensor[]): void {
  const averaged = tensors.filter((t) => t.average);
  if (averaged.length === 0)
    throw new RangeError("swapAverages: no parameter keeps an average (create the optimizer with option 'ema' > 0)");
  const waiting = averaged.find((t) => t.averageStarts);
  if (waiting)
    throw new RangeError(
      `swapAverages: the average of '${waiting.name}' has not started (the next step starts it at the parameters)`,
    );
  for (const t of averaged) checkOwnArray(t, 'swapAverages: ');
  for (const t of averaged) {
    const param = bitsOf(t.external ?? t.param);
    const average = bitsOf(t.average!);
    for (let i = 0; i < average.length; i++) {
      const x = param[i];
      param[i] = average[i];
      average[i] = x;
    }
  }
}

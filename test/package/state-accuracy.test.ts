// Issue 23's accuracy run in --quick form (bench/state-accuracy.ts): the MNIST MLP of examples/tfjs trained
// through the TF.js drop-in with each stateFormat, same weights, data and hyperparameters. The reference is
// the float32-state run of the same process; the bounds are the (loss within 2 %) and, for
// accuracy, 2 of the 200 held-out images (the 0.5 points is one image here).
import { expect, it } from 'vitest';
import { runNode } from '../support/child.js';

it('MNIST through the TF.js drop-in: bfloat16 and 8-bit state train as float32 state does, in half and a quarter of its bytes', async () => {
  const { status, stdout, stderr } = await runNode(['--import', 'tsx', 'bench/state-accuracy.ts', '--quick', '--json']);
  expect(status, stderr).toBe(0);
  const rows: Array<{ stateFormat: string; loss: number; accuracy: number; stateBytes: number }> = JSON.parse(
    stdout.trim().split('\n').at(-1)!,
  );
  const [float32, bfloat16, eightBit] = rows;
  expect(rows.map((r) => r.stateFormat)).toEqual(['float32', 'bfloat16', '8bit']);
  expect(float32.loss).toBeLessThan(Math.log(10)); // below chance: it trained
  for (const run of [bfloat16, eightBit]) {
    expect(Math.abs(run.loss / float32.loss - 1), run.stateFormat).toBeLessThanOrEqual(0.02);
    expect(Math.abs(run.accuracy - float32.accuracy), run.stateFormat).toBeLessThanOrEqual(2 / 200);
  }
  // the biases and the 640-element last kernel keep float32 state (under 4 096 elements)
  expect(bfloat16.stateBytes / float32.stateBytes).toBeCloseTo(0.5, 1);
  expect(eightBit.stateBytes / float32.stateBytes).toBeLessThan(0.26);
}, 120_000);

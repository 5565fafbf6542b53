// examples/tfjs/train.ts --quick, as a user runs it (through the built package): both optimizers
// train, epoch by epoch, and this one's loss tracks tf.train.rmsprop's. Its timings are not checked.
import { expect, it } from 'vitest';
import { runNode } from '../support/child.js';

it('examples/tfjs trains MNIST digits with tf.train.rmsprop and with rmsprop-wasm/tfjs', async () => {
  const { status, stdout, stderr } = await runNode(['--import', 'tsx', 'examples/tfjs/train.ts', '--quick']);
  expect(status, stderr).toBe(0);
  const rows = [...stdout.matchAll(/^\s*(\d+) \| (\S+)\s*\| ([\d.]+) \|\s*([\d.]+) % \| ([\d.]+) s$/gm)].map(
    ([, epoch, name, loss, accuracy]) => ({
      epoch: Number(epoch),
      name,
      loss: Number(loss),
      accuracy: Number(accuracy),
    }),
  );
  expect(rows.map((r) => `${r.epoch} ${r.name}`)).toEqual([
    '1 tf.train.rmsprop',
    '1 rmsprop-wasm/tfjs',
    '2 tf.train.rmsprop',
    '2 rmsprop-wasm/tfjs',
  ]);
  const [stock1, ours1, stock2, ours2] = rows;
  expect(stock2.loss).toBeLessThan(stock1.loss);
  expect(ours2.loss).toBeLessThan(ours1.loss);
  for (const [ours, stock] of [
    [ours1, stock1],
    [ours2, stock2],
  ]) {
    expect(Math.abs(ours.loss - stock.loss)).toBeLessThanOrEqual(0.01 * stock.loss);
    expect(Math.abs(ours.accuracy - stock.accuracy)).toBeLessThanOrEqual(1.5); // 3 of 200 held-out images
  }
  expect(ours2.accuracy).toBeGreaterThan(50); // ten classes: chance is 10 %
  expect(stdout).toMatch(/total training time: tf\.train\.rmsprop [\d.]+ s, rmsprop-wasm\/tfjs [\d.]+ s/);
}, 120_000);

// Threads are decided by what they need, a shared WebAssembly.Memory and a worker, not by the
// SharedArrayBuffer global: WebKit's cross-origin isolated pages share wasm memory but have no such
// global. Simulated in a fresh Node process that deletes the global before loading the package
// (after loading node:worker_threads, whose own start-up code needs the global, as WebKit's does not).
import { expect, it } from 'vitest';
import { runForJson } from '../support/child.js';

it.each(['simd', 'wasm'])(
  'without a SharedArrayBuffer global, threads: 2 runs 2 threads, bit-identical to one (%s)',
  async (backend) => {
    const entry = new URL('../../dist/index.js', import.meta.url).href;
    const { global, runs } = await runForJson<{
      global: string;
      runs: Array<{ threads: number; reason?: string; workerChunks: number; bits: string[] }>;
    }>(`
    await import('node:worker_threads');
    delete globalThis.SharedArrayBuffer;
    const { createHash } = await import('node:crypto');
    const { RMSProp } = await import('${entry}');
    const n = 600000; // above WAKE_MIN_ELEMENTS, so that sleeping workers are woken
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
    const params = Float32Array.from({ length: n }, random);
    const grads = Array.from({ length: 4 }, () => Float32Array.from({ length: n }, random));
    const runs = [];
    for (const threads of [1, 2]) {
      const opt = await RMSProp.create({ w: params.slice() }, { backend: '${backend}', threads, centered: true, momentum: 0.9 });
      for (const g of grads) opt.step({ w: g });
      const bits = [opt.params.w, ...Object.values(opt.state.w)].map((a) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex'));
      runs.push({ threads: opt.threads, reason: opt.threadsReason, workerChunks: opt.poolForTest?.workerChunksForTest ?? 0, bits });
      opt.dispose();
    }
    console.log(JSON.stringify({ global: typeof SharedArrayBuffer, runs }));`);
    expect(global).toBe('undefined');
    const [one, two] = runs;
    expect(two.reason).toBeUndefined();
    expect(two.threads).toBe(2);
    expect(two.workerChunks).toBeGreaterThan(0);
    expect(two.bits.length).toBe(4); // params, squareAvg, gradAvg, momentum
    two.bits.forEach((bits, i) => expect(bits === one.bits[i], `array ${i}`).toBe(true));
  },
  60_000,
);

// ready(options) starts one worker, once per runtime, to learn whether workers are refused here
// (src/thread-support.ts, tryWorkers). A probe that never answers must not hold ready() up for ever, and
// its silence is no refusal. A fresh module graph per test: the probe runs once per runtime.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PlatformWorker, WorkerEvents } from '../../src/platform/types.ts';

/** Loads the library with the workers `replace` gives (for a program and its events; undefined: a real one). */
async function libraryWithWorkers(replace: (program: string, events: WorkerEvents) => PlatformWorker | undefined) {
  vi.resetModules();
  vi.doMock('../../src/platform/node.ts', async (importOriginal) => {
    const { platform } = await importOriginal<typeof import('../../src/platform/node.ts')>();
    return {
      platform: {
        ...platform,
        startWorker(program: string, events: WorkerEvents): PlatformWorker {
          return replace(program, events) ?? platform.startWorker(program, events);
        },
      },
    };
  });
  return import('../../src/index.ts');
}

/** Loads the library with the probe's worker `probe`; the pools' workers are real. */
const libraryWithProbe = (probe: (events: WorkerEvents) => PlatformWorker) =>
  libraryWithWorkers((program, events) => (program === PROBE_PROGRAM ? probe(events) : undefined));

/** The probe's program in src/thread-support.ts (a copy: if it changes, the real probe answers and the first test fails). */
const PROBE_PROGRAM = 'onMessage(ready);';
const silent = (): PlatformWorker => ({ postMessage() {}, terminate: async () => {} });

afterEach(() => {
  vi.useRealTimers();
  vi.doUnmock('../../src/platform/node.ts');
  vi.resetModules();
});

describe('ready() probes workers once, and a probe that never answers', () => {
  it('holds ready() up for 10 s at most, after which createSync keeps its threads (silence is no refusal)', async () => {
    const { RMSProp } = await libraryWithProbe(silent);
    // both builds compiled first (neither call starts the probe), so that only the probe is left to wait for
    await RMSProp.ready({ backend: 'simd' });
    (await RMSProp.create({ w: 1 << 20 }, { backend: 'simd', threads: 2 })).dispose();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let settled = false;
    const ready = RMSProp.ready({ backend: 'simd', threads: 2 }).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(9_990);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(settled).toBe(true);
    await ready;
    vi.useRealTimers();
    const opt = RMSProp.createSync({ w: 1 << 20 }, { backend: 'simd', threads: 2 });
    expect([opt.threads, opt.threadsReason]).toEqual([2, undefined]);
    opt.dispose();
  });

  it('a probe that fails: createSync takes one thread and says why', async () => {
    const { RMSProp } = await libraryWithProbe((events) => {
      queueMicrotask(() => events.failed('refused by this test'));
      return silent();
    });
    await RMSProp.ready({ backend: 'simd', threads: 2 });
    const opt = RMSProp.createSync({ w: 1 << 20 }, { backend: 'simd', threads: 2 });
    expect(opt.threads).toBe(1);
    expect(opt.threadsReason).toMatch(/workers could not start or share memory here \(Error: refused by this test\)/);
    opt.dispose();
  });
});

// A pool's worker that stays silent (a loaded machine, a throttled tab): create waited for its answer
// for good, and so did the user's await.
it("create waits 10 s at most for a pool's worker that never answers, then steps without it, bit for bit as one thread", async () => {
  const { RMSProp } = await libraryWithWorkers((program) => (program === PROBE_PROGRAM ? undefined : silent()));
  await RMSProp.ready({ backend: 'simd', threads: 2 });
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  let created: InstanceType<typeof RMSProp> | undefined;
  const creating = RMSProp.create({ w: 1 << 20 }, { backend: 'simd', threads: 2 }).then((opt) => (created = opt));
  await vi.advanceTimersByTimeAsync(9_990);
  expect(created).toBeUndefined();
  await vi.advanceTimersByTimeAsync(20);
  expect(created).toBeDefined();
  vi.useRealTimers();
  const opt = await creating;
  expect([opt.threads, opt.threadsReason]).toEqual([2, undefined]);
  const one = await RMSProp.create({ w: 1 << 20 }, { backend: 'simd' });
  for (const o of [opt, one]) {
    o.params.w.forEach((_, i, w) => (w[i] = Math.sin(i)));
    for (let t = 0; t < 3; t++) {
      o.grads.w.forEach((_, i, g) => (g[i] = Math.cos(i * (t + 1))));
      o.step();
    }
  }
  expect(
    Buffer.from(opt.params.w.buffer, opt.params.w.byteOffset, opt.params.w.byteLength).equals(
      Buffer.from(one.params.w.buffer, one.params.w.byteOffset, one.params.w.byteLength),
    ),
  ).toBe(true);
  opt.dispose();
  one.dispose();
});

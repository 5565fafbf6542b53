// ready(options) starts one worker, once per runtime, to learn whether workers are refused here
// (src/thread-support.ts, tryWorkers). A probe that never answers must not hold ready() up for ever, and
// its silence is no refusal. A fresh module graph per test: the probe runs once per runtime.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PlatformWorker, WorkerEvents } from '../../src/platform/types.ts';

/** Loads the library with the probe's worker `probe`; the pools' workers are real. */
async function libraryWithProbe(probe: (events: WorkerEvents) => PlatformWorker) {
  vi.resetModules();
  vi.doMock('../../src/platform/node.ts', async (importOriginal) => {
    const { platform } = await importOriginal<typeof import('../../src/platform/node.ts')>();
    return {
      platform: {
        ...platform,
        startWorker(program: string, events: WorkerEvents): PlatformWorker {
          return program === PROBE_PROGRAM ? probe(events) : platform.startWorker(program, events);
        },
      },
    };
  });
  return import('../../src/index.ts');
}

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

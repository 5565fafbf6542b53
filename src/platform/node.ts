// Node: worker_threads, started from a data: URL so that no worker file has to ship, and unref'd
// once running so that an optimizer the program forgot to dispose never keeps the process alive
// (not before: Deno ended a program whose `create` was not awaited at its top level before it resolved).
/// <reference types="node" />
import { availableParallelism } from 'node:os';
import process from 'node:process';
import { Worker } from 'node:worker_threads';
import type { Platform } from './types.js';

const PRELUDE = `import { parentPort } from 'node:worker_threads';
const onMessage = (handler) => parentPort.once('message', handler);
const ready = () => parentPort.postMessage('ready');`;

export const platform: Platform = {
  cores: () => availableParallelism(),
  // Node 20 with this flag aborts (a V8 check) when a worker receives a shared memory; without the
  // global alone (a program deleted it), threads work.
  workersUnavailable: () =>
    process.execArgv.some((flag) => /^--no[-_]harmony[-_]sharedarraybuffer$/.test(flag))
      ? 'Node runs with --no-harmony-sharedarraybuffer, and its workers cannot take shared memory then'
      : undefined,
  canWait: true,
  startWorker(program, events) {
    // An ES module, so it runs the same whatever module type the host process uses.
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(`${PRELUDE}\n${program}`)}`));
    // once: a lasting 'message' listener would ref the worker again
    worker.once('message', () => {
      worker.unref();
      events.message();
    });
    worker.on('error', (error: Error) => events.failed(`worker failed: ${error.message || String(error)}`));
    worker.on('exit', (code: number) => events.failed(`worker exited with code ${code}`));
    return {
      postMessage: (message) => worker.postMessage(message),
      terminate: async () => {
        await worker.terminate();
      },
    };
  },
};

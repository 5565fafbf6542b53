// Node: worker_threads, started from a data: URL so that no worker file has to ship, and unref'd
// once running so that an optimizer the program forgot to dispose never keeps the process alive
// (not before: Deno ended a program whose `create` was not awaited at its top level before it resolved).
/// <reference types="node" />
import { availableParallelism } from 'node:os';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import type { Platform } from './types.js';

const PRELUDE = `import { parentPort } from 'node:worker_threads';
const onMessage = (handler) => parentPort.once('message', handler);
const ready = () => parentPort.postMessage('ready');`;

let sharedArraysOffHere: boolean | undefined;

/**
 * Whether V8's SharedArrayBuffer flag is off, however set (any spelling on the command line, or
 * v8.setFlagsFromString): Node 20 aborts (a V8 check) when a worker then receives a shared memory. A
 * new context tells, where the program's own global may have been deleted (threads work then).
 */
function sharedArraysOff(): boolean {
  if (sharedArraysOffHere === undefined) {
    try {
      sharedArraysOffHere = runInNewContext('typeof SharedArrayBuffer') === 'undefined';
    } catch {
      sharedArraysOffHere = false;
    }
  }
  return sharedArraysOffHere;
}

export const platform: Platform = {
  cores: () => availableParallelism(),
  workersUnavailable: () =>
    sharedArraysOff()
      ? 'SharedArrayBuffer is off in this Node (--no-harmony-sharedarraybuffer), and its workers cannot take shared memory then'
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

// Node, Bun and Deno: worker_threads, started from a data: URL so that no worker file has to ship, and unref'd
// once running so that an optimizer the program forgot to dispose never keeps the process alive
// (not before: Deno ended a program whose `create` was not awaited at its top level before it resolved).
// The built-ins come from process.getBuiltinModule rather than imports, so that a browser loading dist/
// as it ships (an import map, no bundler) can link this module too: it gets the Web Workers' platform.
/// <reference types="node" />
import { platform as webPlatform } from './browser.js';
import type { Platform } from './types.js';

type NodeProcess = Partial<Pick<NodeJS.Process, 'getBuiltinModule' | 'versions'>>;
const nodeProcess = (globalThis as { process?: NodeProcess }).process;

const PRELUDE = `import { parentPort } from 'node:worker_threads';
const onMessage = (handler) => parentPort.once('message', handler);
const ready = () => parentPort.postMessage('ready');`;

/** Threads through worker_threads (called where process.getBuiltinModule exists). */
function nodePlatform(): Platform {
  const { availableParallelism } = process.getBuiltinModule('node:os');
  const { runInNewContext } = process.getBuiltinModule('node:vm');
  const { Worker } = process.getBuiltinModule('node:worker_threads');
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

  return {
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
}

/** A Node older than the package supports (no process.getBuiltinModule before 20.16 and 22.3) runs one thread. */
const oldNode: Platform = {
  ...webPlatform,
  cores: () => 1,
  workersUnavailable: () =>
    `this Node (${nodeProcess?.versions?.node}) has no process.getBuiltinModule, which threads need (Node 20.19, 22.12 and later have it)`,
};

// Node (Bun, Deno) known by process.versions.node: Next.js' Edge sandbox has a `process` whose every
// method, getBuiltinModule too, throws ("not supported in the Edge Runtime"), and no versions.
export const platform: Platform =
  typeof nodeProcess?.versions?.node !== 'string'
    ? webPlatform
    : nodeProcess.getBuiltinModule
      ? nodePlatform()
      : oldNode;

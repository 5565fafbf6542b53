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

/** The runtime and its version, for reasons. */
function runtime(): string {
  const { node, bun, deno } = (nodeProcess?.versions ?? {}) as Record<string, string | undefined>;
  return bun ? `Bun ${bun}` : deno ? `Deno ${deno}` : `Node ${node}`;
}

/**
 * A built-in module, or undefined where the runtime has none of that name or refuses it (Cloudflare's
 * nodejs_compat: node:worker_threads is undefined at some compatibility dates).
 */
function builtin<Module>(id: string): Module | undefined {
  try {
    return nodeProcess?.getBuiltinModule?.(id) as Module | undefined;
  } catch {
    return undefined;
  }
}

/** One thread, saying why. */
const oneThread = (reason: string): Platform => ({ ...webPlatform, cores: () => 1, workersUnavailable: () => reason });

/** Threads through worker_threads, where the runtime has it. */
function nodePlatform(): Platform {
  const { availableParallelism } = builtin<typeof import('node:os')>('node:os') ?? {};
  const { Worker } = builtin<typeof import('node:worker_threads')>('node:worker_threads') ?? {};
  if (!Worker || !availableParallelism) return oneThread(`this runtime (${runtime()}) has no node:worker_threads`);
  let sharedArraysOffHere: boolean | undefined;

  /**
   * Whether V8's SharedArrayBuffer flag is off, however set (any spelling on the command line, or
   * v8.setFlagsFromString): Node 20 aborts (a V8 check) when a worker then receives a shared memory. A
   * new context tells, where the program's own global may have been deleted (threads work then).
   */
  function sharedArraysOff(): boolean {
    if (sharedArraysOffHere === undefined) {
      try {
        sharedArraysOffHere =
          builtin<typeof import('node:vm')>('node:vm')?.runInNewContext('typeof SharedArrayBuffer') === 'undefined';
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

// Node (Bun, Deno) known by process.versions.node: Next.js' Edge sandbox has a `process` whose every
// method, getBuiltinModule too, throws ("not supported in the Edge Runtime"), and no versions. Where
// getBuiltinModule is missing (Node before 20.16 and 22.3, Deno before 2.1), Web Workers serve if any.
function choosePlatform(): Platform {
  return typeof nodeProcess?.versions?.node !== 'string'
    ? webPlatform
    : nodeProcess.getBuiltinModule
      ? nodePlatform()
      : typeof (globalThis as { Worker?: unknown }).Worker === 'function'
        ? webPlatform
        : oneThread(
            `this runtime (${runtime()}) has no process.getBuiltinModule, which threads need (Node 20.16 and 22.3 added it)`,
          );
}

// Chosen when first asked, not at import: a startup snapshot (node --build-snapshot) must not load
// node:worker_threads before it is restored (Node 20's workers then fail, Node 22 aborts).
let chosen: Platform | undefined;
const current = (): Platform => (chosen ??= choosePlatform());

export const platform: Platform = {
  cores: () => current().cores(),
  workersUnavailable: () => current().workersUnavailable(),
  get canWait() {
    return current().canWait;
  },
  startWorker: (program, events) => current().startWorker(program, events),
};

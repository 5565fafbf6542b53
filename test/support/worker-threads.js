// How many OS threads of this process (Linux: /proc/self/task) are worker threads. Runtimes start
// threads of their own at any time (Bun's HeapHelper and JSCWarmUp on a first worker; Deno a 'deno'
// thread after one ends), so where the runtime names its worker threads only those count: Node 24
// 'WorkerThread', Bun 'Worker', Deno 'worker-N'. Node 20 and 22 name none but start theirs at boot:
// there every thread counts. A plain .js file: the fresh child processes of tests import it too.
import { readdirSync, readFileSync } from 'node:fs';

const WORKER_NAME = /^(WorkerThread|Worker|worker-\d+)$/;
const major = Number(process.versions.node.split('.')[0]);
const names = 'bun' in process.versions || 'deno' in process.versions || major >= 24;
// Node 24 names a worker's thread when the thread first runs; until then it bears the name of the
// thread that started it, 'MainThread' (a busy machine may not run it for tens of milliseconds, and
// a count taken then missed it). Node starts no other thread that keeps that name.
const UNNAMED_YET = 'deno' in process.versions || 'bun' in process.versions ? undefined : 'MainThread';

const comm = (task) => {
  try {
    return readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim();
  } catch {
    return ''; // the thread ended between the two reads
  }
};

export function workerThreadCount() {
  const tasks = readdirSync('/proc/self/task');
  if (!names) return tasks.length;
  const main = String(process.pid);
  return tasks.filter((task) => {
    const name = comm(task);
    return WORKER_NAME.test(name) || (task !== main && name === UNNAMED_YET);
  }).length;
}

/**
 * The worker threads once their count has stayed at or below `atMost` for 300 ms (a single low read
 * can fall between one thread's end and another's start), or their count at `deadlineMs`.
 */
export async function settledWorkerThreadCount(atMost, deadlineMs = 10_000) {
  const start = Date.now();
  for (let since = Date.now(); Date.now() - start < deadlineMs; ) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (workerThreadCount() > atMost) since = Date.now();
    else if (Date.now() - since >= 300) return workerThreadCount();
  }
  return workerThreadCount();
}

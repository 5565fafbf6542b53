// How many OS threads of this process (Linux: /proc/self/task) are worker threads. Runtimes start
// threads of their own at any time (Bun's HeapHelper and JSCWarmUp on a first worker; Deno a 'deno'
// thread after one ends), so where the runtime names its worker threads only those count: Node 24
// 'WorkerThread', Bun 'Worker', Deno 'worker-N'. Node 20 and 22 name none but start theirs at boot:
// there every thread counts. A plain .js file: the fresh child processes of tests import it too.
import { readdirSync, readFileSync } from 'node:fs';

const WORKER_NAME = /^(WorkerThread|Worker|worker-\d+)$/;
const namesWorkers =
  'bun' in process.versions || 'deno' in process.versions || Number(process.versions.node.split('.')[0]) >= 24;

export function workerThreadCount() {
  const tasks = readdirSync('/proc/self/task');
  if (!namesWorkers) return tasks.length;
  return tasks.filter((task) => {
    try {
      return WORKER_NAME.test(readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim());
    } catch {
      return false; // the thread ended between the two reads
    }
  }).length;
}

// Where the kernel runs an optimizer's worker, on Linux (/proc/self/task). With another process on
// one CPU, a 2-thread step is faster than one thread only while its worker runs beside that process,
// and the kernel moves each worker on its own (figures: BENCHMARKS.md, "Where the worker runs"), so
// the busy table says how often each optimizer's worker shared the calling thread's CPU.
import { readdirSync, readFileSync } from 'node:fs';

const TASKS = '/proc/self/task';

/** The ids of this process's threads ([] where /proc is not there). */
function threadIds(): number[] {
  try {
    return readdirSync(TASKS).map(Number);
  } catch {
    return [];
  }
}

/** What `make` returns, and the threads it started (an optimizer's workers; [] where /proc is not there). */
export async function withNewThreads<T>(make: () => Promise<T>): Promise<{ made: T; threads: number[] }> {
  const before = new Set(threadIds());
  const made = await make();
  return { made, threads: threadIds().filter((id) => !before.has(id)) };
}

/** The CPU thread `id` last ran on (-1 if unknown): field 39 of its stat line. */
function lastCpu(id: number): number {
  try {
    const stat = readFileSync(`${TASKS}/${id}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[36]);
  } catch {
    return -1;
  }
}

/** Whether any of `workers` last ran on the CPU the calling thread last ran on (undefined where unknown). */
export function sharesCallerCpu(workers: number[]): boolean | undefined {
  const caller = lastCpu(process.pid);
  if (caller < 0 || workers.length === 0) return undefined;
  return workers.some((id) => lastCpu(id) === caller);
}

/** Counts, at each `sample()`, sharesCallerCpu(workers); `share()` is the fraction true (NaN where unknown). */
export function sharedCpuCounter(workers: number[]): { sample: () => void; share: () => number } {
  let samples = 0;
  let shared = 0;
  return {
    sample() {
      const shares = sharesCallerCpu(workers);
      if (shares === undefined) return;
      samples++;
      if (shares) shared++;
    },
    share: () => (samples > 0 ? shared / samples : Number.NaN),
  };
}

// Where the kernel runs an optimizer's worker, on Linux (/proc/self/task): with another process on
// one CPU, a 2-thread step at 16 M took 7.4–8.0 ms with the worker on that CPU beside it and
// 11.4–12.5 ms with the worker on the calling thread's CPU (one thread: 9.2–10.9 ms). The kernel
// moves a worker now and then, each worker on its own, so two optimizers compared in one run can
// differ by where their workers happened to run; the busy table says how often each shared the caller's CPU.
import { readdirSync, readFileSync } from 'node:fs';

const TASKS = '/proc/self/task';

/** The ids of this process's threads ([] where /proc is not there). */
export function threadIds(): number[] {
  try {
    return readdirSync(TASKS).map(Number);
  } catch {
    return [];
  }
}

/** The CPU thread `id` last ran on (-1 if unknown): field 39 of its stat line. */
export function lastCpu(id: number): number {
  try {
    const stat = readFileSync(`${TASKS}/${id}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[36]);
  } catch {
    return -1;
  }
}

/** Whether any of `workers` last ran on the CPU the calling thread last ran on (false where unknown). */
export function sharesCallerCpu(workers: number[]): boolean {
  const caller = lastCpu(process.pid);
  return caller >= 0 && workers.some((id) => lastCpu(id) === caller);
}

/**
 * Counts, at each `sample()`, whether any of `workers` last ran on the CPU the calling thread last
 * ran on; `share()` is the fraction of samples where one did (NaN where /proc is not there).
 */
export function sharedCpuCounter(workers: number[]): { sample: () => void; share: () => number } {
  let samples = 0;
  let shared = 0;
  return {
    sample() {
      if (lastCpu(process.pid) < 0 || workers.length === 0) return;
      samples++;
      if (sharesCallerCpu(workers)) shared++;
    },
    share: () => (samples > 0 ? shared / samples : Number.NaN),
  };
}

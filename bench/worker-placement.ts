// `npx tsx bench/worker-placement.ts` (Linux): on a busy machine, what a 2-thread step at 16 M costs
// by where the kernel ran its worker, and where a worker runs after sleeping. BENCHMARKS.md, issue 19.
//  1. 1 and 2 threads interleaved (100 ms samples, 16 rounds) with a process burning the last CPU:
//     each 2-thread step is filed by whether its worker last ran on the calling thread's CPU.
//  2. After 500 ms on a 1-thread optimizer (the 2-thread one's worker asleep, as in 'auto''s stretches
//     on one thread), the next 40 steps of the 2-thread one: T where its worker shared the caller's CPU.
import type { RMSProp } from '../src/index.js';
import { burnerDescription, burnOneCore } from './busy.js';
import { environment } from './environment.js';
import { sharesCallerCpu, withNewThreads } from './placement.js';
import { zeroCopy } from './threads.js';

const n = 1 << 24;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

async function create(threads: number): Promise<{ opt: RMSProp; workers: number[] }> {
  const { made: opt, threads: workers } = await withNewThreads(() => zeroCopy(n, threads));
  opt.step(); // compiled before anything is timed
  return { opt, workers };
}

const burner = burnOneCore();
try {
  const one = await create(1);
  const two = await create(2);
  if (two.workers.length === 0)
    throw new Error(
      `no new thread in /proc/self/task (Linux only) for a 2-thread optimizer (${two.opt.threads} threads)`,
    );
  const oneMs: number[] = [];
  const apartMs: number[] = [];
  const togetherMs: number[] = [];
  for (let round = 0; round < 16; round++) {
    for (const which of round % 2 === 0 ? [one, two] : [two, one]) {
      const end = performance.now() + 100;
      while (performance.now() < end) {
        const start = performance.now();
        which.opt.step();
        const ms = performance.now() - start;
        if (which === one) oneMs.push(ms);
        else (sharesCallerCpu(two.workers) === true ? togetherMs : apartMs).push(ms);
      }
    }
  }
  console.log(`16 M elements, simd, busy (${burnerDescription()}), ${environment()}: mean ms a step`);
  console.log(`  1 thread                                     ${mean(oneMs).toFixed(2)} (${oneMs.length} steps)`);
  console.log(`  2 threads, worker on another CPU              ${mean(apartMs).toFixed(2)} (${apartMs.length} steps)`);
  console.log(
    `  2 threads, worker on the calling thread's CPU ${mean(togetherMs).toFixed(2)} (${togetherMs.length} steps)`,
  );
  console.log("After 500 ms asleep, the next 40 steps on 2 threads (T: worker on the calling thread's CPU):");
  for (let round = 0; round < 12; round++) {
    const until = performance.now() + 500;
    while (performance.now() < until) one.opt.step();
    let places = '';
    for (let s = 0; s < 40; s++) {
      two.opt.step();
      places += sharesCallerCpu(two.workers) === true ? 'T' : 'A';
    }
    console.log(`  ${places}`);
  }
  one.opt.dispose();
  two.opt.dispose();
} finally {
  burner.stop();
}

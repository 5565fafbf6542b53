// `npx tsx bench/js-backend.ts [--quick] [--no-pin]`: the js backend against the plain JS loop
// (bench/js-backend-table.ts) in Node (or Bun: `bun bench/js-backend.ts`), pinned to one CPU like `npm run bench`, with the machine's
// load beside the figures (ratios from one interleaved run are what to compare on a shared machine).
import { execFileSync } from 'node:child_process';
import { RMSProp } from '../src/index.js';
import { environment, loadAverage } from './environment.js';
import { jsBackendRows, TABLE_HEADER } from './js-backend-table.js';
import { FULL_PLAN, QUICK_PLAN } from './measure.js';

const args = process.argv.slice(2);
let pinning = 'not pinned (--no-pin)';
if (!args.includes('--no-pin')) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    pinning = 'pinned to CPU 0';
  } catch {
    pinning = 'not pinned (taskset unavailable)';
  }
}
const plan = args.includes('--quick') ? QUICK_PLAN : FULL_PLAN;
console.log(`js backend vs plain JS loop (ns/element): ${environment()}; ${pinning}`);
console.log(`${plan.rounds} interleaved rounds per size; medians\n`);
for (const line of TABLE_HEADER) console.log(line);
await jsBackendRows(RMSProp, plan, (row) => console.log(row));
console.log(`\nload ${loadAverage()} at the end`);

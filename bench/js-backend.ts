// `npx tsx bench/js-backend.ts [--quick] [--no-pin]`: the js backend against the plain JS loop
// (bench/js-backend-table.ts) in Node (or Bun: `bun bench/js-backend.ts`), pinned to one CPU like `npm run bench`, with the machine's
// load beside the figures (ratios from one interleaved run are what to compare on a shared machine).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { RMSProp } from '../src/index.js';
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
let commit = 'unknown';
try {
  const git = (...a: string[]) =>
    execFileSync('git', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  commit = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? ' with uncommitted changes in src/' : ''}`;
} catch {
  // not a git checkout
}
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const plan = args.includes('--quick') ? QUICK_PLAN : FULL_PLAN;
const bun = (process.versions as { bun?: string }).bun;
const runtime = bun ? `Bun ${bun} (JavaScriptCore)` : `Node ${process.version} (V8 ${process.versions.v8})`;
console.log(
  `js backend vs plain JS loop (ns/element): ${os.cpus()[0].model.trim()}, ${runtime}, ${new Date().toISOString()}, commit ${commit}, ${pinning}, load average ${load()} at the start`,
);
console.log(`${plan.rounds} interleaved rounds per size; medians\n`);
for (const line of TABLE_HEADER) console.log(line);
await jsBackendRows(RMSProp, plan, (row) => console.log(row));
console.log(`\nload average ${load()} at the end`);

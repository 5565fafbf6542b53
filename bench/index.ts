// `npm run bench` (full, about 7.5 minutes with the TF.js drop-in: writes bench/results/) and `npm run bench -- --quick`
// (about 75 s: prints only). Options: --cpu N pins the process to CPU N (default 0), --no-pin.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { FULL_PLAN, measure, QUICK_PLAN, type Plan } from './measure.js';
import { buildNative } from './native.js';
import { commit, cpu as cpuModel, environment, loadAverage } from './environment.js';
import {
  markdownTable,
  rows,
  sizeLabel,
  sizeTable,
  summaryTable,
  targets,
  targetTable,
  textTable,
  type SizeResult,
} from './report.js';
import { initTfjs } from './tfjs.js';
import { burnerDescription } from './busy.js';
import { manyTensorsTable, type ManyTensorsRow } from './many-tensors.js';
import { autoTable, type ThreadsRow } from './threads.js';
import { tfjsAdapterReport } from './tfjs-adapter.js';
import { SEED } from './plain.js';
import { overheadVariants, variantsAt, type Variant } from './variants.js';
import { throughputChart } from './chart.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const cpuArg = args.indexOf('--cpu');
const cpu = cpuArg >= 0 ? Number(args[cpuArg + 1]) : 0;

const K = 1024;
const M = K * K;
const SIZES = quick
  ? [64, 1 * K, 16 * K, 256 * K, 1 * M]
  : [64, 256, 1 * K, 4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M, 16 * M];
const PLAN: Plan = quick ? QUICK_PLAN : FULL_PLAN;

/**
 * The two vCPUs of the reference machine run plain JS at different speeds, so every thread of this
 * process (V8's compiler and GC helpers included) and every child is pinned to one CPU.
 */
function pin(): string {
  if (args.includes('--no-pin')) return 'not pinned (--no-pin)';
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
    return `pinned to CPU ${cpu} (taskset; every thread and child)`;
  } catch {
    return 'not pinned (taskset unavailable)';
  }
}

const pinning = pin();
const t0 = performance.now();
const native = buildNative();
const tfjs = await initTfjs();
process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)} s] C built, TF.js ready\n`);
const environmentLine = environment();
const env = {
  date: new Date().toISOString(),
  cpu: cpuModel(),
  memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  v8: process.versions.v8,
  commit: commit(),
  load: loadAverage(),
  pinning,
  native: native.compiler ?? null,
  nativeSkipped: native.skipped ?? null,
  tfjs,
  mode: quick ? 'quick' : 'full',
  plan: PLAN,
};

console.log(
  `RMSProp step, seed preset (S = ${SEED.decay} S + ${+(1 - SEED.decay).toPrecision(12)} g²; w −= ${SEED.lr} g / √(S + ${SEED.eps})), float32`,
);
console.log(`${environmentLine}; ${env.memory}, ${env.os}`);
console.log(
  `${pinning}; per size, ${PLAN.rounds} rounds, each sampling every variant once in a shuffled order (long steps in fewer rounds, at least ${PLAN.minRounds}); medians`,
);
console.log(`${tfjs}`);
console.log(native.skipped ? `native C: skipped: ${native.skipped}` : `native C: ${native.compiler}`);
console.log(
  'Columns: × = times faster than that; % of stream = share of the streaming limit for the same bytes; time / C = our time over native C time.\n',
);

const started = t0;
const progress = (what: string) =>
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${what}\n`);

const results: SizeResult[] = [];
const measureGroup = async (n: number, variants: Variant[]): Promise<SizeResult> => {
  progress(`measuring ${sizeLabel(n)}`);
  const measured = await measure(variants, PLAN);
  for (const v of variants) v.dispose?.();
  return { n, variants: variants.map(({ key, label, bytes }) => ({ key, label, bytes })), measured };
};
for (const n of SIZES) {
  progress(`setting up ${sizeLabel(n)}`);
  const result = await measureGroup(n, await variantsAt(n, native.builds));
  results.push(result);
  console.log(`${sizeLabel(n)} elements (${n})\n${sizeTable(result)}\n`);
}
const overhead = await measureGroup(100 * K, await overheadVariants());
const overheadHeader = ['variant', 'ns/element', 'GB/s'];
const overheadRows = rows(overhead).map((row) => row.slice(0, 3));
console.log(`Per-call overhead, 100 K elements in total\n${textTable(overheadHeader, overheadRows)}\n`);

// Threads need every CPU, so they run in a child process whose affinity is widened again.
progress('measuring threads (1 vs 2 vs auto, unpinned child process)');
const threadsScript = fileURLToPath(new URL('threads.ts', import.meta.url));
const allCpus = `0-${os.cpus().length - 1}`;
const threadRows: ThreadsRow[] = JSON.parse(
  execFileSync(
    'taskset',
    ['-c', allCpus, process.execPath, ...process.execArgv, threadsScript, '--json', ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  ),
);
const threadHeader = [
  'elements',
  '1 thread ns/el',
  '2 threads ns/el',
  'auto ns/el (threads)',
  '2 threads vs 1',
  'auto vs 1',
  'auto vs 1, 2 ms apart',
  'stream, 2 threads ns/el',
  '2 threads % of it',
];
const threadTableRows = threadRows.map(({ elements, autoThreads, ns }) => [
  sizeLabel(elements),
  ns['1'].toFixed(3),
  ns['2'].toFixed(3),
  `${ns.auto.toFixed(3)} (${autoThreads})`,
  `${(ns['1'] / ns['2']).toFixed(2)}×`,
  `${(ns['1'] / ns.auto).toFixed(2)}×`,
  `${(ns['1, apart'] / ns['auto, apart']).toFixed(2)}×`,
  ns['stream 2'].toFixed(3),
  `${((100 * ns['stream 2']) / ns['2']).toFixed(0)} %`,
]);
console.log(
  `Threads (simd, zero-copy, not pinned: ${os.cpus().length} CPUs)\n${textTable(threadHeader, threadTableRows)}\n`,
);
const auto = autoTable(threadRows, burnerDescription());
console.log(
  `threads: 'auto' idle, 2 ms apart and busy (speed ratios, issue 19)\n${textTable(auto.header, auto.body)}\n`,
);
progress('measuring many tensors (1 000 and 16 000 × 256, clipNorm; unpinned child process)');
const manyRows: ManyTensorsRow[] = JSON.parse(
  execFileSync(
    'taskset',
    [
      '-c',
      allCpus,
      process.execPath,
      ...process.execArgv,
      fileURLToPath(new URL('many-tensors.ts', import.meta.url)),
      '--json',
      ...(quick ? ['--quick'] : []),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  ),
);
const many = manyTensorsTable(manyRows);
console.log(
  `Many tensors (simd, zero-copy, clipNorm; time ratios, lower is better)\n${textTable(many.header, many.body)}\n`,
);
progress('measuring the TF.js drop-in (bench/tfjs-adapter.ts)');
console.log(`${await tfjsAdapterReport(quick, progress)}\n`);

const ts = targets(results, overhead);
console.log(`Summary: ns/element (lower is better) and the simd backend's ratios\n${summaryTable(results)}\n`);
console.log(`Targets (issue 3)\n${targetTable(ts)}`);
progress('done measuring');

if (!quick) {
  const dir = fileURLToPath(new URL('results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}results.json`,
    `${JSON.stringify({ env, sizes: results, overhead, threads: threadRows, manyTensors: manyRows, targets: ts }, null, 2)}\n`,
  );
  const subtitle = `${env.cpu}, Node ${env.node}, ${env.date.slice(0, 10)}, ${pinning.split(' (')[0]}`;
  const { svg, png } = await throughputChart(results, subtitle);
  writeFileSync(`${dir}throughput.svg`, svg);
  writeFileSync(`${dir}throughput.png`, png);
  const md = [
    `Environment: ${environmentLine}; ${env.memory}, ${env.os}; ${pinning}.`,
    `Peers: ${tfjs}. Native: ${native.compiler ?? `skipped: ${native.skipped}`}.`,
    `### Summary: ns/element and the simd backend's ratios\n\n${summaryTable(results, markdownTable)}`,
    ...results.map((r) => `### ${sizeLabel(r.n)} elements\n\n${sizeTable(r, markdownTable)}`),
    `### Per-call overhead (100 K elements in total)\n\n${markdownTable(overheadHeader, overheadRows)}`,
    `### Threads (simd, zero-copy, ${os.cpus().length} CPUs, not pinned)\n\n${markdownTable(threadHeader, threadTableRows)}`,
    `### threads: 'auto' idle, 2 ms apart and busy (speed ratios)\n\n${markdownTable(auto.header, auto.body)}`,
    `### Many tensors (clipNorm; time ratios)\n\n${markdownTable(many.header, many.body)}`,
    `### Targets\n\n${targetTable(ts, markdownTable)}`,
  ].join('\n\n');
  writeFileSync(`${dir}results.md`, `${md}\n`);
  console.log(`\nwrote ${dir}results.json, results.md, throughput.svg, throughput.png`);
}

// `npx tsx bench/engines.ts [--quick]`: the seed step at 1 M elements on every JavaScript runtime
// installed here (Node 20 from PATH, Node 22 and 24 from .ci/node-versions, Bun and Deno from
// .ci/runtimes), one markdown row each, in one run. Each runtime runs this file with --child: one
// interleaved run (bench/measure.ts) of simd, wasm, js, the plain JS loop and simd on 2 threads,
// over the built package (dist/, as users get it; `npm run build` first). Runtimes run one after
// another, so compare ratios within a row; across rows the machine's load may differ (printed).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { environment, loadAverage, runtime } from './environment.js';
import { FULL_PLAN, measure, QUICK_PLAN } from './measure.js';
import { gradient, libraryVariants, type RMSPropClass, threadVariants } from './steps.js';

const ELEMENTS = 1024 * 1024;
const KEYS = ['simd', 'wasm', 'js', 'plain', 'threads-2'] as const;
export const ENGINE_HEADER = ['| engine | simd | wasm | js | plain JS | 2 threads |', '|---|---|---|---|---|---|'];

const args = process.argv.slice(2);
const plan = args.includes('--quick') ? QUICK_PLAN : FULL_PLAN;
const root = fileURLToPath(new URL('..', import.meta.url));

/** In the runtime under test: one interleaved run, printed as one JSON line (ns/element per key). */
async function child(): Promise<void> {
  const lib = (await import(new URL('../dist/index.js', import.meta.url).href)).RMSProp as RMSPropClass;
  const g = gradient(ELEMENTS);
  const library = await libraryVariants(lib, g);
  const { variants: threaded } = await threadVariants(lib, g);
  const all = [...library, ...threaded];
  const used = all.filter((v) => (KEYS as readonly string[]).includes(v.key));
  for (const v of all) if (!used.includes(v)) v.dispose?.();
  // threadVariants labels the 2-thread variant by the threads it got: a runtime without shared memory runs 1.
  const twoThreads = used.find((v) => v.key === 'threads-2')!.label;
  const measured = await measure(used, plan);
  for (const v of used) v.dispose?.();
  const ns = Object.fromEntries(KEYS.map((key) => [key, measured[key].nsPerStep / ELEMENTS]));
  console.log(JSON.stringify({ engine: runtime(), ns, twoThreads }));
}

interface Engine {
  name: string;
  command: string;
  args: string[];
  install: string;
}

const nodeArgs = ['--import', 'tsx', 'bench/engines.ts', '--child'];
const ENGINES: Engine[] = [
  { name: 'Node 20', command: 'node', args: nodeArgs, install: 'the machine’s node' },
  ...[22, 24].map((line) => ({
    name: `Node ${line}`,
    command: `${root}.ci/node-versions/node_modules/node${line}/bin/node`,
    args: nodeArgs,
    install: 'npm ci --prefix .ci/node-versions',
  })),
  {
    name: 'Bun',
    command: `${root}.ci/runtimes/node_modules/bun/bin/bun`,
    args: ['bench/engines.ts', '--child'],
    install: 'npm ci --prefix .ci/runtimes',
  },
  {
    name: 'Deno',
    command: `${root}.ci/runtimes/node_modules/deno/deno`,
    // --sloppy-imports: bench/ imports its TypeScript siblings as .js, as tsc wants.
    args: ['run', '-A', '--sloppy-imports', 'bench/engines.ts', '--child'],
    install: 'npm ci --prefix .ci/runtimes',
  },
];

async function parent(): Promise<void> {
  if (!existsSync(`${root}dist/index.js`)) throw new Error('dist/ is missing: `npm run build` first');
  const extra = args.filter((a) => a === '--quick');
  console.log(
    `Seed step at ${ELEMENTS / 1024 ** 2} M elements, ns/element: ${environment({ runtime: `the runtime each row names (started from ${runtime()})` })}; ${plan.rounds} interleaved rounds per engine, medians\n`,
  );
  for (const line of ENGINE_HEADER) console.log(line);
  const notes: string[] = [];
  for (const engine of ENGINES) {
    if (engine.command.includes('/') && !existsSync(engine.command)) {
      notes.push(`${engine.name}: not installed (${engine.install})`);
      continue;
    }
    const before = loadAverage();
    const output = execFileSync(engine.command, [...engine.args, ...extra], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 600_000,
    });
    const { engine: name, ns, twoThreads } = JSON.parse(output.trim().split('\n').pop()!);
    const cell = (key: string) => (ns[key] as number).toFixed(2);
    const threads = twoThreads === 'simd, 2 threads' ? cell('threads-2') : `${cell('threads-2')} (${twoThreads})`;
    console.log(`| ${name} | ${cell('simd')} | ${cell('wasm')} | ${cell('js')} | ${cell('plain')} | ${threads} |`);
    notes.push(`${engine.name}: load average ${before} before, ${loadAverage()} after`);
  }
  console.log(`\n${notes.join('\n')}`);
}

await (args.includes('--child') ? child() : parent());

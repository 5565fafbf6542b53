// One way to run a user's script in a fresh Node process, against the built package (dist/), as a
// user runs it: `import … from 'rmsprop-wasm/tfjs'` resolves through package.json's exports. A fresh
// process matters: the suite's earlier tests have compiled every wasm build and registered every
// class, which hides a missing compile or registration.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** The runtime the tests run on: .ci/run runs the unit tier on Node, Bun and Deno. */
export const runtime: 'node' | 'bun' | 'deno' = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';

/**
 * Whether a test does not apply on this runtime (`reasons` names those where it does not, and why),
 * printed so that the skip shows in the output: for `describe.skipIf` / `it.skipIf`.
 */
export function doesNotApply(what: string, reasons: Partial<Record<typeof runtime, string>>): boolean {
  const reason = reasons[runtime];
  if (reason) console.warn(`skipped on ${runtime}: ${what}: ${reason}`);
  return reason !== undefined;
}

/**
 * The arguments that make this runtime (process.execPath) run `script`, an ES module's text, with
 * V8 flags where V8 runs. Deno's `-e` reads CommonJS whatever --input-type says, so it gets `eval`.
 */
export function moduleArgs(script: string, v8Flags: string[] = []): string[] {
  if (runtime === 'deno') return ['eval', ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(',')}`] : []), script];
  if (runtime === 'bun' && v8Flags.length) throw new Error(`Bun runs JavaScriptCore, not V8: no ${v8Flags.join(' ')}`);
  return [...v8Flags, '--input-type=module', '-e', script];
}

export interface ChildResult {
  /** The exit code (null if a signal ended it). */
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Children that may run at once, one per core: tests that wait for children run concurrently
 * (`it.concurrent`), and more children than cores would only take turns on them.
 */
const MAX_CHILDREN = Math.max(1, availableParallelism());
let running = 0;
const queued: Array<() => void> = [];

/**
 * Runs this runtime (Node, or Bun or Deno in .ci/run) with `args` in the repository's root, once
 * fewer than MAX_CHILDREN run (the timeout counts from the start). Never rejects for a non-zero
 * exit: the caller checks `status`.
 */
export async function runNode(args: string[], timeout = 120_000): Promise<ChildResult> {
  if (!existsSync(`${root}dist/tfjs/index.js`)) throw new Error('dist/ is missing: build it with `npx tsc -p .` first');
  // A finishing child hands its place to the first one queued, so that no newcomer takes it between.
  if (running < MAX_CHILDREN) running++;
  else await new Promise<void>((resolve) => queued.push(resolve));
  try {
    return await new Promise((resolve) => {
      execFile(process.execPath, args, { cwd: root, timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ status, stdout, stderr });
      });
    });
  } finally {
    const next = queued.shift();
    if (next) next();
    else running--;
  }
}

/**
 * Runs `script` (an ES module's text) with `node --input-type=module -e` (Deno: `deno eval`) in the repository's root,
 * so that bare imports resolve as in a project that installed this package.
 */
export function runScript(script: string, timeout?: number): Promise<ChildResult> {
  return runNode(moduleArgs(script), timeout);
}

/**
 * Runs `script`, which prints one JSON value as its last line of output, and returns that value;
 * `v8Flags` as moduleArgs takes them.
 */
export async function runForJson<T = unknown>(script: string, timeout?: number, v8Flags: string[] = []): Promise<T> {
  const { status, stdout, stderr } = await runNode(moduleArgs(script, v8Flags), timeout);
  const last = stdout.trim().split('\n').pop() ?? '';
  if (status !== 0) throw new Error(`the child process exited with ${status}:\n${stdout}\n${stderr}`);
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`the child process printed no JSON last:\n${stdout}\n${stderr}`);
  }
}

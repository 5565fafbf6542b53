// The environment every figure goes with (CONTRIBUTING.md, BENCHMARKS.md): CPU, runtime, date, commit and the
// machine's load, for the Node programs of bench/ (and their Bun and Deno children). Node-only: the browser
// pages in web/ say their own environment.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** The checkout this file is in: the commit is this library's wherever the program was started. */
const CHECKOUT = fileURLToPath(new URL('..', import.meta.url));

/** The CPU as precisely as the OS says (a VM may report only "AMD EPYC", so family and model too). */
export function cpu(): string {
  const cpus = os.cpus();
  let detail = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name: string) => info.match(new RegExp(`^${name}\\s*: (.*)$`, 'm'))?.[1];
    const [family, model] = [field('cpu family'), field('model')];
    if (family !== undefined && model !== undefined) detail = ` (family ${family}, model ${model})`;
  } catch {
    // not Linux
  }
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}${detail}, ${cpus.length} logical CPUs`;
}

/** The JavaScript runtime and its engine: Deno and Bun also answer process.version, with Node's number. */
export function runtime(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string; v8: string } } }).Deno;
  if (deno) return `Deno ${deno.version.deno} (V8 ${deno.version.v8})`;
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun) return `Bun ${versions.bun} (JavaScriptCore)`;
  return `Node ${process.version} (V8 ${versions.v8})`;
}

/**
 * The library commit measured, and whether its sources (`paths`, from the checkout's top) differ from it;
 * `at` is a directory of the checkout (another one's for a build of an older commit).
 */
export function commit(paths = ['src', 'assembly'], at = CHECKOUT): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', at, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', ...paths.map((path) => `:(top)${path}`)) !== '';
    const changes = paths.map((path) => `${path}/`).join(' or ');
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ` with uncommitted changes in ${changes}` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** The load averages over 1, 5 and 15 minutes: on a shared machine, what to read the figures against. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

/** Now, to the minute: `2026-12-07 14:05 UTC`. */
export function utcMinute(): string {
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * The line to print beside figures, taken before measuring (the load is the start's). `runtime` names the
 * engine that ran the figures where that is not this process (a child runtime, a browser); `commit`, the
 * commit where git cannot say it.
 */
export function environment(names: { runtime?: string; commit?: string } = {}): string {
  return `${cpu()}, ${names.runtime ?? runtime()}, ${utcMinute()}, commit ${names.commit ?? commit()}, load ${loadAverage()} at the start`;
}

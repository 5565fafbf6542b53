// A busy machine: another process that burns one core (another request, a browser tab, TF.js'
// forward pass in a worker), pinned with taskset to the last CPU where taskset exists.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

const BURN = 'for (;;) {}';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** What the burner is, for the tables. */
export function burnerDescription(): string {
  const last = os.cpus().length - 1;
  return hasTaskset() ? `a process burning CPU ${last}` : 'a process burning one core (not pinned: no taskset)';
}

/** Starts a process that spins until `stop()`. */
export function burnOneCore(): { stop: () => void } {
  const last = os.cpus().length - 1;
  const child: ChildProcess = hasTaskset()
    ? spawn('taskset', ['-c', String(last), process.execPath, '-e', BURN], { stdio: 'ignore' })
    : spawn(process.execPath, ['-e', BURN], { stdio: 'ignore' });
  const stop = () => void child.kill('SIGKILL');
  process.once('exit', stop);
  return { stop };
}

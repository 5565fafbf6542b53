// What `create` and `createSync` decide and build before an optimizer exists: its groups, memory
// plan, backend and threads (plan), then its memory and workers (assemble). Both take this one path;
// `create` can also wait, and so falls back where the runtime refuses wasm or workers.
import {
  backendChoice,
  compileBackend,
  createBackend,
  MAX_HEAP_BYTES,
  releaseBackend,
  sharedBuildRefused,
  type Backend,
} from './backends.js';
import { readGroups, type GroupSpec } from './inputs.js';
import { planLayout, type Layout } from './layout.js';
import { isRecord, readOptions, type BackendName, type RMSPropOptions } from './options.js';
import { chooseThreads, refusedBy, threadSupport, tryWorkers, WORKER_ANSWER_MS } from './thread-support.js';
import { ThreadPool } from './threads.js';
import { takeModules, type WasmModules } from './wasm-modules.js';

/** Everything `create` decides before memory exists: the groups, the layout, the backend and threads. */
interface Plan {
  readonly specs: readonly GroupSpec[];
  readonly layout: Layout;
  readonly name: BackendName;
  readonly backendReason: string | undefined;
  readonly threads: number;
  readonly threadsReason: string | undefined;
}

function plan(params: unknown, options: RMSPropOptions | undefined): Plan {
  const specs = readGroups(params, options);
  const wide = specs[0].options;
  const { name, reason: backendReason } = backendChoice(wide.backend);
  const single = planLayout(specs);
  if (single.bytes > MAX_HEAP_BYTES) {
    throw new RangeError(
      `these parameters need ${single.bytes} bytes of optimizer memory; WebAssembly memory holds at most ${MAX_HEAP_BYTES} bytes (4 GiB)`,
    );
  }
  let { threads, reason: threadsReason } = chooseThreads(wide.threads, name, single.elements);
  // again with the threads' scratch areas for compressed state (one per thread): as many as fit
  let layout = planLayout(specs, threads);
  if (layout.bytes > MAX_HEAP_BYTES) {
    const [asked, over] = [threads, layout.bytes];
    while (layout.bytes > MAX_HEAP_BYTES) layout = planLayout(specs, --threads);
    threadsReason = `the scratch areas of ${asked} threads for compressed state would take this optimizer's memory to ${over} bytes, past WebAssembly's ${MAX_HEAP_BYTES} (4 GiB); ${threads === 1 ? 'one thread fits' : `${threads} fit`}`;
  }
  return { specs, layout, name, backendReason, threads, threadsReason };
}

/** What the RMSProp constructor takes: the plan, with its memory and its workers (if any). @internal */
export interface Parts extends Plan {
  readonly backend: Backend;
  readonly pool: ThreadPool | undefined;
}

/** Creates the plan's memory and starts its workers, if it has more than one thread; `ready` settles once they run. */
function assemble(planned: Plan): { parts: Parts; ready: Promise<void> | undefined } {
  const backend = createBackend(planned.name, planned.layout.bytes, planned.threads > 1);
  if (planned.threads === 1) return { parts: { ...planned, backend, pool: undefined }, ready: undefined };
  try {
    const { pool, ready } = ThreadPool.start(
      planned.threads,
      backend.shared!.module,
      backend.shared!.memory,
      backend.kernel,
      planned.layout.controlAt,
      planned.layout.jobsAt,
      planned.layout.jobInts,
    );
    return { parts: { ...planned, backend, pool }, ready };
  } catch (error) {
    releaseBackend(backend);
    throw error;
  }
}

/** `create`'s parts: compiled and with every worker running (or silent for 10 s), or one thread (or js) saying why not. @internal */
export async function assembleAsync(params: unknown, options: RMSPropOptions | undefined): Promise<Parts> {
  let planned = plan(params, options);
  try {
    // (threads take the one-thread build, saying why, where only the shared build is refused)
    const oneThread = await compileBackend(planned.name, planned.threads > 1);
    if (oneThread) planned = { ...planned, threads: 1, threadsReason: oneThread };
  } catch (error) {
    // A runtime may refuse to compile wasm although it validates it (a page's CSP without
    // 'wasm-unsafe-eval'): compileBackend records why, and 'auto' then falls back to js.
    if (planned.specs[0].options.backend !== 'auto') throw error;
    planned = { ...planned, name: 'js', backendReason: (error as Error).message, threads: 1, threadsReason: undefined };
  }
  try {
    const { parts, ready } = assemble(planned);
    await answeredOrSilent(ready);
    return parts;
  } catch (error) {
    if (planned.threads === 1) throw error;
    // Workers refused, at once or when they started (a page's CSP, a sandbox, an engine that cannot
    // post shared memory to a worker): one thread, saying why. ThreadPool has ended them.
    await compileBackend(planned.name);
    return assemble({ ...planned, threads: 1, threadsReason: refusedBy(error) }).parts;
  }
}

/**
 * Settles when the workers run, rejects if one is refused, or resolves after WORKER_ANSWER_MS of
 * silence: steps then run without the silent ones (a refusal after that marks the pool dead, and the
 * next step says why, as after createSync).
 */
async function answeredOrSilent(ready: Promise<void> | undefined): Promise<void> {
  if (!ready) return;
  ready.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, WORKER_ANSWER_MS);
  });
  try {
    await Promise.race([ready, silence]);
  } finally {
    clearTimeout(timer);
  }
}

/** `createSync`'s parts, from wasm compiled already (see `compileForOptions`); workers start in the background. @internal */
export function assembleSync(params: unknown, options: RMSPropOptions | undefined): Parts {
  const { parts, ready } = assemble(plan(params, options));
  ready?.catch(() => {}); // a refusal marks the pool dead, and the next step says why
  return parts;
}

/** Ends the parts' workers and frees their memory (a constructor that threw leaves nothing running). @internal */
export function releaseParts(parts: Parts): void {
  parts.pool?.dispose();
  releaseBackend(parts.backend);
}

/** What `RMSProp.ready` takes: the options that decide the builds, and builds compiled already. */
export interface ReadyOptions extends Pick<RMSPropOptions, 'backend' | 'threads'> {
  /**
   * The package's wasm builds as WebAssembly.Modules, where the runtime runs wasm only as a module
   * the program imports (Cloudflare Workers): they run in place of the inlined bytes, which such a
   * runtime refuses to compile. Each is checked to be this version's build for its backend.
   */
  readonly modules?: WasmModules | undefined;
}

/**
 * Compiles every wasm build that `createSync` with these options can need at any size: the
 * backend's single-thread build (threads: 1, 'auto' below its threshold, threads unavailable or
 * whose scratch areas do not fit) and its shared-memory build when `threads` is not 1. Each option
 * is checked as `create` checks it; the rules between options wait for `create`, whose groups may
 * complete them (`nesterov` here, `momentum` in every group).
 * @internal
 */
export async function compileForOptions(options: ReadyOptions | undefined) {
  // `modules` is ready's own; the rest are options of create, each checked as create checks it
  const { modules, ...rest }: ReadyOptions = isRecord(options) ? options : {};
  const read = readOptions(isRecord(options) ? rest : (options ?? {}));
  const restore = takeModules(modules); // (the backend's choice below reads them)
  try {
    const { name } = backendChoice(read.backend ?? 'auto');
    const threads = read.threads ?? 1;
    const shared =
      threads !== 1 && name !== 'js' && !threadSupport().unavailable && sharedBuildRefused(name) === undefined;
    // the shared build is compiled whatever the worker says: a refusal only makes createSync take one thread
    await Promise.all([shared && tryWorkers(), shared && compileBackend(name, true), compileBackend(name, false)]);
  } catch (error) {
    restore(); // a call that throws takes no module
    throw error;
  }
}

// Browsers (and any runtime with Web Workers but no Node): a classic worker from a blob: URL, so
// that no worker file has to ship. A page's Content-Security-Policy may forbid that: the pool then
// reports which directive refused it.
import type { Platform } from './types.js';

const PRELUDE = `const onMessage = (handler) => { self.onmessage = (event) => handler(event.data); };
const ready = () => self.postMessage('ready');`;

type Global = typeof globalThis & {
  navigator?: { hardwareConcurrency?: number };
  WorkerGlobalScope?: unknown;
  addEventListener?: (type: string, listener: (event: Event) => void) => void;
  removeEventListener?: (type: string, listener: (event: Event) => void) => void;
};
const global = globalThis as Global;

const CSP_HINT =
  "the page's Content-Security-Policy must allow blob: workers (worker-src 'self' blob:, or script-src 'self' blob: when there is no worker-src) and not require Trusted Types for scripts (require-trusted-types-for 'script'), which refuses a worker's plain URL";

/** The directives that can refuse a worker (those that govern scripts, and Trusted Types). */
const WORKER_DIRECTIVES = new Set([
  'worker-src',
  'script-src',
  'script-src-elem',
  'default-src',
  'require-trusted-types-for',
  'trusted-types',
]);

/** A CSP violation seen while the worker started: the directive as the browser names it, and whether it refused the blob: URL. */
interface Violation {
  readonly directive: string;
  readonly blob: boolean;
}

/** Describes why the browser refused or failed a worker, naming a CSP directive when one was violated. */
function refusal(violated: Violation | undefined, detail: string | undefined): string {
  if (violated?.blob)
    // (browsers name worker-src as the effective directive even where the page has none and script-src or default-src applies)
    return `the browser refused to start a worker: the page's Content-Security-Policy does not allow blob: workers (directive '${violated.directive}', or script-src or default-src where the page has no worker-src): allow threads with worker-src 'self' blob:`;
  if (violated)
    return `the browser refused to start a worker: the page's Content-Security-Policy directive '${violated.directive}' refused it${detail ? ` (${detail})` : ''}`;
  return `the browser could not start a worker${detail ? ` (${detail})` : ''}; if the page has a Content-Security-Policy, ${CSP_HINT}`;
}

export const platform: Platform = {
  cores: () => global.navigator?.hardwareConcurrency ?? 1,
  workersUnavailable: () => (typeof Worker === 'undefined' ? 'this runtime has no Web Workers' : undefined),
  canWait: typeof global.WorkerGlobalScope !== 'undefined',
  startWorker(program, events) {
    let violated: Violation | undefined;
    const onViolation = (event: Event) => {
      const { blockedURI, effectiveDirective } = event as SecurityPolicyViolationEvent;
      const blob = blockedURI === 'blob' || blockedURI?.startsWith('blob:') === true;
      // a blob: refusal is the one to report; another that can refuse a worker (Trusted Types) only if alone
      if (blob || (!violated && WORKER_DIRECTIVES.has(effectiveDirective)))
        violated = { directive: effectiveDirective, blob };
    };
    global.addEventListener?.('securitypolicyviolation', onViolation);
    const stopListening = () => global.removeEventListener?.('securitypolicyviolation', onViolation);
    const url = URL.createObjectURL(new Blob([`${PRELUDE}\n${program}`], { type: 'text/javascript' }));
    let worker: Worker;
    try {
      worker = new Worker(url);
    } catch (error) {
      stopListening();
      URL.revokeObjectURL(url);
      throw new Error(refusal(violated, (error as Error)?.message || undefined));
    }
    worker.onmessage = () => {
      stopListening();
      URL.revokeObjectURL(url);
      events.message();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      // The violation event is queued as a task too: let it arrive before describing the failure.
      setTimeout(() => {
        stopListening();
        URL.revokeObjectURL(url);
        events.failed(refusal(violated, event.message || undefined));
      }, 0);
    };
    return {
      postMessage: (message) => worker.postMessage(message),
      terminate: async () => {
        stopListening();
        worker.onmessage = null;
        worker.onerror = null;
        worker.terminate();
      },
    };
  },
};

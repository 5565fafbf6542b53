// What the thread pool needs from the platform it runs on. Each platform has its own module
// (node.ts, browser.ts): threads.ts and thread-support.ts import node.ts, which hands over to
// browser.ts where there is no Node (a page loading dist/ as it ships), and package.json's `browser`
// field maps it to browser.ts for browser bundles, so that they contain no Node code.

/** A started worker, as the pool drives it. */
export interface PlatformWorker {
  postMessage(message: unknown): void;
  /** Ends the worker; resolves once it is gone. */
  terminate(): Promise<void>;
}

export interface WorkerEvents {
  /** The worker posted a message (the pool's workers post one: 'ready'). */
  message(): void;
  /** The worker could not start, threw, or exited; `reason` is never empty. */
  failed(reason: string): void;
}

export interface Platform {
  /** Cores worth using for one optimizer's steps. */
  cores(): number;
  /** Why this runtime cannot start workers at all, or undefined. */
  workersUnavailable(): string | undefined;
  /** Whether the calling thread may block in Atomics.wait (a browser's main thread may not). */
  readonly canWait: boolean;
  /**
   * Starts a worker running `program`: a script whose first lines receive `onMessage(handler)` and
   * `ready()` from the platform's prelude (see threads.ts, workerMain).
   */
  startWorker(program: string, events: WorkerEvents): PlatformWorker;
}

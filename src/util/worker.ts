import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { withProcessCpus } from './affinity.ts';

export interface StartWorkerOptions {
  /**
   * false: V8's memory reducer off for this worker's heap (the control thread: src/daemon/thread.ts says why).
   */
  memoryReducer?: boolean;
  /**
   * false: no concurrent TurboFan for this worker's isolate: it optimizes on its own thread instead of posting jobs to
   * V8's platform threads (V8 creates an isolate's OptimizingCompileDispatcher only if the flag is on at its setup).
   */
  concurrentRecompilation?: boolean;
}

/** The V8 flag behind each option. */
const FLAGS = { memoryReducer: 'memory-reducer', concurrentRecompilation: 'concurrent-recompilation' } as const;

/**
 * Starts a worker thread on the module at `url`. Node 20 cannot start a .ts worker entry even when this process
 * runs under --import tsx, so a .ts entry is loaded through a tiny eval'd module that registers tsx first.
 *
 * An option set to false clears its V8 flag until the worker runs: V8 reads these flags once, when an isolate and its
 * heap are set up, so the main thread and later workers keep them. A flag given to node (--x or --no-x) is left as told.
 */
export function startWorker(url: URL, workerData: unknown, o: StartWorkerOptions = {}): Worker {
  const cleared = (Object.keys(FLAGS) as (keyof typeof FLAGS)[])
    .filter((k) => o[k] === false)
    .map((k) => FLAGS[k])
    .filter((f) => !process.execArgv.some((a) => a === `--${f}` || a === `--no-${f}`));
  for (const f of cleared) setFlagsFromString(`--no-${f}`);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    for (const f of cleared) setFlagsFromString(`--${f}`);
  };
  let worker: Worker;
  try {
    worker = create(url, workerData);
  } catch (e) {
    restore();
    throw e;
  }
  if (cleared.length) {
    worker.once('online', restore);
    worker.once('exit', restore);
  }
  return worker;
}

function create(url: URL, workerData: unknown): Worker {
  // A thread starts on its creator's CPUs (new Worker creates it synchronously): with controlCpu the main thread is
  // pinned off the control thread's CPU, and a worker started later (replay jobs, the fleet shipper) gets every CPU back.
  if (!url.pathname.endsWith('.ts')) return withProcessCpus(() => new Worker(url, { workerData }));
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return withProcessCpus(() => new Worker(code, { eval: true, workerData }));
}

/**
 * Waits for a starting worker's answer. `settle` sees each message: it returns the result, throws to refuse, or
 * returns undefined to wait on; an 'error' or 'exit' first rejects, naming `what`. The listeners are removed either
 * way, so that the caller's own (attached before the worker runs on) are the only ones left.
 */
export function workerStarted<M, R>(worker: Worker, what: string, settle: (m: M) => R | undefined): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const finish = (then: () => void): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      then();
    };
    const onMessage = (m: M): void => {
      let r: R | undefined;
      try {
        r = settle(m);
      } catch (e) {
        finish(() => reject(e instanceof Error ? e : new Error(String(e))));
        return;
      }
      if (r !== undefined) finish(() => resolve(r));
    };
    const onError = (e: Error): void => finish(() => reject(new Error(`${what} failed to start: ${e.message}`)));
    const onExit = (code: number): void => finish(() => reject(new Error(`${what} exited while starting (code ${code})`)));
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

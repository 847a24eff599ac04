/** Worker-thread entry of a replay job (jobs.ts): runs one replay, posts progress and the result or the error. */
import { parentPort, workerData } from 'node:worker_threads';
import type { JobOptions, WorkerMessage } from './jobs.ts';
import { runReplay } from './run.ts';

const port = parentPort;
if (!port) throw new Error('replay worker: not started as a worker thread');
const abort = new AbortController();
port.on('message', (m: { type: string }) => {
  if (m.type === 'cancel') abort.abort();
});
const post = (m: WorkerMessage): void => port.postMessage(m);

try {
  const data = workerData as JobOptions | { batch: JobOptions[] };
  if ('batch' in data) {
    // Several replays in one worker (the shadow gate): one start-up (tsx, MuJoCo, onnxruntime) for all of them.
    const results = [];
    for (const o of data.batch) results.push(await runReplay(o));
    post({ type: 'batch', results });
  } else {
    const result = await runReplay({ ...data, signal: abort.signal, onProgress: (p) => post({ type: 'progress', done: p.done, total: p.total }) });
    // Through structured clone: NaN and Infinity survive (the REST reply turns them into null, as JSON must).
    post({ type: 'result', result });
  }
} catch (e) {
  post({ type: 'error', message: (e as Error).message });
} finally {
  port.close();
}

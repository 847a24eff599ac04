/**
 * Worker thread of the prior-data collector: runs episodes in its own MuJoCo instance and posts them back.
 * Protocol: workerData = { settings, connectorDir }; main -> { type: 'task', task } | { type: 'close' };
 * worker -> { type: 'result', episode } | { type: 'failed', task, message }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CellCache, runPriorEpisode, type PriorEpisode, type PriorSettings, type PriorTask } from './episode.ts';

export type ToCollectWorker = { type: 'task'; task: PriorTask } | { type: 'close' };
export type FromCollectWorker = { type: 'result'; episode: PriorEpisode } | { type: 'failed'; task: PriorTask; message: string };

const port = parentPort;
if (!port) throw new Error('collect-worker: must run as a worker thread');
const { settings, connectorDir } = workerData as { settings: PriorSettings; connectorDir: string | null };
const cells = new CellCache(settings, connectorDir);

// Tasks are handled one at a time, in arrival order (the main thread sends the next one when a result comes back).
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: ToCollectWorker) => {
  if (m.type === 'close') {
    chain = chain.then(() => {
      cells.dispose();
      port.close();
    });
    return;
  }
  chain = chain.then(async () => {
    try {
      const cell = await cells.get(m.task.connector);
      const episode = await runPriorEpisode(cell, m.task, settings);
      // Images that own their whole buffer are transferred, not copied.
      const own = [...episode.steps.map((s) => s.obs.image.data), episode.final.image.data].filter((d) => d.byteOffset === 0 && d.byteLength === d.buffer.byteLength);
      const transfer = [...new Set(own.map((d) => d.buffer as ArrayBuffer))];
      port.postMessage({ type: 'result', episode } satisfies FromCollectWorker, transfer);
    } catch (e) {
      cells.dispose(); // a diverged cell must not serve the next episode
      port.postMessage({ type: 'failed', task: m.task, message: (e as Error).message ?? String(e) } satisfies FromCollectWorker);
    }
  });
});

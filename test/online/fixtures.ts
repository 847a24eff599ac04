/** A tiny real offline IQL checkpoint (real MuJoCo prior data, real tfjs training) for the trainer tests. */
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import { DEFAULT_OFFLINE, trainOffline } from '../../src/offline/iql.ts';
import { tinyDb, TRAIN, type TinyDb } from '../offline/fixtures.ts';

export interface TinyOffline extends TinyDb {
  checkpoint: string;
  domains: string[];
}

export async function tinyOffline(prefix: string, steps = 10): Promise<TinyOffline> {
  await initBackend();
  const domains = [TRAIN[0] as string];
  const fx = await tinyDb(prefix, 2, domains);
  const checkpoint = join(fx.dir, 'offline-ckpt');
  const run = await trainOffline({
    ...DEFAULT_OFFLINE,
    db: fx.db,
    split: fx.split,
    steps,
    imageSize: 16,
    batchSize: 16,
    filters: [4, 4],
    zIDim: 4,
    zSDim: 4,
    hidden: [16, 16],
    seed: 3,
    checkpointDir: checkpoint,
    checkpointEvery: steps,
    resume: false,
    logEvery: 100000,
  });
  run.agent.dispose();
  return { ...fx, checkpoint, domains };
}

/**
 * The background trainer as its own process against a daemon's database (the daemon normally starts it itself).
 * Each export is registered in the store; with --daemon-url it is also activated over REST (the daemon swaps it in at
 * the next episode boundary; $DAEMON_TOKEN authorises). Stop with SIGINT/SIGTERM (finishes the current update).
 *
 *   npx tsx src/cli/trainer.ts --db data/daemon.db --checkpoint data/runs/iql [--offline-db data/prior.db]
 *       [--work-dir data/runs/trainer] [--online-fraction 0.5] [--utd 2] [--batch-size 256] [--export-every 0] [--warmup-updates 0]
 *       [--connectors a,b] [--reward rewardProb|gt] [--daemon-url http://127.0.0.1:8750]
 * The defaults are the declared learning settings (src/config/schema.ts, the `learning` section the daemon reads).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TrainArgError, intArg, numArg, parseArgs, splitFrom } from '../offline/common.ts';
import { runTrainerLoop } from '../online/child.ts';
import { DEFAULT_ONLINE, type OnlineTrainerConfig } from '../online/trainer.ts';

const KNOWN = {
  db: 'value',
  checkpoint: 'value',
  'offline-db': 'value',
  'work-dir': 'value',
  'online-fraction': 'value',
  utd: 'value',
  'batch-size': 'value',
  'export-every': 'value',
  connectors: 'value',
  reward: 'value',
  'daemon-url': 'value',
  split: 'value',
  seed: 'value',
  help: 'flag',
  'warmup-updates': 'value',
} as const;

async function main(): Promise<number> {
  let cfg: OnlineTrainerConfig;
  let url: string | null;
  try {
    const a = parseArgs(process.argv.slice(2), KNOWN, 'trainer');
    if (a.has('help')) {
      console.log(
        `usage: trainer --db FILE --checkpoint DIR [--offline-db FILE] [--work-dir DIR] [--online-fraction ${DEFAULT_ONLINE.onlineFraction}] [--utd ${DEFAULT_ONLINE.utd}] [--batch-size ${DEFAULT_ONLINE.batchSize}] [--export-every ${DEFAULT_ONLINE.exportEvery}] [--warmup-updates ${DEFAULT_ONLINE.warmupUpdates}] [--connectors a,b] [--reward rewardProb|gt] [--daemon-url URL] [--split FILE] [--seed 0]\n(defaults: the learning section of config/daemon.yaml as declared in src/config/schema.ts)`,
      );
      return 0;
    }
    const db = a.get('db');
    if (!db || !existsSync(db)) throw new TrainArgError(`--db: '${db ?? ''}' does not exist (the daemon's log)`);
    const checkpoint = a.get('checkpoint') ?? 'data/runs/iql';
    if (!existsSync(join(checkpoint, 'latest.json'))) throw new TrainArgError(`--checkpoint: ${checkpoint}/latest.json does not exist`);
    const reward = a.get('reward') ?? 'rewardProb';
    if (reward !== 'rewardProb' && reward !== 'gt') throw new TrainArgError(`--reward must be rewardProb or gt, got '${reward}'`);
    const offlineDb = a.get('offline-db') ?? 'data/prior.db';
    cfg = {
      ...DEFAULT_ONLINE,
      db,
      startCheckpoint: checkpoint,
      offlineDb: existsSync(offlineDb) ? offlineDb : null,
      offlineDomains: splitFrom(a.get('split')).train,
      onlineDomains: (a.get('connectors') ?? '').split(',').filter(Boolean),
      workDir: a.get('work-dir') ?? 'data/runs/trainer',
      onlineFraction: numArg(a, 'online-fraction', DEFAULT_ONLINE.onlineFraction, 0, 1),
      utd: numArg(a, 'utd', DEFAULT_ONLINE.utd, 0.01, 100),
      batchSize: intArg(a, 'batch-size', DEFAULT_ONLINE.batchSize, 2, 4096),
      exportEvery: intArg(a, 'export-every', DEFAULT_ONLINE.exportEvery, 0, 1e6),
      warmupUpdates: intArg(a, 'warmup-updates', DEFAULT_ONLINE.warmupUpdates, 0, 1e6),
      seed: intArg(a, 'seed', 0, 0, 1e9),
      reward,
    };
    url = a.get('daemon-url') ?? null;
  } catch (e) {
    console.error(`trainer: ${(e as Error).message}`);
    return 2;
  }
  let stop = false;
  process.on('SIGINT', () => (stop = true));
  process.on('SIGTERM', () => (stop = true));
  await runTrainerLoop(cfg, {
    pollMs: 500,
    shouldStop: () => stop,
    emit: (m) => {
      if (m.type === 'progress' || m.type === 'ready') {
        const p = m.progress;
        console.log(
          `${new Date().toISOString()} ${m.type}: ${p.updates} updates (${p.updatesPerSec?.toFixed(1) ?? '-'} /s), ${p.onlineTransitions} online + ${p.offlineTransitions} offline transitions, owed ${p.owed}, losses ${p.losses ? `V ${p.losses.vLoss.toFixed(4)} Q ${p.losses.qLoss.toFixed(4)} pi ${p.losses.piLoss.toFixed(3)}` : '-'}, mean reward ${p.meanPredictedReward?.toFixed(3) ?? '-'}`,
        );
      } else if (m.type === 'export') {
        console.log(`exported ${m.info.version} -> ${m.info.path} (model ${m.info.modelId})`);
        if (url) {
          void fetch(`${url}/models/${m.info.modelId}/activate`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.DAEMON_TOKEN ?? ''}` },
            body: JSON.stringify({ reason: 'background trainer export' }),
          }).then(
            async (r) => console.log(`activate ${m.info.version}: HTTP ${r.status} ${await r.text()}`),
            (e: unknown) => console.error(`activate failed: ${(e as Error).message}`),
          );
        }
      }
    },
  });
  return 0;
}

process.exitCode = await main();

/**
 * The fleet learner: online IQL on the pooled practice of every arm in the fleet's PostgreSQL, publishing versions to
 * them (src/online/fleet-learner.ts). Credentials: --credentials FILE (a postgres:// URL or PG*= lines), else
 * $DATABASE_URL, else the PG* environment; only user@host:port/database is printed. Stop with SIGINT/SIGTERM.
 *
 *   npx tsx src/cli/fleet-learner.ts --checkpoint models/iql-offline [--offline-db data/prior.db] [--work-dir data/runs/fleet-learner]
 *       [--robots arm-1,arm-2] [--connectors europlug,dt12] [--rollout all | connector:a,b | arm:x,y | staged:FIRST:EPISODES:MINSUCCESS]
 *       [--online-fraction 0.25] [--utd 1] [--batch-size 256] [--export-every 0] [--seed 0] [--reward rewardProb|gt]
 *       [--credentials FILE] [--stats FILE] [--config config/daemon.yaml]
 *
 * --config: a daemon config file whose fleet section gives the per-arm and per-connector sampling weights
 * (fleet.sampling; default config/daemon.yaml when it exists, whose weights are all 1).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDaemonConfig } from '../config/load.ts';
import { TrainArgError, intArg, numArg, parseArgs, splitFrom } from '../offline/common.ts';
import { runFleetLearner, type FleetLearnerStats } from '../online/fleet-learner.ts';
import { DEFAULT_ONLINE, type OnlineTrainerConfig, type TrainerProgress } from '../online/trainer.ts';
import { pgTarget, type Rollout } from '../store/pg/index.ts';

const KNOWN = {
  checkpoint: 'value',
  'offline-db': 'value',
  'work-dir': 'value',
  robots: 'value',
  connectors: 'value',
  rollout: 'value',
  'online-fraction': 'value',
  utd: 'value',
  'batch-size': 'value',
  'export-every': 'value',
  seed: 'value',
  reward: 'value',
  credentials: 'value',
  stats: 'value',
  split: 'value',
  config: 'value',
  help: 'flag',
} as const;

/** --rollout: all | connector:a,b | arm:x,y | staged:FIRST:EPISODES:MINSUCCESS */
export function parseRollout(v: string): Rollout {
  const [mode, ...rest] = v.split(':');
  const list = (s: string | undefined): string[] => (s ?? '').split(',').filter(Boolean);
  if (mode === 'all' && rest.length === 0) return { mode: 'all' };
  if (mode === 'connector' && list(rest[0]).length) return { mode: 'connector', connectors: list(rest[0]) };
  if (mode === 'arm' && list(rest[0]).length) return { mode: 'arm', robots: list(rest[0]) };
  if (mode === 'staged' && rest.length === 3) {
    const episodes = Number(rest[1]);
    const minSuccess = Number(rest[2]);
    if (rest[0] && Number.isInteger(episodes) && episodes >= 1 && minSuccess >= 0 && minSuccess <= 1)
      return { mode: 'staged', first: rest[0], episodes, minSuccess };
  }
  throw new TrainArgError(`--rollout: '${v}' is not all | connector:a,b | arm:x,y | staged:FIRST:EPISODES:MINSUCCESS (e.g. staged:arm-1:10:0.5)`);
}

async function main(): Promise<number> {
  let trainer: Omit<OnlineTrainerConfig, 'db'>;
  let rollout: Rollout;
  let a: ReturnType<typeof parseArgs>;
  try {
    a = parseArgs(process.argv.slice(2), KNOWN, 'fleet-learner');
    if (a.has('help')) {
      console.log(
        'usage: fleet-learner --checkpoint DIR [--offline-db FILE] [--work-dir DIR] [--robots a,b] [--connectors a,b] [--rollout all|connector:a,b|arm:x,y|staged:FIRST:EPISODES:MINSUCCESS] [--online-fraction 0.25] [--utd 1] [--batch-size 256] [--export-every 0] [--seed 0] [--reward rewardProb|gt] [--credentials FILE] [--stats FILE] [--config FILE (fleet.sampling: per-arm and per-connector weights)]',
      );
      return 0;
    }
    const checkpoint = a.get('checkpoint') ?? 'models/iql-offline';
    if (!existsSync(join(checkpoint, 'latest.json'))) throw new TrainArgError(`--checkpoint: ${checkpoint}/latest.json does not exist`);
    const reward = a.get('reward') ?? 'rewardProb';
    if (reward !== 'rewardProb' && reward !== 'gt') throw new TrainArgError(`--reward must be rewardProb or gt, got '${reward}'`);
    const offlineDb = a.get('offline-db') ?? 'data/prior.db';
    const configFile = a.get('config') ?? (existsSync('config/daemon.yaml') ? 'config/daemon.yaml' : null);
    // Errors name the file and the field (ConfigError).
    const sampling = configFile === null ? null : loadDaemonConfig(configFile).fleet.sampling;
    trainer = {
      ...DEFAULT_ONLINE,
      startCheckpoint: checkpoint,
      offlineDb: existsSync(offlineDb) ? offlineDb : null,
      offlineDomains: existsSync(offlineDb) ? splitFrom(a.get('split')).train : [],
      onlineDomains: (a.get('connectors') ?? '').split(',').filter(Boolean),
      workDir: a.get('work-dir') ?? 'data/runs/fleet-learner',
      onlineFraction: numArg(a, 'online-fraction', DEFAULT_ONLINE.onlineFraction, 0, 1),
      utd: numArg(a, 'utd', DEFAULT_ONLINE.utd, 0.01, 100),
      batchSize: intArg(a, 'batch-size', DEFAULT_ONLINE.batchSize, 2, 4096),
      exportEvery: intArg(a, 'export-every', 0, 0, 1e6),
      seed: intArg(a, 'seed', 0, 0, 1e9),
      reward,
      sampling,
    };
    rollout = parseRollout(a.get('rollout') ?? 'all');
  } catch (e) {
    console.error(`fleet-learner: ${(e as Error).message}`);
    return 2;
  }
  const target = pgTarget({ credentialsFile: a.get('credentials') ?? null });
  let stop = false;
  process.on('SIGINT', () => (stop = true));
  process.on('SIGTERM', () => (stop = true));
  const statsFile = a.get('stats');
  let progress: TrainerProgress | null = null;
  const published: Array<{ modelId: number; version: string; publishedAt: number }> = [];
  const t0 = Date.now();
  let learnerStats: FleetLearnerStats | null = null;
  const writeStats = (): void => {
    if (statsFile) writeFileSync(statsFile, JSON.stringify({ at: Date.now(), startedAt: t0, progress, published, learner: learnerStats }));
  };
  console.log(
    `fleet learner: ${target.describe} (${target.source}); rollout ${JSON.stringify(rollout)}; sampling ${JSON.stringify(trainer.sampling ?? {})}; work dir ${trainer.workDir}`,
  );
  learnerStats = await runFleetLearner({
    target,
    trainer,
    rollout,
    shouldStop: () => stop,
    filter: { robots: (a.get('robots') ?? '').split(',').filter(Boolean), connectors: trainer.onlineDomains },
    log: (l) => console.log(`${new Date().toISOString()} ${l}`),
    onPull: (s) => {
      learnerStats = { ...s };
    },
    onPublished: (p) => {
      published.push({ modelId: p.modelId, version: p.version, publishedAt: p.publishedAt });
      writeStats();
    },
    onMessage: (m) => {
      if (m.type === 'error' || m.type === 'reward-export') return;
      progress = m.progress;
      if (m.type === 'progress') {
        const p = m.progress;
        console.log(
          `${new Date().toISOString()} ${p.updates} updates (${p.updatesPerSec?.toFixed(1) ?? '-'} /s), ${p.onlineTransitions} pooled transitions, ${p.episodesSeen} episodes, owed ${p.owed}`,
        );
        writeStats();
      }
    },
  });
  writeStats();
  console.log(
    `fleet learner: stopped; pulled ${learnerStats.pulled} transitions (${JSON.stringify(learnerStats.perRobot)}), published ${learnerStats.published}`,
  );
  return 0;
}

if (import.meta.filename === process.argv[1]) process.exitCode = await main();

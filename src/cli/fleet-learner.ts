/**
 * The fleet learner: online IQL on the pooled practice of every arm in the fleet's PostgreSQL, publishing versions to
 * them (src/online/fleet-learner.ts). Credentials: --credentials FILE (a postgres:// URL or PG*= lines), else
 * $DATABASE_URL, else the PG* environment; only user@host:port/database is printed. Stop with SIGINT/SIGTERM.
 *
 *   npx tsx src/cli/fleet-learner.ts --checkpoint models/iql-offline [--offline-db data/prior.db] [--work-dir data/runs/fleet-learner]
 *       [--robots arm-1,arm-2] [--connectors europlug,dt12] [--rollout all | connector:a,b | arm:x,y | staged:FIRST:EPISODES:MINSUCCESS]
 *       [--online-fraction 1] [--utd 3] [--utd-late-after 0] [--utd-late 2] [--batch-size 256] [--export-every 0] [--seed 0] [--reward rewardProb|gt]
 *       [--credentials FILE] [--stats FILE] [--config config/daemon.yaml]
 *
 * --config: a daemon config file whose fleet section gives the per-arm and per-connector sampling weights
 * (fleet.sampling; default config/daemon.yaml when it exists, whose weights are all 1).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { loadDaemonConfig } from '../config/load.ts';
import { runFleetLearner, type FleetLearnerStats } from '../online/fleet-learner.ts';
import type { TrainerProgress } from '../online/trainer.ts';
import { command, fromArgv, nameList, optionalText, T, UsageError } from './flags.ts';
import { trainerConfigOf, trainerFields } from './trainer-flags.ts';
import { pgTarget, type Rollout } from '../store/pg/index.ts';

/** The command line, declared once (src/cli/flags.ts); the trainer's own flags are shared with trainer.ts. */
export const FLEET_LEARNER = command({
  name: 'fleet-learner',
  usage: 'npx tsx src/cli/fleet-learner.ts [flags]',
  about: "Online IQL on the pooled practice of every arm in the fleet's PostgreSQL, publishing versions to them.",
  flags: T.object({
    ...trainerFields({ checkpoint: 'models/iql-offline', workDir: 'data/runs/fleet-learner' }),
    robots: nameList('learn from these arms only', 'all'),
    rollout: T.string({ default: 'all', description: 'which arms take a version', cli: { arg: 'all|connector:a,b|arm:x,y|staged:FIRST:EPISODES:MINSUCCESS' } }),
    credentials: optionalText('a postgres:// URL or PG*= lines', 'FILE', '$DATABASE_URL, else the PG* environment'),
    config: optionalText(
      'a daemon config file whose fleet section gives the per-arm and per-connector sampling weights (fleet.sampling)',
      'FILE',
      'config/daemon.yaml when it exists (weights all 1)',
    ),
    stats: optionalText('progress and published versions as JSON, rewritten as they change', 'FILE', 'none'),
  }),
});

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
  throw new UsageError(`--rollout: '${v}' is not all | connector:a,b | arm:x,y | staged:FIRST:EPISODES:MINSUCCESS (e.g. staged:arm-1:10:0.5)`);
}

async function main(): Promise<number> {
  const r = fromArgv(FLEET_LEARNER, process.argv.slice(2), (a) => {
    const configFile = a.config ?? (existsSync('config/daemon.yaml') ? 'config/daemon.yaml' : null);
    // Errors name the file and the field (ConfigError).
    const sampling = configFile === null ? null : loadDaemonConfig(configFile).fleet.sampling;
    return { a, trainer: { ...trainerConfigOf(a), sampling }, rollout: parseRollout(a.rollout) };
  });
  if (typeof r === 'number') return r;
  const { a, trainer, rollout } = r;
  const target = pgTarget({ credentialsFile: a.credentials ?? null });
  let stop = false;
  process.on('SIGINT', () => (stop = true));
  process.on('SIGTERM', () => (stop = true));
  const statsFile = a.stats;
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
    filter: { robots: a.robots ?? [], connectors: trainer.onlineDomains },
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

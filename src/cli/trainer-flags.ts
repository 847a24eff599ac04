/**
 * The online trainer's flags, shared by the commands that run one outside the daemon (trainer.ts against a daemon's
 * log, fleet-learner.ts against the fleet's PostgreSQL): one table, defaults from the declared learning settings.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { splitFrom } from '../offline/common.ts';
import { DEFAULT_ONLINE, type OnlineTrainerConfig } from '../online/trainer.ts';
import { T, UsageError, type Static } from './flags.ts';

/** The fields; `checkpoint` and `workDir` defaults differ between the commands. */
export function trainerFields(d: { checkpoint: string; workDir: string }) {
  return {
    checkpoint: T.string({ minLength: 1, default: d.checkpoint, description: 'offline IQL checkpoint the trainer starts from', cli: { arg: 'DIR' } }),
    offlineDb: T.string({
      minLength: 1,
      default: 'data/prior.db',
      description: 'prior data for the offline share of each batch (practice data alone when the file does not exist)',
      cli: { arg: 'FILE' },
    }),
    workDir: T.string({ minLength: 1, default: d.workDir, description: "the trainer's checkpoints and exported versions", cli: { arg: 'DIR' } }),
    connectors: T.optional(
      T.array(T.string({ minLength: 1 }), {
        uniqueItems: true,
        description: 'learn from practice on these connectors only',
        cli: { arg: 'LIST', defaultText: 'all' },
      }),
    ),
    split: T.optional(
      T.string({
        description: 'connector split (its training connectors are the offline data)',
        cli: { arg: 'FILE', defaultText: 'data/splits/default.json' },
      }),
    ),
    onlineFraction: T.number({ minimum: 0, maximum: 1, default: DEFAULT_ONLINE.onlineFraction, description: 'share of each update batch from practice data' }),
    utd: T.number({ minimum: 0.01, maximum: 100, default: DEFAULT_ONLINE.utd, description: 'updates per new practice transition' }),
    batchSize: T.integer({ minimum: 2, maximum: 4096, default: DEFAULT_ONLINE.batchSize, description: 'update batch size' }),
    exportEvery: T.integer({ minimum: 0, maximum: 1e6, default: DEFAULT_ONLINE.exportEvery, description: 'export every N updates (0: per batch of episodes)' }),
    warmupUpdates: T.integer({ minimum: 0, maximum: 1e6, default: DEFAULT_ONLINE.warmupUpdates, description: 'critic-only updates at the switch to online' }),
    seed: T.integer({ minimum: 0, maximum: 1e9, default: 0, description: 'seed of batches and initialisation' }),
    reward: T.enum(['rewardProb', 'gt'], {
      default: DEFAULT_ONLINE.reward,
      description: "the logged learned reward, or the simulator's ground truth (an ablation)",
    }),
  };
}

export type TrainerFlagValues = Static<ReturnType<typeof T.object<ReturnType<typeof trainerFields>>>>;

/** The trainer's config from those flags (everything but the practice log it reads). */
export function trainerConfigOf(a: TrainerFlagValues): Omit<OnlineTrainerConfig, 'db'> {
  if (!existsSync(join(a.checkpoint, 'latest.json'))) throw new UsageError(`--checkpoint: ${a.checkpoint}/latest.json does not exist`);
  const offline = existsSync(a.offlineDb);
  return {
    ...DEFAULT_ONLINE,
    startCheckpoint: a.checkpoint,
    offlineDb: offline ? a.offlineDb : null,
    offlineDomains: offline ? splitFrom(a.split).train : [],
    onlineDomains: a.connectors ?? [],
    workDir: a.workDir,
    onlineFraction: a.onlineFraction,
    utd: a.utd,
    batchSize: a.batchSize,
    exportEvery: a.exportEvery,
    warmupUpdates: a.warmupUpdates,
    seed: a.seed,
    reward: a.reward,
  };
}

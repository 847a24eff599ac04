/**
 * The online trainer's flags, shared by the commands that run one outside the daemon (trainer.ts against a daemon's
 * log, fleet-learner.ts against the fleet's PostgreSQL): one table, defaults from the declared learning settings.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { splitFrom } from '../offline/common.ts';
import { DEFAULT_ONLINE, type OnlineTrainerConfig } from '../online/trainer.ts';
import { LearningConfigSchema, ShadowGateConfigSchema, type LearningConfig, type ShadowGateSettings } from '../config/schema.ts';
import type { CliSpec, TSchema } from '../config/declare.ts';
import { T, UsageError, type Static } from './flags.ts';

const fieldOf = (section: TSchema, key: string): Record<string, unknown> => {
  const f = (section as { properties?: Record<string, Record<string, unknown>> }).properties?.[key];
  if (!f) throw new Error(`no field '${key}' in the declaration`);
  return f;
};

/**
 * A trainer setting of the daemon config's learning section as a flag of another command: config/schema.ts's
 * declaration (bounds, help text, flag name), so the daemon, the trainer, the fleet learner and the experiment accept
 * the same values. `cli` adds to the field's own flag spec; `withDefault: false` leaves the value undefined when the
 * flag is absent (the command takes it from the config it reads).
 */
export function learningField<K extends keyof LearningConfig>(key: K, cli: CliSpec = {}, withDefault = true): TSchema<LearningConfig[K]> {
  const { cli: own, default: dflt, ...rest } = fieldOf(LearningConfigSchema, key);
  return { ...rest, ...(withDefault ? { default: dflt } : {}), cli: { ...(own as CliSpec | undefined), ...cli } };
}

/** The same for the shadow swap gate's settings (learning.shadowGate). */
export function shadowGateField<K extends keyof ShadowGateSettings>(key: K, cli: CliSpec = {}): TSchema<ShadowGateSettings[K]> {
  const { cli: own, default: _dflt, ...rest } = fieldOf(ShadowGateConfigSchema, key);
  return { ...rest, cli: { ...(own as CliSpec | undefined), ...cli } };
}

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
    // Declared once, in the config's learning section (its defaults are DEFAULT_ONLINE's).
    onlineFraction: learningField('onlineFraction'),
    utd: learningField('utd'),
    utdLateAfter: learningField('utdLateAfter'),
    utdLate: learningField('utdLate'),
    batchSize: learningField('batchSize'),
    exportEvery: learningField('exportEvery'),
    warmupUpdates: learningField('warmupUpdates'),
    evidenceGate: learningField('evidenceGate'),
    critics: learningField('critics'),
    targetCritics: learningField('targetCritics'),
    criticPolyak: learningField('criticPolyak'),
    hindsightWeight: learningField('hindsightWeight'),
    temperature: learningField('temperature'),
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
    utdLateAfter: a.utdLateAfter,
    utdLate: a.utdLate,
    batchSize: a.batchSize,
    exportEvery: a.exportEvery,
    warmupUpdates: a.warmupUpdates,
    evidenceGate: a.evidenceGate,
    critics: a.critics,
    targetCritics: a.targetCritics,
    criticPolyak: a.criticPolyak,
    hindsightWeight: a.hindsightWeight,
    temperature: a.temperature,
    seed: a.seed,
    reward: a.reward,
  };
}

/** A tiny real prior-data database collected in the real MuJoCo cell, shared by the training tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectPrior } from '../../src/data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS, type PriorSettings } from '../../src/data/episode.ts';
import { makeSplit, type Split } from '../../src/data/splits.ts';
import { loadConnectors } from '../../src/sim/connectors.ts';
import { DEFAULT_OFFLINE, type OfflineOptions } from '../../src/offline/iql.ts';
import { evaluateBalanced, type DaibClassifier } from '../../src/learn/daib.ts';
import { DEFAULT_REWARD, loadRewardData, trainRewardMethod, type RewardData, type RewardOptions, type RewardRow } from '../../src/offline/reward.ts';

export const TRAIN = ['hex14', 'round22', 'dsub'];
export const HELD_OUT = ['dt12', 'europlug'];

export interface TinyDb {
  dir: string;
  db: string;
  split: Split;
  /** The split as a file (for the commands' --split). */
  splitFile: string;
  cleanup: () => void;
}

/** `episodes` expert episodes per connector (scenario I and II), 64 px images, 12-step episodes; `settings` on top. */
export async function tinyDb(
  prefix: string,
  episodes = 4,
  connectors: string[] = [...TRAIN, ...HELD_OUT],
  settings: Partial<PriorSettings> = {},
): Promise<TinyDb> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const db = join(dir, 'prior.db');
  await collectPrior({
    db,
    connectors,
    controllers: ['expert'],
    scenarios: ['I', 'II'],
    episodesPerConnector: episodes,
    seed: 5,
    workers: 0,
    settings: { ...DEFAULT_PRIOR_SETTINGS, imageSize: 64, episodeLength: 12, goalNoise: 0.002, ...settings },
  });
  const spec = { description: 'test split', heldOut: HELD_OUT, train: TRAIN };
  const splitFile = join(dir, 'split.json');
  writeFileSync(splitFile, JSON.stringify(spec));
  const split = makeSplit(spec, loadConnectors(), splitFile);
  return { dir, db, split, splitFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Offline IQL at test size on a tiny database: 16 px encoders of 4 filters, codes of 4, one checkpoint at the end.
 * The training tests (offline, the trainer, the learning tests) start from this and change what they are about.
 */
export function tinyOfflineOptions(fx: Pick<TinyDb, 'db' | 'split'>, checkpointDir: string | null, o: Partial<OfflineOptions> = {}): OfflineOptions {
  const steps = o.steps ?? 5;
  return {
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
    checkpointDir,
    checkpointEvery: steps,
    resume: false,
    logEvery: 100000,
    ...o,
  };
}

/**
 * The reward classifier at test size on a tiny database (16 px, two layers of 8 filters, codes of 8 and 4, held out on
 * the same database by its split). The reward tests start from this and set their steps, seed and cue.
 */
export function tinyRewardOptions(fx: Pick<TinyDb, 'db' | 'split'>, o: Partial<RewardOptions> = {}): RewardOptions {
  return {
    ...DEFAULT_REWARD,
    db: fx.db,
    heldOutDb: fx.db,
    split: fx.split,
    imageSize: 16,
    batchSize: 32,
    filters: [8, 8],
    zIDim: 8,
    zSDim: 4,
    headHidden: [32],
    logEvery: 100_000,
    maxPerDomain: 1000,
    ...o,
  };
}

/** Held-out accuracy (50/50 per connector) on seated frames and unseated ones less than 6 mm above seated: what a cue
 *  for "seated" must improve. `keepModel` hands the trained classifier to the caller, who disposes of it. */
export function nearSeatedAccuracy(
  o: RewardOptions,
  method: 'daib' | 'erm',
  keepModel = false,
): { accuracy: number; samples: number; trained?: { clf: DaibClassifier; row: RewardRow; data: RewardData } } {
  const data = loadRewardData(o);
  const { clf, row } = trainRewardMethod(o, data, method);
  try {
    const h = data.heldOut;
    const prob = clf.predict(h.images, h.count, 256, h.proprio);
    const keep: number[] = [];
    for (let i = 0; i < h.count; i++) if (h.success[i] === 1 || (h.aboveSeated[i] as number) < 0.006) keep.push(i);
    const e = evaluateBalanced(
      keep.map((i) => prob[i] as number),
      keep.map((i) => h.success[i] as number),
      keep.map((i) => h.domain[i] as number),
    );
    return { accuracy: e.accuracy, samples: keep.length, ...(keepModel ? { trained: { clf, row, data } } : {}) };
  } finally {
    if (!keepModel) clf.dispose();
  }
}

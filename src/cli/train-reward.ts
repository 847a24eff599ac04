/**
 * Train the reward classifier on the training connectors' prior data, evaluate on held-out connectors (rebalanced
 * 50/50 per connector), print a table like the research's table 8 and write it as JSON, export the chosen method.
 *
 *   npx tsx src/cli/train-reward.ts --db data/prior.db --heldout-db data/heldout.db --split data/splits/default.json \
 *       --method all --steps 1500 --seed 0 --image-size 32 --out models/
 *
 * --method daib|erm|vib|dann|daib-nobottleneck|all (or a comma list); --seed 0,1 runs every method per seed.
 * --cue none|fz|wrench: what the classifier takes beside the image (policy/inputs.ts REWARD_CUES; default none).
 * --adversary reversal|moments: how the adversarial methods hide the domain from zI (src/learn/daib.ts; default reversal).
 * The first seed's --export method (default daib) goes to <out>/reward.onnx (or --export-file) + card; the table to <out>/reward-table8.json
 * (or --results). Exit codes: 0 done, 2 bad arguments, 1 anything else.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runIfMain } from '../util/args.ts';
import { backendLabel, initBackend } from '../learn/backend.ts';
import { DAIB_ADVERSARIES, DAIB_METHODS, type DaibMethod } from '../learn/daib.ts';
import { log, splitFrom, writeJson } from '../offline/common.ts';
import { command, existingFile, fromArgv, splitFlag, T, UsageError } from './flags.ts';
import { REWARD_CUES, type RewardCue } from '../policy/inputs.ts';
import { DEFAULT_REWARD, exportReward, formatRewardTable, loadRewardData, trainRewardMethod, type RewardOptions, type RewardRow } from '../offline/reward.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const TRAIN_REWARD = command({
  name: 'train-reward',
  usage: 'train-reward [flags]   (npm run train:reward -- [flags])',
  about:
    "Trains the reward classifier on the training connectors' prior data, evaluates it on held-out connectors (rebalanced 50/50 per connector), prints table 8 and exports the chosen method.",
  notes: 'exit codes: 0 done, 2 bad arguments, 1 anything else',
  flags: T.object({
    db: T.string({ default: 'data/prior.db', description: 'prior data of the training connectors', cli: { arg: 'FILE' } }),
    heldoutDb: T.optional(
      T.string({ description: 'prior data of the held-out connectors', cli: { arg: 'FILE', defaultText: 'data/heldout.db if it exists, else --db' } }),
    ),
    split: splitFlag(),
    method: T.array(T.enum([...DAIB_METHODS, 'all']), { uniqueItems: true, default: ['daib'], description: 'methods trained (all: every one)' }),
    export: T.optional(
      T.enum(DAIB_METHODS, { description: 'method exported to <out>/reward.onnx', cli: { defaultText: 'daib if trained, else the first --method' } }),
    ),
    steps: T.integer({ minimum: 1, maximum: 10_000_000, default: DEFAULT_REWARD.steps, description: 'updates per method' }),
    seed: T.array(T.integer({ minimum: 0 }), {
      uniqueItems: true,
      default: [0],
      description: "seeds; every method runs per seed (the first seed's is exported)",
    }),
    imageSize: T.integer({ minimum: 8, maximum: 128, default: DEFAULT_REWARD.imageSize, description: 'image side (px; 32 or 64)' }),
    batchSize: T.integer({ minimum: 1, maximum: 4096, default: DEFAULT_REWARD.batchSize, description: 'update batch size' }),
    filters: T.array(T.integer({ minimum: 1 }), { default: DEFAULT_REWARD.filters, description: 'conv filters per layer', cli: { arg: 'N,N,...' } }),
    maxPerDomain: T.integer({ minimum: 2, maximum: 1_000_000, default: DEFAULT_REWARD.maxPerDomain, description: 'at most this many images per connector' }),
    colorJitter: T.number({ minimum: 0, maximum: 0.99, default: DEFAULT_REWARD.colorJitter, description: 'colour augmentation strength' }),
    cue: T.enum(Object.keys(REWARD_CUES) as RewardCue[], {
      default: DEFAULT_REWARD.cue,
      description: 'what the classifier takes beside the image (policy/inputs.ts REWARD_CUES)',
    }),
    adversary: T.enum(DAIB_ADVERSARIES, {
      default: DEFAULT_REWARD.adversary,
      description: "DAIB's adversary on zI: reversal (the research's gradient reversal) or moments (per-domain moments matched)",
    }),
    cardVersion: T.integer({
      minimum: 1,
      maximum: 1_000_000,
      default: DEFAULT_REWARD.cardVersion,
      description: 'version in the exported card; raise it when replacing a shipped model',
    }),
    logEvery: T.integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_REWARD.logEvery, description: 'updates between log lines' }),
    out: T.string({ minLength: 1, default: 'models', description: 'directory of the exported classifier', cli: { arg: 'DIR' } }),
    exportFile: T.string({
      pattern: '^[^/\\\\]+\\.onnx$',
      default: 'reward.onnx',
      description: 'file name of the exported classifier in --out (its card beside it), e.g. reward-depth.onnx',
      cli: { arg: 'NAME' },
    }),
    results: T.optional(T.string({ description: 'the table as JSON', cli: { arg: 'FILE', defaultText: '<out>/reward-table8.json' } })),
  }),
});

export async function main(argv: string[]): Promise<number> {
  const r = fromArgv(TRAIN_REWARD, argv, (a) => {
    const db = existingFile('--db', a.db);
    const heldOutDb = existingFile('--heldout-db', a.heldoutDb ?? (existsSync('data/heldout.db') ? 'data/heldout.db' : db));
    const seeds = a.seed;
    const methods = a.method.includes('all') ? [...DAIB_METHODS] : (a.method as DaibMethod[]);
    const o: RewardOptions = {
      ...DEFAULT_REWARD,
      db,
      heldOutDb,
      split: splitFrom(a.split),
      methods,
      steps: a.steps,
      imageSize: a.imageSize,
      filters: a.filters,
      seed: seeds[0] ?? 0,
      batchSize: a.batchSize,
      maxPerDomain: a.maxPerDomain,
      colorJitter: a.colorJitter,
      cue: a.cue,
      adversary: a.adversary,
      cardVersion: a.cardVersion,
      logEvery: a.logEvery,
    };
    const exportMethod = a.export ?? (methods.includes('daib') ? 'daib' : (methods[0] ?? 'daib'));
    if (!methods.includes(exportMethod)) throw new UsageError(`--export: method '${exportMethod}' is not among --method (${methods.join(',')})`);
    return { o, seeds, exportMethod, out: a.out, exportFile: a.exportFile, results: a.results ?? join(a.out, 'reward-table8.json') };
  });
  if (typeof r === 'number') return r;
  const { o, seeds, exportMethod, out, exportFile, results } = r;
  await initBackend();
  const backend = backendLabel();
  const rows: RewardRow[] = [];
  let exported: string | null = null;
  const report = (): unknown => ({
    tool: 'train-reward',
    createdAt: new Date().toISOString(),
    backend,
    db: o.db,
    heldOutDb: o.heldOutDb,
    split: o.split,
    settings: {
      steps: o.steps,
      imageSize: o.imageSize,
      batchSize: o.batchSize,
      filters: o.filters,
      maxPerDomain: o.maxPerDomain,
      colorJitter: o.colorJitter,
      adversary: o.adversary,
      cue: o.cue,
      seeds,
    },
    rows,
    exported,
  });
  for (const [si, seed] of seeds.entries()) {
    const os = { ...o, seed };
    const data = loadRewardData(os);
    log(
      backend,
      `reward data (seed ${seed}): train ${data.train.count} images from ${data.train.domainNames.length} connectors, held-out ${data.heldOut.count} from ${data.heldOut.domainNames.length}; ${o.imageSize}x${o.imageSize}; backend ${backend}`,
    );
    for (const method of o.methods) {
      const { clf, row } = trainRewardMethod(os, data, method);
      rows.push(row);
      if (si === 0 && method === exportMethod) {
        exported = join(out, exportFile);
        exportReward(clf, row, os, data, exported);
        log(backend, `exported ${exported} (+ card)`);
      }
      clf.dispose();
      writeJson(results, report());
    }
  }
  console.log(`\n${formatRewardTable(rows)}\n(held-out accuracy = mean over connectors of 0.5*(TPR+TNR); backend ${backend})`);
  writeJson(results, report());
  console.log(`table written to ${results}`);
  return 0;
}

runIfMain(import.meta.url, 'train-reward', () => main(process.argv.slice(2)), { exit: true });

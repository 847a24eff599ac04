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
 * The first seed's --export method (default daib) goes to <out>/reward.onnx + card; the table to <out>/reward-table8.json
 * (or --results). Exit codes: 0 done, 2 bad arguments, 1 anything else.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runIfMain } from '../util/args.ts';
import { backendLabel, initBackend } from '../learn/backend.ts';
import { DAIB_ADVERSARIES, DAIB_METHODS, type DaibAdversary, type DaibMethod } from '../learn/daib.ts';
import { TrainArgError, existingFile, intArg, log, numArg, parseArgs, splitFrom, writeJson } from '../offline/common.ts';
import { REWARD_CUES, type RewardCue } from '../policy/inputs.ts';
import { DEFAULT_REWARD, exportReward, formatRewardTable, loadRewardData, trainRewardMethod, type RewardOptions, type RewardRow } from '../offline/reward.ts';

const KNOWN = {
  db: 'value',
  'heldout-db': 'value',
  split: 'value',
  method: 'value',
  export: 'value',
  steps: 'value',
  seed: 'value',
  'image-size': 'value',
  'batch-size': 'value',
  filters: 'value',
  'max-per-domain': 'value',
  'color-jitter': 'value',
  adversary: 'value',
  cue: 'value',
  'card-version': 'value',
  'log-every': 'value',
  out: 'value',
  results: 'value',
  help: 'flag',
} as const;

const USAGE = `usage: train-reward --db FILE [--heldout-db FILE] [--split FILE] [--method daib|erm|vib|dann|daib-nobottleneck|all|a,b]
  [--export daib] [--steps N] [--seed S[,S2...]] [--image-size 32|64] [--batch-size N] [--filters 32,32,32]
  [--max-per-domain N] [--color-jitter C] [--adversary reversal|moments] [--cue none|fz|wrench] [--card-version N] [--log-every N] [--out DIR] [--results FILE]`;

function methodsOf(s: string): DaibMethod[] {
  if (s === 'all') return [...DAIB_METHODS];
  const ms = s.split(',');
  for (const m of ms)
    if (!(DAIB_METHODS as readonly string[]).includes(m))
      throw new TrainArgError(`option '--method': unknown method '${m}' (known: ${DAIB_METHODS.join(', ')}, all)`);
  return ms as DaibMethod[];
}

export async function main(argv: string[]): Promise<number> {
  let o: RewardOptions;
  let seeds: number[];
  let exportMethod: DaibMethod;
  let out: string;
  let results: string;
  try {
    const args = parseArgs(argv, KNOWN, 'train-reward');
    if (args.has('help')) {
      console.log(USAGE);
      return 0;
    }
    const db = existingFile(args, 'db', 'data/prior.db');
    const heldOutDb = existingFile(args, 'heldout-db', existsSync('data/heldout.db') ? 'data/heldout.db' : db);
    seeds = (args.get('seed') ?? '0').split(',').map(Number);
    if (!seeds.every((s) => Number.isInteger(s) && s >= 0)) throw new TrainArgError(`option '--seed' must be non-negative integers, got '${args.get('seed')}'`);
    const filters = args.get('filters')?.split(',').map(Number) ?? DEFAULT_REWARD.filters;
    if (!filters.every((f) => Number.isInteger(f) && f > 0)) throw new TrainArgError(`option '--filters' must be positive integers`);
    const imageSize = intArg(args, 'image-size', DEFAULT_REWARD.imageSize, 8, 128);
    const cue = args.get('cue') ?? DEFAULT_REWARD.cue;
    const adversary = args.get('adversary') ?? DEFAULT_REWARD.adversary;
    if (!(DAIB_ADVERSARIES as readonly string[]).includes(adversary))
      throw new TrainArgError(`option '--adversary': unknown adversary '${adversary}' (known: ${DAIB_ADVERSARIES.join(', ')})`);
    if (!Object.hasOwn(REWARD_CUES, cue)) throw new TrainArgError(`option '--cue': unknown cue '${cue}' (known: ${Object.keys(REWARD_CUES).join(', ')})`);
    o = {
      ...DEFAULT_REWARD,
      db,
      heldOutDb,
      split: splitFrom(args.get('split')),
      methods: methodsOf(args.get('method') ?? 'daib'),
      steps: intArg(args, 'steps', DEFAULT_REWARD.steps, 1, 10_000_000),
      imageSize,
      filters,
      seed: seeds[0] ?? 0,
      batchSize: intArg(args, 'batch-size', DEFAULT_REWARD.batchSize, 1, 4096),
      maxPerDomain: intArg(args, 'max-per-domain', DEFAULT_REWARD.maxPerDomain, 2, 1_000_000),
      colorJitter: numArg(args, 'color-jitter', DEFAULT_REWARD.colorJitter, 0, 0.99),
      cue: cue as RewardCue,
      adversary: adversary as DaibAdversary,
      cardVersion: intArg(args, 'card-version', DEFAULT_REWARD.cardVersion, 1, 1_000_000),
      logEvery: intArg(args, 'log-every', DEFAULT_REWARD.logEvery, 1, 1_000_000),
    };
    exportMethod = methodsOf(args.get('export') ?? (o.methods.includes('daib') ? 'daib' : (o.methods[0] as DaibMethod)))[0] as DaibMethod;
    if (!o.methods.includes(exportMethod))
      throw new TrainArgError(`option '--export': method '${exportMethod}' is not among --method (${o.methods.join(',')})`);
    out = args.get('out') ?? 'models';
    results = args.get('results') ?? join(out, 'reward-table8.json');
  } catch (err) {
    console.error(`train-reward: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
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
        exported = join(out, 'reward.onnx');
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

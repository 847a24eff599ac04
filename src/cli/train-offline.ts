/**
 * Offline IQL with per-network DAIB encoders on the training connectors' prior data, then ONNX export (policy + frozen
 * encoders, with cards) and evaluation of the exported policy in simulation (P + residual) vs the baselines.
 *
 *   npx tsx src/cli/train-offline.ts --db data/prior.db --split data/splits/default.json --steps 2000 --image-size 32 \
 *       --checkpoint-dir data/runs/iql --resume --eval-trials 20 --out models/
 *
 * `--encoder-method erm` trains the encoders without DAIB (no domain adversary, no bottleneck): the checkpoint for table 7's
 * "no DAIB in the policy" ablation (src/cli/experiment.ts --ablation no-daib-policy). vib, dann, daib-nobottleneck are
 * the other ablations of src/learn/daib.ts; default daib.
 * `--resume` continues from the checkpoint directory's latest checkpoint (a finished run just re-exports and evaluates).
 * Exit codes: 0 done, 2 bad arguments, 1 anything else.
 */
import { join } from 'node:path';
import { runIfMain } from '../util/args.ts';
import { DAIB_METHODS, type DaibMethod } from '../learn/daib.ts';
import { backendLabel, initBackend } from '../learn/backend.ts';
import { DEFAULT_OFFLINE, exportOffline, trainOffline, type OfflineOptions } from '../offline/iql.ts';
import { evaluatePolicy, formatPolicyEval, policyMetrics } from '../offline/evaluate-policy.ts';
import { TrainArgError, existingFile, intArg, log, parseArgs, splitFrom, writeJson } from '../offline/common.ts';

const KNOWN = {
  db: 'value',
  split: 'value',
  steps: 'value',
  'image-size': 'value',
  'batch-size': 'value',
  filters: 'value',
  'z-dim': 'value',
  hidden: 'value',
  'encoder-method': 'value',
  seed: 'value',
  'checkpoint-dir': 'value',
  'checkpoint-every': 'value',
  resume: 'flag',
  'log-every': 'value',
  'eval-trials': 'value',
  'card-version': 'value',
  'train-eval-trials': 'value',
  'eval-connectors': 'value',
  'goal-error-mm': 'value',
  out: 'value',
  results: 'value',
  help: 'flag',
} as const;

const USAGE = `usage: train-offline --db FILE [--split FILE] [--steps N] [--image-size 32|64] [--batch-size N] [--filters 16,16,16]
  [--z-dim N] [--hidden 256,256] [--encoder-method daib|erm|vib|dann|daib-nobottleneck] [--seed S] [--checkpoint-dir DIR] [--checkpoint-every N] [--resume] [--log-every N]
  [--eval-trials N (0 = skip)] [--train-eval-trials N (default: eval-trials)] [--eval-connectors train,heldout|heldout] [--goal-error-mm 0,1.5] [--out DIR] [--results FILE]
  [--card-version N (version in the exported cards; raise it when replacing shipped models)]`;

function list(s: string | undefined, def: number[], key: string): number[] {
  if (s === undefined) return def;
  const v = s.split(',').map(Number);
  if (!v.every((x) => Number.isInteger(x) && x > 0)) throw new TrainArgError(`option '--${key}' must be comma-separated positive integers, got '${s}'`);
  return v;
}

function encoderMethod(s: string | undefined): DaibMethod {
  if (s === undefined) return DEFAULT_OFFLINE.encoderMethod;
  if (!(DAIB_METHODS as readonly string[]).includes(s))
    throw new TrainArgError(`option '--encoder-method' must be one of ${DAIB_METHODS.join(', ')}, got '${s}'`);
  return s as DaibMethod;
}

export async function main(argv: string[]): Promise<number> {
  let args: Map<string, string>;
  let opts: OfflineOptions;
  let evalTrials: number;
  let trainEvalTrials: number;
  let goalBiasMm: number[];
  let evalSets: ('train' | 'heldout')[];
  try {
    args = parseArgs(argv, KNOWN, 'train-offline');
    if (args.has('help')) {
      console.log(USAGE);
      return 0;
    }
    const db = existingFile(args, 'db', 'data/prior.db');
    const split = splitFrom(args.get('split'));
    const imageSize = intArg(args, 'image-size', DEFAULT_OFFLINE.imageSize, 8, 128);
    const z = intArg(args, 'z-dim', DEFAULT_OFFLINE.zIDim, 1, 256);
    opts = {
      ...DEFAULT_OFFLINE,
      db,
      split,
      steps: intArg(args, 'steps', DEFAULT_OFFLINE.steps, 1, 10_000_000),
      cardVersion: intArg(args, 'card-version', DEFAULT_OFFLINE.cardVersion, 1, 1_000_000),
      imageSize,
      batchSize: intArg(args, 'batch-size', DEFAULT_OFFLINE.batchSize, 1, 4096),
      filters: list(args.get('filters'), DEFAULT_OFFLINE.filters, 'filters'),
      zIDim: z,
      zSDim: z,
      hidden: list(args.get('hidden'), DEFAULT_OFFLINE.hidden, 'hidden'),
      encoderMethod: encoderMethod(args.get('encoder-method')),
      seed: intArg(args, 'seed', 0, 0, 2 ** 31),
      checkpointDir: args.get('checkpoint-dir') ?? null,
      checkpointEvery: intArg(args, 'checkpoint-every', DEFAULT_OFFLINE.checkpointEvery, 1, 1_000_000),
      resume: args.has('resume'),
      logEvery: intArg(args, 'log-every', DEFAULT_OFFLINE.logEvery, 1, 1_000_000),
    };
    evalTrials = intArg(args, 'eval-trials', 20, 0, 1000);
    trainEvalTrials = intArg(args, 'train-eval-trials', evalTrials, 1, 1000);
    goalBiasMm = (args.get('goal-error-mm') ?? '0,1.5').split(',').map(Number);
    if (!goalBiasMm.every((g) => Number.isFinite(g) && g >= 0 && g <= 10))
      throw new TrainArgError(`option '--goal-error-mm' must be comma-separated magnitudes in [0, 10] mm along (1,1,0)/sqrt2`);
    const sets = (args.get('eval-connectors') ?? 'train,heldout').split(',');
    if (!sets.every((s) => s === 'train' || s === 'heldout')) throw new TrainArgError(`option '--eval-connectors' takes train and/or heldout`);
    evalSets = sets;
  } catch (err) {
    console.error(`train-offline: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  await initBackend();
  const label = backendLabel();
  const out = args.get('out') ?? 'models';
  const run = await trainOffline(opts);
  log(label, `trained ${run.updatesThisRun} updates in ${run.seconds.toFixed(0)} s this run (step ${run.agent.step}/${opts.steps})`);
  const trainingSeconds = run.seconds;
  let exported = exportOffline(run, opts, out, { trainingSeconds });
  log(label, `exported ${join(out, 'policy.onnx')} and encoder-{pi,q,v}.onnx`);
  if (evalTrials > 0) {
    const results = args.get('results') ?? join(out, 'policy-eval.json');
    const report = await evaluatePolicy({
      policyPath: join(out, 'policy.onnx'),
      split: opts.split,
      sets: evalSets,
      trials: evalTrials,
      trainTrials: trainEvalTrials,
      goalBiasMm,
      onProgress: (m) => log(label, m),
      seed: opts.seed,
      onScenario: (partial) => writeJson(results, partial),
    });
    console.log(formatPolicyEval(report));
    writeJson(results, report);
    exported = exportOffline(run, opts, out, { trainingSeconds, metrics: policyMetrics(report) });
    log(label, `evaluation written to ${results}; policy card metrics updated`);
  }
  run.agent.dispose();
  void exported;
  return 0;
}

runIfMain(import.meta.url, 'train-offline', () => main(process.argv.slice(2)), { exit: true });

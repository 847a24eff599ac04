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
import { DAIB_METHODS } from '../learn/daib.ts';
import { backendLabel, initBackend } from '../learn/backend.ts';
import { ACTOR_LR_SCHEDULES, DEFAULT_OFFLINE, exportOffline, trainOffline, type OfflineModel, type OfflineOptions } from '../offline/iql.ts';
import { evaluatePolicy, formatPolicyEval, policyMetrics } from '../offline/evaluate-policy.ts';
import { log, splitFrom, writeJson } from '../offline/common.ts';
import { readSelection, scoreCheckpoint, type SelectionState } from '../offline/select.ts';
import { command, existingFile, fromArgv, splitFlag, T, UsageError } from './flags.ts';

/** The command line, declared once: the parser, its checks and --help come from this table (src/cli/flags.ts). */
export const TRAIN_OFFLINE = command({
  name: 'train-offline',
  usage: 'train-offline [flags]   (npm run train:offline -- [flags])',
  about: "Offline IQL with DAIB encoders on the training connectors' prior data, ONNX export with cards, and evaluation of the exported policy.",
  notes: 'exit codes: 0 done, 2 bad arguments, 1 anything else',
  flags: T.object({
    db: T.string({ default: 'data/prior.db', description: 'prior data (SQLite log of the collector)', cli: { arg: 'FILE' } }),
    split: splitFlag(),
    steps: T.integer({ minimum: 1, maximum: 10_000_000, default: DEFAULT_OFFLINE.steps, description: 'IQL updates in all (a resumed run counts those done)' }),
    imageSize: T.integer({ minimum: 8, maximum: 128, default: DEFAULT_OFFLINE.imageSize, description: 'image side of the encoders (px; 32 or 64)' }),
    batchSize: T.integer({ minimum: 1, maximum: 4096, default: DEFAULT_OFFLINE.batchSize, description: 'update batch size' }),
    filters: T.array(T.integer({ minimum: 1 }), { default: DEFAULT_OFFLINE.filters, description: 'conv filters per layer', cli: { arg: 'N,N,...' } }),
    zDim: T.integer({ minimum: 1, maximum: 256, default: DEFAULT_OFFLINE.zIDim, description: 'size of each DAIB code (zI and zS)' }),
    hidden: T.array(T.integer({ minimum: 1 }), { default: DEFAULT_OFFLINE.hidden, description: 'hidden layer sizes of the heads', cli: { arg: 'N,N,...' } }),
    encoderMethod: T.enum(DAIB_METHODS, {
      default: DEFAULT_OFFLINE.encoderMethod,
      description: 'how the encoders are trained: daib, or an ablation (erm: the checkpoint of table 7\'s "no DAIB in the policy")',
    }),
    seed: T.integer({ minimum: 0, maximum: 2 ** 31, default: 0, description: 'seed of initialisation, batches and evaluation starts' }),
    checkpointDir: T.optional(T.string({ description: 'resumable checkpoints go here', cli: { arg: 'DIR', defaultText: 'none' } })),
    checkpointEvery: T.integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_OFFLINE.checkpointEvery, description: 'updates between checkpoints' }),
    resume: T.boolean({ description: "continue from the checkpoint directory's latest checkpoint (a finished run just re-exports and evaluates)" }),
    logEvery: T.integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_OFFLINE.logEvery, description: 'updates between log lines' }),
    weightAverage: T.number({
      minimum: 0,
      maximum: 1,
      default: DEFAULT_OFFLINE.weightAverage,
      description: 'Polyak rate of a running average of every weight, which the last checkpoint and the export carry (0 = the last iterate)',
      cli: { arg: 'RATE' },
    }),
    actorLrSchedule: T.enum(ACTOR_LR_SCHEDULES, {
      default: DEFAULT_OFFLINE.actorLrSchedule,
      description: "the actor's learning rate over the run: constant, or cosine (IQL's recipe: down to 0 at the last update)",
    }),
    evalTrials: T.integer({
      minimum: 0,
      maximum: 1000,
      default: 20,
      description: 'evaluation trials per held-out connector and controller (0 = no evaluation)',
    }),
    trainEvalTrials: T.optional(T.integer({ minimum: 1, maximum: 1000, description: 'trials per training connector', cli: { defaultText: '--eval-trials' } })),
    evalConnectors: T.array(T.enum(['train', 'heldout']), { uniqueItems: true, default: ['train', 'heldout'], description: 'connector sets evaluated' }),
    goalErrorMm: T.array(T.number({ minimum: 0, maximum: 10 }), {
      default: [0, 1.5],
      description: 'calibration errors of x* evaluated: magnitudes in mm along (1,1,0)/sqrt2',
      cli: { arg: 'MM,MM,...' },
    }),
    selectEvery: T.integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 0,
      description:
        'every N updates (a multiple of --checkpoint-every) score the policy on the TRAINING connectors (P + residual, scenarios I and II, x* error 1.5 mm) and export the best checkpoint, not the last (kept in <checkpoint-dir>/best; src/offline/select.ts); 0 = the last',
    }),
    selectTrials: T.integer({ minimum: 1, maximum: 1000, default: 4, description: 'trials per training connector and scenario of each --select-every score' }),
    cardVersion: T.integer({
      minimum: 1,
      maximum: 1_000_000,
      default: DEFAULT_OFFLINE.cardVersion,
      description: 'version in the exported cards; raise it when replacing shipped models',
    }),
    out: T.string({ minLength: 1, default: 'models', description: 'directory of the exported models and cards', cli: { arg: 'DIR' } }),
    results: T.optional(T.string({ description: 'the evaluation as JSON', cli: { arg: 'FILE', defaultText: '<out>/policy-eval.json' } })),
  }),
});

export async function main(argv: string[]): Promise<number> {
  const r = fromArgv(TRAIN_OFFLINE, argv, (a) => {
    const opts: OfflineOptions = {
      ...DEFAULT_OFFLINE,
      db: existingFile('--db', a.db),
      split: splitFrom(a.split),
      steps: a.steps,
      cardVersion: a.cardVersion,
      imageSize: a.imageSize,
      batchSize: a.batchSize,
      filters: a.filters,
      zIDim: a.zDim,
      zSDim: a.zDim,
      hidden: a.hidden,
      encoderMethod: a.encoderMethod,
      seed: a.seed,
      checkpointDir: a.checkpointDir ?? null,
      checkpointEvery: a.checkpointEvery,
      resume: a.resume,
      logEvery: a.logEvery,
      weightAverage: a.weightAverage,
      actorLrSchedule: a.actorLrSchedule,
    };
    if (a.selectEvery > 0 && !a.checkpointDir) throw new UsageError('--select-every needs --checkpoint-dir (the best checkpoint is kept there)');
    if (a.selectEvery % a.checkpointEvery !== 0)
      throw new UsageError(`--select-every: must be a multiple of --checkpoint-every (${a.checkpointEvery}), got ${a.selectEvery}`);
    return { a, opts };
  });
  if (typeof r === 'number') return r;
  const { a, opts } = r;
  const evalTrials = a.evalTrials;
  const trainEvalTrials = a.trainEvalTrials ?? evalTrials;
  await initBackend();
  const label = backendLabel();
  const out = a.out;
  // Checkpoint selection on the training connectors (src/offline/select.ts): the policy of each selected step is exported
  // to <checkpoint-dir>/select/ and scored; scores persist in selection.json, so a resumed run skips those measured.
  const ckDir = opts.checkpointDir;
  let selection: SelectionState | null = ckDir && a.selectEvery > 0 ? readSelection(ckDir, a.selectEvery, a.selectTrials) : null;
  const score = async (m: OfflineModel): Promise<void> => {
    if (!selection || !ckDir || selection.records.some((r) => r.step === m.agent.step)) return;
    const dir = join(ckDir, 'select');
    exportOffline(m, opts, dir);
    selection = await scoreCheckpoint({
      checkpointDir: ckDir,
      state: selection,
      step: m.agent.step,
      policyPath: join(dir, 'policy.onnx'),
      split: opts.split,
      seed: opts.seed,
    });
    const r = selection.records.find((x) => x.step === m.agent.step);
    log(
      label,
      `selection: step ${m.agent.step} scores ${((r?.score ?? 0) * 100).toFixed(1)} % on the training connectors (${r?.trials} trials); best so far step ${selection.best}`,
    );
  };
  if (selection) opts.onCheckpoint = (m) => (m.agent.step % a.selectEvery === 0 || m.agent.step === opts.steps ? score(m) : Promise.resolve());
  const run = await trainOffline(opts);
  if (selection && ckDir && !run.interrupted) {
    await score(run); // a resumed finished run, or one stopped between its last checkpoint and its score
    const best = selection.best;
    if (best !== null && best !== run.agent.step) {
      await run.agent.loadCheckpoint(join(ckDir, 'best'));
      log(label, `selection: exporting the best checkpoint, step ${best} of ${opts.steps}`);
    }
  }
  log(label, `trained ${run.updatesThisRun} updates in ${run.seconds.toFixed(0)} s this run (step ${run.agent.step}/${opts.steps})`);
  const trainingSeconds = run.seconds;
  const sel = selection ? { selection } : {};
  let exported = exportOffline(run, opts, out, { trainingSeconds, ...sel });
  log(label, `exported ${join(out, 'policy.onnx')} and encoder-{pi,q,v}.onnx`);
  if (evalTrials > 0) {
    const results = a.results ?? join(out, 'policy-eval.json');
    const report = await evaluatePolicy({
      policyPath: join(out, 'policy.onnx'),
      split: opts.split,
      sets: a.evalConnectors,
      trials: evalTrials,
      trainTrials: trainEvalTrials,
      goalBiasMm: a.goalErrorMm,
      onProgress: (m) => log(label, m),
      seed: opts.seed,
      onScenario: (partial) => writeJson(results, partial),
    });
    console.log(formatPolicyEval(report));
    writeJson(results, report);
    exported = exportOffline(run, opts, out, { trainingSeconds, metrics: policyMetrics(report), ...sel });
    log(label, `evaluation written to ${results}; policy card metrics updated`);
  }
  run.agent.dispose();
  void exported;
  return 0;
}

runIfMain(import.meta.url, 'train-offline', () => main(process.argv.slice(2)), { exit: true });

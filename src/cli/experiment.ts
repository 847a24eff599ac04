/**
 * The end-to-end experiment: learning on the job on held-out connectors through the real daemon path
 * (src/experiment/online.ts). Writes <out>/results.json, <out>/table.md, <out>/curve.svg and <out>/curve.png.
 *
 *   npx tsx src/cli/experiment.ts                                  # full: held-out connectors, 200 episodes, eval 20 every 25
 *   npx tsx src/cli/experiment.ts --connectors europlug --episodes 10 --eval-every 5 --trials 5   # a short run
 *   npx tsx src/cli/experiment.ts --merge runA,runB --out results/x   # one report from runs made side by side
 *   npx tsx src/cli/experiment.ts --seeds 0,1,2 --out DIR             # per seed: DIR/seed-N/; then DIR/seeds.md, seeds.png
 *   npx tsx src/cli/experiment.ts --merge-seeds runA,runB --out DIR   # the seeds report from runs made separately
 *   npx tsx src/cli/experiment.ts --compare CAND,REF --connectors a,b   # a candidate's seed-S-C runs against reference runs
 *   npx tsx src/cli/experiment.ts --practice-counts runA,runB          # practice successes per --eval-every, from each run's log
 *   npx tsx src/cli/experiment.ts --trainer-lag runA,runB              # updates the driving version was behind, per --eval-every
 *   the trainer's settings, the practice noise, the checkpoint and the prior data are the daemon's (--config, default
 *   config/daemon.yaml: the `learning` and `practice` sections); a flag overrides one of them for this run.
 *   ablations (table 7): --ablation no-daib-policy --checkpoint <IQL checkpoint trained without DAIB>, made by
 *                          npx tsx src/cli/train-offline.ts --db data/prior.db --split data/splits/default.json --steps 3000 \
 *                              --image-size 32 --encoder-method erm --checkpoint-dir data/runs/iql-erm --resume --eval-trials 0 --out models/erm/
 *                        then --checkpoint data/runs/iql-erm (the checkpoint's encoder method must be erm; without
 *                        --policy its own policy is exported and evaluated, not the shipped DAIB models/policy.onnx)
 *                        --ablation no-daib-reward --reward <reward classifier trained without DAIB (ERM)>
 *                        --reward gt   (ground-truth reward; not in the research's table, an upper bound)
 *
 * Calibration error: a fixed x* error of --goal-error-mm (default 1.5 mm) along (1,1,0)/sqrt2 in the daemon's calibration
 * (socket.offset), as in src/train's evaluation: the P-controller alone misses the socket.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureBaselines, mergeRuns, runConnector, seedsReport, writeReport, type ConnectorResult, type ExperimentOptions } from '../experiment/online.ts';
import { compareRuns, practiceCounts, runSeeds, trainerLag } from '../experiment/compare.ts';
import { runIfMain } from '../util/args.ts';
import { splitFrom } from '../offline/common.ts';
import { command, fromArgv, nameList, optionalText, parseCommand, type Parsed, splitFlag, T, UsageError } from './flags.ts';
import { learningField, shadowGateField } from './trainer-flags.ts';
import { checkpointConfig, exportCheckpointPolicy, trainerSettings } from '../online/trainer.ts';
import { loadDaemonConfig } from '../config/load.ts';
import { parseSimOperator } from '../control/sim-operator.ts';
import { cardPathFor, readCard } from '../policy/card.ts';
import { inputSpecOf } from '../policy/inputs.ts';
import { preferredReward } from '../daemon/models.ts';

/** Whether a reward model's card feeds it depth cells (policy/inputs.ts depthGrid). */
function rewardTakesDepth(path: string): boolean {
  const spec = inputSpecOf(readCard(cardPathFor(path)), path);
  return spec.proprio?.layout.some((n) => n.startsWith('depth')) ?? false;
}

function operatorArg(spec: string): ReturnType<typeof parseSimOperator> {
  try {
    return parseSimOperator(spec);
  } catch (e) {
    throw new UsageError(`--operator: ${(e as Error).message}`);
  }
}

const fromConfig = (field: string): { defaultText: string } => ({ defaultText: `${field} of --config` });

/** The command line, declared once (src/cli/flags.ts). */
export const EXPERIMENT = command({
  name: 'experiment',
  usage: `npx tsx src/cli/experiment.ts [flags]
   or: experiment --merge DIR,DIR... --out DIR         (one report from runs made side by side, e.g. one per connector)
   or: experiment --merge-seeds DIR,DIR... --out DIR   (per-seed tables and one plot with every seed, from runs of different seeds)
   or: experiment --compare CANDIDATE,REFERENCE [--connectors LIST] [--seeds LIST]   (two sets of seed-S-C runs side by side)
   or: experiment --practice-counts DIR,DIR... [--eval-every N]   (practice successes per N episodes, from each run's log)
   or: experiment --trainer-lag DIR,DIR... [--eval-every N]   (updates the driving version was behind the practice, per N episodes)`,
  about:
    "Learning on the job on held-out connectors through the real daemon path. The trainer's settings, the practice noise, the checkpoint and the prior data are the daemon's (--config: its learning and practice sections); a flag overrides one of them for this run.",
  flags: T.object({
    connectors: nameList('held-out connectors practised on', "the split's held-out connectors"),
    episodes: T.integer({ minimum: 1, maximum: 100000, default: 200, description: 'practice episodes per connector' }),
    evalEvery: T.integer({ minimum: 1, maximum: 100000, default: 25, description: 'practice episodes between evaluations' }),
    // 1: each episode is driven by the version trained on all practice before it, as on a robot whose trainer keeps up
    // at 10 Hz, and a run repeats exactly. --eval-every's value: free-running between evaluations, the trainer beside
    // a cell that practises faster than it learns (the command of sessions 11-17; results/online-s18/).
    syncEvery: T.integer({
      minimum: 1,
      maximum: 100000,
      default: 1,
      description: "episodes between waits for the trainer (1: the daemon's regime, reproducible; the --eval-every value: free-running)",
    }),
    trials: T.integer({ minimum: 1, maximum: 1000, default: 20, description: 'trials per evaluation point' }),
    goalErrorMm: T.number({
      minimum: 0,
      maximum: 20,
      default: 1.5,
      description: 'calibration error of x*: mm along (1,1,0)/sqrt2 (socket.offset)',
      cli: { arg: 'MM' },
    }),
    goalErrorZMm: T.number({
      minimum: -20,
      maximum: 20,
      default: 0,
      description: "vertical component of x*'s calibration error (mm, + up, - below the seated height): what the height check must allow",
      cli: { arg: 'MM' },
    }),
    config: T.string({
      minLength: 1,
      default: 'config/daemon.yaml',
      description: 'the daemon config whose learning and practice sections give the defaults',
      cli: { arg: 'FILE' },
    }),
    checkpoint: optionalText('offline IQL checkpoint the trainer starts from', 'DIR', 'learning.checkpoint of --config, else <modelsDir>/iql-offline'),
    policy: optionalText('the offline policy (ONNX) evaluated first', 'FILE', "models/policy.onnx (the checkpoint's own when absent)"),
    reward: optionalText(
      "reward classifier, or 'gt' for the simulator's ground truth (models/reward.onnx: the image reward)",
      'FILE|gt',
      "what the daemon starts with: the first of --config's rewardPreference in its modelsDir the cell can feed (the depth reward with depth, the image reward with --no-depth)",
    ),
    rewardAnd: optionalText(
      'a second reward classifier that must agree with --reward: a learned success only when both say so (the smaller probability)',
      'FILE',
      'none',
    ),
    depth: T.boolean({
      description: 'the simulated wrist camera also gives a depth image (backend.sim.depth), as a reward taking depth cells needs',
      cli: { defaultText: 'backend.sim.depth of --config' },
    }),
    noDepth: T.boolean({
      description: 'the simulated wrist camera gives no depth image (a cell without depth: the default reward is then the image one)',
      cli: { defaultText: 'backend.sim.depth of --config' },
    }),
    offlineDb: T.optional(
      T.string({ minLength: 1, description: 'prior data for the offline share of each batch', cli: { arg: 'FILE', ...fromConfig('learning.offlineDb') } }),
    ),
    split: splitFlag(),
    out: optionalText('results directory', 'DIR', 'data/runs/experiment-<time>'),
    seed: T.integer({ minimum: 0, maximum: 1e9, default: 0, description: 'seed of the run' }),
    seeds: T.optional(
      T.array(T.integer({ minimum: 0 }), {
        uniqueItems: true,
        description: 'one run per seed (DIR/seed-N/), then DIR/seeds.md and seeds.png',
        cli: { defaultText: '--seed' },
      }),
    ),
    episodeSteps: T.integer({ minimum: 2, maximum: 1000, default: 20, description: 'control steps per episode' }),
    noise: T.optional(
      T.number({
        minimum: 0,
        maximum: 0.05,
        description: 'exploration noise std dev (m), for every connector unless --noise-from-clearance is given too',
        cli: fromConfig('practice.explorationNoise'),
      }),
    ),
    noiseFromClearance: T.optional(
      T.number({
        minimum: 0,
        maximum: 10,
        description: "practice noise = this x the connector's clearance (0: off, the noise above for every connector)",
        cli: fromConfig('practice.noiseFromClearance'),
      }),
    ),
    refineGoalEpisodes: T.optional(
      T.integer({
        minimum: 0,
        maximum: 1000,
        description: 'seated practice episodes of a connector after which its x* is touched up from where they ended (0: off)',
        cli: fromConfig('practice.refineGoalEpisodes'),
      }),
    ),
    noiseCorrelation: T.optional(
      T.number({ minimum: 0, maximum: 1, description: 'step-to-step correlation of that noise in an episode', cli: fromConfig('practice.noiseCorrelation') }),
    ),
    noiseTaperMm: T.optional(
      T.number({ minimum: 0, maximum: 100, description: 'height above x* (mm) below which that noise fades to zero', cli: fromConfig('practice.noiseTaperM') }),
    ),
    noiseAnnealWindow: T.optional(
      T.integer({
        minimum: 0,
        maximum: 1000,
        description: 'shrink that noise as the last N practice episodes succeed (0: off)',
        cli: fromConfig('practice.noiseAnnealWindow'),
      }),
    ),
    noiseAnnealFloor: T.optional(
      T.number({ minimum: 0, maximum: 1, description: 'the smallest share of that noise the annealing leaves', cli: fromConfig('practice.noiseAnnealFloor') }),
    ),
    examEvery: T.optional(
      T.integer({
        minimum: 0,
        maximum: 1000,
        description: 'every Nth practice episode without that noise, an exam (0: none)',
        cli: fromConfig('practice.examEvery'),
      }),
    ),
    // The trainer's settings as the config's learning section declares them; absent, that section's (of --config).
    utd: T.optional(learningField('utd', fromConfig('learning.utd'), false)),
    utdLateAfter: T.optional(learningField('utdLateAfter', fromConfig('learning.utdLateAfter'), false)),
    utdLate: T.optional(learningField('utdLate', fromConfig('learning.utdLate'), false)),
    onlineFraction: T.optional(learningField('onlineFraction', fromConfig('learning.onlineFraction'), false)),
    batchSize: T.optional(learningField('batchSize', fromConfig('learning.batchSize'), false)),
    exportEvery: T.optional(learningField('exportEvery', fromConfig('learning.exportEvery'), false)),
    warmupUpdates: T.optional(learningField('warmupUpdates', fromConfig('learning.warmupUpdates'), false)),
    evidenceGate: T.optional(learningField('evidenceGate', fromConfig('learning.evidenceGate'), false)),
    actorLr: T.optional(learningField('actorLr', { arg: 'LR', ...fromConfig('learning.actorLr') }, false)),
    temperature: T.optional(learningField('temperature', fromConfig('learning.temperature'), false)),
    critics: T.optional(learningField('critics', fromConfig('learning.critics'), false)),
    targetCritics: T.optional(learningField('targetCritics', fromConfig('learning.targetCritics'), false)),
    criticPolyak: T.optional(learningField('criticPolyak', fromConfig('learning.criticPolyak'), false)),
    hindsightWeight: T.optional(learningField('hindsightWeight', fromConfig('learning.hindsightWeight'), false)),
    shadowGateEpisodes: T.optional(shadowGateField('episodes', fromConfig('learning.shadowGate.episodes'))),
    shadowGateMargin: T.optional(shadowGateField('margin', fromConfig('learning.shadowGate.margin'))),
    shadowGateObserve: T.boolean({ description: "record the gate's verdicts, never refuse" }),
    autoRollback: T.optional(
      T.string({
        description: 'roll back an export whose success over K episodes falls by more than MARGIN, e.g. 5:0.2',
        cli: { arg: 'K:MARGIN', defaultText: 'off' },
      }),
    ),
    robustMm: T.number({ minimum: 0, maximum: 20, default: 1, description: 'second x* error for the robustness point (mm)', cli: { arg: 'MM' } }),
    baselines: T.boolean({ default: true, description: 'no search baselines', cli: { flag: '--no-baselines', sets: false } }),
    baselinesOnly: T.boolean({ description: 'the search baselines alone' }),
    trainerWaitS: T.number({ minimum: 0, maximum: 86400, default: 600, description: 'longest wait for the trainer at a sync point (s)', cli: { arg: 'S' } }),
    ablation: T.enum(['none', 'no-daib-policy', 'no-daib-reward'], { default: 'none', description: 'table 7 ablation' }),
    operator: T.optional(
      T.string({
        description: 'a simulated operator takes over practice episodes whose tip drifts beyond THRESH_MM',
        cli: { arg: 'sim:THRESH_MM', defaultText: 'none' },
      }),
    ),
    merge: T.optional(
      T.array(T.string({ minLength: 1 }), {
        description: 'one report from runs made side by side (needs --out)',
        cli: { arg: 'DIR,DIR,...', defaultText: 'none' },
      }),
    ),
    mergeSeeds: T.optional(
      T.array(T.string({ minLength: 1 }), {
        description: 'the seeds report from runs made separately (needs --out)',
        cli: { arg: 'DIR,DIR,...', defaultText: 'none' },
      }),
    ),
    compare: T.optional(
      T.array(T.string({ minLength: 1 }), {
        minItems: 2,
        maxItems: 2,
        description:
          "print a candidate's runs against reference runs, per seed and connector (each directory holds seed-S-C/C/curve.json; --seeds: default every seed the candidate has)",
        cli: { arg: 'CANDIDATE,REFERENCE', defaultText: 'none' },
      }),
    ),
    practiceCounts: T.optional(
      T.array(T.string({ minLength: 1 }), {
        description:
          "print each run's practice per --eval-every episodes from its log (DIR/C/daemon-*.db): seated by ground truth / called a success by the learned reward (p > 0.5) / both",
        cli: { arg: 'DIR,DIR,...', defaultText: 'none' },
      }),
    ),
    trainerLag: T.optional(
      T.array(T.string({ minLength: 1 }), {
        description:
          'print, per --eval-every practice episodes of each run (its log and settings.json), the mean trainer updates the driving version was behind the updates owed for the practice before it, and how many versions drove them',
        cli: { arg: 'DIR,DIR,...', defaultText: 'none' },
      }),
    ),
  }),
});

type ExperimentFlags = Parsed<typeof EXPERIMENT.flags>;

/** The options a command line asks for (no side effects): defaults from the daemon config's learning and practice sections. */
export function experimentOptions(argv: string[] | ExperimentFlags): ExperimentOptions & { ablation: string; seeds: number[] } {
  const { values: a } = Array.isArray(argv) ? parseCommand(EXPERIMENT, argv) : argv;
  const configFile = a.config;
  const config = loadDaemonConfig(configFile);
  const l = config.learning;
  const split = splitFrom(a.split);
  const connectors = a.connectors ?? split.heldOut;
  const bad = connectors.filter((c) => split.train.includes(c));
  if (bad.length) throw new UsageError(`--connectors: ${bad.join(', ')} are training connectors of ${split.source}; the experiment is on held-out connectors`);
  const checkpoint = a.checkpoint ?? l.checkpoint ?? join(config.modelsDir, 'iql-offline');
  if (!existsSync(join(checkpoint, 'latest.json')))
    throw new UsageError(`--checkpoint: ${checkpoint}/latest.json does not exist (train one: src/cli/train-offline.ts --checkpoint-dir ${checkpoint})`);
  if (a.depth && a.noDepth) throw new UsageError('--depth and --no-depth: give one');
  const simDepth = a.noDepth ? false : a.depth || (config.backend.sim.depth ?? false);
  // Without --reward, the daemon's own rule (daemon/models.ts preferredReward), so the experiment runs what it runs.
  const daemonReward = (): string => {
    const { model, passedOver } = preferredReward(config.modelsDir, config.rewardPreference, { depth: simDepth });
    if (!model) throw new UsageError(`--reward: none of rewardPreference can be used (${passedOver.join('; ')}); give --reward FILE or gt`);
    return model.path;
  };
  const rewardPath = a.reward === 'gt' ? null : (a.reward ?? daemonReward());
  if (rewardPath && !existsSync(rewardPath)) throw new UsageError(`--reward: ${rewardPath} does not exist`);
  const rewardAndPath = a.rewardAnd ?? null;
  if (rewardAndPath !== null && (rewardPath === null || !existsSync(rewardAndPath)))
    throw new UsageError(rewardPath === null ? '--reward-and: needs a learned --reward to agree with' : `--reward-and: ${rewardAndPath} does not exist`);
  // Refused here rather than at the first tick, where the daemon would stop the arm for want of depth.
  for (const [flag, path] of [
    ['--reward', rewardPath],
    ['--reward-and', rewardAndPath],
  ] as const)
    if (path && !simDepth && rewardTakesDepth(path))
      throw new UsageError(`${flag}: ${path} takes the wrist depth image (its card's proprio inputs); add --depth (or backend.sim.depth: true in --config)`);
  const offlineDb = a.offlineDb ?? l.offlineDb;
  const seeds = a.seeds ?? [a.seed];
  const gateEpisodes = a.shadowGateEpisodes ?? l.shadowGate.episodes;
  const ar = a.autoRollback;
  const arm = ar === undefined ? null : /^(\d+):([0-9.]+)$/.exec(ar);
  if (ar !== undefined && (!arm || Number(arm[1]) < 1 || Number(arm[2]) > 1))
    throw new UsageError(`--auto-rollback: '${ar}' is not K:MARGIN (K >= 1 episodes, margin in [0, 1]), e.g. 5:0.2`);
  const settings = trainerSettings(l);
  return {
    ablation: a.ablation,
    seeds,
    connectors,
    episodes: a.episodes,
    evalEvery: a.evalEvery,
    syncEvery: a.syncEvery,
    trials: a.trials,
    offsetMm: a.goalErrorMm,
    offsetZMm: a.goalErrorZMm,
    startCheckpoint: checkpoint,
    policyPath: a.policy ?? 'models/policy.onnx',
    rewardPath,
    ...(rewardAndPath !== null ? { rewardAndPath } : {}),
    offlineDb: offlineDb !== null && existsSync(offlineDb) ? offlineDb : null,
    offlineDomains: split.train,
    outDir: a.out ?? join('data/runs', `experiment-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    seed: seeds[0] as number,
    episodeSteps: a.episodeSteps,
    explorationNoise: a.noise ?? config.practice.explorationNoise,
    noiseCorrelation: a.noiseCorrelation ?? config.practice.noiseCorrelation,
    noiseTaperM: a.noiseTaperMm !== undefined ? a.noiseTaperMm / 1000 : config.practice.noiseTaperM,
    noiseAnnealWindow: a.noiseAnnealWindow ?? config.practice.noiseAnnealWindow,
    noiseAnnealFloor: a.noiseAnnealFloor ?? config.practice.noiseAnnealFloor,
    examEvery: a.examEvery ?? config.practice.examEvery,
    refineGoalEpisodes: a.refineGoalEpisodes ?? config.practice.refineGoalEpisodes,
    // An explicit --noise means that noise, unless the clearance rule is asked for too.
    noiseFromClearance: a.noiseFromClearance ?? (a.noise !== undefined ? 0 : config.practice.noiseFromClearance),
    trainer: {
      ...settings,
      utd: a.utd ?? settings.utd,
      utdLateAfter: a.utdLateAfter ?? settings.utdLateAfter,
      utdLate: a.utdLate ?? settings.utdLate,
      onlineFraction: a.onlineFraction ?? settings.onlineFraction,
      batchSize: a.batchSize ?? settings.batchSize,
      exportEvery: a.exportEvery ?? settings.exportEvery,
      warmupUpdates: a.warmupUpdates ?? settings.warmupUpdates,
      evidenceGate: a.evidenceGate ?? settings.evidenceGate,
      actorLr: a.actorLr ?? settings.actorLr,
      temperature: a.temperature !== undefined ? a.temperature : settings.temperature,
      critics: a.critics !== undefined ? a.critics : settings.critics,
      targetCritics: a.targetCritics !== undefined ? a.targetCritics : settings.targetCritics,
      criticPolyak: a.criticPolyak !== undefined ? a.criticPolyak : settings.criticPolyak,
      hindsightWeight: a.hindsightWeight ?? settings.hindsightWeight,
    },
    shadowGate: gateEpisodes > 0 ? { episodes: gateEpisodes, margin: a.shadowGateMargin ?? l.shadowGate.margin, observe: a.shadowGateObserve } : null,
    autoRollback: arm ? { k: Number(arm[1]), margin: Number(arm[2]) } : null,
    robustMm: a.robustMm,
    trainerWaitS: a.trainerWaitS,
    baselines: a.baselines,
    operator: a.operator !== undefined ? operatorArg(a.operator) : null,
    simDepth,
    configFile,
    calibrationDir: config.calibrationDir,
    onProgress: (line) => console.log(`${new Date().toISOString()} ${line}`),
  };
}

export async function main(argv: string[]): Promise<number> {
  const args = fromArgv(EXPERIMENT, argv, (_, p) => p);
  if (typeof args === 'number') return args;
  const a = args.values;
  if (a.compare !== undefined || a.practiceCounts !== undefined || a.trainerLag !== undefined) {
    try {
      if (a.practiceCounts !== undefined) for (const line of practiceCounts(a.practiceCounts, a.evalEvery)) console.log(line);
      if (a.trainerLag !== undefined) for (const line of trainerLag(a.trainerLag, a.evalEvery)) console.log(line);
      if (a.compare !== undefined) {
        const [candidate, reference] = a.compare as [string, string];
        const connectors = a.connectors ?? splitFrom(a.split).heldOut;
        for (const line of compareRuns(candidate, reference, connectors, a.seeds ?? runSeeds(candidate, connectors))) console.log(line);
      }
      return 0;
    } catch (e) {
      console.error(`experiment: ${(e as Error).message}`);
      return 1;
    }
  }
  for (const [dirs, flag, run] of [
    [a.merge, '--merge', mergeRuns],
    [a.mergeSeeds, '--merge-seeds', seedsReport],
  ] as const) {
    if (dirs === undefined) continue;
    if (a.out === undefined) {
      console.error(`experiment: ${flag} needs --out`);
      return 2;
    }
    try {
      console.log(await run(dirs, a.out));
      return 0;
    } catch (e) {
      console.error((e as Error).message);
      return 1;
    }
  }
  try {
    const { ablation, seeds, ...base } = experimentOptions(args);
    const given = args.given;
    const checkpoint = base.startCheckpoint;
    if (ablation === 'no-daib-policy') {
      if (!given.has('checkpoint'))
        throw new UsageError('--ablation no-daib-policy needs --checkpoint of an IQL run trained without DAIB (train-offline --encoder-method erm)');
      const method = checkpointConfig(checkpoint).daib?.method;
      if (method !== 'erm')
        throw new UsageError(
          `--ablation no-daib-policy: ${checkpoint} was trained with encoder method '${String(method)}', expected 'erm' (train-offline --encoder-method erm)`,
        );
    }
    const out = base.outDir;
    mkdirSync(out, { recursive: true });
    let policyPath = base.policyPath;
    // The shipped policy has DAIB encoders: the no-DAIB ablation evaluates its own checkpoint's policy.
    if (!given.has('policy') && (ablation === 'no-daib-policy' || !existsSync(policyPath))) {
      policyPath = await exportCheckpointPolicy(checkpoint, join(out, 'offline-policy.onnx'));
      console.log(`${ablation === 'no-daib-policy' ? 'ablation no-daib-policy' : 'no shipped policy'}: exported the checkpoint's policy to ${policyPath}`);
    }
    if (base.offlineDb === null && !a.baselinesOnly)
      console.log(
        `no offline data (${a.offlineDb ?? 'learning.offlineDb of the config'}): the trainer learns from practice data only (the measured results used it; make it with the commands in src/data/README.md)`,
      );
    if (ablation === 'no-daib-reward' && !given.has('reward'))
      throw new UsageError('--ablation no-daib-reward needs --reward of a classifier trained without DAIB (train-reward --method erm --export erm)');
    const o: ExperimentOptions = { ...base, policyPath };
    const connectors = o.connectors;
    if (a.baselinesOnly) {
      // The search baselines alone, as the full run measures them (same seeds, x* error and step limit).
      for (const seed of seeds) {
        const baselines: Record<string, ConnectorResult['baselines']> = {};
        for (const c of connectors) {
          baselines[c] = await measureBaselines(c, o, seed * 1000 + 17, false);
          console.log(
            `seed ${seed} ${c}: ${Object.entries(baselines[c] ?? {})
              .map(([k, v]) => `${k} ${v.successes}/${v.trials}`)
              .join(', ')}`,
          );
        }
        const file = join(out, seeds.length > 1 ? `baselines-seed-${seed}.json` : 'baselines.json');
        writeFileSync(file, JSON.stringify({ command: argv.join(' '), trials: o.trials, offsetMm: o.offsetMm, seed, baselines }, null, 1));
        console.log(`written: ${file}`);
      }
      return 0;
    }
    const dirs: string[] = [];
    for (const seed of seeds) {
      const dir = seeds.length > 1 ? join(out, `seed-${seed}`) : out;
      mkdirSync(dir, { recursive: true });
      const os: ExperimentOptions = { ...o, seed, outDir: dir };
      const settings = { ...os, onProgress: undefined, ablation, command: argv.join(' ') };
      writeFileSync(join(dir, 'settings.json'), JSON.stringify(settings, null, 1));
      const t0 = performance.now();
      const results: ConnectorResult[] = [];
      for (const c of connectors) {
        results.push(await runConnector(c, os));
        writeFileSync(join(dir, 'results.json'), JSON.stringify({ settings, results, wallClockS: (performance.now() - t0) / 1000 }, null, 1));
      }
      const header = `Online fine-tuning on held-out connectors (ablation: ${ablation}; ${os.operator ? `simulated operator takeovers beyond ${(os.operator.thresholdM ?? 0) * 1000} mm; ` : ''}x* error ${os.offsetMm} mm; ${os.episodes} practice episodes; ${os.trials} trials per point; seed ${seed}; wall clock ${((performance.now() - t0) / 60000).toFixed(1)} min)`;
      const md = await writeReport(dir, results, header, `Success vs practice (${ablation}, x* error ${os.offsetMm} mm, seed ${seed})`);
      console.log(`\n${md}\nwritten: ${dir}/results.json, table.md, curve.svg, curve.png`);
      dirs.push(dir);
    }
    if (seeds.length > 1) console.log(await seedsReport(dirs, out));
    return 0;
  } catch (e) {
    console.error(e instanceof UsageError ? e.message : ((e as Error).stack ?? String(e)));
    return 1;
  }
}

runIfMain(import.meta.url, 'experiment', () => main(process.argv.slice(2)));

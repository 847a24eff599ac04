/**
 * The end-to-end experiment: learning on the job on held-out connectors through the real daemon path
 * (src/experiment/online.ts). Writes <out>/results.json, <out>/table.md, <out>/curve.svg and <out>/curve.png.
 *
 *   npx tsx src/cli/experiment.ts                                  # full: held-out connectors, 200 episodes, eval 20 every 25
 *   npx tsx src/cli/experiment.ts --connectors europlug --episodes 10 --eval-every 5 --trials 5   # a short run
 *   npx tsx src/cli/experiment.ts --merge runA,runB --out results/x   # one report from runs made side by side
 *   npx tsx src/cli/experiment.ts --seeds 0,1,2 --out DIR             # per seed: DIR/seed-N/; then DIR/seeds.md, seeds.png
 *   npx tsx src/cli/experiment.ts --merge-seeds runA,runB --out DIR   # the seeds report from runs made separately
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
import { runIfMain } from '../util/args.ts';
import { TrainArgError, intArg, numArg, parseArgs, splitFrom } from '../offline/common.ts';
import { checkpointConfig, exportCheckpointPolicy, trainerSettings } from '../online/trainer.ts';
import { loadDaemonConfig } from '../config/load.ts';
import { parseSimOperator } from '../control/sim-operator.ts';

function operatorArg(spec: string): ReturnType<typeof parseSimOperator> {
  try {
    return parseSimOperator(spec);
  } catch (e) {
    throw new TrainArgError((e as Error).message);
  }
}

const KNOWN = {
  connectors: 'value',
  episodes: 'value',
  'eval-every': 'value',
  'sync-every': 'value',
  trials: 'value',
  'goal-error-mm': 'value',
  checkpoint: 'value',
  policy: 'value',
  reward: 'value',
  'offline-db': 'value',
  split: 'value',
  out: 'value',
  seed: 'value',
  'episode-steps': 'value',
  noise: 'value',
  utd: 'value',
  'online-fraction': 'value',
  'batch-size': 'value',
  'robust-mm': 'value',
  'no-baselines': 'flag',
  'baselines-only': 'flag',
  ablation: 'value',
  'export-every': 'value',
  'trainer-wait-s': 'value',
  merge: 'value',
  help: 'flag',
  'warmup-updates': 'value',
  'actor-lr': 'value',
  config: 'value',
  seeds: 'value',
  'merge-seeds': 'value',
  'shadow-gate-episodes': 'value',
  'shadow-gate-margin': 'value',
  'shadow-gate-observe': 'flag',
  'auto-rollback': 'value',
  operator: 'value',
} as const;

const USAGE = `usage: experiment [--connectors a,b] [--episodes 200] [--eval-every 25] [--sync-every N (default eval-every; 1 = reproducible)] [--trials 20] [--goal-error-mm 1.5]
  [--config config/daemon.yaml (the trainer settings, practice noise, checkpoint and prior data below default to its learning/practice sections)]
  [--checkpoint <modelsDir>/iql-offline] [--policy models/policy.onnx] [--reward models/reward.onnx|gt] [--offline-db data/prior.db]
  [--split data/splits/default.json] [--out data/runs/experiment-<time>] [--seed 0 | --seeds 0,1,2] [--episode-steps 20] [--noise 0.001]
  [--utd 2] [--online-fraction 0.5] [--batch-size 256] [--export-every 0] [--warmup-updates N] [--actor-lr LR]
  [--shadow-gate-episodes N (0 = off) [--shadow-gate-margin 0.1] [--shadow-gate-observe: record verdicts, never refuse]] [--auto-rollback K:MARGIN]
  [--robust-mm 1] [--no-baselines | --baselines-only] [--trainer-wait-s 600] [--ablation none|no-daib-policy|no-daib-reward]
  [--operator sim:THRESH_MM (a simulated operator takes over practice episodes whose tip drifts beyond THRESH_MM)]
  or: experiment --merge DIR,DIR... --out DIR         (one report from runs made side by side, e.g. one per connector)
  or: experiment --merge-seeds DIR,DIR... --out DIR   (per-seed tables and one plot with every seed, from runs of different seeds)`;

/** The options a command line asks for (no side effects): defaults from the daemon config's learning and practice sections. */
export function experimentOptions(args: Map<string, string>): ExperimentOptions & { ablation: string; seeds: number[] } {
  const configFile = args.get('config') ?? 'config/daemon.yaml';
  const config = loadDaemonConfig(configFile);
  const l = config.learning;
  const split = splitFrom(args.get('split'));
  const connectors = (args.get('connectors') ?? split.heldOut.join(',')).split(',').filter(Boolean);
  const bad = connectors.filter((c) => split.train.includes(c));
  if (bad.length)
    throw new TrainArgError(`--connectors: ${bad.join(', ')} are training connectors of ${split.source}; the experiment is on held-out connectors`);
  const checkpoint = args.get('checkpoint') ?? l.checkpoint ?? join(config.modelsDir, 'iql-offline');
  if (!existsSync(join(checkpoint, 'latest.json')))
    throw new TrainArgError(`--checkpoint: ${checkpoint}/latest.json does not exist (train one: src/cli/train-offline.ts --checkpoint-dir ${checkpoint})`);
  const ablation = args.get('ablation') ?? 'none';
  if (!['none', 'no-daib-policy', 'no-daib-reward'].includes(ablation))
    throw new TrainArgError(`--ablation must be none | no-daib-policy | no-daib-reward, got '${ablation}'`);
  const rewardArg = args.get('reward') ?? 'models/reward.onnx';
  const rewardPath = rewardArg === 'gt' ? null : rewardArg;
  if (rewardPath && !existsSync(rewardPath)) throw new TrainArgError(`--reward: ${rewardPath} does not exist`);
  const offlineDb = args.get('offline-db') ?? l.offlineDb;
  const seed = intArg(args, 'seed', 0, 0, 1e9);
  const seeds = args.has('seeds')
    ? (args.get('seeds') as string)
        .split(',')
        .filter(Boolean)
        .map((x) => {
          const v = Number(x);
          if (!Number.isInteger(v) || v < 0) throw new TrainArgError(`--seeds: '${x}' is not a seed (integers >= 0, comma separated)`);
          return v;
        })
    : [seed];
  const gateEpisodes = intArg(args, 'shadow-gate-episodes', l.shadowGate.episodes, 0, 1000);
  const ar = args.get('auto-rollback');
  const arm = ar === undefined ? null : /^(\d+):([0-9.]+)$/.exec(ar);
  if (ar !== undefined && (!arm || Number(arm[1]) < 1 || Number(arm[2]) > 1))
    throw new TrainArgError(`--auto-rollback: '${ar}' is not K:MARGIN (K >= 1 episodes, margin in [0, 1]), e.g. 5:0.2`);
  const settings = trainerSettings(l);
  return {
    ablation,
    seeds,
    connectors,
    episodes: intArg(args, 'episodes', 200, 1, 100000),
    evalEvery: intArg(args, 'eval-every', 25, 1, 100000),
    ...(args.has('sync-every') ? { syncEvery: intArg(args, 'sync-every', 1, 1, 100000) } : {}),
    trials: intArg(args, 'trials', 20, 1, 1000),
    offsetMm: numArg(args, 'goal-error-mm', 1.5, 0, 20),
    startCheckpoint: checkpoint,
    policyPath: args.get('policy') ?? 'models/policy.onnx',
    rewardPath,
    offlineDb: offlineDb !== null && existsSync(offlineDb) ? offlineDb : null,
    offlineDomains: split.train,
    outDir: args.get('out') ?? join('data/runs', `experiment-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    seed: seeds[0] as number,
    episodeSteps: intArg(args, 'episode-steps', 20, 2, 1000),
    explorationNoise: numArg(args, 'noise', config.practice.explorationNoise, 0, 0.05),
    trainer: {
      ...settings,
      utd: numArg(args, 'utd', settings.utd, 0.01, 100),
      onlineFraction: numArg(args, 'online-fraction', settings.onlineFraction, 0, 1),
      batchSize: intArg(args, 'batch-size', settings.batchSize, 2, 4096),
      exportEvery: intArg(args, 'export-every', settings.exportEvery, 0, 1e6),
      warmupUpdates: intArg(args, 'warmup-updates', settings.warmupUpdates, 0, 1e6),
      actorLr: args.has('actor-lr') ? numArg(args, 'actor-lr', 3e-4, 1e-7, 0.1) : settings.actorLr,
    },
    shadowGate:
      gateEpisodes > 0
        ? { episodes: gateEpisodes, margin: numArg(args, 'shadow-gate-margin', l.shadowGate.margin, 0, 1), observe: args.has('shadow-gate-observe') }
        : null,
    autoRollback: arm ? { k: Number(arm[1]), margin: Number(arm[2]) } : null,
    robustMm: numArg(args, 'robust-mm', 1, 0, 20),
    trainerWaitS: numArg(args, 'trainer-wait-s', 600, 0, 86400),
    baselines: !args.has('no-baselines'),
    operator: args.has('operator') ? operatorArg(args.get('operator') as string) : null,
    configFile,
    calibrationDir: config.calibrationDir,
    onProgress: (line) => console.log(`${new Date().toISOString()} ${line}`),
  };
}

export async function main(argv: string[]): Promise<number> {
  let args: Map<string, string>;
  try {
    args = parseArgs(argv, KNOWN, 'experiment');
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.has('help')) {
    console.log(USAGE);
    return 0;
  }
  const merge = args.get('merge');
  if (merge !== undefined) {
    const out = args.get('out');
    if (out === undefined) {
      console.error(`--merge needs --out\n${USAGE}`);
      return 2;
    }
    try {
      console.log(await mergeRuns(merge.split(',').filter(Boolean), out));
      return 0;
    } catch (e) {
      console.error((e as Error).message);
      return 1;
    }
  }
  const mergeSeeds = args.get('merge-seeds');
  if (mergeSeeds !== undefined) {
    const out = args.get('out');
    if (out === undefined) {
      console.error(`--merge-seeds needs --out\n${USAGE}`);
      return 2;
    }
    try {
      console.log(await seedsReport(mergeSeeds.split(',').filter(Boolean), out));
      return 0;
    } catch (e) {
      console.error((e as Error).message);
      return 1;
    }
  }
  try {
    const { ablation, seeds, ...base } = experimentOptions(args);
    const checkpoint = base.startCheckpoint;
    if (ablation === 'no-daib-policy') {
      if (!args.has('checkpoint'))
        throw new TrainArgError('--ablation no-daib-policy needs --checkpoint of an IQL run trained without DAIB (train-offline --encoder-method erm)');
      const method = checkpointConfig(checkpoint).daib?.method;
      if (method !== 'erm')
        throw new TrainArgError(
          `--ablation no-daib-policy: ${checkpoint} was trained with encoder method '${String(method)}', expected 'erm' (train-offline --encoder-method erm)`,
        );
    }
    const out = base.outDir;
    mkdirSync(out, { recursive: true });
    let policyPath = base.policyPath;
    // The shipped policy has DAIB encoders: the no-DAIB ablation evaluates its own checkpoint's policy.
    if (!args.has('policy') && (ablation === 'no-daib-policy' || !existsSync(policyPath))) {
      policyPath = await exportCheckpointPolicy(checkpoint, join(out, 'offline-policy.onnx'));
      console.log(`${ablation === 'no-daib-policy' ? 'ablation no-daib-policy' : 'no shipped policy'}: exported the checkpoint's policy to ${policyPath}`);
    }
    if (base.offlineDb === null && !args.has('baselines-only'))
      console.log(
        `no offline data (${args.get('offline-db') ?? 'learning.offlineDb of the config'}): the trainer learns from practice data only (the measured results used it; make it with the commands in src/data/README.md)`,
      );
    if (ablation === 'no-daib-reward' && !args.has('reward'))
      throw new TrainArgError('--ablation no-daib-reward needs --reward of a classifier trained without DAIB (train-reward --method erm --export erm)');
    const o: ExperimentOptions = { ...base, policyPath };
    const connectors = o.connectors;
    if (args.has('baselines-only')) {
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
    console.error(e instanceof TrainArgError ? e.message : ((e as Error).stack ?? String(e)));
    return 1;
  }
}

runIfMain(import.meta.url, 'experiment', () => main(process.argv.slice(2)));

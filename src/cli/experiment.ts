/**
 * The end-to-end experiment: learning on the job on held-out connectors through the real daemon path
 * (src/experiment/online.ts). Writes <out>/results.json, <out>/table.md, <out>/curve.svg and <out>/curve.png.
 *
 *   npx tsx src/cli/experiment.ts                                  # full: held-out connectors, 200 episodes, eval 20 every 25
 *   npx tsx src/cli/experiment.ts --connectors europlug --episodes 10 --eval-every 5 --trials 5   # a short run
 *   npx tsx src/cli/experiment.ts --merge runA,runB --out results/x   # one report from runs made side by side
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
import { measureBaselines, mergeRuns, runConnector, writeReport, type ConnectorResult, type ExperimentOptions } from '../experiment/online.ts';
import { runIfMain } from '../util/args.ts';
import { TrainArgError, intArg, numArg, parseArgs, splitFrom } from '../offline/common.ts';
import { checkpointConfig, exportCheckpointPolicy } from '../online/trainer.ts';

const KNOWN = {
  connectors: 'value', episodes: 'value', 'eval-every': 'value', 'sync-every': 'value', trials: 'value', 'goal-error-mm': 'value', checkpoint: 'value', policy: 'value',
  reward: 'value', 'offline-db': 'value', split: 'value', out: 'value', seed: 'value', 'episode-steps': 'value', noise: 'value', utd: 'value',
  'online-fraction': 'value', 'batch-size': 'value', 'robust-mm': 'value', 'no-baselines': 'flag', 'baselines-only': 'flag', ablation: 'value', 'export-every': 'value', 'trainer-wait-s': 'value', merge: 'value', help: 'flag',
  'warmup-updates': 'value', 'actor-lr': 'value',
} as const;

/**
 * The experiment's settings where they differ from the daemon's defaults, chosen by measurement on europlug/dt12
 * (ground-truth and learned reward, 100 episodes; src/online/README.md, "What it took"): exploration noise 3 mm -> no
 * improvement (practice rarely aligns within the sub-mm clearance); 1 mm with RLPD's 50/50 mix and 2 updates per step
 * -> 8 -> 17/20 (ground truth) and 8 -> 13/20 (learned reward) after 50 episodes; the research's 25 % mix was slower.
 */
export const EXPERIMENT_DEFAULTS = { noise: 0.001, onlineFraction: 0.5, utd: 2 };

const USAGE = `usage: experiment [--connectors a,b] [--episodes 200] [--eval-every 25] [--sync-every N (default eval-every; 1 = reproducible)] [--trials 20] [--goal-error-mm 1.5]
  [--checkpoint models/iql-offline] [--policy models/policy.onnx] [--reward models/reward.onnx|gt] [--offline-db data/prior.db]
  [--split data/splits/default.json] [--out data/runs/experiment-<time>] [--seed 0] [--episode-steps 20] [--noise 0.001]
  [--utd 2] [--online-fraction 0.5] [--batch-size 256] [--export-every 0] [--robust-mm 1] [--no-baselines | --baselines-only] [--trainer-wait-s 600]
  [--ablation none|no-daib-policy|no-daib-reward]
  or: experiment --merge DIR,DIR... --out DIR   (one report from runs made side by side, e.g. one per connector)`;

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
  try {
    const split = splitFrom(args.get('split'));
    const connectors = (args.get('connectors') ?? split.heldOut.join(',')).split(',').filter(Boolean);
    const bad = connectors.filter((c) => split.train.includes(c));
    if (bad.length) throw new TrainArgError(`--connectors: ${bad.join(', ')} are training connectors of ${split.source}; the experiment is on held-out connectors`);
    const checkpoint = args.get('checkpoint') ?? 'models/iql-offline';
    if (!existsSync(join(checkpoint, 'latest.json'))) throw new TrainArgError(`--checkpoint: ${checkpoint}/latest.json does not exist (train one: src/cli/train-offline.ts --checkpoint-dir ${checkpoint})`);
    const ablation = args.get('ablation') ?? 'none';
    if (!['none', 'no-daib-policy', 'no-daib-reward'].includes(ablation)) throw new TrainArgError(`--ablation must be none | no-daib-policy | no-daib-reward, got '${ablation}'`);
    if (ablation === 'no-daib-policy') {
      if (!args.has('checkpoint')) throw new TrainArgError('--ablation no-daib-policy needs --checkpoint of an IQL run trained without DAIB (train-offline --encoder-method erm)');
      const method = checkpointConfig(checkpoint).daib?.method;
      if (method !== 'erm') throw new TrainArgError(`--ablation no-daib-policy: ${checkpoint} was trained with encoder method '${String(method)}', expected 'erm' (train-offline --encoder-method erm)`);
    }
    const out = args.get('out') ?? join('data/runs', `experiment-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(out, { recursive: true });
    let policyPath = args.get('policy') ?? 'models/policy.onnx';
    // The shipped policy has DAIB encoders: the no-DAIB ablation evaluates its own checkpoint's policy.
    if (!args.has('policy') && (ablation === 'no-daib-policy' || !existsSync(policyPath))) {
      policyPath = await exportCheckpointPolicy(checkpoint, join(out, 'offline-policy.onnx'));
      console.log(`${ablation === 'no-daib-policy' ? 'ablation no-daib-policy' : 'no shipped policy'}: exported the checkpoint's policy to ${policyPath}`);
    }
    const rewardArg = args.get('reward') ?? 'models/reward.onnx';
    const rewardPath = rewardArg === 'gt' ? null : rewardArg;
    if (rewardPath && !existsSync(rewardPath)) throw new TrainArgError(`--reward: ${rewardPath} does not exist`);
    const offlineDb = args.get('offline-db') ?? 'data/prior.db';
    if (!existsSync(offlineDb) && !args.has('baselines-only')) console.log(`no offline data at ${offlineDb}: the trainer learns from practice data only (the measured results used it; make it with the commands in src/data/README.md)`);
    if (ablation === 'no-daib-reward' && !args.has('reward')) throw new TrainArgError('--ablation no-daib-reward needs --reward of a classifier trained without DAIB (train-reward --method erm --export erm)');
    const o: ExperimentOptions = {
      connectors,
      episodes: intArg(args, 'episodes', 200, 1, 100000),
      evalEvery: intArg(args, 'eval-every', 25, 1, 100000),
      ...(args.has('sync-every') ? { syncEvery: intArg(args, 'sync-every', 1, 1, 100000) } : {}),
      trials: intArg(args, 'trials', 20, 1, 1000),
      offsetMm: numArg(args, 'goal-error-mm', 1.5, 0, 20),
      startCheckpoint: checkpoint,
      policyPath,
      rewardPath,
      offlineDb: existsSync(offlineDb) ? offlineDb : null,
      offlineDomains: split.train,
      outDir: out,
      seed: intArg(args, 'seed', 0, 0, 1e9),
      episodeSteps: intArg(args, 'episode-steps', 20, 2, 1000),
      explorationNoise: numArg(args, 'noise', EXPERIMENT_DEFAULTS.noise, 0, 0.05),
      trainer: {
        utd: numArg(args, 'utd', EXPERIMENT_DEFAULTS.utd, 0.01, 100),
        onlineFraction: numArg(args, 'online-fraction', EXPERIMENT_DEFAULTS.onlineFraction, 0, 1),
        batchSize: intArg(args, 'batch-size', 256, 2, 4096),
        exportEvery: intArg(args, 'export-every', 0, 0, 1e6),
        warmupUpdates: intArg(args, 'warmup-updates', 0, 0, 1e6),
        ...(args.has('actor-lr') ? { actorLr: numArg(args, 'actor-lr', 3e-4, 1e-7, 0.1) } : {}),
      },
      robustMm: numArg(args, 'robust-mm', 1, 0, 20),
      trainerWaitS: numArg(args, 'trainer-wait-s', 600, 0, 86400),
      baselines: !args.has('no-baselines'),
      configFile: 'config/daemon.yaml',
      calibrationDir: 'calibration',
      onProgress: (l) => console.log(`${new Date().toISOString()} ${l}`),
    };
    if (args.has('baselines-only')) {
      // The search baselines alone, as the full run measures them (same seeds, x* error and step limit).
      const baselines: Record<string, ConnectorResult['baselines']> = {};
      for (const c of connectors) {
        baselines[c] = await measureBaselines(c, o, o.seed * 1000 + 17, false);
        console.log(`${c}: ${Object.entries(baselines[c] ?? {}).map(([k, v]) => `${k} ${v.successes}/${v.trials}`).join(', ')}`);
      }
      writeFileSync(join(out, 'baselines.json'), JSON.stringify({ command: argv.join(' '), trials: o.trials, offsetMm: o.offsetMm, seed: o.seed, baselines }, null, 1));
      console.log(`written: ${out}/baselines.json`);
      return 0;
    }
    const settings = { ...o, onProgress: undefined, ablation, command: argv.join(' ') };
    writeFileSync(join(out, 'settings.json'), JSON.stringify(settings, null, 1));
    const t0 = performance.now();
    const results: ConnectorResult[] = [];
    for (const c of connectors) {
      results.push(await runConnector(c, o));
      writeFileSync(join(out, 'results.json'), JSON.stringify({ settings, results, wallClockS: (performance.now() - t0) / 1000 }, null, 1));
    }
    const header = `Online fine-tuning on held-out connectors (ablation: ${ablation}; x* error ${o.offsetMm} mm; ${o.episodes} practice episodes; ${o.trials} trials per point; seed ${o.seed}; wall clock ${((performance.now() - t0) / 60000).toFixed(1)} min)`;
    const md = await writeReport(out, results, header, `Success vs practice (${ablation}, x* error ${o.offsetMm} mm)`);
    console.log(`\n${md}\nwritten: ${out}/results.json, table.md, curve.svg, curve.png`);
    return 0;
  } catch (e) {
    console.error(e instanceof TrainArgError ? e.message : (e as Error).stack ?? String(e));
    return 1;
  }
}

runIfMain(import.meta.url, 'experiment', () => main(process.argv.slice(2)));

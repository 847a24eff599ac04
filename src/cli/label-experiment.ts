/**
 * The label experiment (src/experiment/labels.ts): the learned reward's false-positive rate against the simulator's
 * ground truth, without labels and with the daemon asking a simulated operator (who answers with the ground truth) for
 * a budget of labels. Writes <out>/labels.json and <out>/labels.md.
 *
 *   nice npx tsx src/cli/label-experiment.ts --connectors dt12,megablock,nema15,europlug,roundkey --episodes 40 --budget 0.1
 *   ... --tune-every 2      # also fine-tune the reward on the labels during the run (same episodes: the reward does not act)
 *   ... --tune-every 2 --spot-labels 0.1   # and the operator labels 10 % of episodes unasked (both outcomes to tune on)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labelTable, runLabelConnector, type LabelExperimentOptions, type LabelRow } from '../experiment/labels.ts';
import { runIfMain } from '../util/args.ts';
import { splitFrom } from '../offline/common.ts';
import { command, fromArgv, nameList, optionalText, T, UsageError } from './flags.ts';
import { loadDaemonConfig } from '../config/load.ts';
import { preferredReward } from '../daemon/models.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const LABEL_EXPERIMENT = command({
  name: 'label-experiment',
  usage: 'npx tsx src/cli/label-experiment.ts [flags]',
  about: "The learned reward's false positives against the simulator's ground truth, without labels and with requested operator labels.",
  flags: T.object({
    connectors: nameList('connectors practised on', 'the held-out connectors'),
    episodes: T.integer({ minimum: 1, maximum: 100000, default: 40, description: 'practice episodes per connector' }),
    budget: T.number({ minimum: 0, maximum: 1, default: 0.1, description: 'fraction of judged episodes that may ask for a label' }),
    goalErrorMm: T.number({ minimum: 0, maximum: 20, default: 1.5, description: 'calibration error of x*: mm along (1,1,0)/sqrt2', cli: { arg: 'MM' } }),
    seed: T.integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'seed of start poses and noise' }),
    episodeSteps: T.integer({ minimum: 1, maximum: 1000, default: 20, description: 'control steps per episode' }),
    noise: T.number({ minimum: 0, maximum: 0.05, default: 0.001, description: 'exploration noise std dev (m)' }),
    policy: T.string({ minLength: 1, default: 'models/policy.onnx', description: 'the policy that drives', cli: { arg: 'FILE' } }),
    reward: optionalText(
      'the learned reward judged (models/reward.onnx: the image reward)',
      'FILE',
      "what the daemon starts with: the first of --config's rewardPreference the cell (backend.sim.depth) can feed",
    ),
    out: T.string({ minLength: 1, default: 'data/runs/labels', description: 'writes labels.json and labels.md here', cli: { arg: 'DIR' } }),
    tuneEvery: T.integer({ minimum: 0, maximum: 100000, default: 0, description: 'fine-tune the reward on every N new labels and swap it in (0 = off)' }),
    spotLabels: T.number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description: 'share of judged episodes the simulated operator also labels unasked, at random (labels of both outcomes for --tune-every)',
    }),
    config: T.string({
      minLength: 1,
      default: 'config/daemon.yaml',
      description: 'the daemon config whose practice and labels sections give the rest (e.g. practice.liftToleranceM)',
      cli: { arg: 'FILE' },
    }),
  }),
});

export async function main(argv: string[]): Promise<number> {
  const o = fromArgv(LABEL_EXPERIMENT, argv, (a): LabelExperimentOptions => {
    // Without --reward, the daemon's own rule (daemon/models.ts preferredReward) on the config's cell.
    const config = loadDaemonConfig(a.config);
    const chosen = preferredReward(config.modelsDir, config.rewardPreference, { depth: config.backend.sim.depth ?? false });
    const reward = a.reward ?? chosen.model?.path;
    if (!reward) throw new UsageError(`--reward: none of rewardPreference can be used (${chosen.passedOver.join('; ')})`);
    return {
      connectors: a.connectors ?? splitFrom(undefined).heldOut,
      episodes: a.episodes,
      budget: a.budget,
      offsetMm: a.goalErrorMm,
      seed: a.seed,
      episodeSteps: a.episodeSteps,
      explorationNoise: a.noise,
      policyPath: a.policy,
      rewardPath: reward,
      outDir: a.out,
      configFile: a.config,
      calibrationDir: 'calibration',
      tuneEvery: a.tuneEvery,
      spotLabels: a.spotLabels,
      onProgress: (l) => console.log(l),
    };
  });
  if (typeof o === 'number') return o;
  mkdirSync(o.outDir, { recursive: true });
  const rows: LabelRow[] = [];
  for (const c of o.connectors) {
    const r = await runLabelConnector(c, o);
    rows.push(r);
    console.log(
      `[${c}] ${r.episodes} episodes in ${r.seconds.toFixed(0)} s: ${r.gtFailures} truly failed; false positives ${r.noLabels.falsePositives} without labels, ` +
        `${r.withRequestedLabels.falsePositives} with ${r.requested} requested labels (${JSON.stringify(r.reasons)}), ${r.withRandomLabels.falsePositives.toFixed(1)} with as many random ones`,
    );
    writeFileSync(join(o.outDir, 'labels.json'), JSON.stringify({ options: { ...o, onProgress: undefined }, rows }, null, 1));
  }
  const table = labelTable(rows);
  writeFileSync(join(o.outDir, 'labels.md'), `${table}\n`);
  console.log(table);
  return 0;
}

runIfMain(import.meta.url, 'label-experiment', () => main(process.argv.slice(2)), { exit: true });

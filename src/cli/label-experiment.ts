/**
 * The label experiment (src/experiment/labels.ts): the learned reward's false-positive rate against the simulator's
 * ground truth, without labels and with the daemon asking a simulated operator (who answers with the ground truth) for
 * a budget of labels. Writes <out>/labels.json and <out>/labels.md.
 *
 *   nice npx tsx src/cli/label-experiment.ts --connectors dt12,megablock,nema15,europlug,roundkey --episodes 40 --budget 0.1
 *   ... --tune-every 2      # also fine-tune the reward on the labels during the run (same episodes: the reward does not act)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labelTable, runLabelConnector, type LabelExperimentOptions, type LabelRow } from '../experiment/labels.ts';
import { runIfMain } from '../util/args.ts';
import { TrainArgError, intArg, numArg, parseArgs, splitFrom } from '../offline/common.ts';

const KNOWN = {
  connectors: 'value',
  episodes: 'value',
  budget: 'value',
  'goal-error-mm': 'value',
  seed: 'value',
  'episode-steps': 'value',
  noise: 'value',
  policy: 'value',
  reward: 'value',
  out: 'value',
  'tune-every': 'value',
  help: 'flag',
} as const;

const USAGE =
  'usage: label-experiment [--connectors a,b (default: the held-out connectors)] [--episodes 40] [--budget 0.1] [--goal-error-mm 1.5] ' +
  '[--seed 0] [--episode-steps 20] [--noise 0.001] [--policy models/policy.onnx] [--reward models/reward.onnx] [--out data/runs/labels] ' +
  '[--tune-every N (fine-tune the reward on every N new labels and swap it in; default 0 = off)]';

export async function main(argv: string[]): Promise<number> {
  let o: LabelExperimentOptions;
  try {
    const a = parseArgs(argv, KNOWN, 'label-experiment');
    if (a.has('help')) {
      console.log(USAGE);
      return 0;
    }
    o = {
      connectors: (a.get('connectors') ?? splitFrom(undefined).heldOut.join(',')).split(',').filter(Boolean),
      episodes: intArg(a, 'episodes', 40, 1, 100000),
      budget: numArg(a, 'budget', 0.1, 0, 1),
      offsetMm: numArg(a, 'goal-error-mm', 1.5, 0, 20),
      seed: intArg(a, 'seed', 0, 0, 1_000_000),
      episodeSteps: intArg(a, 'episode-steps', 20, 1, 1000),
      explorationNoise: numArg(a, 'noise', 0.001, 0, 0.05),
      policyPath: a.get('policy') ?? 'models/policy.onnx',
      rewardPath: a.get('reward') ?? 'models/reward.onnx',
      outDir: a.get('out') ?? 'data/runs/labels',
      configFile: 'config/daemon.yaml',
      calibrationDir: 'calibration',
      tuneEvery: intArg(a, 'tune-every', 0, 0, 100000),
      onProgress: (l) => console.log(l),
    };
  } catch (e) {
    if (e instanceof TrainArgError) {
      console.error(`${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
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

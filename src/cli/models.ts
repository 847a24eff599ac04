/**
 * Reproduce the shipped models from scratch: collect prior data with the wrist depth image (if missing) -> train the
 * shipped reward classifiers (image-only DAIB -> reward.onnx; DAIB with the depth cue -> reward-depth.onnx; ERM beside
 * each) -> offline IQL -> export -> evaluate -> the table-8 ablations and more seeds -> models/ + cards +
 * models/iql-offline/ (the checkpoint) + models/README.md.
 *
 *   npx tsx src/cli/models.ts                 # everything, with the shipped settings
 *   npx tsx src/cli/models.ts --readme-only   # regenerate models/README.md from the files in models/
 *   npx tsx src/cli/models.ts --only-depth-reward   # only reward-depth.onnx (+ card, table) and the README
 *
 * Each stage is one of the project's own commands, run as a child process (its output streams through), so the
 * stages can also be run by hand (or one at a time: --skip-collect, --skip-reward, --skip-offline, --skip-tables).
 * Collection and offline training resume when re-run after an interruption.
 * Exit codes: 0 done, 2 bad arguments, 1 a stage failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runIfMain } from '../util/args.ts';
import { command, fromArgv, T } from './flags.ts';
import { buildModelsReadme } from '../offline/readme.ts';
import { shipCheckpoint } from '../offline/ship-checkpoint.ts';

/** The shipped settings (chosen for <= ~40 min of offline training on this 2-core machine; see models/README.md). */
export const SHIPPED = {
  split: 'data/splits/default.json',
  prior: 'data/prior.db',
  heldOut: 'data/heldout.db',
  rewardSteps: 1500,
  rewardImageSize: 64,
  /** Colour augmentation of every table-8 method (DaibConfig.colorJitter): megablock's saturated blue socket is unlike any training colour. */
  rewardColorJitter: 0.2,
  /**
   * How DAIB's adversary hides the connector from zI: per-domain moments matched. The gradient-reversal adversary left
   * zI telling the domain apart perfectly (src/learn/daib.ts); moments is what results/reward-seeds and reward-depth measured.
   */
  rewardAdversary: 'moments',
  /**
   * The second classifier's cue beside the image: the wrist depth image's vertical steps (collected with --depth). Not
   * the absolute 8x8 cells ('depth', results/reward-depth): they tell how deep the tip is, not whether it is seated, and
   * called plugs 3-10 mm short seated on deep connectors (results/reward-depth-relative).
   */
  rewardDepthCue: 'depth-dy',
  rewardDepthFile: 'reward-depth.onnx',
  /** Card versions of the shipped models: raised whenever a retrained model replaces a shipped one at the same path. */
  rewardCardVersion: 7,
  rewardDepthCardVersion: 4,
  offlineCardVersion: 6,
  offlineSteps: 3000,
  offlineImageSize: 32,
  offlineBatch: 128,
  evalTrials: 20,
  trainEvalTrials: 3,
  checkpointDir: 'data/runs/iql',
};

export const REPRODUCE = 'npx tsx src/cli/models.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const MODELS = command({
  name: 'models',
  usage: 'models [flags]   (npm run models -- [flags])',
  about: 'Reproduces models/ from scratch: prior data (if missing), the reward classifier (table 8), offline IQL, export, evaluation.',
  notes: 'exit codes: 0 done, 2 bad arguments, 1 a stage failed',
  flags: T.object({
    out: T.string({ minLength: 1, default: 'models', description: 'directory of the models, cards and README', cli: { arg: 'DIR' } }),
    rewardSteps: T.integer({ minimum: 1, maximum: 1e7, default: SHIPPED.rewardSteps, description: 'updates of each reward classifier' }),
    offlineSteps: T.integer({ minimum: 1, maximum: 1e7, default: SHIPPED.offlineSteps, description: 'offline IQL updates' }),
    evalTrials: T.integer({
      minimum: 0,
      maximum: 1000,
      default: SHIPPED.evalTrials,
      description: "trials per connector of the policy's evaluation (0 = none)",
    }),
    skipCollect: T.boolean({ description: 'do not collect prior data' }),
    skipReward: T.boolean({ description: 'do not train the shipped reward classifiers (image and depth)' }),
    onlyDepthReward: T.boolean({
      description: 'train only the shipped depth reward (reward-depth.onnx, its card and table) and regenerate the README; nothing else',
    }),
    skipOffline: T.boolean({ description: 'do not train the offline policy' }),
    skipTables: T.boolean({ description: 'do not train the reward tables beyond the shipped classifiers (ablations, more seeds)' }),
    readmeOnly: T.boolean({ description: 'only regenerate models/README.md from the files in --out' }),
  }),
});

function run(cli: string, args: string[]): void {
  const cmd = ['--import', 'tsx', cli, ...args];
  process.stdout.write(`\n$ npx tsx ${cli} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, cmd, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cli} exited with ${r.status ?? r.signal}`);
}

export async function main(argv: string[]): Promise<number> {
  const a = fromArgv(MODELS, argv, (v) => v);
  if (typeof a === 'number') return a;
  const { out, rewardSteps, offlineSteps, evalTrials } = a;
  try {
    if (!a.readmeOnly) {
      // --only-depth-reward: the second shipped classifier alone (the image reward, data and policy left as they are).
      const only = a.onlyDepthReward;
      if (!a.skipCollect && !only) {
        // The commands of src/data/README.md; re-running skips episodes already collected.
        if (!existsSync(SHIPPED.prior)) {
          const common = [
            ...['--scenario', 'I,II', '--seed', '0', '--image-size', '64', '--goal-noise-mm', '2', '--workers', '2', '--split', SHIPPED.split],
            // The wrist depth image beside the colour one (it changes no colour pixel): one collection serves both rewards.
            '--depth',
          ];
          run('src/cli/collect.ts', ['--db', SHIPPED.prior, '--connectors', 'train', '--episodes-per-connector', '100', '--controllers', 'expert', ...common]);
          run('src/cli/collect.ts', ['--db', SHIPPED.prior, '--connectors', 'train', '--episodes-per-connector', '20', '--controllers', 'p', ...common]);
        }
        if (!existsSync(SHIPPED.heldOut)) {
          run('src/cli/collect.ts', [
            '--db',
            SHIPPED.heldOut,
            '--connectors',
            'heldout',
            '--episodes-per-connector',
            '40',
            '--controllers',
            'expert',
            '--scenario',
            'I,II',
            '--seed',
            '1',
            '--image-size',
            '64',
            '--goal-noise-mm',
            '2',
            '--workers',
            '2',
            '--split',
            SHIPPED.split,
            '--depth',
          ]);
        }
      }
      // One table-8 run: the shipped data and settings, then what differs between runs.
      const reward = (methods: string, seeds: string, outDir: string, results: string, extra: string[] = []): void =>
        run('src/cli/train-reward.ts', [
          ...['--db', SHIPPED.prior, '--heldout-db', SHIPPED.heldOut, '--split', SHIPPED.split, '--steps', String(rewardSteps)],
          ...['--image-size', String(SHIPPED.rewardImageSize), '--color-jitter', String(SHIPPED.rewardColorJitter)],
          ...['--adversary', SHIPPED.rewardAdversary, '--method', methods, '--seed', seeds, '--out', outDir],
          ...['--results', join(out, `reward-table8-${SHIPPED.rewardImageSize}px${results}.json`), ...extra],
        ]);
      const depth = ['--cue', SHIPPED.rewardDepthCue];
      if (!a.skipReward) {
        // The shipped classifiers first: image-only DAIB (exported as reward.onnx) beside ERM, then DAIB with the depth
        // cue (exported as reward-depth.onnx) beside ERM with it.
        if (!only) reward('daib,erm', '0', out, '', ['--card-version', String(SHIPPED.rewardCardVersion)]);
        reward('daib,erm', '0', out, '-depth', [
          ...depth,
          ...['--export-file', SHIPPED.rewardDepthFile, '--card-version', String(SHIPPED.rewardDepthCardVersion)],
        ]);
      }
      if (!a.skipOffline && !only) {
        run('src/cli/train-offline.ts', [
          '--db',
          SHIPPED.prior,
          '--split',
          SHIPPED.split,
          '--steps',
          String(offlineSteps),
          '--image-size',
          String(SHIPPED.offlineImageSize),
          '--batch-size',
          String(SHIPPED.offlineBatch),
          '--card-version',
          String(SHIPPED.offlineCardVersion),
          '--checkpoint-dir',
          SHIPPED.checkpointDir,
          '--resume',
          '--eval-trials',
          String(evalTrials),
          '--train-eval-trials',
          String(Math.min(evalTrials, SHIPPED.trainEvalTrials)),
          '--out',
          out,
        ]);
        // The checkpoint itself: the online trainer starts from it (ONNX files hold inference graphs only).
        shipCheckpoint(SHIPPED.checkpointDir, join(out, 'iql-offline'), REPRODUCE);
      }
      if (!a.skipTables && !only) {
        // The tables beyond the shipped models (their models stay in data/runs): the other table-8 methods, then DAIB
        // vs ERM on more seeds, image-only and with depth.
        reward('vib,dann,daib-nobottleneck', '0', 'data/runs/reward-ablations', '-ablations');
        reward('daib,erm', '1,2', 'data/runs/reward-seeds', '-seeds');
        reward('daib,erm', '1,2', 'data/runs/reward-depth-seeds', '-depth-seeds', depth);
      }
    }
    const readme = buildModelsReadme(out, REPRODUCE);
    writeFileSync(join(out, 'README.md'), readme);
    console.log(`wrote ${join(out, 'README.md')}`);
    return 0;
  } catch (err) {
    console.error(`models: ${(err as Error).message}`);
    return 1;
  }
}

runIfMain(import.meta.url, 'models', () => main(process.argv.slice(2)), { exit: true });

/**
 * Reproduce the shipped models from scratch: collect prior data (if missing) -> train the reward classifier (table 8)
 * -> offline IQL -> export -> evaluate -> models/ + cards + models/iql-offline/ (the checkpoint) + models/README.md.
 *
 *   npx tsx src/cli/models.ts                 # everything, with the shipped settings
 *   npx tsx src/cli/models.ts --readme-only   # regenerate models/README.md from the files in models/
 *
 * Each stage is one of the project's own commands, run as a child process (its output streams through), so the
 * stages can also be run by hand. Collection and offline training resume when re-run after an interruption.
 * Exit codes: 0 done, 2 bad arguments, 1 a stage failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runIfMain } from '../util/args.ts';
import { TrainArgError, intArg, parseArgs } from '../offline/common.ts';
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
  /** Card versions of the shipped models: raised whenever a retrained model replaces a shipped one at the same path. */
  rewardCardVersion: 3,
  offlineCardVersion: 2,
  offlineSteps: 3000,
  offlineImageSize: 32,
  offlineBatch: 128,
  evalTrials: 20,
  trainEvalTrials: 3,
  checkpointDir: 'data/runs/iql',
};

export const REPRODUCE = 'npx tsx src/cli/models.ts';

const KNOWN = {
  out: 'value',
  'reward-steps': 'value',
  'offline-steps': 'value',
  'eval-trials': 'value',
  'skip-collect': 'flag',
  'skip-reward': 'flag',
  'skip-offline': 'flag',
  'readme-only': 'flag',
  help: 'flag',
} as const;

const USAGE = `usage: models [--out models] [--reward-steps N] [--offline-steps N] [--eval-trials N] [--skip-collect] [--skip-reward] [--skip-offline] [--readme-only]`;

function run(cli: string, args: string[]): void {
  const cmd = ['--import', 'tsx', cli, ...args];
  process.stdout.write(`\n$ npx tsx ${cli} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, cmd, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cli} exited with ${r.status ?? r.signal}`);
}

export async function main(argv: string[]): Promise<number> {
  let args: Map<string, string>;
  let rewardSteps: number;
  let offlineSteps: number;
  let evalTrials: number;
  try {
    args = parseArgs(argv, KNOWN, 'models');
    rewardSteps = intArg(args, 'reward-steps', SHIPPED.rewardSteps, 1, 1e7);
    offlineSteps = intArg(args, 'offline-steps', SHIPPED.offlineSteps, 1, 1e7);
    evalTrials = intArg(args, 'eval-trials', SHIPPED.evalTrials, 0, 1000);
  } catch (err) {
    console.error(`${(err as TrainArgError).message}\n${USAGE}`);
    return 2;
  }
  if (args.has('help')) {
    console.log(USAGE);
    return 0;
  }
  const out = args.get('out') ?? 'models';
  try {
    if (!args.has('readme-only')) {
      if (!args.has('skip-collect')) {
        // The commands of src/data/README.md; re-running skips episodes already collected.
        if (!existsSync(SHIPPED.prior)) {
          const common = ['--scenario', 'I,II', '--seed', '0', '--image-size', '64', '--goal-noise-mm', '2', '--workers', '2', '--split', SHIPPED.split];
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
          ]);
        }
      }
      if (!args.has('skip-reward')) {
        // One table-8 run: the shipped data and settings, then what differs between runs.
        const reward = (methods: string, seeds: string, outDir: string, results: string, extra: string[] = []): void =>
          run('src/cli/train-reward.ts', [
            ...['--db', SHIPPED.prior, '--heldout-db', SHIPPED.heldOut, '--split', SHIPPED.split, '--steps', String(rewardSteps)],
            ...['--image-size', String(SHIPPED.rewardImageSize), '--color-jitter', String(SHIPPED.rewardColorJitter)],
            ...[
              '--method',
              methods,
              '--seed',
              seeds,
              '--out',
              outDir,
              '--results',
              join(out, `reward-table8-${SHIPPED.rewardImageSize}px${results}.json`),
              ...extra,
            ],
          ]);
        // DAIB (exported) and ERM first, so the shipped classifier is ready early; then the other table-8 methods.
        reward('daib,erm', '0', out, '', ['--card-version', String(SHIPPED.rewardCardVersion)]);
        reward('vib,dann,daib-nobottleneck', '0', 'data/runs/reward-ablations', '-ablations');
        // DAIB vs ERM on more seeds (table only; that run's model stays in data/runs).
        reward('daib,erm', '1,2', 'data/runs/reward-seeds', '-seeds');
      }
      if (!args.has('skip-offline')) {
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

/**
 * The offline policy evaluation on its own: an exported residual policy in the simulated cell (P + residual under the
 * daemon's action rule, inputs as its card says) beside the baselines, on training and held-out connectors, scenarios
 * I and II, with an exact goal and with calibration errors. The same code train-offline runs after training.
 *
 *   npm run eval:policy -- --model models/policy.onnx --trials 20 --train-trials 3 --out models/policy-eval.json --update-card
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cardPathFor, readCard } from '../policy/card.ts';
import { evaluatePolicy, formatPolicyEval, policyMetrics } from '../offline/evaluate-policy.ts';
import { splitFrom, writeJson } from '../offline/common.ts';
import { int, list, num, runIfMain, UsageError } from '../util/args.ts';

const USAGE = `Evaluate an exported residual policy in the simulated cell beside the baselines.

Usage: npm run eval:policy -- [options]

  --model FILE          the policy (.onnx with its card beside it; default models/policy.onnx)
  --split FILE          connector split (default data/splits/default.json)
  --sets LIST           train, heldout or train,heldout (default)
  --trials N            trials per held-out connector and controller (default 20)
  --train-trials N      trials per training connector (default: --trials)
  --goal-error-mm LIST  calibration errors of x* to evaluate, in mm along (1,1,0)/sqrt2 (default 0,1.5)
  --seed N              base seed of the start poses (default 0, as train-offline)
  --out FILE            the report as JSON (default data/runs/policy-eval.json)
  --update-card         write the success rates into the policy card's metrics
  --help                this text
`;

export async function main(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        model: { type: 'string' },
        split: { type: 'string' },
        sets: { type: 'string' },
        trials: { type: 'string' },
        'train-trials': { type: 'string' },
        'goal-error-mm': { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        'update-card': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`eval-policy: ${(e as Error).message} (see --help)\n`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const model = v.model ?? 'models/policy.onnx';
    const sets = list('--sets', v.sets ?? 'train,heldout');
    if (!sets.every((s) => s === 'train' || s === 'heldout')) throw new UsageError(`--sets: expected train and/or heldout, got "${v.sets}"`);
    const trials = v.trials === undefined ? 20 : int('--trials', v.trials, 1, 1000);
    const goalErrorMm = (v['goal-error-mm'] ?? '0,1.5').split(',').map((s) => num('--goal-error-mm', s));
    if (!goalErrorMm.every((g) => g >= 0 && g <= 10)) throw new UsageError(`--goal-error-mm: each must be in [0, 10] mm, got "${v['goal-error-mm']}"`);
    const card = readCard(cardPathFor(model)); // a clear error now rather than after the first table
    const report = await evaluatePolicy({
      policyPath: model,
      split: splitFrom(v.split),
      sets: sets,
      trials,
      trainTrials: v['train-trials'] === undefined ? trials : int('--train-trials', v['train-trials'], 1, 1000),
      goalBiasMm: goalErrorMm,
      seed: v.seed === undefined ? 0 : int('--seed', v.seed, 0, 2 ** 31),
      onProgress: (m) => process.stderr.write(`eval-policy: ${m}\n`),
    });
    process.stdout.write(`${formatPolicyEval(report)}\n`);
    const out = v.out ?? 'data/runs/policy-eval.json';
    writeJson(out, report);
    if (v['update-card']) {
      const path = cardPathFor(model);
      const raw = JSON.parse(readFileSync(path, 'utf8')) as { metrics: Record<string, number> };
      raw.metrics = { ...card.metrics, ...policyMetrics(report) };
      writeJson(path, raw);
    }
    process.stderr.write(`eval-policy: report written to ${out}${v['update-card'] ? '; card metrics updated' : ''}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`eval-policy: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

runIfMain(import.meta.url, 'eval-policy', () => main(process.argv.slice(2)), { exit: true });

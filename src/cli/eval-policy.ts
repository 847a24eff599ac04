/**
 * The offline policy evaluation on its own: an exported residual policy in the simulated cell (P + residual under the
 * daemon's action rule, inputs as its card says) beside the baselines, on training and held-out connectors, scenarios
 * I and II, with an exact goal and with calibration errors. The same code train-offline runs after training.
 *
 *   npm run eval:policy -- --model models/policy.onnx --trials 20 --train-trials 3 --out models/policy-eval.json --update-card
 */
import { readFileSync } from 'node:fs';
import { cardPathFor, readCard } from '../policy/card.ts';
import { evaluatePolicy, formatPolicyEval, policyMetrics } from '../offline/evaluate-policy.ts';
import { splitFrom, writeJson } from '../offline/common.ts';
import { runIfMain } from '../util/args.ts';
import { command, fromArgv, splitFlag, T, UsageError } from './flags.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const EVAL_POLICY = command({
  name: 'eval-policy',
  usage: 'npm run eval:policy -- [flags]',
  about: 'Evaluate an exported residual policy in the simulated cell beside the baselines.',
  flags: T.object({
    model: T.string({ minLength: 1, default: 'models/policy.onnx', description: 'the policy (.onnx with its card beside it)', cli: { arg: 'FILE' } }),
    split: splitFlag(),
    sets: T.array(T.enum(['train', 'heldout']), { uniqueItems: true, default: ['train', 'heldout'], description: 'connector sets evaluated' }),
    trials: T.integer({ minimum: 1, maximum: 1000, default: 20, description: 'trials per held-out connector and controller' }),
    trainTrials: T.optional(T.integer({ minimum: 1, maximum: 1000, description: 'trials per training connector', cli: { defaultText: '--trials' } })),
    goalErrorMm: T.array(T.number({ minimum: 0, maximum: 10 }), {
      default: [0, 1.5],
      description: 'calibration errors of x* to evaluate, in mm along (1,1,0)/sqrt2',
      cli: { arg: 'MM,MM,...' },
    }),
    seed: T.integer({ minimum: 0, maximum: 2 ** 31, default: 0, description: 'base seed of the start poses (as train-offline)' }),
    out: T.string({ minLength: 1, default: 'data/runs/policy-eval.json', description: 'the report as JSON', cli: { arg: 'FILE' } }),
    updateCard: T.boolean({ description: "write the success rates into the policy card's metrics" }),
  }),
});

export async function main(argv: string[]): Promise<number> {
  const v = fromArgv(EVAL_POLICY, argv, (x) => x);
  if (typeof v === 'number') return v;
  try {
    const model = v.model;
    const card = readCard(cardPathFor(model)); // a clear error now rather than after the first table
    const report = await evaluatePolicy({
      policyPath: model,
      split: splitFrom(v.split),
      sets: v.sets,
      trials: v.trials,
      trainTrials: v.trainTrials ?? v.trials,
      goalBiasMm: v.goalErrorMm,
      seed: v.seed,
      onProgress: (m) => process.stderr.write(`eval-policy: ${m}\n`),
    });
    process.stdout.write(`${formatPolicyEval(report)}\n`);
    const out = v.out;
    writeJson(out, report);
    if (v.updateCard) {
      const path = cardPathFor(model);
      const raw = JSON.parse(readFileSync(path, 'utf8')) as { metrics: Record<string, number> };
      raw.metrics = { ...card.metrics, ...policyMetrics(report) };
      writeJson(path, raw);
    }
    process.stderr.write(`eval-policy: report written to ${out}${v.updateCard ? '; card metrics updated' : ''}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`eval-policy: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

runIfMain(import.meta.url, 'eval-policy', () => main(process.argv.slice(2)), { exit: true });

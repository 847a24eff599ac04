// Offline evaluation of exported checkpoints (not part of the product): policy only (no baselines), 1.5 mm calibration
// error, training connectors (the validation the command may select on) and held-out ones (reported only).
// npx tsx data/runs/repro/evalck.ts OUT.json TRAIN_TRIALS HELDOUT_TRIALS POLICY.onnx...
import { writeFileSync } from 'node:fs';
import { evaluatePolicy, policyMetrics } from '../../../src/offline/evaluate-policy.ts';
import { splitFrom } from '../../../src/offline/common.ts';

const [out, trainTrials, heldTrials, ...policies] = process.argv.slice(2);
const split = splitFrom('data/splits/default.json');
const rows: Record<string, unknown>[] = [];
for (const p of policies) {
  const t0 = Date.now();
  const per: Record<string, Record<string, number>> = {};
  const metrics: Record<string, number> = {};
  for (const [set, trials] of [['train', Number(trainTrials)], ['heldout', Number(heldTrials)]] as const) {
    if (trials <= 0) continue;
    const r = await evaluatePolicy({
      policyPath: p!, split, sets: [set], trials, goalBiasMm: [1.5], scenarios: ['I', 'II'],
      baselines: { I: [], II: [] }, seed: 0,
    });
    Object.assign(metrics, policyMetrics(r));
    for (const e of r.entries) for (const c of e.result.cells) (per[`${set}_${e.scenario}`] ??= {})[c.connector] = c.successes;
  }
  rows.push({ policy: p, seconds: (Date.now() - t0) / 1000, metrics, perConnector: per });
  console.log(JSON.stringify(rows.at(-1)));
  writeFileSync(out!, `${JSON.stringify(rows, null, 1)}\n`);
}

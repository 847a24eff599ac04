/**
 * Evaluation of an exported residual policy in the simulated cell through the residual controller (P + residual),
 * beside the baselines, on training and held-out connectors, scenarios I and II, with an exact goal and with a
 * calibration error (the research's point: the P-controller alone fails with ~1-2 mm of goal error; the residual
 * should correct it from the image and the wrench).
 *
 * Calibration error: a FIXED goal error of `goalBiasMm` millimetres along core/goal-error.ts's direction (x and y equally,
 * none in z), the same for every trial: that is what a wrong extrinsic calibration looks like (systematic, not noise).
 */
import { GOAL_ERROR_DIRECTION, goalErrorVec } from '../core/goal-error.ts';
import { createController, needsPrivileged } from '../control/registry.ts';
import { PolicyController } from '../control/policy-controller.ts';
import type { Split } from '../data/splits.ts';
import { evaluate, formatTable, type ControllerSpec, type EvalResult } from '../eval/evaluate.ts';
import { selectConnectors, simCellFactory } from '../eval/sim-cells.ts';
import type { Vec3, Scenario } from '../core/types.ts';

export interface PolicyEvalOptions {
  policyPath: string;
  split: Split;
  /** Which connector sets: training and/or held-out. */
  sets: ('train' | 'heldout')[];
  trials: number;
  /** Trials on training connectors (default: trials). */
  trainTrials?: number;
  /** Goal-bias magnitudes in mm (0 = exact goal). */
  goalBiasMm: number[];
  scenarios?: Scenario[];
  /** Baseline columns per scenario (default: the research's, which include the P-controller). */
  baselines?: { I: readonly string[]; II: readonly string[] };
  seed: number;
  /** Rendered camera size (the simulator's; the controller resizes to the policy's input). */
  imageSize?: number;
  /** Called after every evaluated table with the report so far (write it: an interrupted run keeps what finished). */
  onScenario?: (partial: PolicyEvalReport) => void;
  onProgress?: (msg: string) => void;
}

export interface PolicyEvalEntry {
  set: 'train' | 'heldout';
  scenario: Scenario;
  goalBiasMm: number;
  goalBias: Vec3;
  result: EvalResult;
  /** Steps where the policy could not run and the P-controller ran alone. */
  policyFallbacks: number;
}

export interface PolicyEvalReport {
  tool: 'train-offline/evaluate-policy';
  createdAt: string;
  policyPath: string;
  goalBiasDirection: Vec3;
  entries: PolicyEvalEntry[];
}

export const POLICY_EVAL_BASELINES = { I: ['p', 'straight', 'spiral'], II: ['p', 'loc-straight', 'loc-spiral'] } as const;

export async function evaluatePolicy(o: PolicyEvalOptions): Promise<PolicyEvalReport> {
  const report: PolicyEvalReport = {
    tool: 'train-offline/evaluate-policy',
    createdAt: new Date().toISOString(),
    policyPath: o.policyPath,
    goalBiasDirection: GOAL_ERROR_DIRECTION,
    entries: [],
  };
  const baselines = o.baselines ?? POLICY_EVAL_BASELINES;
  // One loaded policy shared by all episodes (the session is stateless; loading it per trial would dominate).
  const policy = new PolicyController({ modelPath: o.policyPath });
  await policy.load();
  try {
    for (const set of o.sets) {
      const names = set === 'train' ? o.split.train : o.split.heldOut;
      const defs = selectConnectors(null, names);
      for (const scenario of o.scenarios ?? (['I', 'II'] as Scenario[])) {
        for (const mm of o.goalBiasMm) {
          const goalBias = goalErrorVec(mm);
          const controllers: ControllerSpec[] = [
            { name: 'policy', make: () => policy, privileged: false },
            ...baselines[scenario].map((name) => ({ name, make: () => createController(name), privileged: needsPrivileged(name) })),
          ];
          const before = policy.fallbacks;
          const trials = set === 'train' ? (o.trainTrials ?? o.trials) : o.trials;
          o.onProgress?.(`evaluating ${set} connectors, scenario ${scenario}, goal bias ${mm} mm, ${trials} trials`);
          const result = await evaluate({
            controllers,
            connectors: defs.map((d) => d.name),
            scenario,
            trials,
            seed: o.seed,
            createCell: simCellFactory(defs, { goalBias, imageSize: o.imageSize ?? 64 }),
            settings: { set, goalBiasMm: mm, goalBiasDirection: GOAL_ERROR_DIRECTION, policy: o.policyPath },
          });
          report.entries.push({ set, scenario, goalBiasMm: mm, goalBias, result, policyFallbacks: policy.fallbacks - before });
          o.onScenario?.(report);
        }
      }
    }
  } finally {
    await policy.dispose();
  }
  return report;
}

export function formatPolicyEval(r: PolicyEvalReport): string {
  return r.entries
    .map((e) => {
      const what = `${e.set === 'train' ? 'training' : 'held-out'} connectors, scenario ${e.scenario}, goal ${e.goalBiasMm === 0 ? 'exact' : `biased ${e.goalBiasMm} mm (fixed, direction (1,1,0)/sqrt2)`}`;
      return `${what}\n${formatTable(e.result)}${e.policyFallbacks ? `\n(policy failed on ${e.policyFallbacks} steps; P alone there)` : ''}`;
    })
    .join('\n\n');
}

/** Success rates for the card: successRate_<set>_<scenario>_bias<mm>_<controller>. */
export function policyMetrics(r: PolicyEvalReport): Record<string, number> {
  const m: Record<string, number> = {};
  for (const e of r.entries) {
    for (const ctrl of e.result.controllers) {
      const cs = e.result.cells.filter((c) => c.controller === ctrl);
      const k = cs.reduce((a, c) => a + c.successes, 0);
      const n = cs.reduce((a, c) => a + c.trials, 0);
      if (n > 0) m[`successRate_${e.set}_${e.scenario}_bias${String(e.goalBiasMm).replace('.', 'p')}mm_${ctrl}`] = k / n;
    }
  }
  return m;
}

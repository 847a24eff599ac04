/**
 * An exported ONNX residual policy run the way the daemon runs it, for evaluation in the simulated cell:
 * u_H = -kp (x - x*) (the P-controller) plus u_theta, the policy's deterministic mean residual, composed by the
 * daemon's action rule (control/action.ts): residual bounded per axis, step limited.
 *
 * Inputs follow the model's card through the one input pipeline (policy/inputs.ts), as in the daemon and in training
 * (the simulator's frame is the logged image: no calibration crop in the cell).
 *
 * Fail safe like the daemon: if the policy cannot run on an observation, this step uses the P-controller alone.
 */
import { inputSpecOf, ModelInputs } from '../policy/inputs.ts';
import { PolicyModel } from '../policy/onnx-model.ts';
import type { Observation, Vec3 } from '../core/types.ts';
import { composeAction, DEFAULT_RESIDUAL_BOUND_M } from './action.ts';
import type { ControlContext, Controller } from './controller.ts';
import { DEFAULT_P_CONFIG, pControl, type PControllerConfig } from './p-controller.ts';

export interface PolicyControllerConfig {
  /** Path of the exported policy (its card `<path>.json` must sit beside it). */
  modelPath: string;
  /** Base controller gains (the daemon's kp). */
  kp: PControllerConfig['kp'];
  /** Per-axis residual bound (m), the daemon's calibration residualBoundM. */
  residualBoundM: number;
}

export const DEFAULT_POLICY_MODEL = 'models/policy.onnx';

export class PolicyController implements Controller {
  readonly name: string;
  readonly config: PolicyControllerConfig;
  private model: PolicyModel | null = null;
  private loading: Promise<PolicyModel> | null = null;
  private inputs: ModelInputs | null = null;
  /** Steps where the policy failed and the P-controller ran alone (should stay 0). */
  fallbacks = 0;
  lastError: string | null = null;

  constructor(config: Partial<PolicyControllerConfig> = {}, name = 'policy') {
    this.config = { modelPath: DEFAULT_POLICY_MODEL, kp: DEFAULT_P_CONFIG.kp, residualBoundM: DEFAULT_RESIDUAL_BOUND_M, ...config };
    this.name = name;
  }

  /** Load (and warm up) the model now instead of at the first act(); throws ModelLoadError on a bad model. */
  async load(): Promise<PolicyModel> {
    if (this.model) return this.model;
    this.loading ??= PolicyModel.load(this.config.modelPath).then((m) => {
      const spec = inputSpecOf(m.card, this.config.modelPath);
      if (!spec.image || !spec.proprio) throw new Error(`${this.config.modelPath}: the policy controller needs a policy with image and proprio inputs`);
      this.inputs = new ModelInputs(spec, this.config.modelPath);
      this.model = m;
      return m;
    });
    return this.loading;
  }

  reset(_ctx: ControlContext): void {
    // Stateless per episode (the policy is Markov in the observation).
  }

  async act(obs: Observation, ctx: ControlContext): Promise<Vec3> {
    const uH = pControl(obs.eePos, obs.goal, this.config.kp);
    const model = await this.load();
    let r: Vec3 = [0, 0, 0];
    try {
      const x = (this.inputs as ModelInputs).build(obs);
      r = await model.run(x.image, x.proprio);
    } catch (err) {
      this.fallbacks++;
      this.lastError = (err as Error).message;
    }
    return composeAction(uH, r, { residualBoundM: this.config.residualBoundM, maxStepM: ctx.maxStep }).executed;
  }

  async dispose(): Promise<void> {
    if (this.loading) await (await this.loading.catch(() => null))?.dispose();
    this.model = null;
    this.loading = null;
  }
}

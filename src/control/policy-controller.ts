/**
 * An exported ONNX residual policy run the way the daemon runs it, for evaluation in the simulated cell:
 * u_H = -kp (x - x*) (the P-controller) plus u_theta, the policy's deterministic mean residual, composed by the
 * daemon's action rule (control/action.ts): residual bounded per axis, step limited.
 *
 * Preprocessing follows the model's card: the camera frame is area-resized to the card's input size (the training
 * loader's resizeRgb, so evaluation sees exactly what training saw; no crop in the simulator), scaled by 1/255; the
 * proprio vector comes from the daemon's ProprioBuilder with the card's layout.
 *
 * Fail safe like the daemon: if the policy cannot run on an observation, this step uses the P-controller alone.
 */
import { ProprioBuilder } from '../daemon/proprio.ts';
import { resizeRgb } from '../data/dataset.ts';
import { PolicyModel } from '../policy/onnx-model.ts';
import type { Observation, Vec3 } from '../robot/types.ts';
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
  private proprio: ProprioBuilder | null = null;
  private image: Float32Array | null = null;
  private resized: Uint8Array | null = null;
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
      const card = m.card;
      const img = card.preprocessing.image;
      if (!img || img.channels !== 3) throw new Error(`${this.config.modelPath}: the policy controller needs an RGB image input (card preprocessing.image)`);
      if (!card.preprocessing.proprio) throw new Error(`${this.config.modelPath}: card field 'preprocessing.proprio' is missing`);
      this.proprio = new ProprioBuilder(card.preprocessing.proprio, this.config.modelPath);
      this.image = new Float32Array(img.width * img.height * 3);
      this.resized = new Uint8Array(img.width * img.height * 3);
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
      r = await model.run(this.prepareImage(obs, model), (this.proprio as ProprioBuilder).build(obs));
    } catch (err) {
      this.fallbacks++;
      this.lastError = (err as Error).message;
    }
    return composeAction(uH, r, { residualBoundM: this.config.residualBoundM, maxStepM: ctx.maxStep }).executed;
  }

  private prepareImage(obs: Observation, model: PolicyModel): Float32Array {
    const spec = model.card.preprocessing.image as NonNullable<typeof model.card.preprocessing.image>;
    const out = this.image as Float32Array;
    const bytes = this.resized as Uint8Array;
    const f = obs.image;
    if (f.data.length !== f.width * f.height * 3) throw new Error(`camera frame ${f.width}x${f.height} has ${f.data.length} bytes`);
    resizeRgb(f.data, f.width, f.height, bytes, spec.width, spec.height);
    const k = spec.scale;
    for (let i = 0; i < bytes.length; i++) out[i] = (bytes[i] as number) * k + spec.offset;
    return out;
  }

  async dispose(): Promise<void> {
    if (this.loading) await (await this.loading.catch(() => null))?.dispose();
    this.model = null;
    this.loading = null;
  }
}

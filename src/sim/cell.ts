/**
 * The simulated insertion cell: a Sawyer-like arm holding a plug over its socket, in MuJoCo (wasm).
 *
 * Control: every step(action) moves a Cartesian tip target by the clipped action (vertically from the
 * measured tip, horizontally from the previous target kept within 2 mm of the tip), solves DLS IK for the
 * joint targets (orientation fixed, tip down), and drives the force-limited joint servos along a smooth
 * joint trajectory with velocity and inertial feed-forward over 1/controlHz s of physics. An explicit
 * stiffness correction makes the tip behave like independent x/y/z springs (4000 N/m). In free space the tip
 * lands on target (< 0.1 mm) and at rest at the end of every control period; pressing on an obstacle gives a
 * bounded force (stiffness x one step: ~20 N for the P-controller on the socket face, capped by the joint
 * effort limits like the real arm's force-limited joint control) instead of winding up.
 *
 * Observation: a ray-cast RGB image (wrist camera beside the tool looking at the tip and socket, or a fixed
 * camera), the bias-corrected wrench, the tip pose, and the goal x* = nominal seated tip position + goalBias
 * + per-episode noise. Resets are deterministic under their seed (start offset, goal noise, nuisance).
 *
 * Wrench convention: the force/torque the environment exerts on the tool, in the base frame, at the wrist
 * site; pressing the plug down onto the socket face reads as a positive (upward) Fz.
 */
import { drawStartOffset } from '../core/scenario.ts';
import type { GroundTruth } from '../core/types.ts';
import type { DepthImage, Observation, Vec3, Wrench } from '../core/types.ts';
import { RayCamera, lookAt, matMul3, rotVec, type CameraPose, type EnvView, type Shading, type TextureFrame } from './camera.ts';
import type { ConnectorDef } from './connectors.ts';
import { cholSolve6, TipIk } from './ik.ts';
import { SERVO } from './mjcf.ts';
import { ContactFilter, type ContactFilterStats, type StepPoses } from './contact-filter.ts';
import { buildCellXml, buildViewXml, type CellContactGeometry, type CellLayout } from './mjcf.ts';
import { compileXml, DataViews, describeWasmError, mujoco, type Mujoco } from './mujoco.ts';
import { Rng } from '../util/rng.ts';
import { DepthNoise } from './depth.ts';
import { CELL_HOME, SAWYER_JOINTS } from './sawyer.ts';

import type { Scenario } from '../core/types.ts';

export interface CellConfig {
  connector: ConnectorDef;
  /** Square RGB image side (px). */
  imageSize?: number;
  camera?: 'wrist' | 'fixed';
  /** Physics time step (s). */
  timestep?: number;
  /** Control rate (Hz): physics steps per control step = 1 / (controlHz * timestep). */
  controlHz?: number;
  /** Per-axis bound on |action| per control step (m). */
  maxStep?: number;
  /** Tip height above the socket face at reset (m). */
  startHeight?: number;
  /** Systematic calibration error added to the goal x* (m). */
  goalBias?: Vec3;
  /** Per-episode uniform +- noise on x* in x and y (m). */
  goalNoise?: number;
  /** Randomise table colour, light direction and camera pose jitter at every reset. */
  nuisance?: boolean;
  /** Vertical field of view of the camera (deg). */
  fovDeg?: number;
  /**
   * Shadows from a lamp 0.6 m away along the light direction. They are the image's main cue for how deep the plug is
   * once its pins are hidden in the socket; without them, an untextured socket face looks the same 5 mm above seated
   * as seated.
   */
  shadows?: boolean;
  /**
   * The camera also returns a depth image (Observation.depth): the ray cast's axial distances through a D405-like
   * noise model (sim/depth.ts). Off by default: the colour image and every earlier log stay as they were.
   */
  depth?: boolean;
}

export interface ResetOptions {
  seed: number;
  scenario: Scenario;
  /** Replay: start the tip here (m, cell frame) instead of the seed's start; the seed still draws the nuisance. */
  tip?: Vec3;
  /** Replay: publish this x* (m, cell frame) instead of the seed's nominal + bias + noise. */
  goal?: Vec3;
}

/** The tip counts as seated within this distance of the full insertion depth. */
export const SEATED_TOLERANCE = 0.001;

export class SimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimError';
  }
}

type Model = InstanceType<Mujoco['MjModel']>;
type Data = InstanceType<Mujoco['MjData']>;

/**
 * What the camera casts its rays against when they may hit the arm or the plug: the cell's model with the plug as one
 * body (mjcf.ts plugOneBody), posed by copying the stepped model's geom and body poses in. mj_multiRay skips every geom
 * of a body whose bounding sphere a ray misses, and that sphere is built over the body's colliding geoms only: in the
 * stepped model, where the housing is a body of its own, it would be the pins' alone, and it cut the gripper's
 * fingers and whole pins out of the wrist view (and so out of the depth image).
 */
interface RayModel {
  model: Model;
  data: Data;
  v: DataViews;
  /** Per ray-model geom: the stepped model's geom at the same pose (-1: an arm visual the stepped model lacks). */
  geoms: Int32Array;
  /** Per ray-model body: the stepped model's body. */
  bodies: Int32Array;
}

const DEFAULTS = {
  imageSize: 64,
  camera: 'wrist' as 'wrist' | 'fixed',
  timestep: 0.001,
  controlHz: 10,
  maxStep: 0.01,
  startHeight: 0.02,
  goalBias: [0, 0, 0] as Vec3,
  goalNoise: 0,
  nuisance: true,
  fovDeg: 32,
  shadows: false,
  depth: false,
};

/** Wrist camera in the plug frame (z up the tool, origin at the tip): beside and above the tip, looking just below it. */
const WRIST_CAM_POS: Vec3 = [0, -0.05, 0.065];
const WRIST_CAM_TARGET: Vec3 = [0, 0, -0.012];
/** Fixed camera relative to the socket face centre. */
const FIXED_CAM_POS: Vec3 = [0.0, -0.2, 0.16];
const NOMINAL_LIGHT: Vec3 = [0.3, -0.45, 1];
const NOMINAL_TABLE: Vec3 = [0.6, 0.5, 0.4];
/** Lamp distance from the socket face centre along the light direction (m). */
const LAMP_DISTANCE = 0.6;

function checkConfig(c: Required<CellConfig>): void {
  const bad = (field: string, msg: string, got: unknown): never => {
    throw new RangeError(`CellConfig.${field} ${msg}, got ${JSON.stringify(got)}`);
  };
  if (!Number.isInteger(c.imageSize) || c.imageSize < 0 || c.imageSize > 512) bad('imageSize', 'must be an integer in [0, 512]', c.imageSize);
  if (c.camera !== 'wrist' && c.camera !== 'fixed') bad('camera', 'must be "wrist" or "fixed"', c.camera);
  if (!(c.timestep >= 0.0002 && c.timestep <= 0.004)) bad('timestep', 'must be in [0.0002, 0.004] s', c.timestep);
  if (!(c.controlHz >= 1 && c.controlHz <= 1 / c.timestep)) bad('controlHz', 'must be in [1, 1/timestep]', c.controlHz);
  if (!(c.maxStep > 0 && c.maxStep <= 0.05)) bad('maxStep', 'must be in (0, 0.05] m', c.maxStep);
  if (!(c.startHeight >= 0 && c.startHeight <= 0.15)) bad('startHeight', 'must be in [0, 0.15] m', c.startHeight);
  if (!Array.isArray(c.goalBias) || c.goalBias.length !== 3 || !c.goalBias.every((x) => Number.isFinite(x) && Math.abs(x) <= 0.05)) {
    bad('goalBias', 'must be 3 finite numbers within +-0.05 m', c.goalBias);
  }
  if (!(c.goalNoise >= 0 && c.goalNoise <= 0.05)) bad('goalNoise', 'must be in [0, 0.05] m', c.goalNoise);
  if (!(c.fovDeg > 5 && c.fovDeg < 120)) bad('fovDeg', 'must be in (5, 120) deg', c.fovDeg);
  if (typeof c.shadows !== 'boolean') bad('shadows', 'must be a boolean', c.shadows);
  if (typeof c.depth !== 'boolean') bad('depth', 'must be a boolean', c.depth);
  if (c.depth && c.imageSize === 0) bad('depth', 'needs a camera (imageSize > 0)', c.depth);
}

export class SimCell {
  readonly config: Required<CellConfig>;
  readonly layout: CellLayout;
  private readonly nv: number;
  private readonly physicsPerControl: number;
  private readonly tipSite: number;
  private readonly ftSite: number;
  private readonly tableGeom: number;
  private readonly ik: TipIk;
  private readonly camera: RayCamera | null;
  private readonly imageBuf: Uint8Array;
  /** Exact axial depth of the last render (m), and the depth camera's noise (null: no depth). */
  private readonly depthExact: Float32Array | null;
  private readonly depthNoise: DepthNoise | null;
  private readonly solidGeom: Uint8Array;
  private readonly rays: RayModel | null;
  private readonly contacts: ContactFilter;
  /** MuJoCo's poses after a step, through the cached views (re-fetched when wasm memory grows). */
  private readonly stepPoses: StepPoses;
  /** The camera's attached layer is cast at the next render (set at every reset), so the ray model must be posed. */
  private layerPending = true;
  private envView: EnvView | null = null;
  private viewTable = -1;
  private readonly ctrlFrom: Float64Array;
  private readonly v: DataViews;
  /** Per joint servo kv/kp (MuJoCo derives kv from dampratio at compile time). */
  private readonly kvOverKp: Float64Array;
  private readonly massBuf: InstanceType<Mujoco['DoubleBuffer']>;
  private readonly mdq: Float64Array;
  private readonly jacp: InstanceType<Mujoco['DoubleBuffer']>;
  private readonly jacr: InstanceType<Mujoco['DoubleBuffer']>;
  /** Stiffness correction (7x7): shaped Cartesian stiffness minus what the per-joint servos already give. */
  private readonly kCorr: Float64Array;
  /** The model's options, one embind handle kept (each `model.opt` read makes a new one, ~40 us). */
  private readonly opt: InstanceType<Mujoco['MjModel']>['opt'];
  /** disableflags as compiled, and with the sensor stage switched off. */
  private readonly sensorOnFlags: number;
  private readonly sensorOffFlags: number;
  /** Whether disableflags is sensorOnFlags now (as compiled). */
  private sensors = true;
  private readonly effort: Float64Array;
  private qTarget: Float64Array;
  private target: Vec3 = [0, 0, 0];
  private goal: Vec3 = [0, 0, 0];
  private bias: Wrench = [0, 0, 0, 0, 0, 0];
  private camLocalPos: Vec3 = WRIST_CAM_POS;
  private camLocalR: Float64Array;
  private shading: Shading;
  private disposed = false;
  private episodeReady = false;

  private constructor(
    private readonly mj: Mujoco,
    private readonly model: Model,
    private readonly data: Data,
    private readonly scratch: Data,
    config: Required<CellConfig>,
    layout: CellLayout,
    private readonly view: { model: Model; data: Data } | null,
    rayModel: { model: Model; data: Data } | null,
    contact: CellContactGeometry,
  ) {
    this.config = config;
    this.layout = layout;
    this.nv = model.nv;
    this.v = new DataViews(data);
    const v = this.v;
    this.stepPoses = {
      get xpos() {
        return v.get('xpos');
      },
      get xmat() {
        return v.get('xmat');
      },
      get xanchor() {
        return v.get('xanchor');
      },
      get xaxis() {
        return v.get('xaxis');
      },
    };
    this.massBuf = new mj.DoubleBuffer(model.nv * model.nv);
    this.mdq = new Float64Array(model.nv);
    this.jacp = new mj.DoubleBuffer(3 * model.nv);
    this.jacr = new mj.DoubleBuffer(3 * model.nv);
    this.kCorr = new Float64Array(model.nv * model.nv);
    this.opt = model.opt;
    this.sensorOnFlags = this.opt.disableflags;
    this.sensorOffFlags = this.sensorOnFlags | mj.mjtDisableBit.mjDSBL_SENSOR.value;
    this.effort = Float64Array.from(SAWYER_JOINTS.map((j) => j.effort));
    const gain = model.actuator_gainprm as Float64Array;
    const biasp = model.actuator_biasprm as Float64Array;
    const nprm = gain.length / model.nu;
    this.kvOverKp = Float64Array.from({ length: this.nv }, (_, i) => -biasp[i * nprm + 2]! / gain[i * nprm]!);
    this.physicsPerControl = Math.max(1, Math.round(1 / (config.controlHz * config.timestep)));
    this.tipSite = mj.mj_name2id(model, mj.mjtObj.mjOBJ_SITE.value, 'tip');
    this.ftSite = mj.mj_name2id(model, mj.mjtObj.mjOBJ_SITE.value, 'ft');
    this.rays = rayModel ? rayPoses(mj, model, rayModel) : null;
    this.contacts = new ContactFilter(mj, model, contact, mj.mj_name2id(model, mj.mjtObj.mjOBJ_BODY.value, 'plug'));
    // The camera's geom tables index the model its rays are cast against.
    const camModel = this.rays?.model ?? model;
    this.tableGeom = mj.mj_name2id(camModel, mj.mjtObj.mjOBJ_GEOM.value, 'table');
    if (this.tipSite < 0 || this.ftSite < 0 || this.tableGeom < 0) throw new SimError('generated model lacks the tip/ft sites or the table');
    const Rd = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    this.ik = new TipIk(mj, model, scratch, this.tipSite, Rd, Float64Array.from(CELL_HOME));
    this.qTarget = Float64Array.from(CELL_HOME);
    this.ctrlFrom = new Float64Array(this.nv);
    this.camLocalR = lookAt(WRIST_CAM_POS, WRIST_CAM_TARGET, [0, 0, 1]);
    this.shading = { light: norm3(NOMINAL_LIGHT), ambient: 0.35, background: [40, 44, 52], lamp: null };
    const size = config.imageSize;
    this.camera = size > 0 ? new RayCamera(mj, camModel, size, size, config.fovDeg) : null;
    this.solidGeom = new Uint8Array(camModel.ngeom);
    this.imageBuf = new Uint8Array(3 * size * size);
    this.depthExact = config.depth ? new Float32Array(size * size) : null;
    this.depthNoise = config.depth ? new DepthNoise() : null;
    if (this.camera) {
      // Group 5 holds the socket's exact collision pieces: the camera sees their visual stand-ins instead.
      // The wrist camera also skips the arm links (group 3): never in its view, costly to test.
      this.camera.groups = config.camera === 'wrist' ? [1, 1, 1, 0, 1, 0] : [1, 1, 1, 1, 1, 0];
      this.camera.cutoff = config.camera === 'wrist' ? 0.5 : 3;
    }
    if (this.camera) {
      // Texture slots: 0 = plug (moves with the tip), 1 = socket.
      for (let g = 0; g < camModel.ngeom; g++) {
        const name = mj.mj_id2name(camModel, mj.mjtObj.mjOBJ_GEOM.value, g) ?? '';
        if (name.startsWith('plug_')) this.camera.geomTex[g] = 0;
        else if (name === 'sock_block') this.camera.geomTex[g] = 1;
        // The housing and the gripper always stay above the socket face: nothing in the world can hide them.
        this.solidGeom[g] = name === 'plug_housing' || name.startsWith('grip_') ? 1 : 0;
        // Shadows fall on the world only (the wrist view's cached plug layer is shaded without them).
        if (name.startsWith('plug_') || name.startsWith('grip_')) this.camera.shadowReceiver[g] = 0;
      }
      if (view) {
        this.envView = this.camera.setEnvView(view.model, view.data);
        const vm = view.model;
        this.viewTable = mj.mj_name2id(vm, mj.mjtObj.mjOBJ_GEOM.value, 'table');
        const block = mj.mj_name2id(vm, mj.mjtObj.mjOBJ_GEOM.value, 'sock_block');
        if (this.viewTable < 0 || block < 0) throw new SimError('generated view model lacks the table or the socket block');
        this.envView.tex[block] = 1;
      }
    }
  }

  static async create(cfg: CellConfig): Promise<SimCell> {
    const config: Required<CellConfig> = { ...DEFAULTS, ...stripUndefined(cfg) } as Required<CellConfig>;
    config.goalBias = [...config.goalBias] as Vec3;
    checkConfig(config);
    const mj = await mujoco();
    // The wrist camera never sees the arm (its rays skip group 3): the stepped model goes without the arm's visual geoms.
    const { xml, layout, contact } = buildCellXml(config.connector, { timestep: config.timestep, armVisuals: config.camera === 'fixed' });
    const model = compileXml(mj, xml);
    let data: Data | null = null;
    let scratch: Data | null = null;
    let viewModel: Model | null = null;
    let viewData: Data | null = null;
    let rayModel: Model | null = null;
    let rayData: Data | null = null;
    try {
      data = new mj.MjData(model);
      scratch = new mj.MjData(model);
      if (config.imageSize > 0 && config.camera === 'wrist') {
        viewModel = compileXml(mj, buildViewXml(config.connector));
        viewData = new mj.MjData(viewModel);
        mj.mj_forward(viewModel, viewData);
      }
      if (config.imageSize > 0) {
        rayModel = compileXml(mj, buildCellXml(config.connector, { timestep: config.timestep, plugOneBody: true }).xml);
        rayData = new mj.MjData(rayModel);
      }
      return new SimCell(
        mj,
        model,
        data,
        scratch,
        config,
        layout,
        viewModel && viewData ? { model: viewModel, data: viewData } : null,
        rayModel && rayData ? { model: rayModel, data: rayData } : null,
        contact,
      );
    } catch (e) {
      data?.delete();
      scratch?.delete();
      viewData?.delete();
      viewModel?.delete();
      rayData?.delete();
      rayModel?.delete();
      model.delete();
      throw e instanceof Error ? e : new SimError(describeWasmError(mj, e));
    }
  }

  /** True seated tip position. */
  socketPos(): Vec3 {
    const [sx, sy] = this.layout.socketXY;
    return [sx, sy, this.layout.socketTop - this.config.connector.depth];
  }

  reset(opt: ResetOptions): Observation {
    this.alive();
    if (opt.scenario !== 'I' && opt.scenario !== 'II') throw new RangeError(`scenario must be "I" or "II", got ${JSON.stringify(opt.scenario)}`);
    const rng = new Rng(opt.seed);
    const c = this.config;
    this.depthNoise?.reset(opt.seed);
    // Draw everything in a fixed order whatever the options, so a seed means the same start with or without nuisance.
    const [ox, oy] = drawStartOffset(rng, opt.scenario);
    const gn: [number, number] = [rng.uniform(-1, 1) * c.goalNoise, rng.uniform(-1, 1) * c.goalNoise];
    const tableTint: Vec3 = [rng.next(), rng.next(), rng.next()];
    const lightDraw: [number, number] = [rng.next(), rng.next()];
    const jitter = [rng.next(), rng.next(), rng.next(), rng.next(), rng.next(), rng.next()];

    const sp = this.socketPos();
    this.goal = opt.goal ? checkedVec(opt.goal, 'goal') : [sp[0] + c.goalBias[0] + gn[0], sp[1] + c.goalBias[1] + gn[1], sp[2] + c.goalBias[2]];
    this.applyNuisance(c.nuisance, tableTint, lightDraw, jitter);

    const start: Vec3 = opt.tip ? checkedVec(opt.tip, 'tip') : [sp[0] + ox, sp[1] + oy, this.layout.socketTop + c.startHeight];
    const sol = this.ik.solve(start, CELL_HOME, 300);
    if (sol.posErr > 1e-4) throw new SimError(`cannot reach the start pose (IK error ${(sol.posErr * 1000).toFixed(2)} mm)`);
    const m = this.model,
      d = this.data;
    this.mj.mj_resetData(m, d);
    this.v.get('qpos').set(sol.q);
    this.v.get('ctrl').set(sol.q);
    this.qTarget = sol.q;
    this.target = start;
    this.contacts.invalidate();
    this.mj.mj_forward(m, d);
    this.stepPhysics(300); // settle the servos and contacts
    this.checkFinite();
    d.time = 0; // episode clock: observations of a seed are identical, stamps included
    this.episodeReady = true;
    this.zeroWrench();
    return this.observe();
  }

  step(action: Vec3): Observation {
    this.alive();
    if (!this.episodeReady) throw new SimError('step() before reset()');
    if (!Array.isArray(action) || action.length !== 3 || !action.every((x) => Number.isFinite(x))) {
      throw new RangeError(`action must be 3 finite numbers, got ${JSON.stringify(action)}`);
    }
    const c = this.config;
    const tip = this.tipPos();
    // Vertical: a move from where the tip IS, so blocked motion never winds up and the pressing force stays
    // bounded (stiffness x one step). Horizontal: a move of the commanded target, kept within LATERAL_LEAD of
    // the tip: under a contact load the tip sits a little off its target, and re-basing on the measured tip
    // every step would let that offset walk the plug sideways across the face.
    const [sx, sy] = this.layout.socketXY;
    const lo: Vec3 = [sx - WORKSPACE_HALF, sy - WORKSPACE_HALF, this.layout.tableTop];
    const hi: Vec3 = [sx + WORKSPACE_HALF, sy + WORKSPACE_HALF, this.layout.socketTop + WORKSPACE_HEIGHT];
    for (let i = 0; i < 3; i++) {
      const a = Math.max(-c.maxStep, Math.min(c.maxStep, action[i]!));
      const base = i === 2 ? tip[i] : Math.max(tip[i]! - LATERAL_LEAD, Math.min(tip[i]! + LATERAL_LEAD, this.target[i]!));
      // The cell's reachable box: commands beyond it saturate (the arm never leaves the socket's neighbourhood).
      this.target[i] = Math.max(lo[i]!, Math.min(hi[i]!, base + a));
    }
    const sol = this.ik.solve(this.target, this.qTarget);
    // Plan from where the joints ARE: after pressing, the previous target lies inside the obstacle, and a
    // trajectory starting there would kick the arm (feed-forward of a motion that never happened).
    const from = this.ctrlFrom;
    from.set(this.v.get('qpos').subarray(0, this.nv));
    const fromCopy = Float64Array.from(from);
    const to = sol.q;
    const m = this.model;
    const n = this.physicsPerControl;
    // Smooth (cosine) joint trajectory over the first 60% of the control period, then hold. The servo is PD
    // with velocity feed-forward: ctrl = q_des + (kv/kp) qd_des turns kp(ctrl - q) - kv qd into
    // kp(q_des - q) + kv(qd_des - qd), so tracking has no velocity lag.
    // Inertial feed-forward (qfrc_applied = M qdd_des) removes the dynamic coupling between joints, so a
    // large vertical move does not throw the tip sideways: the arm ends each period on target and at rest.
    const ramp = Math.max(1, Math.round(0.7 * n));
    const dt = this.config.timestep;
    const nv = this.nv;
    this.mj.mj_fullM(m, this.massBuf, this.v.get('qM') as unknown as number[]);
    const M = this.massBuf.GetView() as Float64Array;
    const Mdq = this.mdq;
    for (let i = 0; i < nv; i++) {
      let t = 0;
      for (let j = 0; j < nv; j++) t += M[i * nv + j]! * (to[j]! - fromCopy[j]!);
      Mdq[i] = t;
    }
    this.prepareStiffnessCorrection();
    const K = this.kCorr;
    const q = this.v.get('qpos');
    const qd = this.ctrlFrom; // reused below as the desired joint position
    const w = Math.PI / (ramp * dt);
    for (let k = 1; k <= n; k++) {
      const ctrl = this.v.get('ctrl');
      const ff = this.v.get('qfrc_applied');
      let s = 1;
      let sd = 0;
      let sdd = 0;
      if (k <= ramp) {
        // Profile evaluated mid-step (k - 0.5) so the applied force matches the interval it acts over.
        const ph = (Math.PI * (k - 0.5)) / ramp;
        s = 0.5 * (1 - Math.cos((Math.PI * k) / ramp));
        sd = 0.5 * w * Math.sin((Math.PI * k) / ramp);
        sdd = 0.5 * w * w * Math.cos(ph);
      }
      for (let i = 0; i < nv; i++) {
        const dq = to[i]! - fromCopy[i]!;
        qd[i] = fromCopy[i]! + s * dq;
        ctrl[i] = qd[i]! + this.kvOverKp[i]! * sd * dq;
      }
      for (let i = 0; i < nv; i++) {
        let t = 0;
        for (let j = 0; j < nv; j++) t += K[i * nv + j]! * (qd[j]! - q[j]!);
        const lim = 0.5 * this.effort[i]!;
        ff[i] = sdd * Mdq[i]! + Math.max(-lim, Math.min(lim, t));
      }
      // Only the last physics step's sensor values are ever read (the wrench in observe()).
      this.sensorsOn(k === n);
      this.physicsStep();
    }
    this.v.get('qfrc_applied').fill(0);
    this.qTarget = to;
    this.checkFinite();
    return this.observe();
  }

  observe(): Observation {
    this.alive();
    const t = this.time();
    const image = this.render();
    const depth = this.depthImage();
    return {
      image,
      ...(depth ? { depth } : {}),
      wrench: this.wrench(),
      eePos: this.tipPos(),
      eeQuat: this.tipQuat(),
      goal: [...this.goal] as Vec3,
      imageStamp: t,
      wrenchStamp: t,
      ...(depth ? { depthStamp: t } : {}),
    };
  }

  zeroWrench(): void {
    this.alive();
    this.bias = this.rawWrench();
  }

  groundTruth(): GroundTruth {
    this.alive();
    const tip = this.tipPos();
    const sp = this.socketPos();
    const depth = this.layout.socketTop - tip[2];
    const lateralError = Math.hypot(tip[0] - sp[0], tip[1] - sp[1]);
    const success = depth >= this.config.connector.depth - SEATED_TOLERANCE && lateralError < this.config.connector.clearance + 0.001;
    return { success, depth, socketPos: sp, lateralError };
  }

  /** Simulated seconds since the end of the last reset (the episode clock; reset() sets it to 0). */
  time(): number {
    return this.data.time;
  }

  /** Current joint positions (rad). */
  jointPositions(): Float64Array {
    return Float64Array.from(this.v.get('qpos').subarray(0, this.nv));
  }

  /** The commanded Cartesian tip target (m). */
  tipTarget(): Vec3 {
    return [...this.target] as Vec3;
  }

  /** Forward kinematics of arbitrary joint angles (does not touch the simulation). */
  forwardKinematics(q: ArrayLike<number>): Vec3 {
    return this.ik.forward(q);
  }

  /** IK for a tip position with the fixed orientation (does not touch the simulation). */
  inverseKinematics(target: Vec3, seed: ArrayLike<number> = CELL_HOME, maxIter = 100): { q: Float64Array; posErr: number; rotErr: number } {
    return this.ik.solve(target, seed, maxIter);
  }

  /**
   * Cast the wrist view's world pass in JavaScript (true, the default) or through mj_multiRay (false): bitwise the same
   * images and depth (test/sim/view-rays.test.ts); the switch is for that test and for benchmarks.
   */
  analyticWorldRays(on: boolean): void {
    if (this.camera) this.camera.analyticWorld = on;
  }

  /**
   * Switch the contact filter (contact-filter.ts) on (the default) or off: bitwise the same contacts and trajectories
   * (test/sim/contact-filter.test.ts); the switch is for that test and for benchmarks.
   */
  contactFilter(on: boolean): void {
    this.contacts.enabled = on;
  }

  /** The contact filter's counts since the cell was created. */
  contactFilterStats(): ContactFilterStats {
    return { ...this.contacts.stats };
  }

  /** Render an image now (also part of observe()). */
  render(): Observation['image'] {
    if (!this.camera) return { width: 0, height: 0, data: new Uint8Array(0) };
    const out = new Uint8Array(this.imageBuf.length);
    const depth = this.depthExact ?? undefined;
    // Rays meet the cell's model (not the static view's) in a full render, in the wrist view's attached layer and in shadows.
    const data = this.posedRays(this.config.camera === 'fixed' || this.config.shadows || this.layerPending);
    this.layerPending = false;
    if (this.config.camera === 'fixed') return this.camera.render(data, this.cameraPose(), this.shading, this.textureFrames(), out, depth);
    // Wrist camera: the plug and gripper (groups 1, 4) are cast once per episode; table and socket (0, 2) per frame.
    return this.camera.renderAttached(
      data,
      this.cameraPose(),
      this.shading,
      this.textureFrames(),
      [0, 1, 0, 0, 1, 0],
      [1, 0, 1, 0, 0, 0],
      (g) => this.solidGeom[g] === 1,
      out,
      depth,
    );
  }

  /**
   * The depth image of the last render() (what the depth camera reports: sim/depth.ts), or null without `depth`.
   * Costs no ray: render() keeps the distances it cast.
   */
  private depthImage(): DepthImage | null {
    if (!this.depthExact || !this.depthNoise) return null;
    const size = this.config.imageSize;
    const data = new Float32Array(size * size);
    this.depthNoise.apply(this.depthExact, data);
    return { width: size, height: size, data };
  }

  /** Exact depth of the last render (m, no camera noise; for tests), or null without `depth`. */
  exactDepth(): Float32Array | null {
    return this.depthExact ? Float32Array.from(this.depthExact) : null;
  }

  /** Reference render: every ray against every visible geom (what render() must equal; for tests). With `depth`, its
   *  exact depth too (what exactDepth() must equal). */
  renderReference(depth?: Float32Array): Observation['image'] {
    if (!this.camera) return { width: 0, height: 0, data: new Uint8Array(0) };
    return this.camera.render(this.posedRays(true), this.cameraPose(), this.shading, this.textureFrames(), undefined, depth);
  }

  /**
   * Exact depth of what the camera sees now in the model the cell steps, every ray against every visible geom with no
   * culling (RayCamera.castEach; ~0.1 s; for tests): what exactDepth() must equal. Null without a camera.
   */
  unculledDepth(): Float64Array | null {
    if (!this.camera) return null;
    return this.camera.castEach(this.model, this.data, this.cameraPose(), this.camera.groups);
  }

  /**
   * The data the camera's rays meet: the ray model's, with the stepped model's poses copied in when `pose` (the poses of
   * the last physics step, as every other reading of the observation), else as last posed.
   */
  private posedRays(pose: boolean): Data {
    const r = this.rays;
    if (!r) return this.data;
    if (!pose) return r.data;
    const from = this.v,
      to = r.v;
    const gx = from.get('geom_xpos'),
      gm = from.get('geom_xmat'),
      bx = from.get('xipos');
    const tx = to.get('geom_xpos'),
      tm = to.get('geom_xmat'),
      tb = to.get('xipos');
    const { geoms, bodies } = r;
    for (let g = 0; g < geoms.length; g++) {
      const s = geoms[g]!;
      if (s < 0) continue;
      tx.set(gx.subarray(3 * s, 3 * s + 3), 3 * g);
      tm.set(gm.subarray(9 * s, 9 * s + 9), 9 * g);
    }
    for (let b = 0; b < bodies.length; b++) tb.set(bx.subarray(3 * bodies[b]!, 3 * bodies[b]! + 3), 3 * b);
    return r.data;
  }

  /**
   * Pixel coordinates (column, row; may fall outside the image) where the camera sees world point p now,
   * or null if it is behind the camera. For calibration (crop) and for checking image resolution.
   */
  project(p: Vec3): [number, number] | null {
    const size = this.config.imageSize;
    const pose = this.cameraPose();
    const R = pose.R;
    const d: Vec3 = [p[0] - pose.pos[0], p[1] - pose.pos[1], p[2] - pose.pos[2]];
    // camera frame: x right, y up, z backward
    const x = R[0]! * d[0] + R[3]! * d[1] + R[6]! * d[2];
    const y = R[1]! * d[0] + R[4]! * d[1] + R[7]! * d[2];
    const z = R[2]! * d[0] + R[5]! * d[1] + R[8]! * d[2];
    if (z >= 0) return null;
    const t = Math.tan((this.config.fovDeg * Math.PI) / 360);
    const u = ((x / -z / t + 1) * size) / 2 - 0.5;
    const v = ((1 - y / -z / t) * size) / 2 - 0.5;
    return [u, v];
  }

  /**
   * Per-joint servos make the tip a spring with strong cross terms on this arm (a 20 N push up moved it
   * ~6 mm sideways). An explicit joint torque (K_shaped - K_joint)(q_d - q), with K_shaped = J^T Kc J +
   * k_null N (Kc diagonal in the base frame, N the null-space projector), makes the tip behave like independent
   * x/y/z springs, as the real arm's impedance control does; the servos keep their implicit damping.
   */
  private prepareStiffnessCorrection(): void {
    const nv = this.nv;
    const J = new Float64Array(6 * nv);
    this.mj.mj_jacSite(this.model, this.data, this.jacp, this.jacr, this.tipSite);
    J.set(this.jacp.GetView() as Float64Array, 0);
    J.set(this.jacr.GetView() as Float64Array, 3 * nv);
    const A = new Float64Array(36);
    for (let r = 0; r < 6; r++) {
      for (let c = 0; c < 6; c++) {
        let t = 0;
        for (let i = 0; i < nv; i++) t += J[r * nv + i]! * J[c * nv + i]!;
        A[r * 6 + c] = t + (r === c ? 1e-6 : 0);
      }
    }
    const X = new Float64Array(6 * nv);
    const col = new Float64Array(6);
    for (let i = 0; i < nv; i++) {
      for (let r = 0; r < 6; r++) col[r] = J[r * nv + i]!;
      cholSolve6(Float64Array.from(A), col);
      for (let r = 0; r < 6; r++) X[r * nv + i] = col[r]!;
    }
    const kc = [TIP_STIFFNESS.pos, TIP_STIFFNESS.pos, TIP_STIFFNESS.pos, TIP_STIFFNESS.rot, TIP_STIFFNESS.rot, TIP_STIFFNESS.rot];
    for (let i = 0; i < nv; i++) {
      for (let j = 0; j < nv; j++) {
        let k = 0,
          p = 0;
        for (let r = 0; r < 6; r++) {
          k += kc[r]! * J[r * nv + i]! * J[r * nv + j]!;
          p += J[r * nv + i]! * X[r * nv + j]!;
        }
        const nullspace = (i === j ? 1 : 0) - p;
        this.kCorr[i * nv + j] = k + TIP_STIFFNESS.nullspace * nullspace - (i === j ? SERVO.kp[i]! : 0);
      }
    }
  }

  /** Physics contact count (diagnostics). */
  contactCount(): number {
    return this.data.ncon;
  }

  /** Run physics only, holding the current servo targets (for benchmarks and diagnostics). */
  physicsSteps(n: number): void {
    this.alive();
    this.stepPhysics(n);
    this.checkFinite();
  }

  /**
   * n physics steps with the sensors computed on the last one only: nothing reads them in between, and the F/T
   * sensors cost a full pass of mj_rnePostConstraint per step. Sensors never feed back into the dynamics, so the
   * trajectory is bitwise the same.
   */
  private stepPhysics(n: number): void {
    for (let k = 1; k <= n; k++) {
      this.sensorsOn(k === n);
      this.physicsStep();
    }
  }

  /** Sensors on or off for the next physics steps; the flag is set through embind (~0.1 us) only when it changes. */
  private sensorsOn(on: boolean): void {
    if (on === this.sensors) return;
    this.opt.disableflags = on ? this.sensorOnFlags : this.sensorOffFlags;
    this.sensors = on;
  }

  /** One mj_step, with the socket geoms that the plug's cannot reach switched off for them. */
  private physicsStep(): void {
    const v = this.v;
    this.contacts.beforeStep(v.get('qpos'));
    this.mj.mj_step(this.model, this.data);
    this.contacts.afterStep(v.get('qpos'), this.stepPoses);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.camera?.dispose();
    this.ik.dispose();
    this.massBuf.delete();
    this.jacp.delete();
    this.jacr.delete();
    this.scratch.delete();
    this.data.delete();
    this.model.delete();
    this.view?.data.delete();
    this.view?.model.delete();
    this.rays?.data.delete();
    this.rays?.model.delete();
  }

  // ------------------------------------------------------------------ internals

  private alive(): void {
    if (this.disposed) throw new SimError('SimCell used after dispose()');
  }

  private tipPos(): Vec3 {
    const p = this.v.get('site_xpos');
    const s = 3 * this.tipSite;
    return [p[s]!, p[s + 1]!, p[s + 2]!];
  }

  private tipMat(): Float64Array {
    const m = this.v.get('site_xmat');
    return Float64Array.from(m.subarray(9 * this.tipSite, 9 * this.tipSite + 9));
  }

  private tipQuat(): [number, number, number, number] {
    return mat2quat(this.tipMat());
  }

  /** External wrench on the tool at the ft site, base frame, without bias correction. */
  private rawWrench(): Wrench {
    const sd = this.v.get('sensordata');
    const xm = this.v.get('site_xmat');
    const R = xm.subarray(9 * this.ftSite, 9 * this.ftSite + 9);
    const rot = (o: number): Vec3 => {
      const x = sd[o]!,
        y = sd[o + 1]!,
        z = sd[o + 2]!;
      // The sensor reports what the parent (hand) exerts on the plug; the environment's push is its negative.
      return [-(R[0]! * x + R[1]! * y + R[2]! * z), -(R[3]! * x + R[4]! * y + R[5]! * z), -(R[6]! * x + R[7]! * y + R[8]! * z)];
    };
    const f = rot(0);
    const t = rot(3);
    return [f[0], f[1], f[2], t[0], t[1], t[2]];
  }

  private wrench(): Wrench {
    const r = this.rawWrench();
    return r.map((x, i) => x - this.bias[i]!) as Wrench;
  }

  private checkFinite(): void {
    const q = this.v.get('qpos');
    const v = this.v.get('qvel');
    for (let i = 0; i < this.nv; i++) {
      if (!Number.isFinite(q[i]!) || !Number.isFinite(v[i]!)) {
        this.episodeReady = false;
        throw new SimError(`physics diverged (non-finite joint state at t=${this.data.time}); reset() the cell`);
      }
    }
  }

  private applyNuisance(on: boolean, tint: Vec3, light: [number, number], jitter: number[]): void {
    const cam = this.camera;
    cam?.invalidateLayer(); // the camera's mounting may change below
    this.layerPending = true;
    if (on) {
      // Muted table colours: a random hue at low-moderate saturation and value.
      const h = tint[0] * 6,
        s = 0.1 + 0.45 * tint[1],
        val = 0.35 + 0.45 * tint[2];
      const rgb = hsv(h, s, val);
      if (cam) cam.geomColor.set(rgb, 3 * this.tableGeom);
      if (this.envView) this.envView.color.set(rgb, 3 * this.viewTable);
      // Light within ~40 deg of the nominal direction.
      const az = 2 * Math.PI * light[0];
      const el = 0.7 * Math.sqrt(light[1]);
      const base = norm3(NOMINAL_LIGHT);
      const R = rotVec([el * Math.cos(az), el * Math.sin(az), 0]);
      this.shading.light = norm3([
        R[0]! * base[0] + R[1]! * base[1] + R[2]! * base[2],
        R[3]! * base[0] + R[4]! * base[1] + R[5]! * base[2],
        R[6]! * base[0] + R[7]! * base[1] + R[8]! * base[2],
      ]);
      // Camera pose jitter: +-2 mm, +-1.5 deg.
      const dp: Vec3 = [(jitter[0]! - 0.5) * 0.004, (jitter[1]! - 0.5) * 0.004, (jitter[2]! - 0.5) * 0.004];
      const dr = rotVec([(jitter[3]! - 0.5) * 0.052, (jitter[4]! - 0.5) * 0.052, (jitter[5]! - 0.5) * 0.052]);
      const basePos = this.config.camera === 'wrist' ? WRIST_CAM_POS : FIXED_CAM_POS;
      const baseTarget: Vec3 = this.config.camera === 'wrist' ? WRIST_CAM_TARGET : [0, 0, 0];
      this.camLocalPos = [basePos[0] + dp[0], basePos[1] + dp[1], basePos[2] + dp[2]];
      this.camLocalR = matMul3(dr, lookAt(basePos, baseTarget, [0, 0, 1]));
    } else {
      if (cam) cam.geomColor.set(NOMINAL_TABLE, 3 * this.tableGeom);
      if (this.envView) this.envView.color.set(NOMINAL_TABLE, 3 * this.viewTable);
      this.shading.light = norm3(NOMINAL_LIGHT);
      const basePos = this.config.camera === 'wrist' ? WRIST_CAM_POS : FIXED_CAM_POS;
      const baseTarget: Vec3 = this.config.camera === 'wrist' ? WRIST_CAM_TARGET : [0, 0, 0];
      this.camLocalPos = basePos;
      this.camLocalR = lookAt(basePos, baseTarget, [0, 0, 1]);
    }
    if (this.config.shadows) {
      const [sx, sy] = this.layout.socketXY;
      const l = this.shading.light;
      this.shading.lamp = [sx + LAMP_DISTANCE * l[0], sy + LAMP_DISTANCE * l[1], this.layout.socketTop + LAMP_DISTANCE * l[2]];
    }
  }

  private cameraPose(): CameraPose {
    if (this.config.camera === 'fixed') {
      const [sx, sy] = this.layout.socketXY;
      const o: Vec3 = [sx, sy, this.layout.socketTop];
      const p = this.camLocalPos;
      return { pos: [o[0] + p[0], o[1] + p[1], o[2] + p[2]], R: this.camLocalR };
    }
    const tip = this.tipPos();
    const Rt = this.tipMat();
    const p = this.camLocalPos;
    return {
      pos: [
        tip[0] + Rt[0]! * p[0] + Rt[1]! * p[1] + Rt[2]! * p[2],
        tip[1] + Rt[3]! * p[0] + Rt[4]! * p[1] + Rt[5]! * p[2],
        tip[2] + Rt[6]! * p[0] + Rt[7]! * p[1] + Rt[8]! * p[2],
      ],
      R: matMul3(Rt, this.camLocalR),
    };
  }

  private textureFrames(): TextureFrame[] {
    const def = this.config.connector;
    const [sx, sy] = this.layout.socketXY;
    return [
      { origin: this.tipPos(), R: this.tipMat(), tex: def.plug.texture },
      { origin: [sx, sy, this.layout.socketTop], R: IDENTITY, tex: def.socket.texture },
    ];
  }
}

const IDENTITY = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);

/**
 * The ray model's geoms and bodies matched to the stepped model's by name. Its plug housing takes the pose of the stepped
 * model's plug_housing_mass, the copy in the pins' body (mjcf.ts): the same body and local pose as in the one-body plug.
 */
function rayPoses(mj: Mujoco, stepped: Model, r: { model: Model; data: Data }): RayModel {
  const match = (type: number, count: number, rename: (name: string) => string): Int32Array =>
    Int32Array.from({ length: count }, (_, i) => {
      const name = mj.mj_id2name(r.model, type, i) ?? '';
      const j = mj.mj_name2id(stepped, type, rename(name));
      // The arm's visual geoms are left out of the stepped model for the wrist camera, whose rays skip them (group 3).
      if (j < 0 && type === mj.mjtObj.mjOBJ_GEOM.value && name.startsWith('arm_')) return -1;
      if (j < 0)
        throw new SimError(
          `the ray model's ${type === mj.mjtObj.mjOBJ_GEOM.value ? 'geom' : 'body'} ${i} (${JSON.stringify(name)}) is not in the cell's model`,
        );
      return j;
    });
  return {
    ...r,
    v: new DataViews(r.data),
    geoms: match(mj.mjtObj.mjOBJ_GEOM.value, r.model.ngeom, (n) => (n === 'plug_housing' ? 'plug_housing_mass' : n)),
    bodies: match(mj.mjtObj.mjOBJ_BODY.value, r.model.nbody, (n) => n),
  };
}

/** How far (m) the horizontal target may stay ahead of the tip between steps (bounds lateral push when blocked). */
const LATERAL_LEAD = 0.002;
/** Tip targets stay within this distance (m) of the socket in x and y, and this high above its face. */
export const WORKSPACE_HALF = 0.12;
export const WORKSPACE_HEIGHT = 0.15;

/** Shaped tip stiffness: translation (N/m), rotation (N m/rad), null space (N m/rad). */
export const TIP_STIFFNESS = { pos: 4000, rot: 150, nullspace: 20 };

function checkedVec(v: Vec3, field: string): Vec3 {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isFinite(x)))
    throw new RangeError(`ResetOptions.${field} must be 3 finite numbers, got ${JSON.stringify(v)}`);
  return [v[0], v[1], v[2]];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
}

function norm3(a: Vec3): Vec3 {
  const l = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / l, a[1] / l, a[2] / l];
}

function hsv(h: number, s: number, v: number): Vec3 {
  const i = Math.floor(h) % 6;
  const f = h - Math.floor(h);
  const p = v * (1 - s),
    q = v * (1 - s * f),
    t = v * (1 - s * (1 - f));
  const table: Vec3[] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  return table[i]!;
}

/** Row-major rotation matrix to unit quaternion [w, x, y, z] (Shepperd's method), w >= 0. */
export function mat2quat(m: ArrayLike<number>): [number, number, number, number] {
  const m00 = m[0]!,
    m01 = m[1]!,
    m02 = m[2]!,
    m10 = m[3]!,
    m11 = m[4]!,
    m12 = m[5]!,
    m20 = m[6]!,
    m21 = m[7]!,
    m22 = m[8]!;
  const tr = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = 0.25 * s;
    x = (m21 - m12) / s;
    y = (m02 - m20) / s;
    z = (m10 - m01) / s;
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    w = (m21 - m12) / s;
    x = 0.25 * s;
    y = (m01 + m10) / s;
    z = (m02 + m20) / s;
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    w = (m02 - m20) / s;
    x = (m01 + m10) / s;
    y = 0.25 * s;
    z = (m12 + m21) / s;
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    w = (m10 - m01) / s;
    x = (m02 + m20) / s;
    y = (m12 + m21) / s;
    z = 0.25 * s;
  }
  const l = Math.hypot(w, x, y, z);
  const sg = w < 0 ? -1 : 1;
  return [(sg * w) / l, (sg * x) / l, (sg * y) / l, (sg * z) / l];
}

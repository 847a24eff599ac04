/**
 * RobotBackend on the MuJoCo cell. The simulator is the robot: `command` runs one control period of physics
 * (1/controlHz s) right there, inside the daemon's tick, so a 10 Hz loop runs the simulation in real time and a
 * free-running loop runs it as fast as the CPU allows, through the same code path. The backend clock is simulation
 * time; observation stamps are on it, so the stale-sensor watchdog works the same in both modes.
 *
 * Extras a real robot has and a simulator lacks, for tests and demos: a simulated e-stop button (`pressEstop`) and
 * sensor fault injection (`injectFault`: a frozen camera or wrench stream, frozen stamps, a non-finite pose or wrench,
 * frames of the wrong size or encoding).
 */
import { findConnector, loadConnectors, type ConnectorDef } from '../sim/connectors.ts';
import { SimCell, type CellConfig } from '../sim/cell.ts';
import { EstopSource, type EpisodeSpec, type EstopListener, type EstopSignal, type RobotBackend } from './backend.ts';
import type { DaemonConfig } from '../config/schema.ts';
import type { BackendSensors, GroundTruth, Observation, Vec3 } from '../core/types.ts';

export interface SimBackendOptions {
  /** Connector loaded first (name in `connectors`). */
  connector: string;
  /** Available connectors; default: every file in data/connectors. */
  connectors?: readonly ConnectorDef[];
  /** Cell settings other than the connector (image size, camera, control rate, start height, goal noise, nuisance...). */
  cell?: Omit<CellConfig, 'connector'>;
}

export interface SimFaults {
  /** Camera frames stop updating (stamp frozen at the moment of injection). */
  freezeCamera?: boolean;
  /** Wrench samples stop updating. */
  freezeWrench?: boolean;
  /** Depth images stop updating (the last one and its stamp kept) while colour frames go on: a depth stream that
   *  stopped. Only with the cell's depth camera. */
  freezeDepth?: boolean;
  /** The end-effector pose reads NaN. */
  nanPose?: boolean;
  /** The wrench reads NaN. */
  nanWrench?: boolean;
  /** Data keeps flowing but both sensor stamps stand still (a driver that stopped stamping). */
  frozenStamps?: boolean;
  /** Camera frames of another size than the session's (half the width and height, data consistent with it) or
   *  another encoding (4 bytes a pixel, as an RGBA/BGRA camera would send). */
  wrongImage?: 'size' | 'encoding';
}

export class SimBackend implements RobotBackend {
  readonly kind = 'sim' as const;
  private cell: SimCell;
  private last: Observation;
  private readonly estop = new EstopSource();
  private faults: SimFaults = {};
  private frozenImage: Pick<Observation, 'image' | 'imageStamp'> | null = null;
  private frozenWrench: Pick<Observation, 'wrench' | 'wrenchStamp'> | null = null;
  private frozenDepth: Pick<Observation, 'depth' | 'depthStamp'> | null = null;
  private frozenStamps: { image: number; wrench: number } | null = null;
  private connectorName: string;
  /** Commands actually executed (physics run), for tests: proves what reached the "robot". */
  commandsExecuted = 0;
  stopsRequested = 0;

  private constructor(
    cell: SimCell,
    private readonly connectors: readonly ConnectorDef[],
    private readonly cellOptions: Omit<CellConfig, 'connector'>,
  ) {
    this.cell = cell;
    this.connectorName = cell.config.connector.name;
    // Before the first reset the cell has no episode; observe the initial state so the daemon has something to show.
    this.last = cell.reset({ seed: 0, scenario: 'I' });
  }

  static async create(opts: SimBackendOptions): Promise<SimBackend> {
    const connectors = opts.connectors ?? loadConnectors();
    const def = findConnector(connectors, opts.connector);
    const cellOptions = opts.cell ?? {};
    const cell = await SimCell.create({ ...cellOptions, connector: def });
    return new SimBackend(cell, connectors, cellOptions);
  }

  sensors(): BackendSensors {
    return { depth: this.cell.config.depth };
  }

  get connector(): string {
    return this.connectorName;
  }

  /** The underlying cell (evaluation tools; the daemon never uses it). */
  get simCell(): SimCell {
    return this.cell;
  }

  observe(): Observation {
    let o = this.last;
    if (this.faults.freezeCamera && this.frozenImage) o = { ...o, ...this.frozenImage };
    if (this.faults.freezeWrench && this.frozenWrench) o = { ...o, ...this.frozenWrench };
    if (this.faults.freezeDepth && this.frozenDepth) o = { ...o, ...this.frozenDepth };
    if (this.faults.nanPose) o = { ...o, eePos: [NaN, NaN, NaN] };
    if (this.faults.nanWrench) o = { ...o, wrench: [NaN, NaN, NaN, NaN, NaN, NaN] };
    if (this.faults.frozenStamps && this.frozenStamps) o = { ...o, imageStamp: this.frozenStamps.image, wrenchStamp: this.frozenStamps.wrench };
    if (this.faults.wrongImage === 'size') {
      const { width: w, height: h, data } = o.image;
      const w2 = Math.max(1, w >> 1);
      const h2 = Math.max(1, h >> 1);
      const half = new Uint8Array(w2 * h2 * 3);
      for (let y = 0; y < h2; y++) for (let x = 0; x < w2; x++) for (let c = 0; c < 3; c++) half[(y * w2 + x) * 3 + c] = data[(2 * y * w + 2 * x) * 3 + c] ?? 0;
      o = { ...o, image: { width: w2, height: h2, data: half } };
    } else if (this.faults.wrongImage === 'encoding') {
      const { width: w, height: h, data } = o.image;
      const rgba = new Uint8Array(w * h * 4);
      for (let i = 0; i < w * h; i++) {
        rgba.set(data.subarray(i * 3, i * 3 + 3), i * 4);
        rgba[i * 4 + 3] = 255;
      }
      o = { ...o, image: { width: w, height: h, data: rgba } };
    }
    return o;
  }

  command(delta: Vec3): void {
    // The daemon's safety filter has vetted `delta`; the cell re-checks finiteness and throws rather than move on NaN.
    this.last = this.cell.step(delta);
    this.commandsExecuted++;
  }

  async moveToStart(spec: EpisodeSpec): Promise<void> {
    await this.moveToStartAt(spec, {});
  }

  /**
   * Replay: like moveToStart, but the tip starts at `at.tip` and the cell publishes x* = `at.goal` (cell frame, m) when
   * given; the seed still draws the nuisance (table, light, camera jitter). See ResetOptions.
   */
  async moveToStartAt(spec: EpisodeSpec, at: { tip?: Vec3; goal?: Vec3 }): Promise<void> {
    if (spec.domain !== undefined && spec.domain !== this.connectorName) {
      const def = findConnector(this.connectors, spec.domain);
      const next = await SimCell.create({ ...this.cellOptions, connector: def });
      this.cell.dispose();
      this.cell = next;
      this.connectorName = def.name;
    }
    this.last = this.cell.reset({ seed: spec.seed, scenario: spec.scenario, ...(at.tip ? { tip: at.tip } : {}), ...(at.goal ? { goal: at.goal } : {}) });
    this.refreezeAfterReset();
  }

  stop(): void {
    // Physics advances only inside command(): not commanding is holding. Counted for tests.
    this.stopsRequested++;
  }

  async retract(dz: number): Promise<void> {
    if (!(Number.isFinite(dz) && dz > 0)) return;
    const step = this.cell.config.maxStep;
    let left = dz;
    while (left > 1e-9 && !this.estop.get().engaged) {
      const d = Math.min(step, left);
      this.last = this.cell.step([0, 0, d]);
      left -= d;
    }
  }

  estopEngaged(): EstopSignal {
    return this.estop.get();
  }

  onEstop(listener: EstopListener): () => void {
    return this.estop.on(listener);
  }

  /** The simulated e-stop button. */
  pressEstop(source = 'sim-button'): void {
    this.estop.set(true, source);
  }

  releaseEstop(): void {
    this.estop.set(false, null);
  }

  /** Simulated sensor faults (tests, demos). Freezing keeps the current reading and its stamp. */
  injectFault(f: SimFaults): void {
    if (f.freezeCamera && !this.faults.freezeCamera) this.frozenImage = { image: this.last.image, imageStamp: this.last.imageStamp };
    if (f.freezeWrench && !this.faults.freezeWrench) this.frozenWrench = { wrench: this.last.wrench, wrenchStamp: this.last.wrenchStamp };
    if (f.freezeDepth && !this.faults.freezeDepth && this.last.depth) {
      this.frozenDepth = { depth: this.last.depth, depthStamp: this.last.depthStamp ?? this.last.imageStamp };
    }
    if (f.frozenStamps && !this.faults.frozenStamps) this.frozenStamps = { image: this.last.imageStamp, wrench: this.last.wrenchStamp };
    this.faults = { ...this.faults, ...f };
  }

  clearFaults(): void {
    this.faults = {};
    this.frozenImage = null;
    this.frozenWrench = null;
    this.frozenDepth = null;
    this.frozenStamps = null;
  }

  zeroWrench(): void {
    this.cell.zeroWrench();
    this.last = { ...this.last, wrench: [0, 0, 0, 0, 0, 0] };
  }

  clock(): number {
    return this.cell.time();
  }

  groundTruth(): GroundTruth {
    return this.cell.groundTruth();
  }

  domains(): string[] {
    return this.connectors.map((c) => c.name);
  }

  dispose(): void {
    this.cell.dispose();
  }

  /** Sim time restarts at 0 on reset: a frozen sensor keeps looking frozen (stamp far in the past). */
  private refreezeAfterReset(): void {
    if (this.faults.freezeCamera && this.frozenImage) this.frozenImage = { ...this.frozenImage, imageStamp: -1e6 };
    if (this.faults.freezeWrench && this.frozenWrench) this.frozenWrench = { ...this.frozenWrench, wrenchStamp: -1e6 };
    if (this.faults.frozenStamps && this.frozenStamps) this.frozenStamps = { image: -1e6, wrench: -1e6 };
  }
}

/** The simulated cell's settings from the daemon's configuration (everything but the connector). */
export function simCellOptions(cfg: DaemonConfig): Omit<CellConfig, 'connector'> {
  const sim = cfg.backend.sim;
  return {
    imageSize: sim.imageSize,
    camera: sim.camera,
    controlHz: cfg.tickHz,
    goalNoise: sim.goalNoise,
    startHeight: sim.startHeight,
    nuisance: sim.nuisance,
    shadows: sim.shadows ?? false,
    depth: sim.depth ?? false,
  };
}

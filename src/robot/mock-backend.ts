/**
 * A mock robot beside the RobotBackend seam, as ros2_control ships mock_components/GenericSystem next to its hardware
 * interface: pure TypeScript, no MuJoCo, microseconds per step. For the tests that are about the daemon (state
 * machine, safety latch, swaps, logging) and not about physics; tests about physics keep the MuJoCo cell.
 *
 * What it models, and only that:
 * - a kinematic tip that follows each commanded relative move at once (per-axis clipped like the sim cell), with an
 *   optional overshoot in free space (a compliant arm that does not stop exactly where told);
 * - a spring contact with the table, the socket face and the hole (stiffness k): a move that would go through a surface
 *   leaves the tip on it and reads as force k x penetration, so pushing down reads as a positive (upward) Fz, as in the
 *   sim cell. Inside the hole the tip is confined laterally to the clearance, and the wall pushes back;
 * - a synthetic camera: a top-down view of a gradient background, the socket face, the hole and the plug, whose
 *   position and size follow the tip relative to the socket (so frames differ); cheap (one pass over the pixels) and
 *   rendered only when observed;
 * - a step clock: every command and retract step advances it by one control period, a reset by `resetDurationS`;
 *   sensors sample when it advances. Monotonic across resets (a real robot's clock does not restart);
 * - ground truth: seated within 1 mm of the insertion depth and within the clearance + 1 mm of the axis (as the sim);
 * - scripts for tests: the e-stop button (engage/release with listeners), sensor faults (camera stopped or frozen,
 *   wrong image size or corrupt frame, wrench stopped or NaN, frozen or NaN stamps, frozen or NaN clock, NaN pose or
 *   goal), failing resets, resets held open until the test releases them, and external pushes.
 *
 * Deterministic: start poses come from the episode seed (same draw order as the sim cell), wrench noise from
 * (options.seed, episode seed); nothing reads the wall clock or Math.random.
 */
import { drawStartOffset } from '../core/scenario.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import { EstopSource, type EpisodeSpec, type EstopListener, type EstopSignal, type RobotBackend } from './backend.ts';
import type { GroundTruth, Observation, RgbImage, Vec3, Wrench } from '../core/types.ts';

/** Socket and table, metres in the base frame. */
export interface MockGeometry {
  /** Socket axis (x, y). */
  socketXY: [number, number];
  /** Table top z. */
  tableTop: number;
  /** Socket face z: the tip enters the hole below this. */
  socketTop: number;
  /** Insertion depth below the face; seated tip z = socketTop - depth. */
  depth: number;
  /** Radial clearance of the tip in the hole. */
  clearance: number;
  /** Half side of the square socket face plate around the axis (beyond it: the table). */
  faceHalfWidth: number;
}

export const DEFAULT_MOCK_GEOMETRY: MockGeometry = {
  socketXY: [0.62, 0.16], // where the sim cell's socket is, so the shipped workspace box fits
  tableTop: 0,
  socketTop: 0.03,
  depth: 0.016,
  clearance: 0.0005,
  faceHalfWidth: 0.04,
};

export interface MockBackendOptions {
  /** Base seed of the sensor noise (default 0). Start poses come from each episode's seed. */
  seed?: number;
  /** Camera image side (px) or [width, height]; default 64. */
  imageSize?: number | [number, number];
  /** Control rate (Hz): one command advances the clock by 1/controlHz s. Default 10. */
  controlHz?: number;
  /** Start height above the socket face (m), default 0.03. */
  startHeight?: number;
  geometry?: Partial<MockGeometry>;
  /** Contact stiffness (N/m), default 4000 (the sim cell's tip springs). */
  stiffnessNPerM?: number;
  /** Std dev (N) of Gaussian noise on each force component (torques get a tenth); default 0. */
  wrenchNoiseN?: number;
  /** Constant sensor bias added to every raw wrench reading (until zeroWrench tares it); default zeros. */
  wrenchBias?: Wrench;
  /** Systematic error of the published goal x* (m), default zeros. */
  goalBias?: Vec3;
  /** Per-episode uniform +- noise on x* in x and y (m), default 0. */
  goalNoise?: number;
  /** Largest |move| per axis the arm accepts per command (m), default 0.01 as the sim cell. */
  maxStep?: number;
  /** Free-space moves land this fraction beyond the commanded target (0.5: 50 % overshoot). Default 0. */
  overshoot?: number;
  /** Clock advance of a reset (s), default 1. */
  resetDurationS?: number;
  /** When given, moveToStart refuses other domains and `domains()` lists them; otherwise any label is recorded. */
  domains?: string[];
  /**
   * What stop() does to a reset in progress: 'abort' (default) halts it, and moveToStart rejects at once, as a real
   * arm's trajectory action reports "aborted"; 'ignore' lets it finish and resolve (as the sim cell's synchronous
   * reset does), so a caller must check for itself whether it still wants the episode.
   */
  stopDuringReset?: 'abort' | 'ignore';
}

/** Scriptable sensor faults. Each stays until cleared; clearing resamples every sensor at the current clock. */
export interface MockFaults {
  /** No new camera frames: the image and its stamp stay as they were. */
  cameraStopped?: boolean;
  /** A stuck driver: the same pixels keep arriving with fresh stamps. */
  cameraFrozen?: boolean;
  /** Frames of another size than configured (a wrong camera mode). */
  imageSize?: { width: number; height: number } | null;
  /** Frames whose data is shorter than width x height x 3. */
  corruptImage?: boolean;
  /** No new wrench samples: the reading and its stamp stay as they were. */
  wrenchStopped?: boolean;
  /** The wrench reads NaN. */
  nanWrench?: boolean;
  /** Data keeps flowing but neither sensor stamp advances. */
  frozenStamps?: boolean;
  /** Both sensor stamps read NaN. */
  nanStamps?: boolean;
  /** clock() stops advancing (and so do the stamps): a fault the stale-sensor watchdog cannot see. */
  frozenClock?: boolean;
  /** clock() reads NaN. */
  nanClock?: boolean;
  /** The end-effector position reads NaN. */
  nanPose?: boolean;
  /** The published goal x* reads NaN. */
  nanGoal?: boolean;
}

/** A reset held open by the test: `entered` resolves when moveToStart starts waiting on it. */
export interface ResetGate {
  entered: Promise<EpisodeSpec>;
  /** Let the reset finish (the tip moves to the start pose unless the reset was aborted). */
  release(): void;
  /** Make the reset fail with this error. */
  fail(error: Error): void;
}

interface CameraSample {
  stamp: number;
  /** Tip position the frame shows. */
  tip: Vec3;
}

interface WrenchSample {
  stamp: number;
  /** Raw reading (contact + bias + noise), before the tare. */
  raw: Wrench;
}

/** Lever (m) from the tip up to the wrist sensor: a lateral force at the tip reads as a torque there. */
const LEVER = 0.1;
const SEATED_TOLERANCE = 0.001;

export class MockBackend implements RobotBackend {
  readonly kind = 'mock' as const;
  readonly geometry: MockGeometry;
  /** Listed only when the options restrict the domains (the interface: absent means any label is accepted). */
  readonly domains?: () => string[];

  // ---- counters for tests: what reached the "robot"
  /** Commands executed (the tip was driven). */
  commandsExecuted = 0;
  /** Commands received while the robot's e-stop was engaged (not executed: the brakes are on). Should stay 0. */
  commandsRefused = 0;
  stopsRequested = 0;
  resetsStarted = 0;
  resetsCompleted = 0;
  retracts = 0;
  /** Every change of the tip position by any means (command, retract, reset, push). */
  motions = 0;
  /** Every command received, as given (before the arm's own per-axis clip). */
  readonly commandLog: Vec3[] = [];

  private readonly opts: Required<Omit<MockBackendOptions, 'geometry' | 'domains' | 'imageSize'>> & { width: number; height: number };
  private readonly estop = new EstopSource();
  private tip: Vec3;
  private goal: Vec3;
  /** Environment force on the tool (N), from the last move. */
  private force: Vec3 = [0, 0, 0];
  private tare: Wrench = [0, 0, 0, 0, 0, 0];
  private time = 0;
  private camera: CameraSample;
  private wrench: WrenchSample;
  private noise: Rng;
  private faults: MockFaults = {};
  private frozenClockAt: number | null = null;
  private failResets: Array<Error> = [];
  private gate: { wait: Promise<void>; enter: (spec: EpisodeSpec) => void; release: () => void; fail: (e: Error) => void } | null = null;
  /** The reset in progress, abortable by stop() or the e-stop. */
  private reset: { abort: (why: string) => void } | null = null;
  private rendered: { key: string; image: RgbImage } | null = null;

  constructor(options: MockBackendOptions = {}) {
    const size = options.imageSize ?? 64;
    const [width, height] = typeof size === 'number' ? [size, size] : size;
    const o = {
      seed: options.seed ?? 0,
      controlHz: options.controlHz ?? 10,
      startHeight: options.startHeight ?? 0.03,
      stiffnessNPerM: options.stiffnessNPerM ?? 4000,
      wrenchNoiseN: options.wrenchNoiseN ?? 0,
      wrenchBias: options.wrenchBias ?? ([0, 0, 0, 0, 0, 0] as Wrench),
      goalBias: options.goalBias ?? ([0, 0, 0] as Vec3),
      goalNoise: options.goalNoise ?? 0,
      maxStep: options.maxStep ?? 0.01,
      overshoot: options.overshoot ?? 0,
      resetDurationS: options.resetDurationS ?? 1,
      stopDuringReset: options.stopDuringReset ?? 'abort',
      width,
      height,
    };
    const bad = (field: string, want: string, got: unknown): never => {
      throw new RangeError(`MockBackend option ${field} ${want}, got ${JSON.stringify(got)}`);
    };
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && width <= 4096 && height <= 4096))
      bad('imageSize', 'must be integers in [1, 4096]', size);
    if (!(o.controlHz > 0 && Number.isFinite(o.controlHz))) bad('controlHz', 'must be a positive number', o.controlHz);
    if (!(o.stiffnessNPerM > 0 && Number.isFinite(o.stiffnessNPerM))) bad('stiffnessNPerM', 'must be a positive number', o.stiffnessNPerM);
    if (!(o.maxStep > 0 && Number.isFinite(o.maxStep))) bad('maxStep', 'must be a positive number', o.maxStep);
    if (!(o.overshoot >= 0 && Number.isFinite(o.overshoot))) bad('overshoot', 'must be a finite number >= 0', o.overshoot);
    if (!(o.wrenchNoiseN >= 0 && o.goalNoise >= 0 && o.startHeight > 0 && o.resetDurationS >= 0))
      bad('wrenchNoiseN/goalNoise/startHeight/resetDurationS', 'must be >= 0 (startHeight > 0)', [
        o.wrenchNoiseN,
        o.goalNoise,
        o.startHeight,
        o.resetDurationS,
      ]);
    this.opts = o;
    this.geometry = { ...DEFAULT_MOCK_GEOMETRY, ...options.geometry };
    const g = this.geometry;
    if (!(g.depth > 0 && g.clearance >= 0 && g.faceHalfWidth > g.clearance && g.socketTop >= g.tableTop))
      bad('geometry', 'must have depth > 0, faceHalfWidth > clearance >= 0, socketTop >= tableTop', g);
    if (options.domains) {
      const list = [...options.domains];
      this.domains = () => [...list];
    }
    // Before the first reset: hovering above the socket, as the sim cell's initial observation.
    this.tip = [g.socketXY[0], g.socketXY[1], g.socketTop + o.startHeight];
    this.goal = this.seatedPos();
    this.noise = new Rng(deriveSeed(o.seed, 'wrench', 0));
    this.camera = { stamp: 0, tip: [...this.tip] };
    this.wrench = { stamp: 0, raw: this.rawWrench() };
  }

  // ------------------------------------------------------------------ RobotBackend

  observe(): Observation {
    const f = this.faults;
    const wrench = f.nanWrench ? ([NaN, NaN, NaN, NaN, NaN, NaN] as Wrench) : (this.wrench.raw.map((v, i) => v - (this.tare[i] as number)) as Wrench);
    return {
      image: this.image(),
      wrench,
      eePos: f.nanPose ? [NaN, NaN, NaN] : [...this.tip],
      eeQuat: [0, 1, 0, 0], // tip pointing down, fixed (the arm holds orientation)
      goal: f.nanGoal ? [NaN, NaN, NaN] : [...this.goal],
      imageStamp: f.nanStamps ? NaN : this.camera.stamp,
      wrenchStamp: f.nanStamps ? NaN : this.wrench.stamp,
    };
  }

  command(delta: Vec3): void {
    // Like the sim cell: refuse rather than move on garbage (the daemon's safety filter should never send it).
    if (!Array.isArray(delta) || delta.length !== 3 || !delta.every((x) => Number.isFinite(x))) {
      throw new RangeError(`command must be 3 finite numbers, got ${JSON.stringify(delta)}`);
    }
    this.commandLog.push([delta[0], delta[1], delta[2]]);
    if (this.estop.get().engaged) {
      this.commandsRefused++;
      this.advance(1 / this.opts.controlHz);
      return;
    }
    const m = this.opts.maxStep;
    const d: Vec3 = [Math.max(-m, Math.min(m, delta[0])), Math.max(-m, Math.min(m, delta[1])), Math.max(-m, Math.min(m, delta[2]))];
    this.moveBy(d, true);
    this.commandsExecuted++;
    this.advance(1 / this.opts.controlHz);
  }

  async moveToStart(spec: EpisodeSpec): Promise<void> {
    this.resetsStarted++;
    const e = this.estop.get();
    if (e.engaged) throw new Error(`cannot move to start: robot e-stop engaged (${e.source ?? 'unknown'})`);
    const domains = this.domains?.();
    if (spec.domain !== undefined && domains && !domains.includes(spec.domain)) {
      throw new Error(`unknown domain '${spec.domain}' for the mock backend (known: ${domains.join(', ')})`);
    }
    if (spec.scenario !== 'I' && spec.scenario !== 'II') throw new RangeError(`scenario must be "I" or "II", got ${JSON.stringify(spec.scenario)}`);
    if (!Number.isFinite(spec.seed)) throw new RangeError(`seed must be a finite number, got ${spec.seed}`);
    const scripted = this.failResets.shift();
    if (scripted) throw scripted;
    const { start, goal } = this.startPose(spec);

    // The motion takes time: at least one turn of the event loop, or as long as the test holds the gate.
    let abort!: (why: string) => void;
    const aborted = new Promise<never>((_, reject) => {
      abort = (why) => reject(new Error(`moveToStart aborted: ${why}`));
    });
    aborted.catch(() => undefined); // observed through the race below; never an unhandled rejection
    this.reset = { abort };
    const gate = this.gate;
    this.gate = null;
    gate?.enter(spec);
    try {
      const motion = gate ? gate.wait : new Promise<void>((r) => setImmediate(r));
      // An aborted reset rejects at once; an ignored stop lets the motion run to its end.
      await Promise.race([motion, aborted]);
    } finally {
      this.reset = null;
    }
    const now = this.estop.get();
    if (now.engaged) throw new Error(`moveToStart aborted: robot e-stop engaged (${now.source ?? 'unknown'})`);
    this.tip = start;
    this.goal = goal;
    this.force = [0, 0, 0];
    this.motions++;
    this.noise = new Rng(deriveSeed(this.opts.seed, 'wrench', spec.seed));
    this.resetsCompleted++;
    this.advance(this.opts.resetDurationS);
  }

  stop(): void {
    // Never throws. Holding is the default (the tip moves only when told); a reset in progress is halted.
    this.stopsRequested++;
    if (this.reset && this.opts.stopDuringReset === 'abort') this.reset.abort('stop() requested');
  }

  async retract(dz: number): Promise<void> {
    if (!(Number.isFinite(dz) && dz > 0)) return;
    this.retracts++;
    let left = dz;
    while (left > 1e-9 && !this.estop.get().engaged) {
      const d = Math.min(this.opts.maxStep, left);
      this.moveBy([0, 0, d], false);
      this.advance(1 / this.opts.controlHz);
      left -= d;
    }
  }

  estopEngaged(): EstopSignal {
    return this.estop.get();
  }

  onEstop(listener: EstopListener): () => void {
    return this.estop.on(listener);
  }

  zeroWrench(): void {
    // Tare what the sensor reads now, noise aside (tare averages it out on a real sensor).
    this.tare = this.contactWrench().map((v, i) => v + (this.opts.wrenchBias[i] as number)) as Wrench;
    this.wrench = { ...this.wrench, raw: [...this.tare] as Wrench };
  }

  clock(): number {
    if (this.faults.nanClock) return NaN;
    return this.frozenClockAt ?? this.time;
  }

  groundTruth(): GroundTruth {
    const g = this.geometry;
    const sp = this.seatedPos();
    const depth = g.socketTop - this.tip[2];
    const lateralError = Math.hypot(this.tip[0] - sp[0], this.tip[1] - sp[1]);
    const success = depth >= g.depth - SEATED_TOLERANCE && lateralError < g.clearance + SEATED_TOLERANCE;
    return { success, depth, socketPos: sp, lateralError };
  }

  dispose(): void {
    this.reset?.abort('disposed');
  }

  // ------------------------------------------------------------------ scripts for tests

  /** The robot's e-stop button. */
  pressEstop(source = 'mock-button'): void {
    this.estop.set(true, source);
    this.reset?.abort(`robot e-stop engaged (${source})`);
  }

  releaseEstop(): void {
    this.estop.set(false, null);
  }

  injectFault(f: MockFaults): void {
    if (f.frozenClock && !this.faults.frozenClock) this.frozenClockAt = this.time;
    if (f.frozenClock === false) this.frozenClockAt = null;
    this.faults = { ...this.faults, ...f };
    this.rendered = null;
  }

  /** Clears every fault; the sensors sample afresh at the current clock (a recovered stream). */
  clearFaults(): void {
    this.faults = {};
    this.frozenClockAt = null;
    this.rendered = null;
    this.sample(true);
  }

  get activeFaults(): MockFaults {
    return { ...this.faults };
  }

  /** The next `count` moveToStart calls reject with `error` (before moving). */
  failNextReset(error: Error = new Error('mock: moveToStart failed (scripted)'), count = 1): void {
    for (let i = 0; i < count; i++) this.failResets.push(error);
  }

  /** Holds the next moveToStart open until the test releases (or fails) it. */
  gateNextReset(): ResetGate {
    let enter!: (spec: EpisodeSpec) => void;
    let release!: () => void;
    let fail!: (e: Error) => void;
    const entered = new Promise<EpisodeSpec>((r) => (enter = r));
    const wait = new Promise<void>((res, rej) => {
      release = res;
      fail = rej;
    });
    wait.catch(() => undefined);
    this.gate = { wait, enter, release, fail };
    return { entered, release: () => release(), fail: (e) => fail(e) };
  }

  /** An external push (someone bumps the arm): the tip moves by `delta` without a command. */
  push(delta: Vec3): void {
    this.tip = [this.tip[0] + delta[0], this.tip[1] + delta[1], this.tip[2] + delta[2]];
    this.motions++;
    this.sample(false);
  }

  /** Lets time pass without motion (e.g. a held arm while sensors keep, or stop, streaming). */
  advance(dt: number): void {
    if (!(dt >= 0 && Number.isFinite(dt))) throw new RangeError(`advance: dt must be a finite number >= 0, got ${dt}`);
    this.time += dt;
    this.sample(false);
  }

  /** The seated tip position (the true x*). */
  seatedPos(): Vec3 {
    const g = this.geometry;
    return [g.socketXY[0], g.socketXY[1], g.socketTop - g.depth];
  }

  /** The true tip position, whatever the faults make the sensors say. */
  get tipPos(): Vec3 {
    return [...this.tip];
  }

  // ------------------------------------------------------------------ model

  /** Start pose and published goal of an episode; the same draw order as the sim cell, so a seed means a start. */
  private startPose(spec: EpisodeSpec): { start: Vec3; goal: Vec3 } {
    const rng = new Rng(spec.seed);
    const [ox, oy] = drawStartOffset(rng, spec.scenario);
    const gn: [number, number] = [rng.uniform(-1, 1) * this.opts.goalNoise, rng.uniform(-1, 1) * this.opts.goalNoise];
    const g = this.geometry;
    const sp = this.seatedPos();
    const b = this.opts.goalBias;
    return {
      start: [sp[0] + ox, sp[1] + oy, g.socketTop + this.opts.startHeight],
      goal: [sp[0] + b[0] + gn[0], sp[1] + b[1] + gn[1], sp[2] + b[2]],
    };
  }

  private inHole(p: Vec3): boolean {
    const g = this.geometry;
    return p[2] < g.socketTop - 1e-9 && Math.hypot(p[0] - g.socketXY[0], p[1] - g.socketXY[1]) <= g.clearance + 1e-9;
  }

  private onFace(x: number, y: number): boolean {
    const g = this.geometry;
    return Math.abs(x - g.socketXY[0]) <= g.faceHalfWidth && Math.abs(y - g.socketXY[1]) <= g.faceHalfWidth;
  }

  /** Height of the surface under (x, y): the hole's bottom, the face, or the table. */
  private floorAt(x: number, y: number): number {
    const g = this.geometry;
    if (Math.hypot(x - g.socketXY[0], y - g.socketXY[1]) <= g.clearance + 1e-9) return g.socketTop - g.depth;
    return this.onFace(x, y) ? g.socketTop : g.tableTop;
  }

  /**
   * One move of the tip by d (already clipped). The arm's target is the tip plus d; where a surface stops the tip,
   * the spring between target and tip is the contact force (the environment on the tool).
   */
  private moveBy(d: Vec3, overshoot: boolean): void {
    const g = this.geometry;
    const k = this.opts.stiffnessNPerM;
    const tip = this.tip;
    const s = overshoot ? 1 + this.opts.overshoot : 1;
    const target: Vec3 = [tip[0] + d[0] * s, tip[1] + d[1] * s, tip[2] + d[2]];
    let x = target[0];
    let y = target[1];
    if (this.inHole(tip)) {
      // Confined by the hole's wall: project onto the clearance disc.
      const ox = x - g.socketXY[0];
      const oy = y - g.socketXY[1];
      const r = Math.hypot(ox, oy);
      if (r > g.clearance) {
        x = g.socketXY[0] + (ox / r) * g.clearance;
        y = g.socketXY[1] + (oy / r) * g.clearance;
      }
    } else if (tip[2] < g.socketTop - 1e-9 && this.onFace(x, y) && !this.onFace(tip[0], tip[1])) {
      // Beside the socket block, below its face: its side wall stops a lateral move into it.
      x = tip[0];
      y = tip[1];
    }
    const floor = this.floorAt(x, y);
    const z = Math.max(target[2], floor);
    const next: Vec3 = [x, y, z];
    this.force = [k * (x - target[0]), k * (y - target[1]), k * (z - target[2])];
    if (next[0] !== tip[0] || next[1] !== tip[1] || next[2] !== tip[2]) this.motions++;
    this.tip = next;
  }

  private contactWrench(): Wrench {
    const [fx, fy, fz] = this.force;
    // Torque at the wrist, LEVER above the tip: r x F with r = [0, 0, -LEVER] (tip relative to the sensor).
    return [fx, fy, fz, LEVER * fy, -LEVER * fx, 0];
  }

  private rawWrench(): Wrench {
    const c = this.contactWrench();
    const n = this.opts.wrenchNoiseN;
    const b = this.opts.wrenchBias;
    return c.map((v, i) => v + (b[i] as number) + (n > 0 ? this.noise.normal(0, i < 3 ? n : n / 10) : 0)) as Wrench;
  }

  /** Sensors sample at the current clock, as their faults allow. `force` resamples even stopped streams. */
  private sample(force: boolean): void {
    const f = this.faults;
    const stamp = this.clock();
    if (force || !f.cameraStopped) {
      const keepStamp = !force && (f.frozenStamps || f.frozenClock);
      this.camera = {
        stamp: keepStamp ? this.camera.stamp : stamp,
        tip: !force && f.cameraFrozen ? this.camera.tip : [...this.tip],
      };
    }
    if (force || !f.wrenchStopped) {
      const keepStamp = !force && (f.frozenStamps || f.frozenClock);
      this.wrench = { stamp: keepStamp ? this.wrench.stamp : stamp, raw: this.rawWrench() };
    }
  }

  // ------------------------------------------------------------------ camera

  /**
   * A top-down view centred on the socket axis, 80 mm across: a gradient background (the table), the face plate, the
   * hole, and the plug as a disc where the tip is, larger the higher it is and darker the deeper it is inserted.
   */
  private image(): RgbImage {
    const f = this.faults;
    const size = f.imageSize ?? { width: this.opts.width, height: this.opts.height };
    const tip = this.camera.tip;
    const key = `${size.width}x${size.height}:${tip.join(',')}:${f.corruptImage ? 1 : 0}`;
    if (this.rendered?.key === key) return this.rendered.image;
    const { width: w, height: h } = size;
    const g = this.geometry;
    const data = new Uint8Array(w * h * 3);
    const pxPerM = Math.min(w, h) / 0.08;
    const cx = w / 2;
    const cy = h / 2;
    const face = g.faceHalfWidth * pxPerM;
    const hole = Math.max(1.5, (g.clearance + 0.004) * pxPerM);
    const px = cx + (tip[0] - g.socketXY[0]) * pxPerM;
    const py = cy + (tip[1] - g.socketXY[1]) * pxPerM;
    const height = tip[2] - g.socketTop; // < 0 once inserted
    const plugR = Math.max(1, (0.004 + 0.1 * Math.max(0, height)) * pxPerM);
    const shade = height >= 0 ? 1 : Math.max(0.3, 1 + (height / g.depth) * 0.7);
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        const o = (j * w + i) * 3;
        let r = 40 + Math.floor((120 * i) / w);
        let gr = 60 + Math.floor((100 * j) / h);
        let b = 90;
        const dx = i + 0.5 - cx;
        const dy = j + 0.5 - cy;
        if (Math.abs(dx) <= face && Math.abs(dy) <= face) [r, gr, b] = [170, 170, 175];
        if (dx * dx + dy * dy <= hole * hole) [r, gr, b] = [20, 20, 30];
        const ex = i + 0.5 - px;
        const ey = j + 0.5 - py;
        if (ex * ex + ey * ey <= plugR * plugR) [r, gr, b] = [Math.round(230 * shade), Math.round(140 * shade), Math.round(40 * shade)];
        data[o] = r;
        data[o + 1] = gr;
        data[o + 2] = b;
      }
    }
    const image: RgbImage = { width: w, height: h, data: f.corruptImage ? data.subarray(0, Math.floor(data.length / 2)) : data };
    this.rendered = { key, image };
    return image;
  }
}

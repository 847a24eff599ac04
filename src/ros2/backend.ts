/**
 * The `ros2` RobotBackend: the daemon's robot on the ROS 2 graph, written once above a Ros2Transport.
 *
 * - Camera (sensor_msgs/Image or CompressedImage): only the newest frame is kept; a raw frame is converted when the
 *   daemon observes it, a compressed one is decoded by sharp with at most one decode in flight (a newer frame replaces
 *   the pending one, never a queue).
 * - Stamps: observation stamps are receive times on this backend's monotonic clock, so the stale-sensor watchdog works
 *   without synchronised clocks; the senders' header stamps are kept for logs (`headerStamps`).
 * - Per-topic received rate, count, age and last error (`topicStats`), also as a DiagnosticArray.
 * - E-stop: std_msgs/Bool (true = engaged) and/or Intera's /robot/state; either engages. Intera's released-but-not-reset
 *   state stays engaged, so the daemon's latch refuses to reset until the robot itself is reset. While engaged no
 *   motion command is published at all.
 * - End-effector pose: geometry_msgs/PoseStamped, or, for an arm that publishes only sensor_msgs/JointState, forward
 *   kinematics of a configured chain (kinematics.ts: URDF-style joint origins and axes, then the tool transform).
 * - Motion: a relative move per control period as geometry_msgs/TwistStamped (velocity = delta / period) or as a target
 *   geometry_msgs/PoseStamped (measured pose + delta), selectable.
 */
import { performance } from 'node:perf_hooks';
import { EstopSource, type EpisodeSpec, type EstopListener, type EstopSignal, type RobotBackend } from '../robot/backend.ts';
import type { BackendSensors, DepthImage, Observation, RgbImage, Vec3, Wrench } from '../core/types.ts';
import {
  compressedImageFromMsg,
  diagnosticArray,
  diagnosticStatus,
  estopFromRobotState,
  imageFromMsg,
  depthFromMsg,
  poseFromMsg,
  targetPoseFromDelta,
  timeToSec,
  twistStampedFromDelta,
  wrenchFromMsg,
  header,
  type Pose,
  type RobotEstop,
} from './convert.ts';
import { DIAGNOSTIC_LEVEL, type CompressedImageMsg, type DiagnosticStatusMsg, type ImageMsg, type PoseStampedMsg, type TwistStampedMsg } from './messages.ts';
import { RateMeter } from './rate.ts';
import { forwardKinematics, type KinematicChain } from './kinematics.ts';
import { QOS_DEFAULT, QOS_LATCHED, QOS_SENSOR, remap, type Closable, type Publisher, type QosProfile, type Ros2Transport } from './transport.ts';

export interface Ros2TopicsConfig {
  /** Camera topic; its type follows `imageKind`. */
  image: string;
  imageKind: 'raw' | 'compressed';
  /**
   * Depth image registered to the camera image (sensor_msgs/Image, 16UC1 mm or 32FC1 m; e.g. a RealSense's
   * aligned_depth_to_color), for a reward model that takes depth cells; null: none. A frame of another size than the
   * colour frame, or another encoding, is refused: the observation then has no depth and such a model stops the arm.
   */
  depth: string | null;
  wrench: string;
  /** End-effector pose, geometry_msgs/PoseStamped in the base frame (not subscribed when jointStates is set). */
  pose: string;
  /** sensor_msgs/JointState; with `kinematics`, the pose is computed from it instead of read from `pose`; null: none. */
  jointStates: string | null;
  /** std_msgs/Bool, true = e-stop engaged; null: none. */
  estop: string | null;
  /** intera_core_msgs/RobotAssemblyState (Sawyer via ros1_bridge); null: none. */
  robotState: string | null;
  /** Socket pose x* (geometry_msgs/PoseStamped); null: x* from the calibration. */
  socketPose: string | null;
  /** Motion command output. */
  command: string;
  /** diagnostic_msgs/DiagnosticArray output; null: none. */
  diagnostics: string | null;
}

export interface Ros2BackendConfig {
  topics: Ros2TopicsConfig;
  /** `from:=to` topic remaps (as `--ros-args -r`), applied to every name above. */
  remaps: Record<string, string>;
  qos: { sensors: QosProfile; estop: QosProfile; command: QosProfile };
  command: { mode: 'twist' | 'pose'; frameId: string };
  /** Control period (s) = 1 / tickHz: a twist's velocity is delta / period. */
  controlPeriod: number;
  /** Calibrated socket position x* (m, base frame); used until/unless the socketPose topic delivers. */
  goal: Vec3 | null;
  /** Start pose above the socket and how the backend drives there, closed loop on the measured pose. */
  start: { height: number; speed: number; tolerance: number; timeout: number };
  /** Window (s) of the received-rate meters. */
  rateWindow: number;
  /** The chain from joint states to the connector tip (required with topics.jointStates), or null. */
  kinematics: KinematicChain | null;
}

/** What a ROS 2 robot with these topics observes (before the backend exists: the control thread builds it). */
export function ros2Sensors(topics: Pick<Ros2TopicsConfig, 'depth'>): BackendSensors {
  return { depth: topics.depth !== null };
}

export const DEFAULT_ROS2_CONFIG: Ros2BackendConfig = {
  topics: {
    image: '/camera/image_raw',
    imageKind: 'raw',
    depth: null,
    wrench: '/wrist_ft/wrench',
    pose: '/ee_pose',
    jointStates: null,
    estop: '/estop',
    robotState: null,
    socketPose: null,
    command: '/insertion/cmd_twist',
    diagnostics: '/diagnostics',
  },
  remaps: {},
  qos: { sensors: QOS_SENSOR, estop: QOS_LATCHED, command: QOS_DEFAULT },
  command: { mode: 'twist', frameId: 'base' },
  controlPeriod: 0.1,
  goal: null,
  start: { height: 0.03, speed: 0.05, tolerance: 0.0005, timeout: 20 },
  rateWindow: 2,
  kinematics: null,
};

export interface TopicStat {
  topic: string;
  count: number;
  rateHz: number;
  /** Seconds since the last message (Infinity: none yet). */
  age: number;
  /** Last conversion error on this topic (bad encoding, non-finite values), null if the last message was fine. */
  error: string | null;
}

/** Stamp of a stream that has delivered nothing: finite (the watchdog's finite check) and very old. */
const NEVER = -1e9;

export class Ros2Backend implements RobotBackend {
  readonly kind = 'ros2' as const;
  private readonly t0 = performance.now();
  private readonly subs: Closable[] = [];
  private readonly meters = new Map<string, RateMeter>();
  private readonly errors = new Map<string, string | null>();
  private readonly estopSrc = new EstopSource();
  private boolEstop: boolean | null = null;
  private robotEstop: RobotEstop | null = null;
  private readonly twistPub: Publisher<TwistStampedMsg> | null;
  private readonly posePub: Publisher<PoseStampedMsg> | null;
  private readonly diagPub: Publisher<ReturnType<typeof diagnosticArray>> | null;
  private readonly t: Ros2TopicsConfig;

  // latest data
  private rawImage: { msg: ImageMsg; at: number; seq: number } | null = null;
  private convertedSeq = 0;
  /** The newest depth message (converted when observed, at most once) and the last good conversion (null: none). */
  private rawDepth: { msg: ImageMsg; seq: number; at: number } | null = null;
  private depthSeq = 0;
  private depth: DepthImage | null = null;
  /** Arrival (backend clock) of the frame `depth` came from: the watchdog's stamp when a model uses depth. */
  private depthAt = -Infinity;
  /** Why the newest depth frame was refused (null: it was not), carried on the observation for the e-stop text. */
  private depthFault: string | null = null;
  private compressedPending: { msg: CompressedImageMsg; at: number } | null = null;
  private decoding = false;
  private image: RgbImage = { width: 1, height: 1, data: new Uint8Array(3) };
  private imageAt = NEVER;
  private rawWrench: Wrench = [0, 0, 0, 0, 0, 0];
  private bias: Wrench = [0, 0, 0, 0, 0, 0];
  private wrenchAt = NEVER;
  private pose: Pose | null = null;
  private socket: Vec3 | null = null;
  /** Header stamps (s, sender's clock) of the latest image, wrench and pose. */
  readonly headerStamps = { image: NaN, wrench: NaN, pose: NaN };
  /** Motion commands published / refused because the robot's e-stop was engaged (or no pose to add a delta to). */
  commandsPublished = 0;
  commandsSuppressed = 0;
  /** Compressed frames handed to the decoder (frames replaced while one was decoding are never decoded). */
  decodesStarted = 0;
  private disposed = false;

  constructor(
    private readonly transport: Ros2Transport,
    readonly config: Ros2BackendConfig = DEFAULT_ROS2_CONFIG,
  ) {
    const c = config;
    const r = (n: string): string => remap(n, c.remaps);
    this.t = Object.fromEntries(
      Object.entries(c.topics).map(([k, v]) => [k, typeof v === 'string' && v.startsWith('/') ? r(v) : v]),
    ) as unknown as Ros2TopicsConfig;
    const t = this.t;
    if (!(c.controlPeriod > 0)) throw new Error(`ros2 backend: controlPeriod ${c.controlPeriod} must be > 0`);

    if (t.imageKind === 'raw') {
      let seq = 0;
      this.subs.push(
        transport.subscribe(t.image, 'sensor_msgs/msg/Image', c.qos.sensors, (msg) => {
          // Store only: conversion happens when (and if) the daemon observes this frame.
          this.rawImage = { msg, at: this.mark(t.image), seq: ++seq };
          this.headerStamps.image = timeToSec(msg.header.stamp);
        }),
      );
    } else {
      this.subs.push(
        transport.subscribe(t.image, 'sensor_msgs/msg/CompressedImage', c.qos.sensors, (msg) => {
          this.compressedPending = { msg, at: this.mark(t.image) };
          this.headerStamps.image = timeToSec(msg.header.stamp);
          this.pumpDecode();
        }),
      );
    }
    if (t.depth) {
      const topic = t.depth;
      let seq = 0;
      this.subs.push(
        transport.subscribe(topic, 'sensor_msgs/msg/Image', c.qos.sensors, (msg) => {
          const at = this.mark(topic);
          this.rawDepth = { msg, seq: ++seq, at };
        }),
      );
    }
    this.subs.push(
      transport.subscribe(t.wrench, 'geometry_msgs/msg/WrenchStamped', c.qos.sensors, (msg) => {
        const at = this.mark(t.wrench);
        this.guard(t.wrench, () => {
          this.rawWrench = wrenchFromMsg(msg, t.wrench);
          this.wrenchAt = at;
          this.headerStamps.wrench = timeToSec(msg.header.stamp);
        });
      }),
    );
    if (t.jointStates) {
      const topic = t.jointStates;
      const chain = c.kinematics;
      if (!chain) throw new Error(`ros2 backend: topics.jointStates (${topic}) needs a kinematics chain to compute the end-effector pose`);
      this.subs.push(
        transport.subscribe(topic, 'sensor_msgs/msg/JointState', c.qos.sensors, (msg) => {
          this.mark(topic);
          this.guard(topic, () => {
            this.pose = forwardKinematics(chain, msg.name, msg.position, topic);
            this.headerStamps.pose = timeToSec(msg.header.stamp);
          });
        }),
      );
    } else {
      this.subs.push(
        transport.subscribe(t.pose, 'geometry_msgs/msg/PoseStamped', c.qos.sensors, (msg) => {
          this.mark(t.pose);
          this.guard(t.pose, () => {
            this.pose = poseFromMsg(msg, t.pose);
            this.headerStamps.pose = timeToSec(msg.header.stamp);
          });
        }),
      );
    }
    if (t.socketPose) {
      const topic = t.socketPose;
      this.subs.push(
        transport.subscribe(topic, 'geometry_msgs/msg/PoseStamped', QOS_LATCHED, (msg) => {
          this.mark(topic);
          this.guard(topic, () => void (this.socket = poseFromMsg(msg, topic).pos));
        }),
      );
    }
    if (t.estop) {
      const topic = t.estop;
      this.subs.push(
        transport.subscribe(topic, 'std_msgs/msg/Bool', c.qos.estop, (msg) => {
          this.mark(topic);
          this.boolEstop = msg.data;
          this.updateEstop();
        }),
      );
    }
    if (t.robotState) {
      const topic = t.robotState;
      this.subs.push(
        transport.subscribe(topic, 'intera_core_msgs/msg/RobotAssemblyState', c.qos.estop, (msg) => {
          this.mark(topic);
          this.robotEstop = estopFromRobotState(msg);
          this.updateEstop();
        }),
      );
    }
    this.twistPub = c.command.mode === 'twist' ? transport.createPublisher(t.command, 'geometry_msgs/msg/TwistStamped', c.qos.command) : null;
    this.posePub = c.command.mode === 'pose' ? transport.createPublisher(t.command, 'geometry_msgs/msg/PoseStamped', c.qos.command) : null;
    this.diagPub = t.diagnostics ? transport.createPublisher(t.diagnostics, 'diagnostic_msgs/msg/DiagnosticArray', QOS_DEFAULT) : null;
  }

  /** Backend clock (s): monotonic, the clock of observation stamps. */
  clock(): number {
    return (performance.now() - this.t0) / 1000;
  }

  private mark(topic: string): number {
    const now = this.clock();
    let m = this.meters.get(topic);
    if (!m) this.meters.set(topic, (m = new RateMeter(this.config.rateWindow)));
    m.mark(now);
    return now;
  }

  private guard(topic: string, f: () => void): void {
    try {
      f();
      this.errors.set(topic, null);
    } catch (e) {
      // A bad message is dropped and reported; the data goes stale and the watchdog stops the arm.
      this.errors.set(topic, (e as Error).message);
    }
  }

  private pumpDecode(): void {
    if (this.decoding || !this.compressedPending || this.disposed) return;
    const { msg, at } = this.compressedPending;
    this.compressedPending = null;
    this.decoding = true;
    this.decodesStarted++;
    compressedImageFromMsg(msg, this.t.image)
      .then((img) => {
        this.image = img;
        this.imageAt = at;
        this.errors.set(this.t.image, null);
      })
      .catch((e: unknown) => this.errors.set(this.t.image, (e as Error).message))
      .finally(() => {
        this.decoding = false;
        this.pumpDecode();
      });
  }

  private updateEstop(): void {
    const sources: string[] = [];
    if (this.boolEstop === true) sources.push(`${this.t.estop}: engaged`);
    if (this.robotEstop?.engaged) sources.push(this.robotEstop.source ?? 'robot/state');
    this.estopSrc.set(sources.length > 0, sources.length > 0 ? sources.join('; ') : null);
    if (sources.length > 0) this.stop();
  }

  observe(): Observation {
    if (this.rawImage && this.convertedSeq !== this.rawImage.seq) {
      const { msg, at, seq } = this.rawImage;
      this.convertedSeq = seq; // each frame is converted at most once, even when it is bad
      this.guard(this.t.image, () => {
        this.image = imageFromMsg(msg, this.t.image);
        this.imageAt = at;
      });
    }
    const dTopic = this.t.depth;
    if (dTopic && this.rawDepth && this.depthSeq !== this.rawDepth.seq) {
      const { msg, seq, at } = this.rawDepth;
      this.depthSeq = seq;
      // A bad frame leaves no depth (not the previous one): a model that needs it then stops the arm, saying why.
      this.depth = null;
      this.guard(dTopic, () => {
        const d = depthFromMsg(msg, dTopic);
        if (d.width !== this.image.width || d.height !== this.image.height) {
          throw new Error(
            `ros2 ${dTopic}: depth ${d.width}x${d.height} is not registered to the ${this.image.width}x${this.image.height} camera image (use the depth aligned to colour)`,
          );
        }
        this.depth = d;
        this.depthAt = at;
      });
      this.depthFault = this.depth ? null : (this.errors.get(dTopic) ?? `ros2 ${dTopic}: depth frame refused`);
    }
    const w = this.rawWrench;
    const b = this.bias;
    const pose = this.pose;
    const goal = this.socket ?? this.config.goal;
    return {
      image: this.image,
      ...(this.depth ? { depth: this.depth, depthStamp: this.depthAt } : {}),
      ...(this.depthFault
        ? { depthFault: this.depthFault }
        : !this.depth && this.t.depth
          ? { depthFault: `ros2 ${this.t.depth}: no depth frame received` }
          : {}),
      wrench: [w[0] - b[0], w[1] - b[1], w[2] - b[2], w[3] - b[3], w[4] - b[4], w[5] - b[5]],
      eePos: pose ? [...pose.pos] : [NaN, NaN, NaN],
      eeQuat: pose ? [...pose.quat] : [1, 0, 0, 0],
      goal: goal ? [...goal] : [NaN, NaN, NaN],
      imageStamp: this.imageAt,
      wrenchStamp: this.wrenchAt,
    };
  }

  command(delta: Vec3): void {
    if (this.disposed) return;
    if (this.estopSrc.get().engaged) {
      this.commandsSuppressed++;
      return;
    }
    const now = Date.now() / 1000;
    const frame = this.config.command.frameId;
    if (this.twistPub) {
      this.twistPub.publish(twistStampedFromDelta(delta, this.config.controlPeriod, now, frame));
    } else if (this.posePub) {
      if (!this.pose) {
        this.commandsSuppressed++;
        return;
      }
      this.posePub.publish(targetPoseFromDelta(this.pose, delta, now, frame));
    }
    this.commandsPublished++;
  }

  stop(): void {
    try {
      if (this.disposed) return;
      const now = Date.now() / 1000;
      const frame = this.config.command.frameId;
      if (this.twistPub) this.twistPub.publish(twistStampedFromDelta([0, 0, 0], this.config.controlPeriod, now, frame));
      else if (this.posePub && this.pose) this.posePub.publish(targetPoseFromDelta(this.pose, [0, 0, 0], now, frame));
    } catch {
      // stop() must not throw (RobotBackend contract); the robot's own controller holds on a missing command.
    }
  }

  /** Start pose: above x* by start.height, offset horizontally by the scenario's distance (seeded). */
  startPose(spec: EpisodeSpec): Vec3 {
    const goal = this.socket ?? this.config.goal;
    if (!goal) throw new Error('ros2 backend: no socket pose x* (calibration socket.yaml or topics.socketPose)');
    let s = (spec.seed >>> 0) + 0x9e3779b9;
    const rnd = (): number => {
      // mulberry32: small, seeded, reproducible
      s = (s + 0x6d2b79f5) >>> 0;
      let x = s;
      x = Math.imul(x ^ (x >>> 15), x | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const [lo, hi] = spec.scenario === 'I' ? [0, 0.01] : [0.01, 0.02];
    const r = lo + (hi - lo) * rnd();
    const a = 2 * Math.PI * rnd();
    return [goal[0] + r * Math.cos(a), goal[1] + r * Math.sin(a), goal[2] + this.config.start.height];
  }

  async moveToStart(spec: EpisodeSpec): Promise<void> {
    await this.moveTo(this.startPose(spec), 'move to start');
  }

  async retract(dz: number): Promise<void> {
    if (!(dz > 0)) throw new Error(`ros2 backend: retract distance ${dz} must be > 0`);
    if (!this.pose) throw new Error(`ros2 backend: cannot retract, no pose on ${this.t.pose}`);
    const p = this.pose.pos;
    await this.moveTo([p[0], p[1], p[2] + dz], 'retract');
  }

  /**
   * Closed loop on the measured pose: steps of at most speed * period, one per control period. Below the target
   * height it rises straight up first, so a connector in (or near) the socket is never dragged sideways.
   */
  private async moveTo(target: Vec3, what: string): Promise<void> {
    const p0 = this.pose?.pos;
    if (p0 && p0[2] < target[2] - this.config.start.tolerance) await this.moveStraight([p0[0], p0[1], target[2]], what);
    await this.moveStraight(target, what);
  }

  private async moveStraight(target: Vec3, what: string): Promise<void> {
    const { speed, tolerance, timeout } = this.config.start;
    const period = this.config.controlPeriod;
    const maxStep = speed * period;
    const t0 = this.clock();
    for (;;) {
      if (this.disposed) throw new Error(`ros2 backend: ${what} aborted, backend disposed`);
      const e = this.estopSrc.get();
      if (e.engaged) {
        this.stop();
        throw new Error(`ros2 backend: ${what} refused, robot e-stop engaged (${e.source})`);
      }
      if (!this.pose) throw new Error(`ros2 backend: ${what}: no end-effector pose on ${this.t.pose}`);
      const p = this.pose.pos;
      const d: Vec3 = [target[0] - p[0], target[1] - p[1], target[2] - p[2]];
      const n = Math.hypot(...d);
      if (n <= tolerance) {
        this.stop();
        return;
      }
      if (this.clock() - t0 > timeout) {
        this.stop();
        throw new Error(
          `ros2 backend: ${what} did not reach [${target.map((v) => v.toFixed(4)).join(', ')}] within ${timeout} s (still ${(n * 1000).toFixed(1)} mm away)`,
        );
      }
      const k = n > maxStep ? maxStep / n : 1;
      this.command([d[0] * k, d[1] * k, d[2] * k]);
      await new Promise((res) => setTimeout(res, period * 1000));
    }
  }

  estopEngaged(): EstopSignal {
    return this.estopSrc.get();
  }

  onEstop(listener: EstopListener): () => void {
    return this.estopSrc.on(listener);
  }

  /** Tare: the current raw wrench becomes the bias (in free air, at episode start). */
  zeroWrench(): void {
    this.bias = [...this.rawWrench];
  }

  sensors(): BackendSensors {
    return ros2Sensors(this.t);
  }

  topicStats(): TopicStat[] {
    const now = this.clock();
    const topics = [this.t.image, this.t.depth, this.t.wrench, this.t.jointStates ?? this.t.pose, this.t.estop, this.t.robotState, this.t.socketPose].filter(
      (x): x is string => !!x,
    );
    return topics.map((topic) => {
      const m = this.meters.get(topic);
      return { topic, count: m?.count ?? 0, rateHz: m ? m.rate(now) : 0, age: m ? now - m.last : Infinity, error: this.errors.get(topic) ?? null };
    });
  }

  /** Diagnostics: one status per input topic (WARN when stale beyond `staleAfter`, ERROR on a bad message) and the e-stop. */
  diagnostics(staleAfter: number): DiagnosticStatusMsg[] {
    const out = this.topicStats().map((s) => {
      const level = s.error ? DIAGNOSTIC_LEVEL.ERROR : s.age > staleAfter ? DIAGNOSTIC_LEVEL.STALE : DIAGNOSTIC_LEVEL.OK;
      const message = s.error ?? (s.count === 0 ? 'no messages yet' : s.age > staleAfter ? `stale (${s.age.toFixed(2)} s)` : 'ok');
      return diagnosticStatus(level, `insertion_daemon: ${s.topic}`, message, {
        rate_hz: s.rateHz.toFixed(2),
        count: s.count,
        age_s: Number.isFinite(s.age) ? s.age.toFixed(3) : 'never',
      });
    });
    const e = this.estopSrc.get();
    out.push(
      diagnosticStatus(
        e.engaged ? DIAGNOSTIC_LEVEL.ERROR : DIAGNOSTIC_LEVEL.OK,
        'insertion_daemon: robot e-stop',
        e.engaged ? (e.source ?? 'engaged') : 'released',
        {
          engaged: e.engaged,
          commands_published: this.commandsPublished,
          commands_suppressed: this.commandsSuppressed,
        },
      ),
    );
    return out;
  }

  publishDiagnostics(staleAfter: number, extra: DiagnosticStatusMsg[] = []): void {
    this.diagPub?.publish({ header: header(Date.now() / 1000, ''), status: [...this.diagnostics(staleAfter), ...extra] });
  }

  /** Compressed frames waiting for decode (0 or 1: never a queue) and whether one is being decoded. */
  get decodeState(): { pending: number; decoding: boolean } {
    return { pending: this.compressedPending ? 1 : 0, decoding: this.decoding };
  }

  dispose(): void {
    if (this.disposed) return;
    this.stop();
    this.disposed = true;
    for (const s of this.subs) s.close();
    this.twistPub?.close();
    this.posePub?.close();
    this.diagPub?.close();
  }
}

/**
 * Types and JSON schemas of the daemon config file (config/daemon.yaml) and of the calibration files (calibration/*.yaml).
 * Every field is documented here once; the YAML files repeat the essentials as comments.
 */
import type { Vec3, Wrench } from '../robot/types.ts';

export interface ApiConfig {
  /** Interface to bind; 127.0.0.1 by default so that only this machine can move the arm. */
  host: string;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Name of the environment variable holding the bearer token for state-changing routes. */
  tokenEnv: string;
  /** Literal token (discouraged outside tests); the environment variable wins when both are set. */
  token: string | null;
}

export interface SimBackendConfig {
  /** Connector definition name (a file under data/connectors) used until a practice request names another. */
  connector: string;
  /** Camera image side in pixels as rendered by the simulator. */
  imageSize: number;
  /** Camera in the cell. */
  camera: 'wrist' | 'fixed';
  /** Std dev (m) of the x* calibration error the simulator adds to the goal it publishes. */
  goalNoise: number;
  /** Height (m) of the start pose above the socket. */
  startHeight: number;
  /** Randomise table colour, light direction and camera pose jitter per episode. */
  nuisance: boolean;
  /** Render shadows (CellConfig.shadows); must match how the reward and policy models' data were rendered. Default false. */
  shadows?: boolean;
}

export interface BackendConfig {
  kind: 'sim';
  sim: SimBackendConfig;
}

export interface PracticeConfig {
  /** Control steps per episode (the research uses 20). */
  episodeSteps: number;
  /** Default std dev (m) of the Gaussian exploration noise added to the residual while practising. */
  explorationNoise: number;
  /** Default start distribution. */
  scenario: 'I' | 'II';
  /** Base seed of episode start poses and exploration noise. */
  seed: number;
  /** Reward probability above which an episode's final observation counts as a (learned) success. */
  successThreshold: number;
  /** Ablation only: use the simulator's ground-truth success as the reward. Never on by default. */
  useGroundTruthReward: boolean;
}

export interface DaemonConfig {
  api: ApiConfig;
  /** SQLite log file (relative paths are relative to the config file's directory). */
  db: string;
  /** Control rate (Hz). */
  tickHz: number;
  /** true: ticks at wall-clock deadlines; false: free-run as fast as the loop can (experiments in sim). */
  realtime: boolean;
  /** Directory of ONNX models with their JSON cards. */
  modelsDir: string;
  /** Directory of calibration files. */
  calibrationDir: string;
  /** When a newly activated policy takes over by default. */
  swapAt: 'episode-boundary' | 'between-ticks';
  /** Nice value for the daemon's process (-20..19; lower = more CPU priority), so the control loop outranks a trainer
   *  or any other CPU-heavy process on the machine; null leaves it alone. Raising priority (< 0) needs root or
   *  CAP_SYS_NICE; when refused, the daemon says so and runs at the normal priority. */
  priority: number | null;
  backend: BackendConfig;
  practice: PracticeConfig;
  /** What identifies the robot this daemon drives (e.g. its controller's address or serial number): a second daemon
   *  for the same robot id is refused, whatever its database. Absent/null: no robot lock (the simulated cell lives
   *  inside the daemon's process, so no other daemon can drive it). */
  robotId?: string | null;
  /** Directory of the per-robot lock files (relative to this file). Absent/null: $INSERTION_DAEMON_LOCK_DIR, else
   *  /run/lock/insertion-daemon, else <tmpdir>/insertion-daemon-locks. */
  lockDir?: string | null;
}

/** Camera calibration: which part of the frame the policy sees, and the channel order the camera delivers. */
export interface CameraCalibration {
  /** Crop rectangle in camera pixels, or null for the full frame. */
  crop: { x: number; y: number; width: number; height: number } | null;
  /** Policy input size [width, height] used when no policy card says otherwise (e.g. P-controller only, for the log). */
  inputSize: [number, number];
  /** Channel order of the camera's frames; the policy always gets RGB. */
  channelOrder: 'rgb' | 'bgr';
}

export interface WrenchCalibration {
  /** Static sensor bias [Fx, Fy, Fz, Tx, Ty, Tz] subtracted from every reading until the first re-zero. */
  bias: Wrench;
  /** Re-zero (tare) the sensor at each episode start, in free air. */
  rezeroAtEpisodeStart: boolean;
}

export interface SocketCalibration {
  /** Nominal socket position x* (m, base frame); null: take the goal the backend publishes (the simulator knows its cell). */
  goal: Vec3 | null;
  /** Added to x* (m); for calibration-error experiments. */
  offset: Vec3;
}

export interface WorkspaceCalibration {
  /** Axis-aligned box (m, base frame) the end effector must stay in. */
  min: Vec3;
  max: Vec3;
}

export interface GainsCalibration {
  /** P-controller gains: u_H = -kp (x - x*). */
  kp: Vec3;
}

export interface LimitsCalibration {
  /** Trip (stop and retract) when the force magnitude at the wrist exceeds this (N). */
  forceLimitN: number;
  /** Largest executed displacement per control step (m, Euclidean norm). */
  maxStepM: number;
  /** Largest residual per axis (m); the policy's output is clamped to [-b, b]. */
  residualBoundM: number;
  /** A camera frame or wrench sample older than this (s, backend clock) trips the watchdog. */
  staleSensorMaxAgeS: number;
  /** Retract distance after a force-limit trip (m). */
  retractM: number;
}

export interface Calibration {
  camera: CameraCalibration;
  wrench: WrenchCalibration;
  socket: SocketCalibration;
  workspace: WorkspaceCalibration;
  gains: GainsCalibration;
  limits: LimitsCalibration;
}

export const CALIBRATION_FILES = ['camera', 'wrench', 'socket', 'workspace', 'gains', 'limits'] as const;
export type CalibrationFile = (typeof CALIBRATION_FILES)[number];

const vec3 = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 } as const;
const posVec3 = { type: 'array', items: { type: 'number', minimum: 0 }, minItems: 3, maxItems: 3 } as const;

export const daemonConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['api', 'db', 'tickHz', 'realtime', 'modelsDir', 'calibrationDir', 'swapAt', 'priority', 'backend', 'practice'],
  properties: {
    api: {
      type: 'object',
      additionalProperties: false,
      required: ['host', 'port', 'tokenEnv', 'token'],
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        tokenEnv: { type: 'string', minLength: 1 },
        token: { type: ['string', 'null'], minLength: 8 },
      },
    },
    db: { type: 'string', minLength: 1 },
    tickHz: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
    realtime: { type: 'boolean' },
    modelsDir: { type: 'string', minLength: 1 },
    calibrationDir: { type: 'string', minLength: 1 },
    swapAt: { enum: ['episode-boundary', 'between-ticks'] },
    priority: { type: ['integer', 'null'], minimum: -20, maximum: 19 },
    backend: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'sim'],
      properties: {
        kind: { enum: ['sim'] },
        sim: {
          type: 'object',
          additionalProperties: false,
          required: ['connector', 'imageSize', 'camera', 'goalNoise', 'startHeight', 'nuisance'],
          properties: {
            connector: { type: 'string', minLength: 1 },
            imageSize: { type: 'integer', minimum: 8, maximum: 1024 },
            camera: { enum: ['wrist', 'fixed'] },
            goalNoise: { type: 'number', minimum: 0, maximum: 0.05 },
            startHeight: { type: 'number', exclusiveMinimum: 0, maximum: 0.5 },
            nuisance: { type: 'boolean' },
            shadows: { type: 'boolean' },
          },
        },
      },
    },
    robotId: { type: ['string', 'null'], minLength: 1, maxLength: 200 },
    lockDir: { type: ['string', 'null'], minLength: 1 },
    practice: {
      type: 'object',
      additionalProperties: false,
      required: ['episodeSteps', 'explorationNoise', 'scenario', 'seed', 'successThreshold', 'useGroundTruthReward'],
      properties: {
        episodeSteps: { type: 'integer', minimum: 1, maximum: 10000 },
        explorationNoise: { type: 'number', minimum: 0, maximum: 0.05 },
        scenario: { enum: ['I', 'II'] },
        seed: { type: 'integer' },
        successThreshold: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        useGroundTruthReward: { type: 'boolean' },
      },
    },
  },
} as const;

export const calibrationSchemas: Record<CalibrationFile, object> = {
  camera: {
    type: 'object',
    additionalProperties: false,
    required: ['crop', 'inputSize', 'channelOrder'],
    properties: {
      crop: {
        oneOf: [
          { type: 'null' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['x', 'y', 'width', 'height'],
            properties: {
              x: { type: 'integer', minimum: 0 },
              y: { type: 'integer', minimum: 0 },
              width: { type: 'integer', minimum: 1 },
              height: { type: 'integer', minimum: 1 },
            },
          },
        ],
      },
      inputSize: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 1024 }, minItems: 2, maxItems: 2 },
      channelOrder: { enum: ['rgb', 'bgr'] },
    },
  },
  wrench: {
    type: 'object',
    additionalProperties: false,
    required: ['bias', 'rezeroAtEpisodeStart'],
    properties: {
      bias: { type: 'array', items: { type: 'number' }, minItems: 6, maxItems: 6 },
      rezeroAtEpisodeStart: { type: 'boolean' },
    },
  },
  socket: {
    type: 'object',
    additionalProperties: false,
    required: ['goal', 'offset'],
    properties: { goal: { oneOf: [{ type: 'null' }, vec3] }, offset: vec3 },
  },
  workspace: {
    type: 'object',
    additionalProperties: false,
    required: ['min', 'max'],
    properties: { min: vec3, max: vec3 },
  },
  gains: {
    type: 'object',
    additionalProperties: false,
    required: ['kp'],
    properties: { kp: posVec3 },
  },
  limits: {
    type: 'object',
    additionalProperties: false,
    required: ['forceLimitN', 'maxStepM', 'residualBoundM', 'staleSensorMaxAgeS', 'retractM'],
    properties: {
      forceLimitN: { type: 'number', exclusiveMinimum: 0 },
      maxStepM: { type: 'number', exclusiveMinimum: 0, maximum: 0.1 },
      residualBoundM: { type: 'number', minimum: 0, maximum: 0.1 },
      staleSensorMaxAgeS: { type: 'number', exclusiveMinimum: 0 },
      retractM: { type: 'number', minimum: 0, maximum: 0.2 },
    },
  },
};

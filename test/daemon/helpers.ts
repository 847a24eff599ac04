/** Shared set-up for the daemon and API tests: the real simulated cell, a real SQLite file in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCalibration, loadDaemonConfig, type ConfigOverrides } from '../../src/config/load.ts';
import type { Calibration, DaemonConfig } from '../../src/config/schema.ts';
import { startDaemonApp, type DaemonApp, type DaemonAppOptions } from '../../src/app/daemon-app.ts';
import type { ResidualPolicy, RewardScorer } from '../../src/daemon/interfaces.ts';
import type { RunningDaemon } from '../../src/daemon/types.ts';
import { MockBackend, type MockBackendOptions } from '../../src/robot/mock-backend.ts';
import type { RobotBackend } from '../../src/robot/backend.ts';
import { SimBackend } from '../../src/robot/sim-backend.ts';
import type { Observation, Vec3 } from '../../src/core/types.ts';

export const root = resolve(import.meta.dirname, '../..');
export const TOKEN = 'test-token-0123456789';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The app as `npm start` assembles it on the simulated cell (no models, no nuisance, no practice noise, no process
 * priority), its log in dir/name.db; edit adjusts the loaded config (e.g. controlThread).
 */
export async function simApp(dir: string, name: string, overrides: ConfigOverrides, edit?: (c: DaemonConfig) => void): Promise<DaemonApp<RunningDaemon>> {
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
    port: 0,
    db: join(dir, `${name}.db`),
    modelsDir: join(dir, 'no-models'),
    priority: null,
    ...overrides,
  });
  config.backend.sim.nuisance = false;
  config.practice.explorationNoise = 0;
  edit?.(config);
  return startDaemonApp({ config, calibration: loadCalibration(join(root, 'calibration')), token: TOKEN });
}

export interface Rig {
  app: DaemonApp;
  sim: SimBackend;
  config: DaemonConfig;
  calibration: Calibration;
  db: string;
  close: () => Promise<void>;
}

export interface RigOptions {
  overrides?: ConfigOverrides;
  /** Edits to the shipped calibration. */
  calibration?: (c: Calibration) => void;
  config?: (c: DaemonConfig) => void;
  policy?: ResidualPolicy | null;
  reward?: RewardScorer | null;
  listen?: boolean;
  startLoop?: boolean;
  connector?: string;
  loadPolicy?: DaemonAppOptions['loadPolicy'];
}

/** What both rigs share: a temp log, the shipped config and calibration (edited by the test), the daemon app. */
async function startRig<B extends RobotBackend>(
  prefix: string,
  o: Omit<RigOptions, 'connector'>,
  prepare: (config: DaemonConfig) => void,
  backendFor: (config: DaemonConfig) => Promise<B> | B,
): Promise<{ t: { dir: string; cleanup: () => void }; db: string; config: DaemonConfig; calibration: Calibration; backend: B; app: DaemonApp }> {
  const t = tempDir(prefix);
  const db = join(t.dir, 'log.db');
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
    port: 0,
    db,
    realtime: false,
    episodeSteps: 6,
    modelsDir: join(t.dir, 'models'),
    priority: null,
    ...o.overrides,
  });
  config.practice.explorationNoise = 0;
  prepare(config);
  o.config?.(config);
  const calibration = loadCalibration(join(root, 'calibration'));
  o.calibration?.(calibration);
  const backend = await backendFor(config);
  const app = await startDaemonApp({
    config,
    calibration,
    token: TOKEN,
    backend,
    policy: o.policy ?? null,
    reward: o.reward ?? null,
    listen: o.listen ?? false,
    startLoop: o.startLoop ?? false,
    ...(o.loadPolicy ? { loadPolicy: o.loadPolicy } : {}),
  });
  return { t, db, config, calibration, backend, app };
}

/** A daemon on the real simulator and a real SQLite file; no shipped models unless given. */
export async function rig(o: RigOptions = {}): Promise<Rig> {
  const {
    t,
    db,
    config,
    calibration,
    backend: sim,
    app,
  } = await startRig(
    'daemon-test-',
    o,
    (config) => {
      config.backend.sim.nuisance = false;
      if (o.connector) config.backend.sim.connector = o.connector;
    },
    (config) =>
      SimBackend.create({
        connector: config.backend.sim.connector,
        cell: { imageSize: config.backend.sim.imageSize, controlHz: config.tickHz, startHeight: config.backend.sim.startHeight, nuisance: false },
      }),
  );
  return {
    app,
    sim,
    config,
    calibration,
    db,
    close: async () => {
      await app.close();
      sim.dispose();
      t.cleanup();
    },
  };
}

export interface MockRig extends Omit<Rig, 'sim'> {
  mock: MockBackend;
}

/**
 * A daemon on the mock robot (src/robot/mock-backend.ts) and a real SQLite file: for tests about the daemon, not about
 * physics (no MuJoCo: a practice episode costs about a millisecond of robot time).
 */
export async function mockRig(o: Omit<RigOptions, 'connector'> & { mock?: MockBackendOptions } = {}): Promise<MockRig> {
  const {
    t,
    db,
    config,
    calibration,
    backend: mock,
    app,
  } = await startRig(
    'daemon-mock-test-',
    o,
    () => undefined,
    (config) => new MockBackend({ controlHz: config.tickHz, imageSize: config.backend.sim.imageSize, ...o.mock }),
  );
  return {
    app,
    mock,
    config,
    calibration,
    db,
    close: async () => {
      mock.dispose(); // first: aborts a reset a failed test left held open, which shutdown would wait for
      await app.close();
      t.cleanup();
    },
  };
}

/** Drives ticks by hand until `pred` holds (or `max` ticks), awaiting resets in between. */
export async function tickUntil(app: DaemonApp, pred: () => boolean, max = 200): Promise<number> {
  for (let i = 0; i < max; i++) {
    if (pred()) return i;
    await app.daemon.settle();
    await app.daemon.tick();
  }
  if (!pred()) throw new Error(`condition not reached in ${max} ticks (state ${app.daemon.currentState})`);
  return max;
}

/** Waits until what the daemon logged so far is in the file. */
export async function logged(r: Pick<Rig, 'app'>): Promise<void> {
  await r.app.log.flush();
  await new Promise((res) => setImmediate(res));
}

/** A residual policy with a fixed (or scripted) output, no image: tests the loop around the model. */
export function scriptedPolicy(version: string, out: (call: number) => Vec3, delayMs = 0): ResidualPolicy & { calls: number } {
  const p = {
    version,
    input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
    calls: 0,
    async run(): Promise<Vec3> {
      const c = p.calls++;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return out(c);
    },
  };
  return p;
}

export function dist(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** An observation the safety filter passes: at rest 10 cm above x*, a fresh frame and wrench at t = 10 s. */
export function calmObservation(over: Partial<Observation> = {}): Observation {
  return {
    image: { width: 1, height: 1, data: new Uint8Array(3) },
    wrench: [0, 0, 0, 0, 0, 0],
    eePos: [0.5, 0, 0.2],
    eeQuat: [1, 0, 0, 0],
    goal: [0.5, 0, 0.1],
    imageStamp: 10,
    wrenchStamp: 10,
    ...over,
  };
}

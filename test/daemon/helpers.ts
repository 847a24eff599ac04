/** Shared set-up for the daemon and API tests: the real simulated cell, a real SQLite file in a temp dir. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
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
import { closers, endProcess, teardown } from '../teardown.ts';
import type { Observation, Vec3 } from '../../src/core/types.ts';
import type { EpisodeRecord, TransitionRecord } from '../../src/store/types.ts';

export const root = resolve(import.meta.dirname, '../..');
export const TOKEN = 'test-token-0123456789';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a file a closing component writes last (a WAL checkpoint, a model) can race the removal (ENOTEMPTY).
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) };
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
    // The control thread's warm-up runs (its code path is every threaded test's), short: test/daemon/warmup.test.ts
    // checks what it does.
    controlWarmupTicks: 20,
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
  /** The log in a file the test owns (e.g. a restart on the same log); otherwise in a temp dir removed at close. */
  db?: string;
}

export interface BackendRig<B extends RobotBackend> extends Omit<Rig, 'sim'> {
  backend: B;
}

/**
 * A daemon app on a given backend (`backend` makes it from the loaded config) and a real SQLite file, with the shipped
 * config and calibration as the test edits them: the one rig every daemon test builds on. `disposeFirst` disposes of
 * the backend before the app closes (a mock's held reset would hold up shutdown). close() may be called again; an app
 * that fails to start leaves nothing behind.
 */
export async function backendRig<B extends RobotBackend>(
  backend: (config: DaemonConfig) => Promise<B> | B,
  o: Omit<RigOptions, 'connector'> & { prefix?: string; disposeFirst?: boolean } = {},
): Promise<BackendRig<B>> {
  const t = tempDir(o.prefix ?? 'daemon-test-');
  const db = o.db ?? join(t.dir, 'log.db');
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
  o.config?.(config);
  const calibration = loadCalibration(join(root, 'calibration'));
  o.calibration?.(calibration);
  const b = await backend(config);
  let app: DaemonApp;
  try {
    app = await startDaemonApp({
      config,
      calibration,
      token: TOKEN,
      backend: b,
      policy: o.policy ?? null,
      reward: o.reward ?? null,
      listen: o.listen ?? false,
      startLoop: o.startLoop ?? false,
      ...(o.loadPolicy ? { loadPolicy: o.loadPolicy } : {}),
    });
  } catch (e) {
    b.dispose();
    t.cleanup();
    throw e;
  }
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      // (each step even when one before it throws: a failed app.close must not leave the backend or the folder behind)
      const steps = closers();
      steps.defer(t.cleanup);
      if (!o.disposeFirst) steps.defer(() => b.dispose());
      steps.defer(() => app.close());
      if (o.disposeFirst) steps.defer(() => b.dispose());
      await steps.close();
    })());
  return { app, backend: b, config, calibration, db, close };
}

/** A daemon on the real simulator and a real SQLite file; no shipped models unless given. */
export async function rig(o: RigOptions = {}): Promise<Rig> {
  const r = await backendRig(
    (config) =>
      SimBackend.create({
        connector: config.backend.sim.connector,
        cell: {
          imageSize: config.backend.sim.imageSize,
          controlHz: config.tickHz,
          startHeight: config.backend.sim.startHeight,
          nuisance: false,
          // The shipped config's depth camera (on by default), so a test's cell is the daemon's unless the test says otherwise.
          depth: config.backend.sim.depth ?? false,
        },
      }),
    {
      ...o,
      config: (config) => {
        config.backend.sim.nuisance = false;
        if (o.connector) config.backend.sim.connector = o.connector;
        o.config?.(config);
      },
    },
  );
  return { ...r, sim: r.backend };
}

export interface MockRig extends Omit<Rig, 'sim'> {
  mock: MockBackend;
}

/**
 * A daemon on the mock robot (src/robot/mock-backend.ts) and a real SQLite file: for tests about the daemon, not about
 * physics (no MuJoCo: a practice episode costs about a millisecond of robot time).
 */
export async function mockRig(o: Omit<RigOptions, 'connector'> & { mock?: MockBackendOptions } = {}): Promise<MockRig> {
  const r = await backendRig((config) => new MockBackend({ controlHz: config.tickHz, imageSize: config.backend.sim.imageSize, ...o.mock }), {
    ...o,
    prefix: 'daemon-mock-test-',
    // first: aborts a reset a failed test left held open, which shutdown would wait for
    disposeFirst: true,
  });
  return { ...r, mock: r.backend };
}

/**
 * The main job as its own process (`src/cli/daemon.ts ...args`, as npm start runs it), resolved once it has printed its
 * API address and `ready` holds for what it printed; `out()` is all it printed (stdout and stderr). Killed when the
 * test ends, if it is still running (on teardown(t): register the test's folder there too, before this call).
 */
export async function daemonProcess(
  t: TestContext,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (out: string) => boolean = () => true,
): Promise<{ child: ChildProcessByStdio<null, Readable, Readable>; url: string; out: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/daemon.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // On the test's teardown stack, so it is gone (not only signalled) before the folder it writes into is removed.
  teardown(t)(() => endProcess(child));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let out = '';
  // Ready when it prints so, failed when it exits first: no time budget decides. The backstop only turns a hang into a
  // failure (a start took 26 s at load 25 on the 2-core machine, so 30 s failed there while nothing was wrong).
  const url = await new Promise<string>((res, rej) => {
    const check = (): void => {
      const m = /API: (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1] && ready(out)) done(() => res(m[1] as string));
    };
    const onData = (b: Buffer): void => {
      out += b.toString();
      check();
    };
    const onExit = (code: number | null): void => done(() => rej(new Error(`the daemon exited (${code}) before it was ready:\n${out}`)));
    const timer = setTimeout(() => done(() => rej(new Error(`no API line in 180 s:\n${out}`))), 180_000);
    const done = (settle: () => void): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      settle();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', onExit);
  });
  return { child, url, out: () => out, exited };
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

/** One practice episode (scenario I, no exploration noise) ticked by hand to idle: the logged episode and its
 *  transitions (no images), in the file. */
export async function oneEpisode(r: Pick<Rig, 'app'>): Promise<{ episode: EpisodeRecord; transitions: TransitionRecord[] }> {
  const d = r.app.daemon;
  if (!d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok) throw new Error('practice did not start');
  await tickUntil(r.app, () => d.status().practice === null && d.currentState === 'idle', 400);
  await logged(r);
  const store = r.app.log.store;
  const [episode] = store.listEpisodes({ limit: 1 });
  if (!episode) throw new Error('no episode logged');
  return { episode, transitions: store.getEpisode(episode.id, { transitions: true, images: false })?.transitions ?? [] };
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

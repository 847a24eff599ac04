/**
 * Assembles a running daemon: robot backend (the simulated cell unless one is given), the SQLite log, the models,
 * the control loop and the REST API. Used by the main job (src/cli/daemon.ts), the tests and the benchmark.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../api/server.ts';
import { LiveTap, registerDashboard } from '../api/dashboard.ts';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import { PolicyModel, RewardModel } from '../policy/onnx-model.ts';
import type { RobotBackend } from '../robot/backend.ts';
import { DEFAULT_SWAP_VALIDATION, type SwapValidationConfig } from '../swap/validate.ts';
import { SimBackend } from '../robot/sim-backend.ts';
import type { CellConfig } from '../sim/cell.ts';
import type { ResidualPolicy, RewardScorer } from './interfaces.ts';
import { StoreLog } from './log.ts';
import { Daemon } from './loop.ts';
import { loadStartupModels, policyFromModel, rewardFromModel } from './models.ts';

export interface DaemonAppOptions {
  config: DaemonConfig;
  calibration: Calibration;
  /** Bearer token for state-changing routes (null: refused). */
  token: string | null;
  /** A backend to drive; default: the simulated cell from config.backend.sim. */
  backend?: RobotBackend;
  /** Models to start with; default: what models/ and the log say (loadStartupModels). null = none. */
  policy?: ResidualPolicy | null;
  reward?: RewardScorer | null;
  /** Start the HTTP server (default true). */
  listen?: boolean;
  /** Start the tick schedule (default true); tests may drive ticks by hand. */
  startLoop?: boolean;
  /** Tick timing samples kept for percentiles (default 4096). */
  timingWindow?: number;
  /** Model loaders for activation through the API (default: the ONNX loaders). */
  loadPolicy?: (path: string) => Promise<ResidualPolicy>;
  loadReward?: (path: string) => Promise<RewardScorer>;
  /** Overrides of the probe validation a policy passes before it may drive (REST activation/rollback, trainer hot-swaps). */
  swapValidation?: Partial<SwapValidationConfig>;
  /** The built dashboard page (default dist/web, see src/api/dashboard.ts). */
  webDir?: string;
}

export interface DaemonApp {
  daemon: Daemon;
  api: FastifyInstance;
  log: StoreLog;
  backend: RobotBackend;
  /** http://host:port of the API, or null when not listening. */
  url: string | null;
  /** Probe validation of policies before they drive: DEFAULT_SWAP_VALIDATION with the calibration's residual bound. */
  swapValidation: SwapValidationConfig;
  /** What was loaded and what was not, for the operator. */
  notes: string[];
  /** Graceful: stop the arm, close the episode, flush and close the log, stop HTTP, release the backend. */
  close(): Promise<void>;
}

/**
 * Sets the nice value of every thread of this process (Linux nice is per thread: the libuv pool that runs onnxruntime
 * and sharp, and the log writer, exist already) and so of threads started later; returns a line for the operator.
 */
export function applyPriority(nice: number): string {
  let tids: number[] = [];
  try {
    tids = readdirSync('/proc/self/task').map(Number).filter(Number.isInteger);
  } catch {
    // not Linux: the calling thread only
  }
  try {
    setPriority(0, nice);
    let others = 0;
    for (const tid of tids) {
      try {
        setPriority(tid, nice);
        others++;
      } catch {
        // a thread that has just exited
      }
    }
    return `process priority: nice ${getPriority(0)} (${Math.max(1, others)} threads)`;
  } catch (e) {
    return `process priority: could not set nice ${nice} (${(e as Error).message}); running at nice ${getPriority(0)}`;
  }
}

/** The config as recorded in the session row: never the token. */
function configSnapshot(cfg: DaemonConfig): unknown {
  return { ...cfg, api: { ...cfg.api, token: cfg.api.token === null ? null : '(set)' } };
}

/** The simulated cell's settings from the daemon's configuration (everything but the connector). */
export function simCellOptions(cfg: DaemonConfig): Omit<CellConfig, 'connector'> {
  const sim = cfg.backend.sim;
  return { imageSize: sim.imageSize, camera: sim.camera, controlHz: cfg.tickHz, goalNoise: sim.goalNoise, startHeight: sim.startHeight, nuisance: sim.nuisance, shadows: sim.shadows ?? false };
}

export async function startDaemonApp(o: DaemonAppOptions): Promise<DaemonApp> {
  const cfg = o.config;
  const backend = o.backend ?? (await SimBackend.create({ connector: cfg.backend.sim.connector, cell: simCellOptions(cfg) }));
  const notes: string[] = [];
  if (cfg.priority !== null) notes.push(applyPriority(cfg.priority));
  let log: StoreLog;
  try {
    log = await StoreLog.open(
      cfg.db,
      { robot: backend.kind === 'sim' ? 'simulated sawyer cell' : backend.kind, backend: backend.kind, config: configSnapshot(cfg), calibration: o.calibration },
      { onError: (m) => notes.push(m) },
    );
  } catch (e) {
    if (!o.backend) backend.dispose();
    throw e;
  }
  let policy = o.policy;
  let reward = o.reward;
  if (policy === undefined || reward === undefined) {
    const loaded = await loadStartupModels(cfg.modelsDir, log.store);
    notes.push(...loaded.notes);
    if (policy === undefined) policy = loaded.policy;
    else await loaded.policy?.dispose?.();
    if (reward === undefined) reward = loaded.reward;
    else await loaded.reward?.dispose?.();
  }
  const swapValidation: SwapValidationConfig = { ...DEFAULT_SWAP_VALIDATION, residualBoundM: o.calibration.limits.residualBoundM, ...o.swapValidation };
  // The dashboard's live view taps the loop's log (a reference per tick; see src/api/dashboard.ts).
  const live = new LiveTap(log);
  const daemon = new Daemon({ backend, config: cfg, calibration: o.calibration, log: live, policy: policy ?? null, reward: reward ?? null, ...(o.timingWindow ? { timingWindow: o.timingWindow } : {}) });
  const api = await buildApi({
    daemon,
    store: log.store,
    token: o.token,
    tokenEnv: cfg.api.tokenEnv,
    loadPolicy: o.loadPolicy ?? (async (p) => policyFromModel(await PolicyModel.load(p))),
    loadReward: o.loadReward ?? (async (p) => rewardFromModel(await RewardModel.load(p))),
    swapValidation,
  });
  await registerDashboard(api, { daemon, store: log.store, live, ...(o.webDir ? { webDir: o.webDir } : {}) });
  let url: string | null = null;
  if (o.listen ?? true) {
    await api.listen({ host: cfg.api.host, port: cfg.api.port });
    const addr = api.server.address();
    if (addr && typeof addr === 'object') url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }
  if (o.startLoop ?? true) daemon.start();
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await daemon.shutdown();
      await api.close();
      await log.close();
      const current = daemon.models();
      await current.policy?.dispose?.();
      await current.reward?.dispose?.();
      if (!o.backend) backend.dispose();
    })();
    return closing;
  };
  return { daemon, api, log, backend, url, swapValidation, notes, close };
}

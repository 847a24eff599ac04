/**
 * Assembles a running daemon: robot backend (the simulated cell unless one is given), the SQLite log, the models,
 * the control loop and the REST API. Used by the main job (src/cli/daemon.ts), the tests and the benchmark.
 *
 * Where the control loop runs: with config `controlThread` (the default) and no backend given by code, the loop, the
 * simulated cell and its own model sessions run in a worker thread (src/daemon/thread.ts), and `daemon` is a
 * DaemonThread; the API, the dashboard, the log and model validation stay here. The ROS 2 node over DDS goes to that
 * thread too when given as `threadBackend` (what the ROS 2 entry point passes). A backend given by code as `backend`
 * (tests, rclnodejs) lives on this thread, so its loop does too: `daemon` is then the in-process Daemon.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { buildApi, exposureWarning, type ApiServer } from '../api/server.ts';
import { LiveTap, registerDashboard } from '../api/dashboard.ts';
import { limitChanges, type LimitChange } from '../config/load.ts';
import type { Calibration, DaemonConfig, LimitsCalibration } from '../config/schema.ts';
import { PolicyModel, RewardModel } from '../policy/onnx-model.ts';
import { cardPathFor, readCard } from '../policy/card.ts';
import { loadConnectors, rewardDepthCoverage, type ConnectorDef } from '../sim/connectors.ts';
import type { RobotBackend } from '../robot/backend.ts';
import { DEFAULT_SWAP_VALIDATION, type SwapValidationConfig } from '../swap/validate.ts';
import { SimBackend, simCellOptions } from '../robot/sim-backend.ts';
import { singleThreadedGcNote } from '../daemon/gc-watch.ts';
import type { ResidualPolicy, RewardScorer } from '../daemon/interfaces.ts';
import { StoreLog } from '../daemon/log.ts';
import { Daemon } from '../daemon/loop.ts';
import { DaemonThread } from '../daemon/thread.ts';
import type { ThreadRos2Backend } from '../daemon/thread-protocol.ts';
import type { RunningDaemon } from '../daemon/types.ts';
import { loadStartupModels, policyFromModel, rewardFromModel, type LoadedModels } from '../daemon/models.ts';
import { ros2Sensors } from '../ros2/backend.ts';
import { sensorsOf } from '../robot/backend.ts';
import { unmetSensors } from '../policy/inputs.ts';
import type { BackendSensors } from '../core/types.ts';
import { affinityMechanism, formatCpuList, pinMainThread, processCpus, threadCpus, unpinMainThread, type CpuPlan } from '../util/affinity.ts';
import { chooseControlCpu } from './control-cpu.ts';
import { goalEndingsFromLog } from './goal-refinement.ts';
import { defaultLockDir, type ProcessLock } from '../store/index.ts';

/** The API could not bind its address (port taken, an address this machine does not have, no permission). */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(
    readonly host: string,
    readonly port: number,
    cause: Error,
    what = 'api.host / --host, api.port / --port',
  ) {
    super(`cannot listen on ${host}:${port}: ${cause.message} (${what})`, { cause });
  }
}

export interface DaemonAppOptions {
  config: DaemonConfig;
  calibration: Calibration;
  /** Bearer token for state-changing routes (null: refused). */
  token: string | null;
  /** A backend to drive; default: the simulated cell from config.backend.sim. */
  backend?: RobotBackend;
  /** A robot the control thread builds itself (the ROS 2 node over DDS), instead of the simulated cell; needs controlThread. */
  threadBackend?: ThreadRos2Backend;
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

/** A running daemon app; `D` is Daemon when the loop runs in process (a backend given by code), else either. */
export interface DaemonApp<D extends RunningDaemon = Daemon> {
  daemon: D;
  api: ApiServer;
  log: StoreLog;
  /** The robot backend on this thread; null when the loop and its simulated cell run in their own thread. */
  backend: D extends Daemon ? RobotBackend : RobotBackend | null;
  /** http://host:port of the API, or null when not listening. */
  url: string | null;
  /** http://host:port/estop of the e-stop listener in its own thread (api.estopPort), or null: none. */
  estopUrl: string | null;
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

/**
 * The connectors defined in data/connectors whose insertion depth the start-up reward's training connectors do not
 * cover (the rule: rewardDepthCoverage), for /status; the default connector's is also a start-up warning. Null when
 * the reward has no card to read (a reward passed in, two rewards combined).
 */
function rewardCoverage(reward: RewardScorer): { reward: string; outside: Record<string, string> } | null {
  if (!reward.path) return null;
  let trained: string[];
  let defs: ConnectorDef[];
  try {
    trained = readCard(cardPathFor(reward.path)).training.connectors;
    defs = loadConnectors(undefined, { onProblem: () => {} });
  } catch {
    return null; // a card gone since the loader read it, or no connector directory: nothing to compare, not a reason to stop
  }
  const outside: Record<string, string> = {};
  for (const def of defs) {
    const why = rewardDepthCoverage(def, trained, defs);
    if (why) outside[def.name] = why;
  }
  return { reward: reward.version, outside };
}

/**
 * A safety limit that differs from the shipped calibration, or from the previous session on this log, is an explicit
 * act: one 'safety_limit_changed' event per limit (old -> new) in the log, and a line for the operator (a WARNING when
 * the change loosens the limit).
 */
function recordLimitChanges(log: StoreLog, calibration: Calibration, calibrationDir: string, notes: string[]): void {
  const unit = (f: string): string => (f.endsWith('N') ? ' N' : f.endsWith('S') ? ' s' : ' m');
  const report = (c: LimitChange, against: string): void => {
    const message =
      `safety limit ${c.field}: ${c.shipped}${unit(c.field)} (${against}) -> ${c.value}${unit(c.field)} (${calibrationDir}), ` +
      `${c.looser ? 'looser' : 'tighter'}${c.beyondSoftBound ? ', beyond its soft bound (listed in beyondSoftBound)' : ''}`;
    log.store.recordEvent({ kind: 'safety_limit_changed', message, data: { ...c, against }, sessionId: log.sessionId });
    notes.push(c.looser ? `WARNING: ${message}` : message);
  };
  for (const c of limitChanges(calibration.limits)) report(c, 'shipped');
  const previous = log.store.listSessions({ limit: 2 }).find((s) => s.id !== log.sessionId);
  const prevLimits = (previous?.calibration as { limits?: LimitsCalibration } | null | undefined)?.limits;
  if (previous && prevLimits && typeof prevLimits === 'object') {
    for (const c of limitChanges(calibration.limits, prevLimits)) report(c, `session ${previous.id}`);
  }
}

/** Why the loop cannot run in its own thread with these options (null: it can). */
function inProcessReason(o: DaemonAppOptions): string | null {
  if (o.backend) return `the ${o.backend.kind} backend given by code lives on the main thread`;
  for (const [what, m] of [
    ['policy', o.policy],
    ['reward model', o.reward],
  ] as const) {
    if (m && !m.path) return `the ${what} ${m.version} was given without its file (the control thread loads its own session)`;
  }
  return null;
}

export function startDaemonApp(o: DaemonAppOptions & { backend: RobotBackend }): Promise<DaemonApp>;
export function startDaemonApp(o: DaemonAppOptions): Promise<DaemonApp<RunningDaemon>>;
export async function startDaemonApp(o: DaemonAppOptions): Promise<DaemonApp<RunningDaemon>> {
  const cfg = o.config;
  // Never a simulated cell in place of a configured robot: the ros2 backend comes from the ROS entry (src/cli/daemon.ts).
  if (!o.backend && !o.threadBackend && cfg.backend.kind !== 'sim')
    throw new Error(`backend.kind is '${cfg.backend.kind}': start the daemon through npm start / src/cli/daemon.ts, which builds that backend`);
  const notes: string[] = [];
  const why = cfg.controlThread ? inProcessReason(o) : 'controlThread is off';
  const threaded = why === null;
  if (o.threadBackend && !threaded) throw new Error(`the ${o.threadBackend.kind} backend runs in the control thread, and it cannot run there: ${why}`);
  const backend = o.backend ?? (threaded ? null : await SimBackend.create({ connector: cfg.backend.sim.connector, cell: simCellOptions(cfg) }));
  const robotName = o.threadBackend ? `the ${o.threadBackend.kind} backend` : 'the simulated cell';
  notes.push(threaded ? `control loop: in its own thread with ${robotName} (controlThread)` : `control loop: on the main thread (${why})`);
  // controlCpu: checked before anything opens (a CPU the process may not use is refused here, naming it); the control
  // thread pins itself as it starts, the main thread below once the threads of the start are running.
  // Daemons on one machine claim different CPUs (src/app/control-cpu.ts); the claim is released at close.
  let cpus: CpuPlan | null = null;
  let cpuClaim: ProcessLock | null = null;
  if (cfg.controlCpu !== null && !threaded) notes.push(`CPU pinning: off, the control loop is on the main thread (controlCpu ${cfg.controlCpu})`);
  else if (cfg.controlCpu !== null) {
    const chosen = chooseControlCpu(cfg.controlCpu, processCpus(), cfg.lockDir ?? defaultLockDir());
    cpus = chosen.plan;
    cpuClaim = chosen.claim;
    if (chosen.note) notes.push(chosen.note);
  }
  if (cfg.priority !== null) notes.push(applyPriority(cfg.priority));
  const gcNote = singleThreadedGcNote(threaded && cfg.controlRealtime !== null && cfg.realtime);
  if (gcNote) notes.push(gcNote);
  const kind = backend?.kind ?? o.threadBackend?.kind ?? 'sim';
  let log: StoreLog;
  try {
    log = await StoreLog.open(
      cfg.db,
      { robot: kind === 'sim' ? 'simulated sawyer cell' : kind, backend: kind, config: configSnapshot(cfg), calibration: o.calibration },
      { onError: (m) => notes.push(m), robotId: cfg.robotId ?? null, ...(cfg.lockDir ? { lockDir: cfg.lockDir } : {}) },
    );
  } catch (e) {
    if (!o.backend) backend?.dispose();
    cpuClaim?.release();
    throw e;
  }
  // From here on the log holds an open session and a writer thread: any failure before the app is handed over (models,
  // the API, listen: EADDRINUSE, an address the machine does not have) must close them, or the process hangs with its
  // session open.
  let daemon: Daemon | DaemonThread | null = null;
  let api: ApiServer | null = null;
  let policy = o.policy;
  let reward = o.reward;
  let mainPinned = false;
  const release = async (): Promise<void> => {
    if (mainPinned && cpus) {
      mainPinned = false;
      try {
        unpinMainThread(cpus.control);
      } catch {
        // closing: the thread keeps its CPUs, nothing depends on them any more
      }
    }
    // Every step, even after one throws (a control thread left running or a server left open would keep the process
    // alive); then the first error.
    const errors: unknown[] = [];
    const step = async (f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    await step(() => daemon?.shutdown());
    await step(() => api?.close());
    await step(() => log.close());
    await step(() => cpuClaim?.release()); // after the control thread has ended
    const current = daemon?.models() ?? { policy, reward };
    await step(() => current.policy?.dispose?.());
    await step(() => current.reward?.dispose?.());
    if (!o.backend) await step(() => backend?.dispose());
    if (errors.length > 0) throw errors[0];
  };
  let url: string | null = null;
  /** How the start-up reward was chosen, for /status (none when the caller passed the reward). */
  let rewardChoice: LoadedModels['rewardChoice'] | null = null;
  let estopUrl: string | null = null;
  let swapValidation: SwapValidationConfig;
  try {
    recordLimitChanges(log, o.calibration, cfg.calibrationDir, notes);
    // What the robot observes, before the control thread builds it: models it cannot feed are refused now, not at a tick.
    const sensors: BackendSensors = backend
      ? sensorsOf(backend)
      : o.threadBackend
        ? ros2Sensors(o.threadBackend.section.backend.topics)
        : { depth: simCellOptions(cfg).depth ?? false };
    for (const [what, m] of [
      ['policy', policy],
      ['reward model', reward],
    ] as const) {
      const why = m ? unmetSensors(m.input, sensors) : null;
      if (m && why) throw new Error(`${what} ${m.version} refused at start: ${why}`);
    }
    if (policy === undefined || reward === undefined) {
      const loaded = await loadStartupModels(cfg.modelsDir, log.store, { sensors, rewardPreference: cfg.rewardPreference });
      notes.push(...loaded.notes);
      if (reward === undefined) rewardChoice = loaded.rewardChoice;
      if (policy === undefined) policy = loaded.policy;
      else await loaded.policy?.dispose?.();
      if (reward === undefined) reward = loaded.reward;
      else await loaded.reward?.dispose?.();
    }
    // A restart after a crash says what it found (the operator, the journal and /status), not only the log's event.
    const rec = log.recovered;
    const recoveredNote =
      rec.episodes || rec.sessions
        ? `recovered: closed ${rec.episodes} episode(s) and ${rec.sessions} session(s) a previous run left open (killed?), outcome 'error'`
        : null;
    if (recoveredNote) notes.push(recoveredNote);
    const goal = cfg.practice.refineGoalEpisodes > 0 ? goalEndingsFromLog(log.store) : { endings: {}, notes: [] };
    notes.push(...goal.notes);
    swapValidation = { ...DEFAULT_SWAP_VALIDATION, residualBoundM: o.calibration.limits.residualBoundM, ...o.swapValidation };
    // The dashboard's live view taps the loop's log (a reference per tick; see src/api/dashboard.ts).
    const live = new LiveTap(log);
    const timing = o.timingWindow ? { timingWindow: o.timingWindow } : {};
    if (backend) {
      daemon = new Daemon({
        backend,
        config: cfg,
        calibration: o.calibration,
        log: live,
        policy: policy ?? null,
        reward: reward ?? null,
        goalEndings: goal.endings,
        ...timing,
      });
    } else {
      // The control thread loads its own sessions of these models; the copies here are what validation compares with.
      daemon = await DaemonThread.create({
        config: cfg,
        calibration: o.calibration,
        log: live,
        policy: policy ?? null,
        reward: reward ?? null,
        backend: o.threadBackend ?? null,
        controlCpu: cpus?.control ?? null,
        goalEndings: goal.endings,
        ...timing,
      });
      notes.push(...daemon.notes);
    }
    const d = daemon;
    if (rewardChoice) d.setStatusExtra('rewardChoice', rewardChoice);
    const coverage = reward ? rewardCoverage(reward) : null;
    if (coverage) {
      d.setStatusExtra('rewardCoverage', coverage);
      const own = coverage.outside[cfg.backend.sim.connector];
      if (own) notes.push(`WARNING: reward model ${coverage.reward}: ${own}`);
    }
    if (recoveredNote) d.setStatusExtra('recovered', { episodes: rec.episodes, sessions: rec.sessions, message: recoveredNote });
    api = await buildApi({
      daemon: d,
      store: log.store,
      token: o.token,
      tokenEnv: cfg.api.tokenEnv,
      loadPolicy: o.loadPolicy ?? (async (p) => policyFromModel(await PolicyModel.load(p))),
      loadReward: o.loadReward ?? (async (p) => rewardFromModel(await RewardModel.load(p))),
      swapValidation,
    });
    await registerDashboard(api, { daemon: d, store: log.store, live, ...(o.webDir ? { webDir: o.webDir } : {}) });
    if (o.listen ?? true) {
      try {
        await api.listen({ host: cfg.api.host, port: cfg.api.port });
      } catch (e) {
        throw new ListenError(cfg.api.host, cfg.api.port, e as Error);
      }
      const addr = api.server.address();
      if (addr && typeof addr === 'object') url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      // Where the API can be reached, in /status and /events; beyond loopback also a warning for the operator.
      const exposed = exposureWarning(cfg.api.host);
      if (exposed) notes.push(exposed);
      // The e-stop listener: only beside the control thread (in process, the API's thread is the loop's thread anyway).
      const ep = estopListenerPort(cfg.api.port, cfg.api.estopPort, addr && typeof addr === 'object' ? addr.port : cfg.api.port);
      if (d instanceof DaemonThread && ep !== null) {
        try {
          estopUrl = await d.startEstopListener(cfg.api.host, ep);
        } catch (e) {
          throw new ListenError(cfg.api.host, ep, e as Error, 'the e-stop listener: api.estopPort / --estop-port, -1 for none');
        }
        notes.push(`e-stop: POST ${estopUrl} (its own thread: lands while the main thread is busy; no token, like POST /estop)`);
      }
      d.setStatusExtra('api', { host: cfg.api.host, loopbackOnly: exposed === null, warnings: exposed ? [exposed] : [], estopUrl });
    }
    // Last, so the threads started above (SQLite writer, e-stop listener) keep every CPU; later children get them back
    // (src/util/affinity.ts withProcessCpus).
    if (cpus) {
      try {
        pinMainThread(cpus);
        mainPinned = true;
        notes.push(
          `CPU pinning: control thread on CPU ${cpus.control}${cpuClaim ? ` (claimed: ${cpuClaim.file})` : ''}, main thread on CPU ${formatCpuList(threadCpus(process.pid))} (controlCpu ${cfg.controlCpu}); processes it starts get CPUs ${formatCpuList(cpus.all)}; set through ${affinityMechanism()}`,
        );
      } catch (e) {
        notes.push(`CPU pinning: the main thread is not pinned (${(e as Error).message}); it shares the control thread's CPU`);
      }
    }
  } catch (e) {
    try {
      await release();
    } catch (e2) {
      notes.push(`while closing after a failed start: ${(e2 as Error).message}`);
    }
    throw e;
  }
  if (o.startLoop ?? true) daemon.start();
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= release();
    return closing;
  };
  return { daemon, api, log, backend, url, estopUrl, swapValidation, notes, close };
}

/**
 * The e-stop listener's port from api.estopPort: null = the API's port + 1 (a free one when the API's was 0, or
 * 65535), 0 = a free one, -1 = no listener (null returned).
 */
export function estopListenerPort(apiPort: number, estopPort: number | null, boundApiPort: number): number | null {
  if (estopPort === -1) return null;
  if (estopPort !== null) return estopPort;
  return apiPort === 0 || boundApiPort >= 65535 ? 0 : boundApiPort + 1;
}

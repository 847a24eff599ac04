/**
 * The control thread: a worker_threads Worker that runs the Daemon (loop.ts, unchanged) with its robot backend (the
 * simulated cell, or the ROS 2 node over DDS) and its own policy and reward sessions, so that nothing on the main
 * thread (REST, event streams, SQLite, model validation, the trainer's supervisor, a dashboard) can delay a tick. The
 * main thread's side is thread.ts (DaemonThread); the messages are in thread-protocol.ts.
 *
 * The ROS 2 robot (ThreadRos2Backend): the DDS shim is a Node-API addon (context-aware: each thread that loads it gets
 * its own instance), so this thread opens its own DDS participant; the backend, the daemon's ROS services and topics
 * (DaemonRosNode) and the teleop inputs live here with it. Their callbacks run on this thread's event loop, between
 * ticks: a ROS e-stop (robot topic or service) latches here without passing through the main thread.
 *
 * What still shares this thread with the tick, and why no tick is late for it:
 * - The simulated cell's reset (20-90 ms of synchronous wasm) and a connector switch run in state 'resetting', between
 *   episodes: no control tick is due and the arm is not commanded; an e-stop requested meanwhile is seen right after
 *   the reset, before any motion (Daemon polls the shared flag there). The cell is the robot, so it has to live on
 *   the thread that commands it; moving the reset elsewhere would mean a second cell and copying its state. It runs
 *   in the normal class (realtime-class.ts says why).
 * - Creating a model's onnxruntime session is synchronous native work (about 10 ms): it starts right after a tick
 *   (Daemon.afterNextTick), in the longest stretch without a tick due.
 * - Log calls are messages to the main thread, which owns the SQLite log; the id of a new episode comes back as a
 *   promise while the episode is being set up (no tick due).
 * - Commands from the main thread are read from their shared-memory ring at the top of each tick and every millisecond
 *   in between (poll), never from a MessagePort: no lock a normal-priority thread may hold (thread-protocol.ts).
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { formatCpuList, setThreadCpus, threadCpus } from '../util/affinity.ts';
import { ModelFileBuffer, RewardModel, type LoadOptions } from '../policy/onnx-model.ts';
import { sensorsOf, type EpisodeSpec, type EstopListener, type EstopSignal, type RobotBackend } from '../robot/backend.ts';
import { SimBackend, simCellOptions } from '../robot/sim-backend.ts';
import { createRos2Backend } from '../ros2/config.ts';
import { DaemonRosNode } from '../ros2/node.ts';
import { TeleopInput } from '../ros2/teleop.ts';
import type { Ros2Transport } from '../ros2/transport.ts';
import type { Ros2Backend } from '../ros2/backend.ts';
import type { BackendSensors, GroundTruth, Observation, Vec3 } from '../core/types.ts';
import type { DaemonEvent, DaemonLog, EpisodeBegin, EpisodeFinish, ResidualPolicy, RewardScorer, TickTransition } from './interfaces.ts';
import { GcWatch, HeapMeter } from './gc-watch.ts';
import { ThreadStats, type ThreadSample } from './thread-stats.ts';
import { Daemon } from './loop.ts';
import { loadPolicyFile, rewardFromModel } from './models.ts';
import { RealtimeClass } from './realtime-class.ts';
import { warmUp, type WarmupReport } from './warmup.ts';
import {
  absNow,
  EstopFlag,
  MessageRing,
  type CallReply,
  type Command,
  type EstopStats,
  type EstopVia,
  type FromControl,
  type LogCall,
  type NoteLabelArgs,
  type ResetGoalArgs,
  type SimulationRequest,
  type ThreadInit,
  type ThreadRos2Backend,
  type ToControl,
} from './thread-protocol.ts';
import type { PracticeRequest } from './types.ts';
import type { TakeoverRequest } from './takeover.ts';

if (!parentPort) throw new Error('thread-host.ts runs as a worker thread (see src/daemon/thread.ts)');
const port = parentPort;
/** The events ring (set at init); before it exists, the port ('ready', 'startFailed'). */
let events: MessageRing | null = null;
let commands: MessageRing | null = null;
let answers: MessageRing | null = null;
const post = (m: FromControl): void => {
  if (!events) return port.postMessage(m);
  try {
    events.write(m);
  } catch {
    port.postMessage(m); // larger than the whole ring (none is, by far): out of order rather than a throw in a tick
  }
};
/** How often commands are read between ticks (ms): the wait of a main-thread call, as nobody wakes this thread. */
const COMMAND_POLL_MS = 1;
/** Messages received on the worker's port (only 'init' and 'estopWake' belong there): for the test that says so. */
let portMessages = 0;

/** The daemon's log, on the main thread: every call is a message, in order; nothing here waits inside a tick. */
class ThreadLog implements DaemonLog {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>();

  private call(make: (id: number) => LogCall): Promise<number> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      post({ type: 'log', call: make(id) });
    });
  }

  beginEpisode(e: EpisodeBegin): Promise<number> {
    return this.call((id) => ({ op: 'begin', id, e }));
  }
  transition(t: TickTransition): void {
    post({ type: 'log', call: { op: 'transition', t } });
  }
  endEpisode(id: number, end: EpisodeFinish): void {
    post({ type: 'log', call: { op: 'end', id, end } });
  }
  event(e: DaemonEvent): void {
    post({ type: 'log', call: { op: 'event', e } });
  }
  async flush(): Promise<void> {
    await this.call((id) => ({ op: 'flush', id }));
  }
  async close(): Promise<void> {}

  reply(id: number, value: number | undefined, error: string | undefined): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (error !== undefined) w.reject(new Error(error));
    else w.resolve(value ?? 0);
  }
}

/**
 * The robot as the daemon sees it, behind the shared e-stop flag: while a request is pending (not yet latched), no
 * motion reaches the robot, whatever path asks for it. The daemon's own poll latches it first on every path it knows.
 */
class GuardedBackend implements RobotBackend {
  readonly kind;
  commandsRefused = 0;
  /** Only where the robot has them (the simulated cell): the daemon looks for them. */
  readonly groundTruth?: () => GroundTruth;
  readonly domains?: () => string[];
  /** When motion commands reached the robot (absNow), newest last: what the campaign times e-stops against. */
  readonly motionTimes: number[] = [];

  constructor(
    private readonly inner: RobotBackend,
    private readonly flag: EstopFlag,
    /** Runs the robot's work outside ticks (reset, retract): RealtimeClass.normalDuring for the simulated cell. */
    private readonly offTick: <T>(work: () => Promise<T>) => Promise<T> = (work) => work(),
  ) {
    this.kind = inner.kind;
    if (inner.groundTruth) this.groundTruth = (): GroundTruth => (inner.groundTruth as () => GroundTruth).call(inner);
    if (inner.domains) this.domains = (): string[] => (inner.domains as () => string[]).call(inner);
  }

  private blocked(): boolean {
    if (this.flag.pending() === null) return false;
    this.commandsRefused++;
    this.inner.stop();
    return true;
  }

  observe(): Observation {
    return this.inner.observe();
  }
  /** Passed on (an optional member a wrapper drops would hide the depth camera, and a depth model would be refused). */
  sensors(): BackendSensors {
    return sensorsOf(this.inner);
  }
  command(delta: Vec3): void {
    if (this.blocked()) return;
    this.motionTimes.push(absNow());
    if (this.motionTimes.length > 4096) this.motionTimes.splice(0, 2048);
    this.inner.command(delta);
  }

  /** The simulated cell (SimulationRequest). */
  get sim(): SimBackend {
    if (!(this.inner instanceof SimBackend)) throw new Error('the robot is not the simulated cell');
    return this.inner;
  }
  async moveToStart(spec: EpisodeSpec): Promise<void> {
    if (!this.blocked()) await this.offTick(() => this.inner.moveToStart(spec));
  }
  stop(): void {
    this.inner.stop();
  }
  async retract(dz: number): Promise<void> {
    if (!this.blocked()) await this.offTick(() => this.inner.retract(dz));
  }
  estopEngaged(): EstopSignal {
    return this.inner.estopEngaged();
  }
  onEstop(listener: EstopListener): () => void {
    return this.inner.onEstop(listener);
  }
  zeroWrench(): void {
    this.inner.zeroWrench();
  }
  clock(): number {
    return this.inner.clock();
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/** This thread's model loads read their files into one reused buffer (ModelFileBuffer says why). */
const loadOptions: LoadOptions = { fileBuffer: new ModelFileBuffer() };

async function loadReward(path: string): Promise<RewardScorer> {
  return rewardFromModel(await RewardModel.load(path, loadOptions));
}

let daemon: Daemon | null = null;
let backend: GuardedBackend | null = null;
/** The ROS 2 side when the robot is on ROS: closed at shutdown after the daemon has held the arm. */
let ros: { transport: Ros2Transport; backend: Ros2Backend; node: DaemonRosNode | null; teleop: TeleopInput | null } | null = null;
let flag: EstopFlag | null = null;
let replies: MessagePort | null = null;
const log = new ThreadLog();
/** This thread's garbage collections, to say which ones a missed tick waited through (call 'lateTicks'). */
const gcWatch = new GcWatch().start();
/** This thread's allocation and collections by kind (call 'heap', for benchmarks). */
const heapMeter = new HeapMeter();
let stateSeq = 0;
const estopStats: EstopStats = { latched: 0, viaFlag: 0, viaListener: 0, latencyMs: [], lastLatchedAt: null, commandsRefused: 0 };
/** Which swap request each policy in this thread came from (0: the startup policy), to name it to the main thread. */
const policyIds = new Map<ResidualPolicy, number>();
/** Model loads and swaps, one at a time, in the order the main thread asked. */
let modelChain: Promise<void> = Promise.resolve();
/** When this thread loaded models (performance.now start, ms taken), newest last: what a late tick may have waited for. */
const modelLoads: Array<{ start: number; ms: number }> = [];
async function timedLoad<T>(load: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await load();
  } finally {
    modelLoads.push({ start, ms: performance.now() - start });
    if (modelLoads.length > 256) modelLoads.shift();
  }
}
function loadsDuring(from: number, to: number): number {
  return modelLoads.filter((l) => l.start < to && l.start + l.ms > from).length;
}

function latched(seq: number, requestedAt: number, via: EstopVia): void {
  const now = absNow();
  const latencyMs = now - requestedAt;
  estopStats.lastLatchedAt = now;
  estopStats.latched++;
  if (via === 'flag') estopStats.viaFlag++;
  if (via === 'listener') estopStats.viaListener++;
  estopStats.latencyMs.push(latencyMs);
  if (estopStats.latencyMs.length > 1000) estopStats.latencyMs.shift();
  post({ type: 'estopLatched', seq, latencyMs, via });
}

/** Daemon.estopRequest: the shared flag, polled at every tick and right before every motion command. */
function pollFlag(): string | null {
  const p = flag?.pending();
  if (!p || !flag) return null;
  flag.acknowledge(p.seq);
  latched(p.seq, p.requestedAt, 'flag');
  return p.detail;
}

/** This thread's id (Linux priorities, classes and CPU masks are per thread). */
function ownTid(): number {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (!Number.isInteger(tid)) throw new Error('no thread id in /proc/thread-self');
  return tid;
}

/**
 * Nice applies to this thread alone (inference runs on it too: onnxruntime-node runs a session on the calling thread,
 * one intra-op thread), set first, so that threads it starts later inherit it. Returns lines for the operator.
 */
function applyThreadNice(nice: number | null): string[] {
  if (nice === null) return [];
  try {
    const tid = ownTid();
    setPriority(tid, nice);
    return [`control thread: nice ${getPriority(tid)} (controlPriority)`];
  } catch (e) {
    return [`control thread: could not set nice ${nice} (${(e as Error).message}); it runs at the process's priority`];
  }
}

const realtimeClass = new RealtimeClass({ tid: ownTid, fault: (message) => post({ type: 'fault', message }) });

/**
 * The control CPU the main thread chose and claimed (src/app/control-cpu.ts): this thread alone on it
 * (src/util/affinity.ts says why); the main thread pins itself to the other CPUs.
 */
function applyThreadCpu(cpu: number | null, setting: number | null): string[] {
  if (cpu === null) return [];
  try {
    const tid = ownTid();
    setThreadCpus(tid, [cpu]);
    return [`control thread: CPU ${formatCpuList(threadCpus(process.pid, tid))} (controlCpu ${setting})`];
  } catch (e) {
    return [`control thread: not pinned (${(e as Error).message}); it runs on any CPU`];
  }
}

async function init(m: ThreadInit): Promise<void> {
  flag = new EstopFlag(m.estop);
  replies = m.replies;
  commands = new MessageRing(m.commands);
  answers = new MessageRing(m.answers);
  const cfg = m.config;
  const notes: string[] = [];
  // The real-time class and the CPU pin come last, right before 'ready': start-up (the cell, the models, the warm-up:
  // seconds of CPU under load) runs in the normal class on any CPU, where it cannot hold another real-time thread of
  // that CPU (another daemon's control thread) off its core. Nice first, so that threads started meanwhile inherit it.
  notes.push(...applyThreadNice(cfg.controlPriority));
  const spec = m.backend;
  let robot: RobotBackend;
  if (spec?.kind === 'ros2') {
    const made = await createRos2Backend(spec.section, { tickHz: cfg.tickHz, goal: spec.goal });
    ros = { transport: made.transport, backend: made.backend, node: null, teleop: null };
    robot = made.backend;
    notes.push(`control thread: ros2 backend over ${made.transport.name} (its own DDS participant)`);
  } else {
    robot = await SimBackend.create({ connector: cfg.backend.sim.connector, cell: simCellOptions(cfg) });
  }
  backend = new GuardedBackend(robot, flag, robot instanceof SimBackend ? realtimeClass.normalDuring : undefined);
  let policy: ResidualPolicy | null = null;
  let reward: RewardScorer | null = null;
  if (m.policyPath) {
    try {
      policy = await loadPolicyFile(m.policyPath, loadOptions);
      policyIds.set(policy, 0);
    } catch (e) {
      notes.push(`control thread: policy ${m.policyPath} refused: ${(e as Error).message} (P-controller alone)`);
    }
  }
  if (m.rewardPath) {
    try {
      reward = await loadReward(m.rewardPath);
    } catch (e) {
      notes.push(`control thread: reward model ${m.rewardPath} refused: ${(e as Error).message}`);
    }
  }
  // Before 'ready': V8 optimizes the tick's code and MuJoCo's wasm tiers up on a cell of the warm-up's own (warmup.ts).
  let warmup: WarmupReport | null = null;
  if (cfg.controlWarmupTicks > 0) {
    const f = flag;
    try {
      warmup = await warmUp({ config: cfg, calibration: m.calibration, policy, reward, ticks: cfg.controlWarmupTicks, abort: () => f.pending() !== null });
      notes.push(
        `control thread: warmed up on a cell of its own, ${warmup.controlTicks} control ticks in ${warmup.episodes} episodes, ${(warmup.ms / 1000).toFixed(1)} s (controlWarmupTicks)`,
      );
    } catch (e) {
      notes.push(`control thread: warm-up failed (${(e as Error).message}); its first ticks run cold`);
    }
  }
  const d = new Daemon({
    backend,
    config: cfg,
    calibration: m.calibration,
    log,
    policy,
    reward,
    estopRequest: pollFlag,
    beforeTick: poll,
    threadProbe: threadProbe(),
    ...(m.timingWindow ? { timingWindow: m.timingWindow } : {}),
    goalEndings: m.goalEndings,
  });
  daemon = d;
  d.on('state', (state) => post({ type: 'state', state, seq: ++stateSeq }));
  d.on('status', (status) => post({ type: 'status', status }));
  d.on('episode', (summary) => post({ type: 'episode', summary }));
  d.on('fault', (message) => post({ type: 'fault', message }));
  d.on('takeover', (change) => post({ type: 'takeover', change }));
  d.on('labelRequest', (request) => post({ type: 'labelRequest', request }));
  if (spec?.kind === 'ros2' && ros) attachRos(d, spec, ros);
  notes.push(...applyThreadCpu(m.controlCpu, cfg.controlCpu));
  if (cfg.realtime && cfg.controlRealtime !== null) notes.push(...realtimeClass.take(cfg.controlRealtime));
  else if (cfg.controlRealtime !== null) {
    // Free-running, the loop never sleeps: in the real-time class it would hold its CPU (95 % of each second, the
    // kernel's limit) from every normal thread and from other daemons' real-time control threads there.
    notes.push(`control thread: normal scheduling, no real-time priority (controlRealtime ${cfg.controlRealtime}): the loop free-runs (realtime false)`);
  }
  port.postMessage({ type: 'ready', status: d.status(), notes, warmup, realtime: realtimeClass.realtimePriority } satisfies FromControl);
  // From here on, events go through their ring, and commands are polled (the main thread sends none before 'ready').
  events = new MessageRing(m.events);
  setInterval(poll, COMMAND_POLL_MS);
}

/** The commands so far, in order; and whatever waited in this thread's backlogs (a full ring). Never waits. */
function poll(): void {
  events?.flush();
  answers?.flush();
  commands?.read((c) => handle(c as Command));
}

/** The daemon's face on the ROS graph and the teleop inputs, on this thread beside the backend they read. */
function attachRos(d: Daemon, spec: ThreadRos2Backend, r: NonNullable<typeof ros>): void {
  r.node = new DaemonRosNode(r.transport, d, r.backend, spec.node);
  const tp = spec.section.teleop;
  if (tp.twist || tp.joy) {
    r.teleop = new TeleopInput(r.transport, tp);
    d.addTakeoverInput(r.teleop);
  }
}

/** This thread's counters for the record of a missed tick (opened here: /proc/thread-self is the calling thread). */
function threadProbe(): (() => ThreadSample) | null {
  const s = ThreadStats.open();
  return s ? () => s.sample() : null;
}

function answer(id: number, fn: () => unknown): void {
  const reply: CallReply = { id, state: daemon?.currentState ?? 'idle', stateSeq };
  try {
    reply.value = fn();
  } catch (e) {
    reply.error = (e as Error).message;
  }
  reply.state = daemon?.currentState ?? 'idle';
  reply.stateSeq = stateSeq;
  if (!answers || !replies) return;
  try {
    answers.write(reply);
  } catch {
    replies.postMessage(reply); // larger than the ring (a benchmark's timing samples): the main thread reads both
  }
}

function swapPolicy(d: Daemon, id: number, path: string | null, version: string | null, at: 'episode-boundary' | 'between-ticks' | null): void {
  modelChain = modelChain.then(async () => {
    let next: ResidualPolicy | null = null;
    if (path !== null) {
      await d.afterNextTick();
      try {
        next = await timedLoad(() => loadPolicyFile(path, loadOptions));
      } catch (e) {
        post({ type: 'policySwapped', id, oldId: id, error: `control thread could not load ${path}: ${(e as Error).message}` });
        return;
      }
      if (version !== null && next.version !== version) {
        await next.dispose?.();
        post({ type: 'policySwapped', id, oldId: id, error: `${path} is now ${next.version}, not the validated ${version}` });
        return;
      }
      policyIds.set(next, id);
    }
    void d.setPolicy(next, at ? { at } : {}).then(async (old) => {
      // A superseded policy comes back as itself: it never drove.
      const oldId = old === null ? null : (policyIds.get(old) ?? null);
      if (old) {
        policyIds.delete(old);
        await old.dispose?.();
      }
      post({ type: 'policySwapped', id, oldId });
    });
  });
}

function swapReward(d: Daemon, path: string | null, version: string | null): void {
  modelChain = modelChain.then(async () => {
    let next: RewardScorer | null = null;
    if (path !== null) {
      await d.afterNextTick();
      try {
        next = await timedLoad(() => loadReward(path));
      } catch (e) {
        post({ type: 'fault', message: `control thread could not load reward model ${path}: ${(e as Error).message}` });
        return;
      }
      if (version !== null && next.version !== version) {
        await next.dispose?.();
        post({ type: 'fault', message: `reward model ${path} is now ${next.version}, not ${version}: kept the current one` });
        return;
      }
    }
    const old = d.setReward(next);
    await old?.dispose?.();
  });
}

function simulation(req: SimulationRequest): unknown {
  if (!backend) throw new Error('no simulated cell yet');
  switch (req.op) {
    case 'pressEstop':
      backend.sim.pressEstop(req.source);
      return null;
    case 'releaseEstop':
      backend.sim.releaseEstop();
      return null;
    case 'motionTimes':
      return backend.motionTimes.filter((t) => t >= req.since);
    case 'offTickWork':
      return { ...realtimeClass.work };
  }
}

async function shutdown(reason: string): Promise<void> {
  let error: string | undefined;
  try {
    if (daemon) {
      await daemon.shutdown(reason);
      await modelChain.catch(() => undefined);
      const m = daemon.models();
      await m.policy?.dispose?.();
      await m.reward?.dispose?.();
    }
    ros?.teleop?.close();
    ros?.node?.close();
    backend?.dispose();
    gcWatch.stop();
    heapMeter.stop();
    // The participant last: its readers are gone, so no DDS callback can reach a thread that is about to end.
    await ros?.transport.close();
  } catch (e) {
    error = (e as Error).message;
  }
  post({ type: 'shutdownDone', ...(error !== undefined ? { error } : {}) });
}

port.on('message', (m: ToControl) => {
  portMessages++;
  if (m.type === 'init') {
    init(m).catch((e: unknown) => port.postMessage({ type: 'startFailed', error: (e as Error).stack ?? String(e) } satisfies FromControl));
    return;
  }
  const d = daemon;
  if (!d) return;
  if (m.type === 'estopWake') {
    // The e-stop listener set the flag (estop-listener.ts): latch now rather than at the next tick. If a tick or a
    // motion command polled it first, nothing is pending any more.
    m.port.on('message', () => {
      const p = flag?.pending();
      if (!p || !flag) return;
      flag.acknowledge(p.seq);
      d.estop(p.detail, 'rest');
      latched(p.seq, p.requestedAt, 'listener');
    });
  }
});

function handle(m: Command): void {
  if (m.type === 'logReply') {
    log.reply(m.id, m.value, m.error);
    return;
  }
  const d = daemon;
  if (!d) return;
  switch (m.type) {
    case 'start':
      d.start();
      break;
    case 'estop':
      // seq 0: not through the flag (an internal e-stop). Else: already latched through the flag (usually: the flag is
      // seen first), or latch now.
      if (m.seq === 0) d.estop(m.detail, m.origin);
      else if (flag && m.seq > flag.acknowledged) {
        const p = flag.pending();
        flag.acknowledge(m.seq);
        d.estop(m.detail, m.origin);
        latched(m.seq, p?.requestedAt ?? absNow(), 'message');
      }
      break;
    case 'call':
      answer(m.id, () => {
        switch (m.method) {
          case 'status':
            return d.status();
          case 'startPractice':
            return d.startPractice(m.arg as PracticeRequest);
          case 'stopPractice':
            return d.stopPractice();
          case 'resetEstop':
            return d.resetEstop();
          case 'takeover':
            return d.takeover(m.arg as TakeoverRequest);
          case 'releaseTakeover':
            return d.releaseTakeover();
          case 'noteLabel': {
            const a = m.arg as NoteLabelArgs;
            return d.noteLabel(a.episodeId, a.success, a.by, a.note);
          }
          case 'resetGoalRefinement': {
            const a = m.arg as ResetGoalArgs;
            return d.resetGoalRefinement(a.domain, a.by);
          }
          case 'timingSamples':
            return d.timingSamples();
          case 'estopStats':
            return { ...estopStats, commandsRefused: backend?.commandsRefused ?? 0 };
          case 'simulation':
            return simulation(m.arg as SimulationRequest);
          case 'lateTicks':
            return {
              lateTicks: d.lateTicks().map((t) => ({
                ...t,
                gc: gcWatch.during(t.startedAt - t.sincePrevStartMs, t.startedAt),
                modelLoads: loadsDuring(t.startedAt - t.sincePrevStartMs, t.startedAt),
              })),
              modelLoadMs: modelLoads.map((l) => l.ms),
              gc: { count: gcWatch.count, totalMs: gcWatch.totalMs, over10Ms: gcWatch.long(10) },
              // CLOCK_MONOTONIC (ms) minus this thread's performance.now: places a late tick on a kernel trace's clock.
              monotonicOffsetMs: Number(process.hrtime.bigint()) / 1e6 - performance.now(),
            };
          case 'heap':
            return { ...heapMeter.read(), ticks: d.status().timing.ticks };
          case 'channels':
            return { portMessages, eventsBacklog: events?.backlogged ?? 0, answersBacklog: answers?.backlogged ?? 0 };
        }
      });
      break;
    case 'ping':
      post({ type: 'pong', id: m.id });
      break;
    case 'setPolicy':
      swapPolicy(d, m.id, m.path, m.version, m.at);
      break;
    case 'setReward':
      swapReward(d, m.path, m.version);
      break;
    case 'shutdown':
      void shutdown(m.reason);
      break;
  }
}

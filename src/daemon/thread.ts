/**
 * The control loop in its own thread, seen from the main thread: DaemonThread implements DaemonControl (what the API,
 * the swap manager, the dashboard and the learning wiring drive) and the daemon's typed events, over a worker running
 * thread-host.ts. The main thread keeps REST, event streams, the SQLite log (the worker's log calls arrive as messages
 * and go to the log given here), model validation and the trainer.
 *
 * - Commands go into a shared-memory ring the control thread polls at the top of each tick and every millisecond between
 *   ticks; its answers, events and log calls come back in two more that this thread polls (thread-protocol.ts says why
 *   not a MessagePort: its lock let a normal-priority sender hold the real-time thread).
 * - E-stop: the shared flag first (the control thread polls it at every tick and right before every motion command, so
 *   a request never waits behind messages or a busy main thread), then a command with the detail.
 * - Commands that answer (status, startPractice, stopPractice, resetEstop) wait for the control thread's answer:
 *   the main thread waits for the control thread, never the other way round. Between ticks that is about a millisecond
 *   (the control thread's poll); during a simulated reset up to its length (tens of ms).
 * - Policies: the main thread loads and validates a candidate (its own session) as in process; setPolicy then sends the
 *   file's path and version, and the control thread loads its own session right after a tick. `models()` gives the
 *   main thread's copies (what validation compares against); setPolicy resolves with the copy that stopped driving.
 */
import { waitForState } from './wait.ts';
import { EventEmitter } from 'node:events';
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { SeatedEnding } from '../control/goal-refine.ts';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import { holdForkCeiling } from '../util/realtime.ts';
import { startWorker, workerStarted } from '../util/worker.ts';
import type { EstopListenerInit, FromEstopListener } from './estop-listener.ts';
import type { DaemonLog, ResidualPolicy, RewardScorer } from './interfaces.ts';
import type { ResetResult } from './safety.ts';
import {
  EstopFlag,
  MessageRing,
  type CallMethod,
  type CallReply,
  type EstopStats,
  type FromControl,
  type LogCall,
  type NoteLabelArgs,
  type ResetGoalArgs,
  type ThreadRos2Backend,
  type SimulationRequest,
  type Command,
  type ToControl,
} from './thread-protocol.ts';
import type { DaemonControl, DaemonEvents, DaemonState, DaemonStatus, PracticeRequest, PracticeRun, SwapOptions } from './types.ts';
import type { TakeoverRequest } from './takeover.ts';
import type { GcEntry, HeapReading } from './gc-watch.ts';
import type { LateTick } from './timing.ts';
import type { WarmupReport } from './warmup.ts';

export interface DaemonThreadOptions {
  config: DaemonConfig;
  calibration: Calibration;
  /** The log the control thread's log calls go to (on this thread). */
  log: DaemonLog;
  /** Startup models, loaded on this thread (validation's reference); the control thread loads its own from `path`. */
  policy: ResidualPolicy | null;
  reward: RewardScorer | null;
  timingWindow?: number;
  /** Seated practice endings from the log, restoring x*'s refinement (DaemonOptions.goalEndings). */
  goalEndings?: Record<string, SeatedEnding[]>;
  /** How long a command waits for the control thread's answer (ms). Default 5000 (a connector switch takes ~1 s). */
  callTimeoutMs?: number;
  /** A robot the control thread builds itself (the ROS 2 node over DDS); default: the simulated cell. */
  backend?: ThreadRos2Backend | null;
  /** The CPU the control thread pins itself to (chosen and claimed by src/app/control-cpu.ts); default none. */
  controlCpu?: number | null;
}

const hostUrl = new URL('./thread-host.ts', import.meta.url);
const listenerUrl = new URL('./estop-listener.ts', import.meta.url);
/**
 * Concurrent TurboFan for the control thread's isolate: off by default, so its optimizations run on its own thread
 * instead of as jobs posted to V8's platform threads. Posting one takes the platform's task-queue mutex, which any
 * normal-priority thread of the process posting its own job may hold while the load keeps it off a CPU: the real-time
 * control thread then waits for it (results/campaign/stall-inversion/). The cost, a dearer tick compute p99, is well
 * inside the tick's budget. Env INSERTION_CONTROL_CONCURRENT_RECOMPILATION=on|off, for measuring.
 */
export function controlConcurrentRecompilation(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['INSERTION_CONTROL_CONCURRENT_RECOMPILATION'];
  if (v === undefined || v === '' || v === 'off') return false;
  if (v === 'on') return true;
  throw new Error(`INSERTION_CONTROL_CONCURRENT_RECOMPILATION must be on or off, not ${JSON.stringify(v)}`);
}

/**
 * The fork ceiling for this process's forks while the control thread is real-time (env INSERTION_FORK_CEILING=on|off,
 * default on; off for measuring: results/campaign/stall-inversion/).
 */
export function forkCeilingWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['INSERTION_FORK_CEILING'];
  if (v === undefined || v === '' || v === 'on') return true;
  if (v === 'off') return false;
  throw new Error(`INSERTION_FORK_CEILING must be on or off, not ${JSON.stringify(v)}`);
}

/** How long shutdown waits for the control thread to close its episode and flush (ms). */
const SHUTDOWN_WAIT_MS = 15_000;
/** Ring sizes (bytes): commands are small; answers hold a status (kB) or a benchmark's timing samples (up to ~3 MB);
 *  events hold a logged transition per tick (tens of kB with its image): seconds of a blocked main thread. */
const COMMANDS_BYTES = 1 << 18;
const ANSWERS_BYTES = 1 << 22;
const EVENTS_BYTES = 1 << 23;
/** How often this thread reads the control thread's events and log calls (ms). */
const EVENTS_POLL_MS = 4;
/** How long a waiting call sleeps between looks at the answers ring (ms): nobody wakes it (thread-protocol.ts). */
const ANSWER_POLL_MS = 0.25;

export class DaemonThread extends EventEmitter<DaemonEvents> implements DaemonControl {
  /** Always true: tells a DaemonThread from an in-process Daemon. */
  readonly threaded = true;
  private state: DaemonState = 'idle';
  private stateSeq = 0;
  private lastStatus: DaemonStatus;
  private callId = 0;
  private swapId = 0;
  /** This thread's copies of the models: the driving policy, candidates in flight by request id, the reward model. */
  private policy: ResidualPolicy | null;
  private readonly candidates = new Map<number, { policy: ResidualPolicy | null; resolve: (old: ResidualPolicy | null) => void }>();
  private reward: RewardScorer | null;
  private exited = false;
  private shuttingDown: Promise<void> | null = null;
  private shutdownDone: ((error?: string) => void) | null = null;
  private readonly pings = new Map<number, () => void>();
  /** Startup notes from the control thread (a model it could not load). */
  readonly notes: string[] = [];
  /** What the control thread's warm-up did before it was ready (null: off, or it failed: a note says so). */
  readonly warmup: WarmupReport | null;
  /** Request -> latch of e-stops as the control thread measured them (ms), newest last. */
  readonly estopLatencies: number[] = [];
  private estopListener: Worker | null = null;
  /** http://host:port/estop of the e-stop listener (startEstopListener), or null. */
  estopUrl: string | null = null;

  private readonly poller: NodeJS.Timeout;
  /** Ends this thread's hold on the fork ceiling (holdForkCeiling); a no-op when it holds none. */
  private dropCeiling: () => void = () => undefined;
  /** A call's sleep between looks at the answers ring (Atomics.wait on a word nobody changes). */
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));

  private constructor(
    private readonly worker: Worker,
    /** Answers too large for their ring, read synchronously. */
    private readonly replies: MessagePort,
    private readonly rings: { commands: MessageRing; answers: MessageRing; events: MessageRing },
    private readonly flag: EstopFlag,
    private readonly log: DaemonLog,
    o: DaemonThreadOptions,
    ready: { status: DaemonStatus; notes: string[]; warmup: WarmupReport | null },
  ) {
    super();
    this.policy = o.policy;
    this.reward = o.reward;
    this.lastStatus = ready.status;
    this.state = ready.status.state;
    this.notes.push(...ready.notes);
    this.warmup = ready.warmup;
    this.callTimeoutMs = o.callTimeoutMs ?? 5000;
    this.controlPriority = o.config.controlPriority;
    worker.on('message', (m: FromControl) => this.onMessage(m));
    worker.on('error', (e) => this.died(`control thread failed: ${e.stack ?? e.message}`));
    this.poller = setInterval(() => this.poll(), EVENTS_POLL_MS).unref();
    worker.on('exit', (code) => {
      this.exited = true;
      this.dropCeiling();
      this.poll(); // what it said before it ended (its log calls); calls from handlers now answer from the last status
      clearInterval(this.poller);
      if (!this.shuttingDown) this.died(`control thread exited (code ${code})`);
      this.shutdownDone?.('control thread exited');
    });
  }

  private readonly callTimeoutMs: number;
  private readonly controlPriority: number | null;

  /** Starts the control thread and waits until its daemon exists (cell, models); `start()` then starts its ticks. */
  static async create(o: DaemonThreadOptions): Promise<DaemonThread> {
    for (const [what, m] of [
      ['policy', o.policy],
      ['reward model', o.reward],
    ] as const) {
      if (m && !m.path)
        throw new Error(`the control thread loads its ${what} from its file: ${m.version} has no path (use the in-process daemon, controlThread: false)`);
    }
    // V8's memory reducer off for this heap: when a heap's allocation rate drops (this thread's is low, ~170 kB a tick)
    // it starts full mark-compacts and shrinks the young generation, and those were the thread's longest pauses
    // (the README's fail-safety table: results/campaign/gc-memory-reducer-pairs.json).
    const worker = startWorker(hostUrl, null, { memoryReducer: false, concurrentRecompilation: controlConcurrentRecompilation() });
    const { port1, port2 } = new MessageChannel();
    const flag = new EstopFlag();
    const rings = { commands: MessageRing.create(COMMANDS_BYTES), answers: MessageRing.create(ANSWERS_BYTES), events: MessageRing.create(EVENTS_BYTES) };
    const init: ToControl = {
      type: 'init',
      config: o.config,
      calibration: o.calibration,
      policyPath: o.policy?.path ?? null,
      rewardPath: o.reward?.path ?? null,
      timingWindow: o.timingWindow ?? null,
      goalEndings: o.goalEndings ?? {},
      backend: o.backend ?? null,
      controlCpu: o.controlCpu ?? null,
      estop: flag.buffer,
      commands: rings.commands.buffer,
      answers: rings.answers.buffer,
      events: rings.events.buffer,
      replies: port2,
    };
    // Log calls may come before 'ready' (none do today); they are answered as soon as the proxy exists.
    const early: FromControl[] = [];
    const started = workerStarted(worker, 'control thread', (m: FromControl) => {
      if (m.type === 'ready') return m;
      if (m.type === 'startFailed') throw new Error(`control thread could not start: ${m.error}`);
      early.push(m);
      return undefined;
    });
    worker.postMessage(init, [port2]);
    const ready = await started.catch(async (e: unknown) => {
      port1.close();
      await worker.terminate();
      throw e;
    });
    const t = new DaemonThread(worker, port1, rings, flag, o.log, o, ready);
    // While it is real-time, this process's forks (the trainer's start) run just below it (util/realtime.ts says why).
    if (ready.realtime !== null && forkCeilingWanted()) t.dropCeiling = holdForkCeiling(ready.realtime, (m) => t.emit('fault', m));
    for (const m of early) t.onMessage(m);
    return t;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts the tick schedule in the control thread. */
  start(): void {
    this.send({ type: 'start' });
  }

  /**
   * Starts the e-stop listener (estop-listener.ts): its own thread answering POST /estop on `port` (0: a free one) by
   * setting the shared flag and waking the control thread, never through this thread. Resolves with its URL; rejects
   * if it cannot listen (the caller says which setting).
   */
  async startEstopListener(host: string, port: number): Promise<string> {
    if (this.estopListener) throw new Error('the e-stop listener is running already');
    const worker = startWorker(listenerUrl, null);
    this.estopListener = worker;
    const { port1, port2 } = new MessageChannel();
    try {
      const got = await new Promise<FromEstopListener>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`e-stop listener exited while starting (code ${code})`)));
        const init: EstopListenerInit = { type: 'init', host, port, flag: this.flag.buffer, wake: port1, nice: this.controlPriority };
        worker.postMessage(init, [port1]);
      });
      if (got.type === 'failed') throw new Error(got.error);
      if (got.type !== 'listening') throw new Error(`e-stop listener: '${got.type}' before it was listening`);
      worker.on('message', (m: FromEstopListener) => {
        if (m.type !== 'press') return;
        this.listenerPresses.received++;
        if (m.latched) this.listenerPresses.latched++;
        this.listenerPresses.confirmMs.push(m.confirmMs);
        if (this.listenerPresses.confirmMs.length > 1000) this.listenerPresses.confirmMs.shift();
      });
      if (!this.exited) this.worker.postMessage({ type: 'estopWake', port: port2 } satisfies ToControl, [port2]);
      const h = got.family === 'IPv6' ? `[${got.address}]` : got.address;
      this.estopUrl = `http://${h}:${got.port}/estop`;
      return this.estopUrl;
    } catch (e) {
      this.estopListener = null;
      port2.close();
      await worker.terminate();
      throw e;
    }
  }

  /** Graceful: the control thread holds the arm, closes the episode, stops ticking, flushes the log; then it ends. */
  shutdown(reason = 'shutdown'): Promise<void> {
    this.shuttingDown ??= (async () => {
      // The listener first: an e-stop during shutdown goes through the API (or finds the arm held already).
      await this.estopListener?.terminate();
      this.estopListener = null;
      if (!this.exited) {
        const done = new Promise<string | undefined>((resolve) => {
          this.shutdownDone = resolve;
          setTimeout(() => resolve(`control thread did not finish its shutdown in ${SHUTDOWN_WAIT_MS} ms`), SHUTDOWN_WAIT_MS).unref();
        });
        this.send({ type: 'shutdown', reason });
        const error = await done;
        if (error) this.emit('fault', error);
        // Every log call the control thread made before it answered has been handled (same port, in order).
        await this.worker.terminate();
      }
      this.dropCeiling();
      this.poll();
      clearInterval(this.poller);
      this.replies.close();
      for (const [, resolve] of this.pings) resolve();
      this.pings.clear();
      for (const [, c] of this.candidates) c.resolve(c.policy);
      this.candidates.clear();
      await this.log.flush();
    })();
    return this.shuttingDown;
  }

  // ---------------------------------------------------------------- DaemonControl

  /** False once the control thread has ended (after shutdown, or if it died). */
  get alive(): boolean {
    return !this.exited;
  }

  /** As of the control thread's newest event: what it said since this thread's last poll is read first. */
  get currentState(): DaemonState {
    this.poll();
    return this.state;
  }

  get policyVersion(): string | null {
    return this.policy?.version ?? null;
  }

  /** The control thread's status, as of now (its last published one if it does not answer in time). */
  status(): DaemonStatus {
    if (this.exited) return { ...this.lastStatus, state: this.state };
    try {
      this.lastStatus = this.withExtras(this.call('status') as DaemonStatus);
    } catch {
      // A thread that is busy for longer than the call timeout (it should not be): the last status it published.
    }
    return this.lastStatus;
  }

  startPractice(req: PracticeRequest): { ok: true; run: PracticeRun } | { ok: false; reason: string } {
    if (this.exited) return { ok: false, reason: 'the control thread has ended' };
    return this.call('startPractice', req) as { ok: true; run: PracticeRun } | { ok: false; reason: string };
  }

  stopPractice(): { ok: true; wasRunning: boolean } {
    if (this.exited) return { ok: true, wasRunning: false };
    return this.call('stopPractice') as { ok: true; wasRunning: boolean };
  }

  /** Latches without waiting for anything: the shared flag is seen at the control thread's next tick or motion. */
  estop(detail = 'operator request', origin: 'rest' | 'internal' = 'rest'): void {
    if (this.exited) return;
    const seq = origin === 'rest' ? this.flag.request(detail) : 0;
    this.send({ type: 'estop', seq, detail, origin });
  }

  resetEstop(): ResetResult {
    if (this.exited) return { ok: false, reason: 'the control thread has ended' };
    return this.call('resetEstop') as ResetResult;
  }

  takeover(req: TakeoverRequest): { ok: true; leaseS: number; active: boolean } | { ok: false; reason: string } {
    if (this.exited) return { ok: false, reason: 'the control thread has ended' };
    return this.call('takeover', req) as { ok: true; leaseS: number; active: boolean } | { ok: false; reason: string };
  }

  noteLabel(episodeId: number, success: boolean, by: string, note: string | null = null): { answeredRequest: boolean } {
    if (this.exited) return { answeredRequest: false };
    const arg: NoteLabelArgs = { episodeId, success, by, note };
    return this.call('noteLabel', arg) as { answeredRequest: boolean };
  }

  resetGoalRefinement(domain: string | null, by: string): { reset: string[] } {
    if (this.exited) return { reset: [] };
    const arg: ResetGoalArgs = { domain, by };
    return this.call('resetGoalRefinement', arg) as { reset: string[] };
  }

  releaseTakeover(): { ok: true; wasHolding: boolean } {
    if (this.exited) return { ok: true, wasHolding: false };
    return this.call('releaseTakeover') as { ok: true; wasHolding: boolean };
  }

  setPolicy(policy: ResidualPolicy | null, opts: SwapOptions = {}): Promise<ResidualPolicy | null> {
    if (policy && !policy.path) return Promise.reject(new Error(`policy ${policy.version} has no file: the control thread loads policies from their file`));
    if (this.exited) return Promise.resolve(policy);
    const id = ++this.swapId;
    return new Promise((resolve) => {
      this.candidates.set(id, { policy, resolve });
      this.send({ type: 'setPolicy', id, path: policy?.path ?? null, version: policy?.version ?? null, at: opts.at ?? null });
    });
  }

  /** Returns this thread's copy of the reward model that is replaced; the control thread swaps its own after a tick. */
  setReward(reward: RewardScorer | null): RewardScorer | null {
    if (reward && !reward.path) throw new Error(`reward model ${reward.version} has no file: the control thread loads models from their file`);
    const old = this.reward;
    this.reward = reward;
    this.send({ type: 'setReward', path: reward?.path ?? null, version: reward?.version ?? null });
    return old;
  }

  models(): { policy: ResidualPolicy | null; reward: RewardScorer | null } {
    return { policy: this.policy, reward: this.reward };
  }

  /**
   * Kept on this thread and merged into every status it hands out: the sections (trainer progress, learning, fleet)
   * come several times a second and only this thread shows them. A message to the control thread for each made the
   * control thread wait for this thread: receiving a message takes the port's lock, which the sender holds while it
   * wakes the receiver, and a normal-priority sender that loses its core there holds the real-time thread (measured:
   * 184 such waits in 60 s under load, p99 56 ms, max 68 ms; perf sched_switch with DWARF stacks).
   */
  setStatusExtra(name: string, value: unknown): void {
    if (value === undefined) delete this.extras[name];
    else this.extras[name] = value;
    this.lastStatus = this.withExtras(this.lastStatus);
    this.emit('status', this.lastStatus);
  }

  private readonly extras: Record<string, unknown> = {};

  /** The control thread's status with this thread's sections (those of the control thread, e.g. 'ros2', kept). */
  private withExtras(s: DaemonStatus): DaemonStatus {
    return Object.keys(this.extras).length ? { ...s, extra: { ...s.extra, ...this.extras } } : s;
  }

  // ---------------------------------------------------------------- also like Daemon

  /** Resolves when the daemon reaches `state` (immediately if it is there). */
  whenState(state: DaemonState, timeoutMs = 60_000): Promise<void> {
    return waitForState(this, state, timeoutMs);
  }

  /** Raw per-tick timing samples (ms) of the control thread, for benchmarks. */
  timingSamples(): { compute: Float64Array; computeCpu: Float64Array; backend: Float64Array; jitter: Float64Array; infer: Float64Array } {
    return this.call('timingSamples') as ReturnType<DaemonThread['timingSamples']>;
  }

  /**
   * Resolves when everything the control thread has logged so far is committed: its log calls arrive as messages, so a
   * round trip on the same port first, then the log's own flush.
   */
  async flushLog(): Promise<void> {
    if (!this.exited) {
      const id = ++this.callId;
      await new Promise<void>((resolve) => {
        this.pings.set(id, resolve);
        this.send({ type: 'ping', id });
      });
    }
    await this.log.flush();
  }

  /** The simulated cell in the control thread, for tests and the fault campaign (SimulationRequest). */
  simulation(req: SimulationRequest): unknown {
    return this.call('simulation', req);
  }

  /** The control thread's newest missed control ticks, each with the collections of its heap it waited through, and
   *  its garbage collection so far (count, total ms, those of 10 ms or more). */
  lateTicks(): { lateTicks: LateTick[]; modelLoadMs: number[]; gc: { count: number; totalMs: number; over10Ms: GcEntry[] }; monotonicOffsetMs: number } {
    return this.call('lateTicks') as ReturnType<DaemonThread['lateTicks']>;
  }

  /** The control thread's allocation and collections since it started, and its ticks so far (gc-watch.ts HeapMeter). */
  heap(): HeapReading & { ticks: number } {
    return this.call('heap') as HeapReading & { ticks: number };
  }

  /**
   * What reached the control thread on its MessagePort (only 'init' and the e-stop listener's 'estopWake' belong
   * there: commands go through the ring), and what waits in its backlogs of full rings.
   */
  channels(): { portMessages: number; eventsBacklog: number; answersBacklog: number } {
    return this.call('channels') as ReturnType<DaemonThread['channels']>;
  }

  /** E-stops latched in the control thread, request -> latch latency, motion commands the guard refused. */
  estopStats(): EstopStats {
    return this.call('estopStats') as EstopStats;
  }

  /**
   * What the e-stop listener answered: presses it received, how many the control thread confirmed as latched within
   * its wait (by whichever path saw the flag first: the listener's wake-up, a tick or a motion command's poll, so
   * EstopStats.viaListener may not count them), and each one's request -> confirmed time (ms, newest last).
   */
  estopListenerPresses(): { received: number; latched: number; confirmMs: number[] } {
    return { ...this.listenerPresses, confirmMs: [...this.listenerPresses.confirmMs] };
  }
  private readonly listenerPresses = { received: 0, latched: 0, confirmMs: [] as number[] };

  // ---------------------------------------------------------------- plumbing

  /** Into the commands ring (a full ring keeps it in order in this thread's backlog, flushed at every poll). */
  private send(m: Command): void {
    if (!this.exited) this.rings.commands.write(m);
  }

  /** The control thread's events and log calls so far, in order; and any commands still in the backlog. */
  private poll(): void {
    if (this.polling) return; // a handler of one of its events asking for currentState: it is being read
    this.polling = true;
    try {
      this.rings.commands.flush();
      this.rings.events.read((m) => this.onMessage(m as FromControl));
    } finally {
      this.polling = false;
    }
  }
  private polling = false;

  /** The rings' fill (bytes pending, most ever, times a writer had to keep messages back), for benchmarks. */
  ringStats(): Record<'commands' | 'answers' | 'events', ReturnType<MessageRing['stats']>> {
    return { commands: this.rings.commands.stats(), answers: this.rings.answers.stats(), events: this.rings.events.stats() };
  }

  /** A call the control thread answers at once (between ticks); the main thread waits for it, bounded. */
  private call(method: CallMethod, arg?: PracticeRequest | TakeoverRequest | NoteLabelArgs | ResetGoalArgs | SimulationRequest): unknown {
    if (this.exited) throw new Error('the control thread has ended');
    const id = ++this.callId;
    this.send(arg === undefined ? { type: 'call', id, method } : { type: 'call', id, method, arg });
    const deadline = performance.now() + this.callTimeoutMs;
    let mine: CallReply | null = null;
    const take = (r: CallReply): void => {
      if (r.stateSeq > this.stateSeq) {
        this.stateSeq = r.stateSeq;
        this.state = r.state;
      }
      if (r.id === id) mine = r; // an older id: the late answer to a call that timed out
    };
    for (;;) {
      this.rings.commands.flush();
      this.rings.answers.read((r) => take(r as CallReply));
      for (let got = receiveMessageOnPort(this.replies); got; got = receiveMessageOnPort(this.replies)) take(got.message as CallReply);
      const r = mine as CallReply | null;
      if (r) {
        if (r.error !== undefined) throw new Error(`control thread: ${method}: ${r.error}`);
        return r.value;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.exited) throw new Error(`control thread did not answer ${method} within ${this.callTimeoutMs} ms`);
      Atomics.wait(this.nap, 0, 0, Math.min(left, ANSWER_POLL_MS));
    }
  }

  private onMessage(m: FromControl): void {
    switch (m.type) {
      case 'state':
        if (m.seq > this.stateSeq) {
          this.stateSeq = m.seq;
          this.state = m.state;
        }
        // Every change is emitted, in order, even when an answer already told us the newest state.
        this.emit('state', m.state);
        break;
      case 'status':
        this.lastStatus = this.withExtras(m.status);
        this.emit('status', this.lastStatus);
        break;
      case 'episode':
        this.emit('episode', m.summary);
        break;
      case 'fault':
        this.emit('fault', m.message);
        break;
      case 'takeover':
        this.emit('takeover', m.change);
        break;
      case 'labelRequest':
        this.emit('labelRequest', m.request);
        break;
      case 'log':
        this.onLog(m.call);
        break;
      case 'policySwapped':
        this.onSwapped(m.id, m.oldId, m.error);
        break;
      case 'estopLatched':
        this.estopLatencies.push(m.latencyMs);
        if (this.estopLatencies.length > 1000) this.estopLatencies.shift();
        break;
      case 'pong':
        this.pings.get(m.id)?.();
        this.pings.delete(m.id);
        break;
      case 'shutdownDone':
        this.shutdownDone?.(m.error);
        break;
      case 'ready':
      case 'startFailed':
        break;
    }
  }

  private onLog(c: LogCall): void {
    const reply = (id: number, p: Promise<number | undefined>): void => {
      p.then(
        (value) => this.send({ type: 'logReply', id, ...(value !== undefined ? { value } : {}) }),
        (e: unknown) => this.send({ type: 'logReply', id, error: (e as Error).message }),
      );
    };
    switch (c.op) {
      case 'begin':
        reply(c.id, (async () => await this.log.beginEpisode(c.e))());
        break;
      case 'transition':
        this.log.transition(c.t);
        break;
      case 'end':
        this.log.endEpisode(c.id, c.end);
        break;
      case 'event':
        this.log.event(c.e);
        break;
      case 'flush':
        reply(
          c.id,
          this.log.flush().then(() => undefined),
        );
        break;
    }
  }

  private onSwapped(id: number, oldId: number | null, error: string | undefined): void {
    const c = this.candidates.get(id);
    if (!c) return;
    if (error) {
      this.emit('fault', error);
      this.log.event({ kind: 'swap_rejected', message: error, data: { version: c.policy?.version ?? null } });
    }
    if (oldId === id) {
      // Superseded or not loaded: it never drove; the caller gets it back (and disposes it).
      this.candidates.delete(id);
      c.resolve(c.policy);
      return;
    }
    // The request's policy drives now; the one it replaced goes back to the caller.
    const old = this.policy;
    this.candidates.delete(id);
    this.policy = c.policy;
    c.resolve(old);
  }

  private died(message: string): void {
    if (this.exited && this.state === 'estopped') return;
    // The robot's commands came from that thread and went with it: the simulated cell stops, a ROS arm gets no more
    // motion commands (its driver holds on the command timeout). Say so, once.
    this.state = 'estopped';
    this.emit('state', 'estopped');
    this.emit('fault', message);
  }
}

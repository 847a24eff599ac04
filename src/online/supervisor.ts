/**
 * Starts the background trainer as a child process beside the daemon and keeps it alive: restarted after a crash with
 * exponential back-off (base * 2^k, capped; k resets after a stable run). Its failures never reach the control loop:
 * the daemon only receives messages (progress for status, exports for the hot-swap). Status: state, pid, restarts,
 * last error, and the trainer's progress, attached to the daemon's status as `extra.trainer`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { OnlineTrainerConfig, TrainerProgress } from './trainer.ts';
import type { ChildConfig, TrainerMessage } from './child.ts';
import { withProcessCpus } from '../util/affinity.ts';

export interface SupervisorOptions {
  config: OnlineTrainerConfig;
  /** Back-off after a crash: first delay, cap (ms); reset after `stableMs` of uptime. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  stableMs?: number;
  /** Nice value of the trainer process (default 10: the control loop outranks it). */
  nice?: number;
  /** ms between the trainer's polls of the log when it has nothing to do (default 250; tests use less). */
  pollMs?: number;
  /** Test hook: the trainer crashes after this many updates (each process counts from 0). */
  crashAfter?: number;
  /**
   * A trainer that says nothing this long (ms) is hung (it sends progress about once a second while it trains):
   * killed and restarted like a crash. Before its first 'ready' the limit is `startupMs` (loading prior data can take
   * a while). Default 300 s and 600 s, because one poll of the log encodes every transition it has not seen in one
   * synchronous call (after a restart on a large log, the whole backlog) and says nothing meanwhile; 0 turns it off.
   */
  hangMs?: number;
  startupMs?: number;
}

export type TrainerState = 'starting' | 'running' | 'backoff' | 'stopped';

export interface TrainerStatus {
  state: TrainerState;
  pid: number | null;
  starts: number;
  crashes: number;
  lastError: string | null;
  nextRestartInMs: number | null;
  /** Progress of the current trainer process (null before it is ready). */
  progress: TrainerProgress | null;
  /** Updates done by every trainer process so far (a restart starts its own count at 0). */
  updatesTotal: number;
}

export class TrainerSupervisor extends EventEmitter {
  private child: ChildProcess | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private consecutive = 0;
  private startedAt = 0;
  private restartAt: number | null = null;
  private readonly st: TrainerStatus = {
    state: 'stopped',
    pid: null,
    starts: 0,
    crashes: 0,
    lastError: null,
    nextRestartInMs: null,
    progress: null,
    updatesTotal: 0,
  };
  private prevUpdates = 0;
  private lastHeard = 0;
  private ready = false;
  private hangTimer: NodeJS.Timeout | null = null;
  private hungChild: ChildProcess | null = null;
  /** Hangs detected (the trainer was killed and restarted for saying nothing). */
  hangs = 0;

  constructor(private readonly o: SupervisorOptions) {
    super();
  }

  /** The trainer configuration the child is started with. */
  get config(): SupervisorOptions['config'] {
    return this.o.config;
  }

  start(): void {
    this.stopped = false;
    this.spawn();
  }

  status(): TrainerStatus {
    return {
      ...this.st,
      nextRestartInMs: this.restartAt === null ? null : Math.max(0, this.restartAt - Date.now()),
      updatesTotal: this.prevUpdates + (this.st.progress?.updates ?? 0),
    };
  }

  private spawn(): void {
    if (this.stopped) return;
    this.restartAt = null;
    this.st.state = 'starting';
    this.st.starts++;
    this.startedAt = Date.now();
    // Every setting of the child travels in its config (it reads no environment variable of its own).
    const cc: ChildConfig = {
      trainer: this.o.config,
      nice: this.o.nice ?? 10,
      pollMs: this.o.pollMs ?? 250,
      ...(this.o.crashAfter !== undefined ? { crashAfter: this.o.crashAfter } : {}),
    };
    // With controlCpu the main thread is pinned off the control thread's CPU: the trainer gets every CPU back.
    const child = withProcessCpus(() =>
      fork(new URL('./child.ts', import.meta.url).pathname, [JSON.stringify(cc)], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      }),
    );
    this.child = child;
    this.st.pid = child.pid ?? null;
    this.lastHeard = Date.now();
    this.ready = false;
    this.watchHang(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('message', (m: TrainerMessage) => {
      this.lastHeard = Date.now();
      if (m.type === 'ready') this.ready = true;
      if (m.type === 'ready' || m.type === 'progress') {
        this.st.state = 'running';
        this.st.progress = m.progress;
        this.emit('progress', this.status());
      } else if (m.type === 'export') {
        this.st.progress = m.progress;
        this.emit('export', m.info);
      } else if (m.type === 'reward-export') {
        this.emit('rewardExport', m.info);
      } else if (m.type === 'error') {
        this.st.lastError = m.message.split('\n').slice(0, 3).join(' | ');
      }
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.hangTimer && this.child === null) clearInterval(this.hangTimer);
      this.hangTimer = null;
      this.st.pid = null;
      this.prevUpdates += this.st.progress?.updates ?? 0;
      this.st.progress = null;
      if (this.stopped) {
        this.st.state = 'stopped';
        this.emit('progress', this.status());
        return;
      }
      this.st.crashes++;
      const hung = this.hungChild === child;
      if (!hung && (!this.st.lastError || code !== 1))
        this.st.lastError = `exited with ${signal ?? `code ${code}`}${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`;
      if (Date.now() - this.startedAt > (this.o.stableMs ?? 60_000)) this.consecutive = 0;
      const delay = Math.min(this.o.backoffMaxMs ?? 60_000, (this.o.backoffBaseMs ?? 1000) * 2 ** this.consecutive);
      this.consecutive++;
      this.st.state = 'backoff';
      this.restartAt = Date.now() + delay;
      this.emit('crash', { code, signal, delay, error: this.st.lastError });
      this.emit('progress', this.status());
      this.timer = setTimeout(() => this.spawn(), delay);
    });
  }

  /** Kills a child that stopped talking (stopped, deadlocked, swapping): its exit is then handled as a crash. */
  private watchHang(child: ChildProcess): void {
    if (this.hangTimer) clearInterval(this.hangTimer);
    const hang = this.o.hangMs ?? 300_000;
    if (hang <= 0) return;
    const startup = this.o.startupMs ?? 600_000;
    this.hangTimer = setInterval(
      () => {
        if (this.child !== child) return;
        const silent = Date.now() - this.lastHeard;
        const limit = this.ready ? hang : startup;
        if (silent <= limit) return;
        this.hangs++;
        this.hungChild = child;
        this.st.lastError = `no message for ${(silent / 1000).toFixed(1)} s (limit ${(limit / 1000).toFixed(1)} s${this.ready ? '' : ', before ready'}): hung, killed`;
        child.kill('SIGKILL');
      },
      Math.min(1000, Math.max(50, hang / 4)),
    );
    this.hangTimer.unref();
  }

  /** Kills the trainer process (SIGKILL): a crash as far as supervision is concerned (tests, operator). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.hangTimer) clearInterval(this.hangTimer);
    this.hangTimer = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.child;
    if (!c) {
      this.st.state = 'stopped';
      return;
    }
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    // A child that died a moment ago makes the send fail asynchronously (EPIPE): with a callback that is an argument,
    // not an 'error' event that would crash the daemon; the child's exit ends the wait either way.
    try {
      c.send({ type: 'stop' }, () => undefined);
    } catch {
      // already gone
    }
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    this.st.state = 'stopped';
  }
}

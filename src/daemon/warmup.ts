/**
 * The control thread's warm-up (thread-host.ts runs it before it says 'ready'): a throwaway Daemon practises on a
 * simulated cell of its own for a few hundred control ticks, driven tick by tick as fast as they go, so that V8
 * optimizes the tick's code (observation, image preprocessing, the policy's and reward's input building, the safety
 * filter, logging's serialization) and tiers up MuJoCo's hot wasm functions (step, render, reset) while no tick counts.
 * V8 compiles those in background jobs of the thread's isolate; a collection of its heap waits for them at a safepoint
 * and posting them can block on a normal-priority V8 thread, so under load they were the control thread's long stalls
 * in the first seconds of a daemon's life (results/campaign/startup-lives/).
 *
 * What makes it safe: the robot is never passed in (the warm-up builds its own cell, even for a ROS robot), nor the
 * e-stop flag (a request made meanwhile stays pending for the real daemon, whose first tick latches it, and the guard
 * refuses motion while it is pending), nor the log (rows go into a scratch ring and are dropped), nor the real
 * daemon's listeners. The models are the control thread's own sessions: inference reads them, nothing trains them.
 */
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import { SimBackend, simCellOptions } from '../robot/sim-backend.ts';
import type { DaemonEvent, DaemonLog, EpisodeBegin, EpisodeFinish, ResidualPolicy, RewardScorer, TickTransition } from './interfaces.ts';
import { Daemon } from './loop.ts';
import { MessageRing } from './thread-protocol.ts';

export interface WarmupOptions {
  config: DaemonConfig;
  calibration: Calibration;
  policy: ResidualPolicy | null;
  reward: RewardScorer | null;
  /** Control ticks to run (the config's controlWarmupTicks). */
  ticks: number;
  /** Ends the warm-up early (an e-stop or a shutdown requested meanwhile): checked between ticks. */
  abort?: () => boolean;
}

export interface WarmupReport {
  /** Control ticks run, episodes begun, ticks in all (resets and scoring too), wall time (ms). */
  controlTicks: number;
  episodes: number;
  ticks: number;
  ms: number;
  /** Motion commands the warm-up's own cell executed (none reach the robot: it never sees it). */
  warmupCellCommands: number;
  /** Rows the warm-up serialized and dropped. */
  logCalls: number;
  aborted: boolean;
}

/** Serialization as the control thread's log does it (into a ring), then dropped: nothing reaches the database. */
class ScratchLog implements DaemonLog {
  private readonly ring = MessageRing.create(1 << 20);
  private nextId = 1;
  calls = 0;
  private post(m: unknown): void {
    this.calls++;
    this.ring.write(m);
    this.ring.read(() => undefined);
  }
  beginEpisode(e: EpisodeBegin): Promise<number> {
    const id = this.nextId++;
    this.post({ type: 'log', call: { op: 'begin', id, e } });
    return Promise.resolve(id);
  }
  transition(t: TickTransition): void {
    this.post({ type: 'log', call: { op: 'transition', t } });
  }
  endEpisode(id: number, end: EpisodeFinish): void {
    this.post({ type: 'log', call: { op: 'end', id, end } });
  }
  event(e: DaemonEvent): void {
    this.post({ type: 'log', call: { op: 'event', e } });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function warmUp(o: WarmupOptions): Promise<WarmupReport> {
  const t0 = performance.now();
  const cell = await SimBackend.create({ connector: o.config.backend.sim.connector, cell: simCellOptions(o.config) });
  const log = new ScratchLog();
  // Free-running, and with the exploration noise the daemon practises with; its models are the real ones.
  const d = new Daemon({ backend: cell, config: { ...o.config, realtime: false }, calibration: o.calibration, log, policy: o.policy, reward: o.reward });
  let controlTicks = 0;
  let ticks = 0;
  let episodes = 0;
  let aborted = false;
  d.on('state', (s) => {
    if (s === 'running') episodes++;
  });
  try {
    const r = d.startPractice({ count: 1_000_000 });
    if (!r.ok) throw new Error(`warm-up: ${r.reason}`);
    while (controlTicks < o.ticks) {
      if (o.abort?.()) {
        aborted = true;
        break;
      }
      const running = d.currentState === 'running';
      await d.tick();
      ticks++;
      if (running) controlTicks++;
      // Lets a reset (moveToStart) and the log's answers run, as the scheduler's waits do between real ticks.
      await nextTurn();
    }
    d.stopPractice();
  } finally {
    await d.shutdown('warm-up done');
    cell.dispose();
  }
  return { controlTicks, episodes, ticks, ms: performance.now() - t0, warmupCellCommands: cell.commandsExecuted, logCalls: log.calls, aborted };
}

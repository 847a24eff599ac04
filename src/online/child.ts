/**
 * The trainer as a child process (forked by TrainerSupervisor, or run by src/cli/trainer.ts in-process through
 * runTrainerLoop). Talks to its parent over IPC: 'ready', 'progress' (about once a second), 'export' (a new version
 * registered in the store), 'error'. A crash here cannot touch the daemon's process: the supervisor restarts it.
 */
import { setPriority } from 'node:os';
import { OnlineTrainer, type ExportInfo, type OnlineTrainerConfig, type TrainerProgress } from './trainer.ts';
import { RewardTuner, type RewardExportInfo } from './reward-tuner.ts';
import { childConfigArg } from '../util/child-config.ts';

export type TrainerMessage =
  | { type: 'ready'; progress: TrainerProgress }
  | { type: 'reward-export'; info: RewardExportInfo }
  | { type: 'progress'; progress: TrainerProgress }
  | { type: 'export'; info: ExportInfo; progress: TrainerProgress }
  | { type: 'error'; message: string };

export interface LoopOptions {
  /** ms between polls of the log when there is nothing to do. */
  pollMs: number;
  /** Called with each message (IPC send in the child). */
  emit: (m: TrainerMessage) => void;
  shouldStop: () => boolean;
  /** Test hook: exit (as a crash) after this many updates (ChildConfig.crashAfter in the child). */
  crashAfter?: number;
  /** Called before each poll of the log (the fleet learner pulls PostgreSQL into its local mirror here). */
  beforePoll?: () => Promise<void>;
  /** Awaited after each export (the fleet learner publishes it into PostgreSQL). */
  afterExport?: (info: ExportInfo) => Promise<void>;
}

/**
 * Everything the forked child is told, as one JSON object in argv[2], written by TrainerSupervisor (which declares the
 * defaults). Nothing comes from the environment: the child's settings are the supervisor's options, in one place.
 */
export interface ChildConfig {
  trainer: OnlineTrainerConfig;
  /** Nice value the child gives itself (the control loop outranks it). */
  nice: number;
  /** ms between polls of the log when there is nothing to do. */
  pollMs: number;
  /** Test hook: crash after this many updates. */
  crashAfter?: number;
}

/** Parses and checks the child's argv[2]; an error names the field. */
export function childConfigOf(json: string | undefined): ChildConfig {
  const c = childConfigArg<ChildConfig>('trainer child config', json);
  if (typeof c.trainer !== 'object' || c.trainer === null) throw new Error('trainer child config: trainer is missing (an object)');
  if (!Number.isInteger(c.nice) || (c.nice as number) < -20 || (c.nice as number) > 19)
    throw new Error(`trainer child config: nice must be an integer in [-20, 19], got ${JSON.stringify(c.nice)}`);
  if (typeof c.pollMs !== 'number' || !(c.pollMs > 0)) throw new Error(`trainer child config: pollMs must be a number > 0, got ${JSON.stringify(c.pollMs)}`);
  if (c.crashAfter !== undefined && !(Number.isInteger(c.crashAfter) && c.crashAfter > 0))
    throw new Error(`trainer child config: crashAfter must be an integer > 0, got ${JSON.stringify(c.crashAfter)}`);
  return c as ChildConfig;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runTrainerLoop(cfg: OnlineTrainerConfig, o: LoopOptions): Promise<void> {
  const t = new OnlineTrainer(cfg);
  await t.init();
  const tuner = cfg.rewardTune ? new RewardTuner(cfg.rewardTune) : null;
  await tuner?.init();
  o.emit({ type: 'ready', progress: t.progress() });
  let lastProgress = performance.now();
  try {
    while (!o.shouldStop()) {
      await o.beforePoll?.();
      t.poll();
      if (tuner && tuner.poll() > 0 && tuner.due) {
        try {
          const info = tuner.tune();
          if (info) o.emit({ type: 'reward-export', info });
        } catch (e) {
          // A failed fine-tune must not stop the policy's training: said, and retried after the next labels.
          o.emit({ type: 'error', message: `reward fine-tune failed: ${(e as Error).message}` });
        }
      }
      let did = 0;
      while (t.pending > 0 && !o.shouldStop()) {
        t.update();
        did++;
        if (o.crashAfter !== undefined && t.progress().updates >= o.crashAfter) throw new Error(`crash requested after ${o.crashAfter} updates (test hook)`);
        if (did % 4 === 0) await new Promise<void>((r) => setImmediate(r)); // let IPC and stop requests through
        if (performance.now() - lastProgress > 1000) {
          o.emit({ type: 'progress', progress: t.progress() });
          lastProgress = performance.now();
        }
        if (t.exportDueNow) break;
      }
      if (t.exportDueNow) {
        const info = await t.export();
        o.emit({ type: 'export', info, progress: t.progress() });
        await o.afterExport?.(info);
        continue;
      }
      if (did === 0) await sleep(o.pollMs);
      if (performance.now() - lastProgress > 1000) {
        o.emit({ type: 'progress', progress: t.progress() });
        lastProgress = performance.now();
      }
    }
  } finally {
    t.close();
    tuner?.close();
  }
}

// Entry point when forked: ChildConfig as JSON in argv[2].
if (process.send && process.argv[2] && import.meta.filename === process.argv[1]) {
  const send = process.send.bind(process);
  let stop = false;
  process.on('message', (m: unknown) => {
    if ((m as { type?: string }).type === 'stop') stop = true;
  });
  process.on('disconnect', () => {
    stop = true;
  });
  const cc = childConfigOf(process.argv[2]);
  try {
    setPriority(0, cc.nice);
  } catch {
    // not permitted: run at the inherited priority
  }
  const t0 = performance.now();
  const emit = (m: TrainerMessage): void => {
    if (m.type === 'ready')
      console.log(
        `trainer ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${m.progress.offlineTransitions} offline transitions, agent step ${m.progress.agentStep}`,
      );
    send(m);
  };
  runTrainerLoop(cc.trainer, {
    pollMs: cc.pollMs,
    emit,
    shouldStop: () => stop,
    ...(cc.crashAfter !== undefined ? { crashAfter: cc.crashAfter } : {}),
  }).then(
    () => process.exit(0),
    (e: unknown) => {
      try {
        send({ type: 'error', message: (e as Error).stack ?? String(e) });
      } catch {
        // parent gone
      }
      setTimeout(() => process.exit(1), 50);
    },
  );
}

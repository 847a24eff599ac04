/**
 * The trainer as a child process (forked by TrainerSupervisor, or run by src/cli/trainer.ts in-process through
 * runTrainerLoop). Talks to its parent over IPC: 'ready', 'progress' (about once a second), 'export' (a new version
 * registered in the store), 'error'. A crash here cannot touch the daemon's process: the supervisor restarts it.
 */
import { setPriority } from 'node:os';
import { OnlineTrainer, type ExportInfo, type OnlineTrainerConfig, type TrainerProgress } from './trainer.ts';
import { RewardTuner, type RewardExportInfo } from './reward-tuner.ts';

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
  /** Test hook: exit (as a crash) after this many updates; env TRAINER_CRASH_AFTER in the child. */
  crashAfter?: number;
  /** Called before each poll of the log (the fleet learner pulls PostgreSQL into its local mirror here). */
  beforePoll?: () => Promise<void>;
  /** Awaited after each export (the fleet learner publishes it into PostgreSQL). */
  afterExport?: (info: ExportInfo) => Promise<void>;
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

// Entry point when forked: config as JSON in argv[2].
if (process.send && process.argv[2] && import.meta.filename === process.argv[1]) {
  const send = process.send.bind(process);
  let stop = false;
  process.on('message', (m: unknown) => {
    if ((m as { type?: string }).type === 'stop') stop = true;
  });
  process.on('disconnect', () => {
    stop = true;
  });
  try {
    setPriority(0, Math.min(19, Number(process.env.TRAINER_NICE ?? 10)));
  } catch {
    // not permitted: run at the inherited priority
  }
  const cfg = JSON.parse(process.argv[2]) as OnlineTrainerConfig;
  const crash = process.env.TRAINER_CRASH_AFTER ? Number(process.env.TRAINER_CRASH_AFTER) : undefined;
  const t0 = performance.now();
  const emit = (m: TrainerMessage): void => {
    if (m.type === 'ready')
      console.log(
        `trainer ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${m.progress.offlineTransitions} offline transitions, agent step ${m.progress.agentStep}`,
      );
    send(m);
  };
  runTrainerLoop(cfg, {
    pollMs: Number(process.env.TRAINER_POLL_MS ?? 250),
    emit,
    shouldStop: () => stop,
    ...(crash !== undefined ? { crashAfter: crash } : {}),
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

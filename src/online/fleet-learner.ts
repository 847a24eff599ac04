/**
 * The fleet learner: one process, anywhere that reaches PostgreSQL, training online IQL on the pooled practice data of
 * every arm and publishing its versions to them. It pulls the fleet store into a local mirror log (FleetMirror),
 * runs the same trainer and loop as the daemon's background trainer on that mirror (runTrainerLoop), and publishes
 * each export (ONNX bytes + card) into fleet_models with its rollout; the arms validate and swap on their own.
 * A lost link stalls the pull and queues publications; both resume when PostgreSQL is back.
 *
 * The mirror (`<workDir>/mirror.db`, with the features the trainer computed on it) is kept across restarts: a
 * restarted learner checks it against the fleet (FleetMirror.check) and pulls only what is new. A mirror of another
 * fleet or filter, ahead of PostgreSQL, or unreadable is named in the log, removed, and the pool pulled again.
 * The prior data's features (the frozen encoders on every prior observation) are cached in `<workDir>/feature-cache`
 * unless the trainer names another directory, so a restart with prior data does not compute them again either.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cardPathFor, sha256Hex } from '../policy/card.ts';
import { Store } from '../store/index.ts';
import { FleetMirror, FleetStore, redact, type MirrorFilter, type PgTarget, type Rollout } from '../store/pg/index.ts';
import type { FleetIdentity } from '../store/pg/fleet-store.ts';
import { runTrainerLoop, type TrainerMessage } from './child.ts';
import type { ExportInfo, OnlineTrainerConfig } from './trainer.ts';

export interface FleetLearnerOptions {
  target: PgTarget;
  /** The trainer's settings; `db` is replaced by the mirror (`<workDir>/mirror.db`). */
  trainer: Omit<OnlineTrainerConfig, 'db'>;
  /** Which arms and connectors to learn from. */
  filter?: MirrorFilter;
  rollout: Rollout;
  /** Transitions pulled per arm per poll (default 2000). */
  pullLimit?: number;
  pollMs?: number;
  shouldStop: () => boolean;
  /** Progress lines, exports, publications (never a secret). */
  log?: (line: string) => void;
  onPublished?: (p: { modelId: number; version: string; publishedAt: number; info: ExportInfo }) => void;
  onMessage?: (m: TrainerMessage) => void;
  /** After each pull from PostgreSQL. */
  onPull?: (s: FleetLearnerStats) => void;
}

export interface FleetLearnerStats {
  pulled: number;
  perRobot: Record<string, number>;
  published: number;
  pendingPublications: number;
  lastError: string | null;
  /** Wall time spent in pulls that brought rows (ms): pulled / pullMs is the ingest rate when the learner is the limit. */
  pullMs: number;
  /** Transitions kept in the mirror from an earlier run (0: a new mirror), and why an earlier mirror was not kept. */
  kept: number;
  remade: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens the mirror file (Store.open runs quick_check); a file that does not open is named, removed and made anew. */
function openMirror(file: string, log: (l: string) => void): { store: Store; remade: string | null } {
  try {
    return { store: Store.open(file), remade: null };
  } catch (e) {
    const why = `unusable (${(e as Error).message})`;
    log(`fleet learner: mirror ${file} ${why}; pulling the pool again`);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    return { store: Store.open(file), remade: why };
  }
}

export async function runFleetLearner(o: FleetLearnerOptions): Promise<FleetLearnerStats> {
  const log = o.log ?? (() => undefined);
  mkdirSync(o.trainer.workDir, { recursive: true });
  const mirrorDb = join(o.trainer.workDir, 'mirror.db');
  const stats: FleetLearnerStats = { pulled: 0, perRobot: {}, published: 0, pendingPublications: 0, lastError: null, pullMs: 0, kept: 0, remade: null };
  const opened = openMirror(mirrorDb, log);
  let mirrorStore = opened.store;
  stats.remade = opened.remade;
  let fleet: FleetStore | null = null;
  const queue: ExportInfo[] = [];
  let retryAt = 0;
  const fail = (e: unknown): void => {
    stats.lastError = redact((e as Error).message, o.target);
    log(`fleet learner: ${stats.lastError} (retrying)`);
    void fleet?.close().catch(() => undefined);
    fleet = null;
    retryAt = Date.now() + 1000;
  };
  const connect = async (): Promise<FleetStore | null> => {
    if (fleet) return fleet;
    if (Date.now() < retryAt) return null;
    try {
      fleet = await FleetStore.connect(o.target, { applicationName: 'insertion-daemon-learner' });
      log(`fleet learner: connected to ${o.target.describe}`);
      return fleet;
    } catch (e) {
      fail(e);
      return null;
    }
  };
  const publishQueued = async (f: FleetStore): Promise<void> => {
    while (queue.length) {
      const info = queue[0]!;
      const onnx = readFileSync(info.path);
      const card = JSON.parse(readFileSync(cardPathFor(info.path), 'utf8')) as unknown;
      const modelId = await f.publishModel({ kind: 'policy', version: info.version, onnx, card, sha256: sha256Hex(onnx), rollout: o.rollout });
      queue.shift();
      stats.published++;
      const publishedAt = Date.now();
      log(`published ${info.version} as fleet model ${modelId} (rollout ${o.rollout.mode})`);
      o.onPublished?.({ modelId, version: info.version, publishedAt, info });
    }
  };
  // The first connection decides whether the kept mirror is this fleet's; the trainer opens the mirror only after.
  let identity: FleetIdentity | null = null;
  let check: Awaited<ReturnType<typeof FleetMirror.check>> | null = null;
  while (check === null && !o.shouldStop()) {
    const f = await connect();
    if (f) {
      try {
        identity = await f.identity();
        check = await FleetMirror.check(mirrorStore, f, identity, o.filter);
      } catch (e) {
        fail(e);
      }
    }
    if (check === null) await sleep(250);
  }
  if (check === null || identity === null) {
    mirrorStore.close();
    await (fleet as FleetStore | null)?.close().catch(() => undefined);
    return stats;
  }
  if (!check.ok) {
    log(`fleet learner: mirror ${mirrorDb} not kept: ${check.reason}; pulling the pool again`);
    stats.remade = check.reason;
    mirrorStore.close();
    for (const f of [mirrorDb, `${mirrorDb}-wal`, `${mirrorDb}-shm`]) rmSync(f, { force: true });
    mirrorStore = Store.open(mirrorDb);
  } else if (check.transitions > 0) log(`fleet learner: mirror ${mirrorDb} kept: ${check.transitions} transitions of ${check.arms} arms; pulling what is new`);
  const mirror = new FleetMirror(mirrorStore, o.filter, identity);
  stats.kept = mirror.stats.kept;
  try {
    await runTrainerLoop(
      // The prior data's features are cached beside the mirror, so a restart does not recompute them (minutes at load).
      { ...o.trainer, db: mirrorDb, featureCache: o.trainer.featureCache ?? join(o.trainer.workDir, 'feature-cache') },
      {
        pollMs: o.pollMs ?? 250,
        shouldStop: o.shouldStop,
        emit: (m) => o.onMessage?.(m),
        beforePoll: async () => {
          const f = await connect();
          if (!f) return;
          try {
            // The mirror keeps its per-arm positions across reconnects and restarts (saved with its rows).
            const t0 = performance.now();
            const n = await mirror.pull(f, o.pullLimit ?? 2000);
            if (n > 0) stats.pullMs += performance.now() - t0;
            stats.pulled += n;
            stats.perRobot = { ...mirror.stats.perRobot };
            await publishQueued(f);
            stats.pendingPublications = queue.length;
            o.onPull?.(stats);
          } catch (e) {
            fail(e);
          }
        },
        afterExport: async (info) => {
          queue.push(info);
          stats.pendingPublications = queue.length;
          const f = await connect();
          if (!f) return;
          try {
            await publishQueued(f);
          } catch (e) {
            fail(e);
          }
        },
      },
    );
  } finally {
    await (fleet as FleetStore | null)?.close().catch(() => undefined);
    mirrorStore.close();
  }
  return stats;
}

/**
 * The TransitionWriter's worker thread: owns its own write connection, compresses images and commits transitions in
 * batches. Messages are processed in arrival order; whatever has arrived when the thread is free is committed in one
 * transaction (at most maxBatch rows), so batches grow with load and a lone 10 Hz transition is committed at once.
 * An episode's end travels through the same queue, so it is never committed before the episode's transitions.
 * A batch is reported 'done' (and its rows acknowledged to the caller) only after its COMMIT has returned.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { type Db, openWritable } from './open.ts';
import { END_EPISODE_SQL, INSERT_TRANSITION_SQL, type TransitionParams, UPDATE_REWARD_SQL, endParams, rewardParams, transitionParams } from './rows.ts';
import type { QueuedItem as Item, ToMain, ToWorker, WorkerConfig } from './writer-protocol.ts';

if (!parentPort) throw new Error('writer-worker.ts must run as a worker thread');
const port: MessagePort = parentPort;
const cfg = workerData as WorkerConfig;

const send = (m: ToMain): void => port.postMessage(m);

function openDb(): Db | null {
  try {
    return openWritable(cfg.file, { integrityCheck: 'header', busyTimeoutMs: cfg.busyTimeoutMs, synchronous: cfg.synchronous });
  } catch (e) {
    // Reported as a message (an exit code would lose the reason); closing the port lets the thread end.
    send({ type: 'fatal', message: (e as Error).message });
    port.close();
    return null;
  }
}
const opened = openDb();
if (opened) start(opened);

function start(db: Db): void {
  const insert: Database.Statement = db.prepare(INSERT_TRANSITION_SQL);
  const reward = db.prepare(UPDATE_REWARD_SQL);
  const endEpisode = db.prepare(END_EPISODE_SQL);
  const hooks = cfg.testHooks ?? {};
  const holdMs = hooks.holdBeforeCommitMs ?? 0;
  const sleeper = holdMs > 0 ? new Int32Array(new SharedArrayBuffer(4)) : null;

  const queue: Item[] = [];
  let scheduled = false;
  let closing = false;

  function applyRewards(it: Extract<Item, { type: 'rewards' }>): void {
    for (const u of it.updates) reward.run(rewardParams(it.episodeId, u));
  }

  const commitAll = db.transaction((items: Item[], params: (TransitionParams | null)[]) => {
    const ids: number[] = [];
    items.forEach((it, i) => {
      if (it.type === 'rewards') applyRewards(it);
      else if (it.type === 'end') {
        if (endEpisode.run(params[i]!).changes !== 1) throw new Error(`episode ${it.episodeId} does not exist or has already ended`);
      } else ids.push(Number(insert.run(params[i]!).lastInsertRowid));
    });
    if (sleeper) Atomics.wait(sleeper, 0, 0, holdMs); // test hook: a slow disk between the statements and COMMIT
    return ids;
  });

  function processBatch(): void {
    scheduled = false;
    const items = queue.splice(0, cfg.maxBatch);
    if (items.length === 0) return maybeClose();
    // Encode first (CPU), outside the write transaction so the lock is held only for the inserts.
    const failed: { seq: number; message: string }[] = [];
    const good: Item[] = [];
    const goodParams: (TransitionParams | null)[] = [];
    for (const it of items) {
      if (it.type === 'rewards') {
        good.push(it);
        goodParams.push(null);
        continue;
      }
      if (it.type === 'row' && it.t.step === hooks.exitAtStep) process.exit(70); // test hook: the thread dies
      try {
        const p = it.type === 'end' ? endParams(it.episodeId, it.end) : transitionParams(it.t, `transition(episode ${it.t.episodeId}, step ${it.t.step})`);
        good.push(it);
        goodParams.push(p);
      } catch (e) {
        failed.push({ seq: it.seq, message: (e as Error).message });
      }
    }
    const committed: { seq: number; id: number; episodeId: number; step: number }[] = [];
    const ended: number[] = [];
    try {
      const ids = commitAll.immediate(good, goodParams);
      let k = 0;
      for (const it of good) {
        if (it.type === 'row') committed.push({ seq: it.seq, id: ids[k++]!, episodeId: it.t.episodeId, step: it.t.step });
        else if (it.type === 'end') ended.push(it.episodeId);
      }
    } catch {
      // One bad row (unknown episode, duplicate step) must not sink its neighbours: retry one by one.
      good.forEach((it, i) => {
        try {
          const ids = commitAll.immediate([it], [goodParams[i]!]);
          if (it.type === 'row') committed.push({ seq: it.seq, id: ids[0]!, episodeId: it.t.episodeId, step: it.t.step });
          else if (it.type === 'end') ended.push(it.episodeId);
        } catch (e) {
          const what =
            it.type === 'row'
              ? `transition(episode ${it.t.episodeId}, step ${it.t.step})`
              : `${it.type === 'end' ? 'end' : 'rewards'}(episode ${it.episodeId})`;
          failed.push({ seq: it.seq, message: `${cfg.file}: ${what}: ${(e as Error).message}` });
        }
      });
    }
    const lastSeq = items[items.length - 1]!.seq;
    send({ type: 'done', lastSeq, committed, ended, failed, items: items.length });
    if (queue.length) schedule();
    else maybeClose();
  }

  function schedule(): void {
    if (!scheduled) {
      scheduled = true;
      setImmediate(processBatch);
    }
  }

  function maybeClose(): void {
    if (!closing || queue.length || scheduled) return;
    db.close();
    send({ type: 'closed' });
    port.close();
  }

  port.on('message', (m: ToWorker) => {
    if (m.type === 'batch') {
      for (const it of m.items) queue.push(it);
      schedule();
    } else if (m.type === 'close') {
      closing = true;
      maybeClose();
    }
  });

  send({ type: 'ready' });
}

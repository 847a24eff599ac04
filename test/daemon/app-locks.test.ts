/**
 * The daemon as assembled (startDaemonApp, real simulated cell, real SQLite): a second daemon on the same database,
 * or for the same configured robotId, is refused at start with the first one's pid and changes nothing in the first's
 * log. Config `robotId`/`lockDir` reach the lock (the log-level mechanics are in log-locks.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LockHeldError } from '../../src/daemon/log.ts';
import { rig, tempDir, tickUntil } from './helpers.ts';

const t = tempDir('app-locks-');
test.after(t.cleanup);

/** The app as npm start assembles it on the simulated cell (32 px camera), its log in `db`, its locks in t.dir. */
const start = (db: string, robotId: string | null) =>
  rig({
    db,
    overrides: { episodeSteps: 4 },
    config: (config) => {
      config.robotId = robotId;
      config.lockDir = join(t.dir, 'locks');
      config.backend.sim.imageSize = 32;
    },
  });

test("a second daemon on the same --db, or for the same robotId, is refused naming the first one's pid", { timeout: 120_000 }, async () => {
  const db = join(t.dir, 'shared.db');
  const first = await start(db, 'cell-7');
  try {
    first.app.daemon.startPractice({ count: 1 });
    await tickUntil(first.app, () => first.app.daemon.status().episode !== null);
    const episode = first.app.daemon.status().episode!.id;

    const refusal = async (p: ReturnType<typeof start>): Promise<unknown> => {
      const r = await p.then(
        (app) => app,
        (e: unknown) => ({ error: e }),
      );
      if ('close' in r) {
        await r.close(); // (so that a failing run ends instead of keeping a second daemon alive)
        assert.fail('the second daemon started');
      }
      return r.error;
    };
    const e1 = await refusal(start(db, null));
    assert.ok(
      e1 instanceof LockHeldError && e1.holder?.pid === process.pid && e1.message.includes(`database ${db} is in use by process ${process.pid}`),
      String(e1),
    );
    const e2 = await refusal(start(join(t.dir, 'other.db'), 'cell-7'));
    assert.ok(e2 instanceof LockHeldError && /robot 'cell-7' is in use by process \d+/.test(e2.message), String(e2));

    await first.app.log.flush();
    const ep = first.app.log.store.getEpisode(episode)!;
    assert.equal(ep.endedAt, null, 'the running episode was not touched by the refused daemons');
    assert.equal(first.app.log.store.getSession(first.app.log.sessionId)!.endedAt, null);
  } finally {
    await first.close();
  }
  // Once the first has stopped, both start.
  const again = await start(db, 'cell-7');
  await again.close();
});

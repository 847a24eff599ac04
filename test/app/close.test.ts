/** The app's close on a failing path: one step that throws does not leave the others (API, log) open. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreLog } from '../../src/daemon/log.ts';
import { mockRig } from '../daemon/helpers.ts';
import { SESSION } from '../daemon/fixtures/ticks.ts';
import { teardown } from '../teardown.ts';

test('a daemon whose shutdown throws: close rejects with that error, and the API and the log are closed all the same', async (t) => {
  const defer = teardown(t);
  const r = await mockRig({ listen: true });
  defer(() => r.close().catch(() => undefined)); // (rejects: this test's planted fault)
  const url = r.app.url as string;
  assert.equal((await fetch(`${url}/status`)).status, 200);
  const shutdown = r.app.daemon.shutdown.bind(r.app.daemon);
  r.app.daemon.shutdown = async (...a: Parameters<typeof shutdown>) => {
    await shutdown(...a);
    throw new Error('planted: shutdown failed');
  };
  await assert.rejects(r.app.close(), /planted: shutdown failed/);
  await assert.rejects(fetch(`${url}/status`), 'the API no longer answers');
  // The log is closed: its session ended, and its lock free for the next daemon on this database.
  const next = await StoreLog.open(r.db, SESSION);
  defer(() => next.close());
  assert.deepEqual(next.recovered, { sessions: 0, episodes: 0 }, 'nothing left open to recover');
});

/**
 * A daemon restarted after a crash says what it found (issue 12, the campaign's power-loss row): the episode and
 * session a killed run left open are closed as 'error' (StoreLog), and the app reports it to the operator as a note
 * (printed by npm start) and in /status under extra.recovered; a clean start reports nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../src/store/index.ts';
import { mockRig, tempDir } from '../daemon/helpers.ts';
import { teardown } from '../teardown.ts';

/** The app as npm start assembles it, on the mock robot, its log in `db` (the test's file: both starts share it). */
const start = (db: string) => mockRig({ db });

test('a restart after a crash reports the episodes and sessions it closed; a clean one reports none', async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('recovered-');
  defer(tmp.cleanup);
  const db = join(tmp.dir, 'log.db');
  // What a SIGKILL mid-episode leaves: an open session with an open episode.
  const s = Store.open(db);
  const sid = s.openSession({ robot: 'r', backend: 'mock', config: {}, calibration: {} });
  s.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'europlug' });
  s.close();

  const a = await start(db);
  defer(a.close); // (also when an assertion fails: an open app keeps the test process alive)
  const st = (await a.app.api.inject({ method: 'GET', url: '/status' })).json<{
    extra: { recovered: { episodes: number; sessions: number; message: string | null } };
  }>();
  assert.equal(st.extra.recovered.episodes, 1);
  assert.equal(st.extra.recovered.sessions, 1);
  assert.match(st.extra.recovered.message ?? '', /closed 1 episode\(s\) and 1 session\(s\)/);
  assert.ok(
    a.app.notes.some((n) => /^recovered: closed 1 episode\(s\) and 1 session\(s\)/.test(n)),
    a.app.notes.join(' | '),
  );
  assert.equal(a.app.daemon.currentState, 'idle');
  await a.close();

  const b = await start(db);
  defer(b.close);
  const st2 = (await b.app.api.inject({ method: 'GET', url: '/status' })).json<{ extra: { recovered?: unknown } }>();
  assert.equal(st2.extra.recovered, undefined, 'nothing to report');
  assert.ok(!b.app.notes.some((n) => n.startsWith('recovered')));
  await b.close();
});

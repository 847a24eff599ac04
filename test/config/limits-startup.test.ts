/**
 * Changing a safety limit is an explicit, logged act: the daemon records one 'safety_limit_changed' event per limit
 * that differs from the shipped calibration or from the previous session on the same log, and warns when it loosens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rig, tempDir } from '../daemon/helpers.ts';
import { teardown } from '../teardown.ts';

test('a safety limit changed from the shipped value or since the last session is logged as an event at startup', async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('limits-startup-');
  defer(tmp.cleanup);
  const db = join(tmp.dir, 'log.db');

  const shipped = await rig({ overrides: { db } });
  defer(() => shipped.close()); // (a no-op once closed below)
  assert.equal(shipped.app.log.store.listEvents({ kind: 'safety_limit_changed' }).length, 0, 'the shipped limits log nothing');
  assert.ok(!shipped.app.notes.some((n) => /safety limit/.test(n)));
  await shipped.close();

  const loose = await rig({
    overrides: { db },
    calibration: (c) => {
      c.limits.forceLimitN = 400;
      c.limits.beyondSoftBound = ['forceLimitN'];
      c.limits.maxStepM = 0.005;
    },
  });
  defer(() => loose.close());
  const events = loose.app.log.store.listEvents({ kind: 'safety_limit_changed', order: 'asc' });
  const messages = events.map((e) => e.message);
  assert.ok(
    events.every((e) => e.sessionId === loose.app.log.sessionId),
    "recorded in this run's session",
  );
  assert.ok(
    messages.some((m) => /^safety limit forceLimitN: 250 N \(shipped\) -> 400 N \(.*\), looser, beyond its soft bound/.test(m)),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => /^safety limit maxStepM: 0\.01 m \(shipped\) -> 0\.005 m .*tighter/.test(m)),
    messages.join('\n'),
  );
  // The same two changes against the previous session on this log.
  assert.ok(
    messages.some((m) => /forceLimitN: 250 N \(session \d+\) -> 400 N/.test(m)),
    messages.join('\n'),
  );
  assert.equal(events.length, 4);
  assert.ok(
    loose.app.notes.some((n) => /^WARNING: safety limit forceLimitN: 250 N/.test(n)),
    'a looser limit is a warning for the operator',
  );
  assert.ok(
    loose.app.notes.some((n) => /^safety limit maxStepM/.test(n)),
    'a tighter one is a note',
  );
});

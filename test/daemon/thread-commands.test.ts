/**
 * Commands to the control thread go through the shared-memory ring it polls (src/daemon/thread-protocol.ts MessageRing),
 * never its MessagePort: in order, answered after everything sent before them, and seen by the next tick while the main
 * thread is blocked. Real app: simulated cell in the worker, SQLite file, fastify on port 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DaemonThread } from '../../src/daemon/thread.ts';
import { absNow } from '../../src/daemon/thread-protocol.ts';
import { simApp, tempDir } from './helpers.ts';

const tmp = tempDir('daemon-thread-commands-');
process.on('exit', tmp.cleanup);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('commands: in order, seen by the next tick while the main thread is blocked, and none on the MessagePort', { timeout: 60_000 }, async (t) => {
  const app = await simApp(tmp.dir, 'commands', { realtime: true, episodeSteps: 1000 }, (c) => {
    c.controlThread = true;
  });
  t.after(() => app.close());
  const d = app.daemon;
  assert.ok(d instanceof DaemonThread);
  const periodMs = 1000 / d.status().tickHz;

  // Order: a call's answer reflects every command sent before it (the e-stop below is a command without an answer).
  for (let round = 0; round < 3; round++) {
    assert.ok(d.startPractice({ count: 1, scenario: 'II' }).ok, `round ${round}: start`);
    await d.whenState('running', 20_000);
    d.estop(`order test ${round}`, 'internal'); // an internal e-stop: the ring only, not the shared flag
    assert.equal(d.status().state, 'estopped', `round ${round}: the status call came after the e-stop`);
    const reset = d.resetEstop();
    assert.ok(reset.ok, `round ${round}: reset ${JSON.stringify(reset)}`);
    assert.equal(d.status().state, 'idle');
  }

  // Blocked: the command goes in, then this thread runs for 400 ms without yielding; the control thread acts on its own.
  assert.ok(d.startPractice({ count: 1, scenario: 'II' }).ok);
  await d.whenState('running', 20_000);
  await sleep(500);
  const before = d.status();
  const sentAt = absNow();
  d.estop('sent, then the main thread is blocked', 'internal');
  const t0 = performance.now();
  while (performance.now() - t0 < 400) {
    // busy: no timer, no I/O on this thread
  }
  const after = d.status();
  const motions = d.simulation({ op: 'motionTimes', since: sentAt }) as number[];
  // At most the tick already past its e-stop poll when the command went in; none from a later tick.
  assert.ok(motions.length <= 1, `motion commands after the command was sent: ${motions.map((m) => (m - sentAt).toFixed(1)).join(', ')} ms`);
  assert.ok(
    motions.every((m) => m - sentAt < periodMs),
    'only within the tick in flight',
  );
  assert.equal(after.state, 'estopped');
  assert.ok(after.timing.ticks - before.timing.ticks >= 3, `the loop ticked on during the block (${after.timing.ticks - before.timing.ticks})`);
  assert.ok(d.resetEstop().ok);

  // Nothing but start-up travelled on the control thread's MessagePort (whose lock the rings avoid).
  const ch = d.channels();
  assert.equal(ch.portMessages, app.estopUrl ? 2 : 1, `port messages: ${ch.portMessages} (init${app.estopUrl ? ', estopWake' : ''})`);
  const rings = d.ringStats();
  assert.equal(rings.commands.pendingBytes, 0, 'every command read');
  assert.ok(rings.events.maxPendingBytes > 0, 'events came back through their ring');
});

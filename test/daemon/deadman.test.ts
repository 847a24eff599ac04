/**
 * The missed-tick deadman: a loop that cannot hold its rate stops the arm and says why, once `maxMissedTicks` control
 * ticks in a row were missed; fewer are counted but tolerated. Real-time scheduler, mock robot, real SQLite log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResidualPolicy } from '../../src/daemon/interfaces.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { mockRig } from './helpers.ts';

/** A policy whose inference blocks the event loop for `stallMs` on the calls listed in `stallOn` (a starved loop). */
function stallingPolicy(stallMs: number, stallOn: (call: number) => boolean): ResidualPolicy {
  let calls = 0;
  return {
    version: 'staller@1',
    input: { image: null, proprio: null },
    run: async (): Promise<Vec3> => {
      if (stallOn(calls++)) {
        const until = performance.now() + stallMs;
        while (performance.now() < until) {
          // busy: nothing else on this thread runs, as with a blocking call on the control thread
        }
      }
      return [0, 0, 0];
    },
  };
}

test('the deadman: maxMissedTicks control ticks missed in a row stop the arm and latch with the reason', async (t) => {
  // One stall of 4.5 periods at 10 Hz: 4 deadlines pass while the tick is blocked.
  const r = await mockRig({ overrides: { realtime: true, episodeSteps: 40 }, startLoop: true, policy: stallingPolicy(450, (c) => c === 5) });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1 }).ok);
  await d.whenState('estopped', 15_000);
  const s = d.status();
  assert.equal(s.safety.estop.source, 'internal:missed-ticks');
  assert.match(s.safety.estop.detail ?? '', /control ticks missed in a row \(limit 3\)/);
  assert.ok(s.timing.missedControl >= r.calibration.limits.maxMissedTicks);
  assert.ok(r.mock.stopsRequested > 0, 'the arm was told to hold');
});

test('the deadman tolerates isolated misses below the limit', async (t) => {
  // A stall of 1.6 periods misses one deadline at a time, far apart: counted, not tripped.
  const r = await mockRig({ overrides: { realtime: true, episodeSteps: 30 }, startLoop: true, policy: stallingPolicy(160, (c) => c === 4 || c === 14) });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1 }).ok);
  await d.whenState('idle', 20_000);
  const s = d.status();
  assert.ok(s.timing.missedControl >= 1, 'the misses were counted');
  assert.equal(s.safety.estop.engaged, false);
  assert.equal(s.lastEpisode?.outcome === 'tripped', false);
});

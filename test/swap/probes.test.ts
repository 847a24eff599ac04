/**
 * What a reward version is judged on (validate.ts outcomeProbeSet): the last frame of each recent ended episode, where
 * a reward decides outcomes, not the newest frames, which are mostly the current episode's approach.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/index.ts';
import { outcomeProbeSet, probeSet } from '../../src/swap/validate.ts';
import { makeObservation, makeTransition } from '../store/fixtures/data.ts';
import type { Observation } from '../../src/core/types.ts';
import { teardown } from '../teardown.ts';

test('reward probes: the last frame of each of the newest ended episodes, topped up with the newest frames', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'probes-'));
  const defer = teardown(t);
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const s = Store.open(join(dir, 'log.db'));
  defer(() => s.close());
  const sid = s.openSession({ robot: 'sim', backend: 'mujoco', config: {}, calibration: {}, startedAt: 1 });
  const episode = (steps: number, end: boolean): number => {
    const eid = s.beginEpisode({
      sessionId: sid,
      kind: 'practice',
      domain: 'europlug',
      scenario: 'II',
      seed: 0,
      startState: {},
      policyVersion: 'p',
      startedAt: 2,
    });
    s.appendTransitions(Array.from({ length: steps }, (_, k) => makeTransition(eid, k)));
    if (end) s.endEpisode(eid, { outcome: 'failure', reason: 'test', learnedSuccessProb: 0.1, gtSuccess: false, endedAt: 3 });
    return eid;
  };
  const a = episode(20, true);
  const b = episode(20, true);
  const c = episode(20, true);
  const open = episode(15, false);
  // An observation by its (episode, step): makeObservation derives every field from them.
  const key = (o: Observation): string => `${o.imageStamp}/${o.eePos[0]}`;
  const frame = (eid: number, step: number): string => key(makeObservation(eid, step));
  const ends = outcomeProbeSet(s, 3).map(key).sort();
  // Each probe is an ended episode's last step; the open episode gives none.
  assert.deepEqual(ends, [frame(a, 19), frame(b, 19), frame(c, 19)].sort());
  // The newest frames alone are the open episode's approach.
  assert.deepEqual(probeSet(s, 3).map(key), [frame(open, 12), frame(open, 13), frame(open, 14)]);
  // Only the newest ended episodes count.
  assert.deepEqual(outcomeProbeSet(s, 2).map(key).sort(), [frame(b, 19), frame(c, 19)].sort());
  // With fewer ended episodes than asked, the newest frames fill the rest.
  const more = outcomeProbeSet(s, 5).map(key);
  assert.equal(more.length, 5);
  assert.deepEqual(more.slice(0, 2), [frame(open, 13), frame(open, 14)]);
  assert.deepEqual(more.slice(2).sort(), ends);
});

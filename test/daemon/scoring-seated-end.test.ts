/**
 * The seated end (src/daemon/scoring.ts SeatedEnd, issue 13): an episode ends at the first observation completing
 * `practice.endSeatedFrames` consecutive observations whose CHECKED learned reward says seated; the arm is held there,
 * the episode judged on that observation and its last transition logged done. The rule alone, then through the real
 * MuJoCo cell and the daemon's log (real SQLite).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { SeatedEnd } from '../../src/daemon/scoring.ts';
import { teardown } from '../teardown.ts';
import { oneEpisode, rig } from './helpers.ts';

const S = { successThreshold: 0.5, useGroundTruthReward: false, endSeatedFrames: 3 };

test('the seated end fires on the k-th consecutive seated observation; an unseated one restarts the count; off never fires', () => {
  const end = new SeatedEnd(S);
  const seq = [0.1, 0.9, 0.9, 0.2, 0.9, 0.9, 0.5, 0.9].map((prob) => end.observe({ prob }));
  // 0.5 is at the threshold: seated. The run 0.9, 0.9 is broken by 0.2; the end is the third of 0.9, 0.9, 0.5.
  assert.deepEqual(seq, [false, false, false, false, false, false, true, true]);
  assert.equal(end.frames, 4);
  const noClassifier = new SeatedEnd(S);
  assert.equal(
    [1, 2, 3, 4].some(() => noClassifier.observe({ prob: null })),
    false,
    'no classifier: nothing to end on',
  );
  const off = new SeatedEnd({ ...S, endSeatedFrames: null });
  assert.equal(
    [1, 2, 3, 4].some(() => off.observe({ prob: 0.99 })),
    false,
  );
  const gt = new SeatedEnd({ ...S, useGroundTruthReward: true });
  assert.equal(
    [1, 2, 3, 4].some(() => gt.observe({ prob: 0.99 })),
    false,
    'the ground-truth ablation is judged by the simulator',
  );
  const one = new SeatedEnd({ ...S, endSeatedFrames: 1 });
  assert.deepEqual(
    [0.2, 0.7].map((prob) => one.observe({ prob })),
    [false, true],
  );
});

/** A classifier: right (0.9 on seated observations, 0.1 elsewhere: it reads the simulator's ground truth), or the
 *  known mistake made deterministic (0.9 on every frame; the checks alone tell). */
function classifier(kind: 'right' | 'says-seated'): RewardScorer & { truth: (() => boolean) | null } {
  const c = {
    version: kind,
    input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
    truth: null as (() => boolean) | null,
    async probability(): Promise<number> {
      if (kind === 'says-seated') return 0.9;
      assert.ok(c.truth);
      return c.truth() ? 0.9 : 0.1;
    },
  };
  return c;
}

interface Ended {
  outcome: string | null;
  reason: string | null;
  gt: boolean | null;
  /** Logged transitions: their checked reward (rewardProb) and terminal flag, in step order. */
  rewards: Array<number | null>;
  done: boolean[];
  /** Holds commanded by the daemon (the sim backend counts them). */
  stops: number;
}

/**
 * One practice episode of `steps` steps in the MuJoCo cell, P-controller, with the classifier `kind`; x* exact, or
 * `besideM` m beside the socket (the plug rests on the socket face and the height check refuses the classifier).
 */
async function episode(t: TestContext, kind: 'right' | 'says-seated', endSeatedFrames: number | null, besideM = 0, steps = 20): Promise<Ended> {
  const defer = teardown(t);
  const reward = classifier(kind);
  const r = await rig({
    connector: 'europlug',
    reward,
    overrides: { episodeSteps: steps },
    calibration: (c) => {
      c.socket.offset = [besideM, 0, 0];
    },
    config: (c) => {
      c.practice.endSeatedFrames = endSeatedFrames;
      c.labels.requests = false;
    },
  });
  defer(() => r.close());
  reward.truth = () => r.sim.groundTruth?.().success ?? false;
  const stops = r.sim.stopsRequested;
  const { episode: e, transitions: ts } = await oneEpisode(r);
  return {
    outcome: e.outcome,
    reason: e.reason,
    gt: e.gtSuccess,
    rewards: ts.map((x) => x.rewardProb),
    done: ts.map((x) => x.done),
    stops: r.sim.stopsRequested - stops,
  };
}

test('MuJoCo cell: a seated P-controller episode ends after k seated observations, held, judged a success, its last transition done', async (t) => {
  const k = 3;
  const on = await episode(t, 'right', k);
  assert.equal(on.gt, true, 'seated where it ended');
  assert.equal(on.outcome, 'success');
  assert.ok(on.rewards.length < 20, `ended before the step limit (${on.rewards.length} of 20 steps)`);
  assert.match(
    on.reason ?? '',
    new RegExp(`^seated end: checked reward seated on ${k} consecutive observations, ended after ${on.rewards.length} of 20 steps$`),
  );
  // Exactly the last k transitions' next observations were called seated: the episode ended on the k-th, not later.
  const n = on.rewards.length;
  assert.ok(on.rewards.slice(n - k).every((p) => p === 0.9));
  assert.ok((on.rewards[n - k - 1] ?? 1) < 0.5, 'the observation before the run was not seated');
  // The terminal flag the trainer reads (online/trainer.ts: done -> no bootstrap) is on the last transition only.
  assert.deepEqual(on.done, [...new Array<boolean>(n - 1).fill(false), true]);
  assert.ok(on.stops >= 1, 'the arm is held where it seated');

  // Off (as before): the same episode presses on to the step limit.
  const off = await episode(t, 'right', null);
  assert.deepEqual([off.outcome, off.gt, off.rewards.length, off.reason], ['success', true, 20, null]);
  assert.ok(
    off.rewards.slice(n - k).every((p) => p === 0.9),
    'seated at the same steps',
  );
});

test('MuJoCo cell: a plug resting on the socket face (the classifier says seated, the checks refuse) does not end the episode', async (t) => {
  const face = await episode(t, 'says-seated', 1, 0.004);
  assert.equal(face.gt, false, 'not seated');
  assert.equal(face.rewards.length, 20, 'ran to the step limit');
  assert.ok(
    face.rewards.every((p) => p === 0),
    'every observation refused by the checks',
  );
  assert.equal(face.outcome, 'failure');
  assert.doesNotMatch(face.reason ?? '', /seated end/);
  assert.match(face.reason ?? '', /refused by the height check/);
});

/**
 * Asking for labels (issue 13): the decision (src/daemon/labels.ts) on hand-made evidence, its budget, and the daemon
 * asking on the mock robot with a real SQLite log: an uncertain episode asks, a confident one whose tip pose agrees does
 * not, a confident failure whose tip went down does (a success whose tip never went down is refused by the height
 * check, scoring.ts, and asks nothing for that, but once such refusals cluster at one height they are asked about, as
 * x* calibrated too low would look the same), and the budget holds over a run.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { LabelBudget, labelNeed, type LabelRequestSettings, type StepEvidence } from '../../src/daemon/labels.ts';
import { logged, mockRig, tickUntil } from './helpers.ts';
import { teardown } from '../teardown.ts';

const S: LabelRequestSettings = { requests: true, uncertainBand: 0.15, flipSteps: 3, stillM: 0.001, seatedToleranceM: 0.002, budget: 1 };
const goal: Vec3 = [0.5, 0, 0.1];
const at = (prob: number, heightM: number, x = 0): StepEvidence => ({ prob, eePos: [0.5 + x, 0, 0.1 + heightM], goal, wrench: [0, 0, -20, 0, 0, 0] });

test('labelNeed: uncertain, flip-flop and physical disagreement ask; a confident outcome the tip pose agrees with does not', () => {
  assert.equal(labelNeed([at(0.1, 0.02), at(0.3, 0.008), at(0.97, 0.0005)], 0.5, S), null, 'confident success, tip down');
  assert.equal(labelNeed([at(0.02, 0.016), at(0.03, 0.016), at(0.02, 0.016)], 0.5, S), null, 'confident failure, tip blocked 16 mm up');
  assert.deepEqual(labelNeed([at(0.2, 0.01), at(0.4, 0.003), at(0.55, 0.0005)], 0.5, S)?.reasons, ['uncertain']);
  // The classifier changes its mind three times about a tip that does not move.
  assert.deepEqual(labelNeed([at(0.9, 0.0005), at(0.1, 0.0005), at(0.95, 0.0005)], 0.5, S)?.reasons, ['flip-flop']);
  // The same probabilities while the tip moves 5 mm are not a flip-flop: the scene changed.
  assert.equal(labelNeed([at(0.9, 0.0005, 0.005), at(0.1, 0.0005), at(0.95, 0.0005)], 0.5, S), null);
  const fp = labelNeed([at(0.9, 0.004), at(0.93, 0.004), at(0.96, 0.004)], 0.5, S);
  assert.deepEqual(fp?.reasons, ['physical-disagreement'], 'learned success 4 mm above the seated height');
  assert.equal(fp?.learnedSuccess, true);
  assert.equal(fp?.physicallyDown, false);
  assert.ok(Math.abs((fp?.heightAboveGoalM ?? 0) - 0.004) < 1e-12);
  assert.deepEqual(labelNeed([at(0.05, 0.0005), at(0.05, 0.0005), at(0.05, 0.0005)], 0.5, S)?.reasons, ['physical-disagreement'], 'learned failure, tip down');
  assert.equal(labelNeed([], 0.5, S), null);
  // The band is a setting.
  assert.equal(labelNeed([at(0.6, 0.0005)], 0.5, { ...S, uncertainBand: 0.05 }), null);
  assert.deepEqual(labelNeed([at(0.6, 0.0005)], 0.5, { ...S, uncertainBand: 0.2 })?.reasons, ['uncertain']);
});

test('LabelBudget: requests never exceed ceil(budget * judged) at any moment', () => {
  for (const f of [0, 0.05, 0.1, 0.33, 1]) {
    const b = new LabelBudget(f);
    for (let n = 1; n <= 200; n++) {
      b.judge(true);
      assert.ok(b.requested <= Math.ceil(f * n - 1e-9), `budget ${f}: ${b.requested} requests after ${n} episodes`);
    }
    assert.equal(b.requested, Math.round(f * 200), `budget ${f} is used when every episode wants a label`);
    assert.equal(b.requested + b.skipped, 200);
  }
  const b = new LabelBudget(0.1);
  for (let n = 0; n < 50; n++) b.judge(false);
  assert.equal(b.requested, 0, 'episodes that need no label never ask');
  assert.equal(b.judged, 50);
});

/** A reward scorer whose probability is fixed: the test decides what the classifier "sees". */
function fixedReward(prob: number): RewardScorer {
  return {
    version: `fixed-${prob}`,
    input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
    probability: () => Promise.resolve(prob),
  };
}

async function practise(t: TestContext, prob: number, count: number, o: { goalNoise?: number; budget?: number } = {}) {
  const r = await mockRig({
    reward: fixedReward(prob),
    overrides: { episodeSteps: 12 },
    mock: { goalNoise: o.goalNoise ?? 0 },
    config: (c) => {
      c.labels.budget = o.budget ?? 1;
    },
  });
  teardown(t)(() => r.close());
  const d = r.app.daemon;
  const asked: number[] = [];
  d.on('labelRequest', (q) => asked.push(q.episodeId));
  assert.ok(d.startPractice({ count, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 40 * count);
  await logged(r);
  return { r, asked, status: d.status(), events: r.app.log.store.listEvents({ kind: 'label_request', order: 'asc' }) };
}

test('the daemon asks for a label for an uncertain episode and not for a confident one', async (t) => {
  const confident = await practise(t, 0.97, 3);
  const eps = confident.r.app.log.store.listEpisodes({ order: 'asc' });
  assert.deepEqual(
    eps.map((e) => [e.outcome, e.gtSuccess]),
    [
      ['success', true],
      ['success', true],
      ['success', true],
    ],
    'seated, and judged so',
  );
  assert.deepEqual(confident.asked, []);
  assert.equal(confident.events.length, 0);
  assert.deepEqual([confident.status.labels.judged, confident.status.labels.requested, confident.status.labels.open.length], [3, 0, 0]);

  const unsure = await practise(t, 0.55, 3);
  const ids = unsure.r.app.log.store.listEpisodes({ order: 'asc' }).map((e) => e.id);
  assert.deepEqual(unsure.asked, ids, 'each uncertain episode asks (budget 1)');
  assert.deepEqual(
    unsure.events.map((e) => e.episodeId),
    ids,
    'logged as label_request events',
  );
  assert.deepEqual((unsure.events[0]?.data as { reasons: string[] }).reasons, ['uncertain']);
  assert.deepEqual(
    unsure.status.labels.open.map((q) => q.episodeId),
    ids,
    'open in /status',
  );
  // A label answers the request.
  assert.deepEqual(unsure.r.app.daemon.noteLabel(ids[0]!, true, 'test'), { answeredRequest: true });
  assert.deepEqual(
    unsure.r.app.daemon.status().labels.open.map((q) => q.episodeId),
    ids.slice(1),
  );
  assert.deepEqual(unsure.r.app.daemon.noteLabel(ids[0]!, false, 'test'), { answeredRequest: false });
  await logged(unsure.r);
  assert.equal(unsure.r.app.log.store.listEvents({ kind: 'label' }).length, 2, 'label events in the log');
});

test('physical evidence: a confident learned failure whose tip went down asks, within the budget; a success on the face is refused, not asked', async (t) => {
  // The classifier misses seated plugs: every episode ends down at x* and is judged a failure.
  const missed = await practise(t, 0.03, 10, { budget: 0.25 });
  const seated = missed.r.app.log.store.listEpisodes({ order: 'asc' });
  assert.deepEqual([seated.filter((e) => e.gtSuccess === true).length, seated.filter((e) => e.outcome === 'failure').length], [10, 10]);
  assert.equal(missed.status.labels.judged, 10);
  assert.ok(missed.status.labels.requested <= Math.ceil(0.25 * 10), `budget: ${missed.status.labels.requested} requests for 10 episodes`);
  assert.ok(missed.status.labels.requested >= 2, 'and used');
  assert.equal(missed.status.labels.requested + missed.status.labels.skipped, 10, 'every missed success wanted a label');
  for (const e of missed.events) {
    const q = e.data as { reasons: string[]; physicallyDown: boolean; learnedSuccess: boolean };
    assert.deepEqual([q.reasons, q.physicallyDown, q.learnedSuccess], [['physical-disagreement'], true, false]);
  }

  // 6 mm of x* error: the P-controller lands on the socket face, 16 mm above the seated height, and the classifier
  // says seated. The height check (practice.heightToleranceM) refuses it: a failure the tip pose agrees with, so no
  // label for that. But refusals at one height are also what x* calibrated too low looks like, which the daemon cannot
  // tell apart (scoring.ts heightRefusalCluster): once it warns, the refused episodes are asked, within the budget.
  const face = await practise(t, 0.97, 10, { goalNoise: 0.006, budget: 0.25 });
  const eps = face.r.app.log.store.listEpisodes({ order: 'asc' });
  const blocked = eps.filter((e) => e.gtSuccess === false);
  assert.ok(blocked.length >= 6, `most episodes blocked (${blocked.length}/10)`);
  for (const e of blocked) {
    assert.equal(e.outcome, 'failure');
    assert.match(e.reason ?? '', /refused by the height check: tip 1\d\.\d mm above x\*/);
  }
  assert.deepEqual(
    eps.filter((e) => e.gtSuccess === true).map((e) => e.outcome),
    Array<string>(10 - blocked.length).fill('success'),
    'the seated ones stay successes',
  );
  assert.deepEqual(
    face.status.warnings.map((w) => w.kind),
    ['height-refusals-cluster'],
  );
  assert.deepEqual([face.status.labels.judged, face.status.labels.requested, face.status.labels.skipped], [10, Math.ceil(0.25 * 10), 0]);
  const blockedIds = new Set(blocked.map((e) => e.id));
  for (const e of face.events) {
    assert.deepEqual((e.data as { reasons: string[] }).reasons, ['height-refusal']);
    assert.ok(blockedIds.has(e.episodeId ?? -1), `asked about a refused episode: ${e.episodeId}`);
  }
});

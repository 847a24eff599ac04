/**
 * control/goal-refine.ts: x* touched up from seated practice endings. The correction is the per-axis median of the
 * connector's latest seated endings once there are enough; failures, too few endings, a correction beyond the bound
 * and non-finite poses leave x* as calibrated; labels move an ending in or out; a restore and a reset do what they say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoalRefiner, validateGoalRefineConfig, type GoalRefineNews } from '../../src/control/goal-refine.ts';
import type { Vec3 } from '../../src/core/types.ts';

const CAL: Vec3 = [0.5, 0.1, 0.02];
const at = (dxMm: number, dyMm: number, dzMm = 0): Vec3 => [CAL[0] + dxMm / 1000, CAL[1] + dyMm / 1000, CAL[2] + dzMm / 1000];
const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('off (episodes 0): x* stays as calibrated whatever ends seated', () => {
  const g = new GoalRefiner({ episodes: 0, window: 9, maxM: 0.004 });
  assert.equal(g.enabled, false);
  for (let i = 0; i < 5; i++) assert.equal(g.addEnding('europlug', i, at(-1, -1), CAL, true), null);
  assert.deepEqual(g.refine('europlug', CAL), CAL);
  assert.deepEqual(g.summary(), {});
});

test('x* moves by the median seated ending once there are enough, laterally only, per connector', () => {
  const g = new GoalRefiner({ episodes: 3, window: 5, maxM: 0.004 });
  assert.equal(g.addEnding('europlug', 1, at(-0.8, -1.0, 0.3), CAL, true), null, 'one seated ending: not yet');
  assert.equal(g.addEnding('europlug', 2, at(5, 5), CAL, false), null, 'a failure is no evidence of where the socket is');
  assert.equal(g.addEnding('europlug', 3, at(-0.7, -1.2), CAL, true), null, 'two: not yet');
  assert.deepEqual(g.refine('europlug', CAL), CAL);
  // A wrong judgement far away: the median of three ignores it.
  const news = g.addEnding('europlug', 4, at(3, 3), CAL, true) as Extract<GoalRefineNews, { kind: 'moved' }>;
  assert.equal(news?.kind, 'moved');
  close(news.correction.dx, -0.0007, 'dx');
  close(news.correction.dy, -0.001, 'dy');
  assert.equal(news.previous, null);
  assert.deepEqual(
    news.correction.endings.map((e) => e.episodeId),
    [1, 3, 4],
  );
  const refined = g.refine('europlug', CAL);
  close(refined[0], CAL[0] - 0.0007, 'x');
  close(refined[1], CAL[1] - 0.001, 'y');
  assert.equal(refined[2], CAL[2], 'the depth is where the press stopped, not refined');
  assert.deepEqual(g.refine('megablock', CAL), CAL, 'another connector keeps its calibration');
  assert.deepEqual(g.refine(undefined, CAL), CAL, 'no connector (between runs): calibrated');
  assert.deepEqual(Object.keys(g.summary()), ['europlug']);
  assert.equal(g.summary().europlug?.episodes, 3);
});

test('the median is over the latest `window` seated endings: an old outlier ages out', () => {
  const g = new GoalRefiner({ episodes: 1, window: 3, maxM: 0.004 });
  g.addEnding('c', 1, at(2, 2), CAL, true);
  g.addEnding('c', 2, at(-1, -1), CAL, true);
  g.addEnding('c', 3, at(-1.2, -1.2), CAL, true);
  close(g.correction('c')!.dx, -0.001, 'median of 2, -1, -1.2');
  g.addEnding('c', 4, at(-1.4, -1.4), CAL, true);
  close(g.correction('c')!.dx, -0.0012, 'median of -1, -1.2, -1.4 once the first has aged out');
  assert.deepEqual(
    g.endingsOf('c').map((e) => e.episodeId),
    [2, 3, 4],
  );
});

test('a correction beyond maxM is refused (said once) and x* stays as calibrated; non-finite poses are ignored', () => {
  const g = new GoalRefiner({ episodes: 1, window: 3, maxM: 0.002 });
  const first = g.addEnding('c', 1, at(3, 0), CAL, true);
  assert.equal(first?.kind, 'refused');
  assert.deepEqual(g.refine('c', CAL), CAL);
  assert.equal(g.addEnding('c', 2, at(3.1, 0), CAL, true), null, 'said once');
  assert.equal(g.addEnding('c', 3, [NaN, 0, 0], CAL, true), null);
  assert.equal(g.endingsOf('c').length, 2, 'the non-finite ending was not kept');
});

test('labels: a failure label takes an ending out (x* back to calibrated when too few remain); a success label puts one in', () => {
  const g = new GoalRefiner({ episodes: 2, window: 5, maxM: 0.004 });
  g.addEnding('c', 1, at(-1, -1), CAL, true);
  g.addEnding('c', 2, at(-0.6, -0.6), CAL, false); // judged failed, but the operator says it seated
  g.addEnding('c', 3, at(-1.2, -1.2), CAL, true);
  close(g.correction('c')!.dx, -0.0011, 'median of -1, -1.2');
  const out = g.label(3, false);
  assert.equal(out?.kind, 'withdrawn');
  assert.deepEqual(g.refine('c', CAL), CAL, 'one seated ending left: below the two needed');
  const back = g.label(2, true);
  assert.equal(back?.kind, 'moved');
  close(g.correction('c')!.dx, -0.0008, 'median of -1 and the labelled -0.6');
  assert.equal(g.label(2, true), null, 'a label that changes nothing says nothing');
  assert.equal(g.label(99, false), null, 'an episode it never saw');
});

test('restore and reset', () => {
  const g = new GoalRefiner({ episodes: 2, window: 3, maxM: 0.004 });
  const news = g.restore('c', [
    { episodeId: 1, dx: 0.001, dy: 0 },
    { episodeId: 2, dx: -0.001, dy: -0.001 },
    { episodeId: 3, dx: -0.0012, dy: -0.001 },
    { episodeId: 4, dx: -0.0008, dy: -0.001 },
  ]);
  assert.equal(news?.kind, 'moved');
  assert.deepEqual(
    g.endingsOf('c').map((e) => e.episodeId),
    [2, 3, 4],
    'the latest `window`',
  );
  close(g.correction('c')!.dx, -0.001, 'median');
  g.restore('d', [{ episodeId: 5, dx: 0.0005, dy: 0 }]);
  assert.equal(g.correction('d'), null, 'too few to move x*');
  assert.deepEqual(g.reset('c'), ['c']);
  assert.equal(g.correction('c'), null);
  assert.deepEqual(g.endingsOf('c'), []);
  g.restore('c', [
    { episodeId: 6, dx: 0.0005, dy: 0 },
    { episodeId: 7, dx: 0.0005, dy: 0 },
  ]);
  assert.deepEqual(g.reset(), ['c']);
  assert.deepEqual(g.summary(), {});
});

test('bad settings are refused with the field named', () => {
  assert.throws(() => validateGoalRefineConfig({ episodes: -1, window: 9, maxM: 0.004 }), /episodes must be an integer >= 0/);
  assert.throws(() => validateGoalRefineConfig({ episodes: 5, window: 3, maxM: 0.004 }), /window must be an integer >= max\(1, episodes\)/);
  assert.throws(() => validateGoalRefineConfig({ episodes: 3, window: 9, maxM: 0 }), /maxM must be > 0/);
});

/**
 * The SIMULATED operator (control/sim-operator.ts) in the real MuJoCo cell through the real daemon: with a 1.5 mm x*
 * calibration error the P-controller alone misses the socket; the simulated operator takes over near the socket when
 * the tip is off the true axis and seats the connector, every step it drives logged as an intervention with its source;
 * evaluation episodes are never helped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goalErrorVec } from '../../src/core/goal-error.ts';
import { parseSimOperator, SimOperator } from '../../src/control/sim-operator.ts';
import { logged, rig, tickUntil } from '../daemon/helpers.ts';

test('parseSimOperator: sim:THRESH_MM, a clear error otherwise', () => {
  assert.equal(parseSimOperator('sim:1.5').thresholdM, 0.0015);
  assert.equal(parseSimOperator('sim:0.5').practiceOnly, true);
  for (const bad of ['sim', 'sim:0', 'sim:-1', 'human:1', 'sim:abc', 'sim:50'])
    assert.throws(() => parseSimOperator(bad), /--operator: expected sim:THRESH_MM/);
});

test(
  'with a 1.5 mm x* error the simulated operator takes over near the socket and seats the connector; eval is not helped',
  { timeout: 120_000 },
  async (t) => {
    const r = await rig({ connector: 'europlug', overrides: { episodeSteps: 20 }, calibration: (c) => void (c.socket.offset = goalErrorVec(1.5)) });
    t.after(() => r.close());
    const d = r.app.daemon;
    const op = new SimOperator({ thresholdM: 0.0005, kp: r.calibration.gains.kp });
    d.addTakeoverInput(op);
    const run = async (kind: 'practice' | 'eval'): Promise<Array<{ gt: boolean | null; iv: number; sources: Set<string | null>; firstStep: number }>> => {
      const before = new Set(r.app.log.store.listEpisodes({ limit: 1000 }).map((e) => e.id));
      assert.ok(d.startPractice({ count: 3, scenario: 'II', kind, seed: 11, explorationNoise: 0 }).ok);
      await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 2000);
      await logged(r);
      return r.app.log.store
        .listEpisodes({ limit: 1000, order: 'asc' })
        .filter((e) => !before.has(e.id))
        .map((e) => {
          const ts = r.app.log.store.getEpisode(e.id, { transitions: true, images: false })?.transitions ?? [];
          const iv = ts.filter((x) => x.intervention);
          return { gt: e.gtSuccess, iv: iv.length, sources: new Set(iv.map((x) => x.interventionSource)), firstStep: iv[0]?.step ?? -1 };
        });
    };
    const ev = await run('eval');
    assert.ok(
      ev.every((e) => e.iv === 0),
      'evaluation episodes are never helped',
    );
    assert.ok(
      ev.every((e) => e.gt === false),
      `the P-controller alone misses with a 1.5 mm x* error (${ev.map((e) => e.gt).join(' ')})`,
    );
    const pr = await run('practice');
    assert.ok(
      pr.every((e) => e.iv > 0 && e.firstStep > 0),
      `the operator took over each practice episode, not from its start (${pr.map((e) => `${e.firstStep}+${e.iv}`).join(' ')})`,
    );
    assert.ok(pr.every((e) => e.sources.size === 1 && e.sources.has('sim-operator:0.5mm')));
    assert.ok(
      pr.every((e) => e.gt === true),
      `and seated the connector (${pr.map((e) => e.gt).join(' ')})`,
    );
    assert.equal(op.takeovers, 3);
  },
);

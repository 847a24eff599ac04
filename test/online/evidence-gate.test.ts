/**
 * The evidence gate (src/online/evidence-gate.ts): its statistic and test alone, then through the trainer on practice
 * the real daemon logged in the real simulator, driven by a zero-residual offline policy (so its actions are the
 * exploration noise). Rewards are written into rewardProb as a known function of the action's x, per batch.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPolicyFile } from '../../src/daemon/models.ts';
import { probeSet } from '../../src/swap/validate.ts';
import { EvidenceGate, meanAdvantages } from '../../src/online/evidence-gate.ts';
import { logged, rig, tickUntil, type Rig } from '../daemon/helpers.ts';
import { maxActionDiff, practiceTrainer, tinyOffline, zeroResidualStart } from './fixtures.ts';
import { teardown } from '../teardown.ts';

test('the gate opens only when every critic ranks the candidate ahead, and stays open', () => {
  const g = new EvidenceGate();
  assert.ok(!g.rank([0.3, 0.2, -0.01, 0.5]), 'one dissenting critic keeps it closed');
  assert.ok(!g.rank([0.3, 0.2, 0, 0.5]), 'a tie is not ahead');
  assert.deepEqual(g.status().last, { ahead: 3, critics: 4, meanD: 0.25 });
  assert.ok(g.rank([0.01, 0.2, 0.02, 0.5]));
  assert.deepEqual([g.status().checks, g.status().openedAt], [3, 3]);
  assert.ok(g.rank([-1, -1, -1, -1]), 'stays open');
  assert.equal(g.status().checks, 3, 'no more checks once open');
  assert.ok(!new EvidenceGate().rank([]), 'no critics, no evidence');
  assert.ok(new EvidenceGate(true).open, 'a resumed trainer starts open');
});

test("each critic's mean advantage of the candidate's actions over the offline policy's", () => {
  const cand = [Float32Array.from([1, 2, 3]), Float32Array.from([0, 0, 0])];
  const off = [Float32Array.from([0, 2, 0]), Float32Array.from([1, 1, 1])];
  assert.deepEqual(meanAdvantages(cand, off), [4 / 3, -1]);
});

const fx = await tinyOffline('evidence-gate-test');
after(() => fx.cleanup());

/** Practice of `count` episodes on the rig's zero-residual policy; each new transition rewarded when its x residual
 *  has the sign `side` (the noise decides). */
async function practice(r: Rig, count: number, side: -1 | 1): Promise<void> {
  const d = r.app.daemon;
  const store = r.app.log.store;
  const seen = new Set(store.listEpisodes({ limit: 10_000 }).map((e) => e.id));
  assert.ok(d.startPractice({ count, scenario: 'I', explorationNoise: 0.002 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 100 * count);
  await logged(r);
  for (const e of store.listEpisodes({ limit: 10_000 })) {
    if (seen.has(e.id)) continue;
    const ts = store.getEpisode(e.id, { transitions: true })?.transitions ?? [];
    store.setRewards(
      e.id,
      ts.map((x) => ({ step: x.step, rewardProb: Math.sign(x.actionResidual?.[0] ?? 0) === side ? 0.95 : 0.05 })),
    );
  }
}

/** Trains on a first batch rewarded on -x (the candidate moves to -x), then reads a second batch: what the gate does. */
async function gateRun(t: TestContext, second: -1 | 1, name: string) {
  const defer = teardown(t);
  const { checkpoint, policyPath } = await zeroResidualStart({ ...fx, dir: join(fx.dir, name) });
  const r = await rig({ overrides: { episodeSteps: 8 }, connector: fx.domains[0] as string, policy: await loadPolicyFile(policyPath) });
  defer(() => r.close());
  await practice(r, 6, -1);
  const tr = practiceTrainer(r.db, checkpoint, join(fx.dir, name, 'online'), {
    batchSize: 32,
    utd: 12,
    seed: 3,
    policyAverage: 1,
    warmupUpdates: 0,
    evidenceGate: true,
  });
  defer(() => tr.close());
  await tr.init();
  const start = await tr.export();
  assert.ok(tr.poll() > 0);
  assert.equal(tr.progress().gate?.checks, 0, 'episodes read before any actor update are not ranked (no change to rank)');
  while (tr.pending > 0) tr.update();
  const held = await tr.export();
  const probes = probeSet(r.app.log.store, 16);
  const heldDiff = await maxActionDiff(start.path, held.path, probes);
  await practice(r, 8, second);
  tr.poll();
  const gate = tr.progress().gate;
  while (tr.pending > 0) tr.update();
  const after = await tr.export();
  return { heldDiff, gate, afterDiff: await maxActionDiff(start.path, after.path, probes) };
}

test('through the trainer: exports are the offline policy while closed; the ensemble ranking the trained change ahead on new practice opens the gate', async (t) => {
  const { heldDiff, gate, afterDiff } = await gateRun(t, -1, 'favours');
  assert.ok(heldDiff < 1e-7, `held on the offline policy after training (max |diff| ${heldDiff} m)`);
  assert.ok(gate?.open, `opened: ${JSON.stringify(gate)}`);
  assert.equal(gate.checks, 1, 'one ranking: the one read of new practice');
  assert.deepEqual([gate.last?.ahead, gate.last?.critics], [10, 10], 'every critic of the default ensemble');
  assert.ok(afterDiff > 1e-5, `the export moves once open (max |diff| ${afterDiff} m)`);
});

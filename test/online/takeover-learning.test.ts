/**
 * A takeover-fed run learns faster than the same run without (issue 13, "Takeovers"), at a tiny size on a fixed seed:
 * the real daemon in the real MuJoCo cell on a held-out connector (europlug), scenario II, a 1.5 mm x* calibration
 * error (the P-controller alone misses), the LEARNED reward (shipped models/reward.onnx), a zero-residual start policy
 * (a 5-update offline checkpoint on another connector with its policy head zeroed: exactly the P-controller).
 * Both runs practise the same 4 episodes (same seed, same exploration noise), then the online trainer (in process)
 * makes the same number of updates on what was logged, and the exported policy is evaluated on the same 10 start poses.
 * In one run the SIMULATED operator (control/sim-operator.ts) took over near the socket; its interventions are learned
 * from in both buffers. Practice first, then training (no hot-swap in between), keeps the test deterministic and short.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { goalErrorVec } from '../../src/core/goal-error.ts';
import { SimOperator } from '../../src/control/sim-operator.ts';
import { loadPolicyFile, rewardFromModel } from '../../src/daemon/models.ts';
import { initBackend } from '../../src/learn/backend.ts';
import { OnlineTrainer } from '../../src/online/trainer.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { logged, rig, tickUntil } from '../daemon/helpers.ts';
import { tinyDb } from '../offline/fixtures.ts';
import { practiceTrainer, zeroResidualStart } from './fixtures.ts';

const root = resolve(import.meta.dirname, '../..');
await initBackend();
const fx = await tinyDb('takeover-learning-test', 2, ['hex14']);
after(() => fx.cleanup());

const PRACTICE = 4;
const TRIALS = 10;

async function runOnce(
  checkpoint: string,
  policyPath: string,
  withOperator: boolean,
): Promise<{ successes: number; interventions: number; demos: number; practiceGt: number }> {
  const reward = rewardFromModel(await RewardModel.load(join(root, 'models/reward.onnx')));
  const r = await rig({
    connector: 'europlug',
    policy: await loadPolicyFile(policyPath),
    reward,
    overrides: { episodeSteps: 20 },
    calibration: (c) => void (c.socket.offset = goalErrorVec(1.5)),
  });
  try {
    const d = r.app.daemon;
    if (withOperator) d.addTakeoverInput(new SimOperator({ thresholdM: 0.0005, kp: r.calibration.gains.kp }));
    assert.ok(d.startPractice({ count: PRACTICE, scenario: 'II', kind: 'practice', seed: 7, explorationNoise: 0.001 }).ok);
    await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 5000);
    await logged(r);
    const practiceGt = r.app.log.store.listEpisodes({ kind: 'practice', limit: 100 }).filter((e) => e.gtSuccess).length;
    const tr = practiceTrainer(r.db, checkpoint, join(fx.dir, `online-${withOperator}`), {
      warmupUpdates: 0, // the learning itself is what is compared, from the first update
      evidenceGate: false, // every export carries it (the gate: evidence-gate.test.ts)
      onlineFraction: 0.5,
      batchSize: 64,
      utd: 4,
      seed: 0,
      policyAverage: 0.01,
    });
    let exported: string;
    let progress: ReturnType<OnlineTrainer['progress']>;
    try {
      await tr.init();
      tr.poll();
      while (tr.pending > 0) tr.update();
      exported = (await tr.export()).path;
      progress = tr.progress();
    } finally {
      tr.close();
    }
    const old = await d.setPolicy(await loadPolicyFile(exported), { at: 'between-ticks' });
    await old?.dispose?.();
    const before = new Set(r.app.log.store.listEpisodes({ limit: 1000 }).map((e) => e.id));
    assert.ok(d.startPractice({ count: TRIALS, scenario: 'II', kind: 'eval', seed: 17, explorationNoise: 0 }).ok);
    await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 5000);
    await logged(r);
    const evals = r.app.log.store.listEpisodes({ kind: 'eval', limit: 1000 }).filter((e) => !before.has(e.id));
    assert.equal(evals.length, TRIALS);
    return {
      successes: evals.filter((e) => e.gtSuccess).length,
      interventions: progress.interventions.online,
      demos: progress.interventions.offline,
      practiceGt,
    };
  } finally {
    await r.close();
  }
}

test('a takeover-fed run learns faster than the same run without (fixed seed, held-out europlug, 1.5 mm x* error)', { timeout: 300_000 }, async () => {
  const { checkpoint, policyPath } = await zeroResidualStart(fx);
  const without = await runOnce(checkpoint, policyPath, false);
  const fed = await runOnce(checkpoint, policyPath, true);
  console.log(
    `after ${PRACTICE} practice episodes: without takeovers ${without.successes}/${TRIALS}, takeover-fed ${fed.successes}/${TRIALS} ` +
      `(${fed.interventions} intervention steps in both buffers; practice seated ${without.practiceGt} vs ${fed.practiceGt})`,
  );
  assert.equal(without.interventions, 0);
  assert.ok(fed.interventions > 0 && fed.demos === fed.interventions, 'interventions learned from, in both buffers');
  assert.ok(fed.successes >= without.successes + 3, `takeover-fed ${fed.successes}/${TRIALS} vs without ${without.successes}/${TRIALS}`);
});

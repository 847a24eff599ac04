/**
 * The evidence gate (src/online/evidence-gate.ts): its statistic and test alone, then through the trainer on practice
 * the real daemon logged in the real simulator, driven by a zero-residual offline policy (so its actions are the
 * exploration noise). Rewards are written into rewardProb as a known function of the action's x, per batch.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPolicyFile, policyFromModel } from '../../src/daemon/models.ts';
import { PolicyModel } from '../../src/policy/onnx-model.ts';
import { inputsFor, probeSet } from '../../src/swap/validate.ts';
import { episodeEvidence, EvidenceGate, normalQuantile, studentTQuantile } from '../../src/online/evidence-gate.ts';
import { logged, rig, tickUntil, type Rig } from '../daemon/helpers.ts';
import { practiceTrainer, tinyOffline, zeroResidualStart } from './fixtures.ts';
import { teardown } from '../teardown.ts';

test('quantiles: normal and Student t against tabulated values', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232) < 1e-5);
  for (const [p, nu, want] of [
    [0.975, 1, 12.7062],
    [0.975, 2, 4.3027],
    [0.975, 3, 3.1824],
    [0.975, 5, 2.5706],
    [0.975, 10, 2.2281],
    [0.95, 30, 1.6973],
  ] as const) {
    const got = studentTQuantile(p, nu);
    assert.ok(Math.abs(got - want) < 0.01 * want, `t(${p}, ${nu}) = ${got}, tables ${want}`);
  }
});

test("an episode's evidence: the noise that raised the reward, along the candidate's change, scale-free", () => {
  const delta = [0.0003, 0, 0];
  // The reward rose on the step whose noise went +x (the candidate's way): positive; -x: negative.
  const up = [
    { reward: 0, delta, noise: [-0.001, 0.0005, 0] },
    { reward: 0.9, delta, noise: [0.001, -0.0002, 0] },
    { reward: 0.9, delta, noise: [-0.0004, 0, 0] },
  ];
  const g = episodeEvidence(up);
  assert.ok(g !== null && Math.abs(g - 0.9 * 0.001) < 1e-12, `g ${g}`);
  const against = up.map((r) => ({ ...r, noise: r.noise.map((x, k) => (k === 0 ? -x : x)) }));
  assert.ok((episodeEvidence(against) ?? 0) < 0);
  // Ten times the change: the same g (it is a direction test).
  const big = up.map((r) => ({ ...r, delta: delta.map((x) => 10 * x) }));
  assert.ok(Math.abs((episodeEvidence(big) ?? NaN) - (g)) < 1e-12);
  // No change yet, or no rows: nothing to score.
  assert.equal(episodeEvidence(up.map((r) => ({ ...r, delta: [0, 0, 0] }))), null);
  assert.equal(episodeEvidence([]), null);
});

test('the gate opens on consistent positive evidence, not on noise, and stays open', () => {
  const pos = new EvidenceGate(0.025);
  let opened = 0;
  for (let i = 1; i <= 20 && !pos.open; i++) {
    pos.add(0.001 + 0.0005 * Math.sin(i));
    opened = i;
  }
  assert.ok(pos.open && opened <= 4, `opened after ${opened}`);
  assert.equal(pos.status().openedAt, opened);
  pos.add(-1);
  assert.ok(pos.open, 'stays open');
  // Zero-mean evidence (a symmetric sequence): never opens.
  const noise = new EvidenceGate(0.025);
  for (let i = 0; i < 200; i++) noise.add(0.001 * Math.sin(i * 2.399));
  const s = noise.status();
  assert.ok(!noise.open, `closed (t ${s.t}, needs ${s.tNeeded})`);
  assert.equal(s.episodes, 200);
  // One episode is no evidence; a resumed trainer starts open.
  const one = new EvidenceGate(0.025);
  one.add(5);
  assert.ok(!one.open);
  assert.ok(new EvidenceGate(0.025, true).open);
  assert.throws(() => new EvidenceGate(0.7));
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

async function maxDiff(a: string, b: string, probes: ReturnType<typeof probeSet>): Promise<number> {
  const [pa, pb] = [policyFromModel(await PolicyModel.load(a)), policyFromModel(await PolicyModel.load(b))];
  let m = 0;
  for (const o of probes) {
    const [ya, yb] = [await pa.run(inputsFor(pa, o).image, inputsFor(pa, o).proprio), await pb.run(inputsFor(pb, o).image, inputsFor(pb, o).proprio)];
    for (let k = 0; k < 3; k++) m = Math.max(m, Math.abs((ya[k] as number) - (yb[k] as number)));
  }
  await pa.dispose?.();
  await pb.dispose?.();
  return m;
}

/** Trains on a first batch rewarded on -x, then reads a second batch rewarded on `second`: what the gate does. */
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
    evidenceGate: 0.025,
  });
  defer(() => tr.close());
  await tr.init();
  const start = await tr.export();
  assert.ok(tr.poll() > 0);
  assert.equal(tr.progress().gate?.episodes, 0, 'episodes read before any actor update are not scored (no change to test)');
  while (tr.pending > 0) tr.update();
  const held = await tr.export();
  const probes = probeSet(r.app.log.store, 16);
  const heldDiff = await maxDiff(start.path, held.path, probes);
  await practice(r, 8, second);
  tr.poll();
  const gate = tr.progress().gate;
  while (tr.pending > 0) tr.update();
  const after = await tr.export();
  return { heldDiff, gate, afterDiff: await maxDiff(start.path, after.path, probes) };
}

test('through the trainer: exports are the offline policy while closed; fresh practice that favours the change opens the gate', async (t) => {
  const { heldDiff, gate, afterDiff } = await gateRun(t, -1, 'favours');
  assert.ok(heldDiff < 1e-7, `held on the offline policy after training (max |diff| ${heldDiff} m)`);
  assert.ok(gate?.open, `opened: ${JSON.stringify(gate)}`);
  assert.ok(gate.episodes >= 2 && gate.episodes <= 8 && (gate.mean ?? 0) > 0);
  assert.ok(afterDiff > 1e-5, `the export moves once open (max |diff| ${afterDiff} m)`);
});

test('through the trainer: fresh practice that contradicts the change keeps the exports on the offline policy', async (t) => {
  const { heldDiff, gate, afterDiff } = await gateRun(t, 1, 'contradicts');
  assert.ok(heldDiff < 1e-7);
  assert.ok(gate && !gate.open && gate.episodes === 8 && (gate.mean ?? 0) < 0, `closed: ${JSON.stringify(gate)}`);
  assert.ok(afterDiff < 1e-7, `still the offline policy (max |diff| ${afterDiff} m)`);
  // The noise the rule reads is the daemon's (2 mm, zero mean): the rig drove the zero-residual pi0 it holds.
  const z = gate.noiseMm;
  assert.ok(z && z.rows === 64 && z.rms.every((x) => x > 1.5 && x < 2.5) && z.mean.every((x) => Math.abs(x) < 1), JSON.stringify(z));
});

/**
 * The fleet's per-arm validation refuses a version taking depth cells on an arm without a depth camera (issue 13): the
 * arm's SwapManager says why before any probe, PostgreSQL records 'rejected' with that reason, and the arm's own policy
 * keeps driving. A real throw-away PostgreSQL and a real daemon on the simulated cell.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { startFleet } from '../../src/app/fleet.ts';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { cardPathFor } from '../../src/policy/card.ts';
import { REWARD_CUES } from '../../src/policy/inputs.ts';
import { FleetStore } from '../../src/store/pg/fleet-store.ts';
import { buildPolicyLike, cardDraft } from '../policy/fixtures.ts';
import { rig, tempDir } from '../daemon/helpers.ts';
import { pgSkip, usePgCluster } from '../store/pg/helpers.ts';
import { teardown } from '../teardown.ts';

const pg = usePgCluster();

test('a fleet version taking depth cells is rejected by an arm without depth, with the reason in PostgreSQL', { skip: pgSkip }, async (t) => {
  const defer = teardown(t);
  await tf.setBackend('cpu');
  const tmp = tempDir('fleet-depth-');
  defer(tmp.cleanup);
  const path = join(tmp.dir, 'policy-depth.onnx');
  const cue = REWARD_CUES.depth;
  const m = buildPolicyLike({ size: 64, proprioDim: cue.layout.length, hidden: 16, head: 'action', seed: 5 });
  const draft = cardDraft('policy', { size: 64, proprioDim: cue.layout.length });
  draft.preprocessing.proprio = { layout: [...cue.layout], mean: [...cue.mean], std: [...cue.std] };
  saveOnnxModel(m, path, { inputRoles: ['image', 'proprio'], outputRoles: ['action'], card: { ...draft, name: 'policy-depth', version: 1 } });
  m.dispose();

  const env = { ...pg.cluster().env };
  // An arm without a depth camera (the shipped config's simulated cell has one).
  const r = await rig({ startLoop: false, config: (c) => void (c.backend.sim.depth = false) });
  defer(() => r.close());
  assert.deepEqual(r.app.daemon.status().sensors, { depth: false });
  // (closed before the arm: it writes into the arm's folder)
  const fleet = startFleet(r.app, {
    config: { enabled: true, credentialsFile: null, shipBatch: 64, shipIntervalMs: 50, takeVersions: true },
    robotId: 'arm-1',
    env,
    retryMs: 300,
  });
  defer(() => fleet.close());
  const store = await FleetStore.connect(pg.target());
  defer(() => store.close());
  const id = await store.publishModel({
    kind: 'policy',
    version: 'policy-depth@1',
    onnx: readFileSync(path),
    card: JSON.parse(readFileSync(cardPathFor(path), 'utf8')) as unknown,
    sha256: 'x',
    rollout: { mode: 'all' },
  });
  assert.equal(await fleet.decided(id), 'rejected');
  const t0 = Date.now();
  let reason = '';
  while (Date.now() - t0 < 10_000) {
    reason = (await store.modelStatus(id)).find((s) => s.robotId === 'arm-1' && s.state === 'rejected')?.reason ?? '';
    if (reason) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(reason, /policy-depth@1: it takes 64 depth cells \(depth8_0_0\.\.\.\) and the robot backend gives no depth image/);
  assert.equal(r.app.daemon.policyVersion, null, 'nothing swapped in');
});

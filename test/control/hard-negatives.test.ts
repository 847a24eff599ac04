// The hard-negative collectors (control/hard-negatives.ts): on a point plant, then in the real MuJoCo cell through the
// project's collector, with the simulator's ground-truth labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FacePress, SeatLift } from '../../src/control/hard-negatives.ts';
import { createController, isCollectorOnly, needsPrivileged } from '../../src/control/registry.ts';
import { collectPrior } from '../../src/data/collect.ts';
import { loadLabelledImages } from '../../src/data/dataset.ts';
import { DEFAULT_PRIOR_SETTINGS } from '../../src/data/episode.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { checkBaseline } from '../../src/replay/baseline.ts';
import { Store } from '../../src/store/index.ts';
import { ctx, plantEpisode } from './helpers.ts';

const socket: Vec3 = [0.6, 0.05, 0.1];
const goal: Vec3 = [0.6, 0.05, 0.1];

test('face-press: aims 1.5-6 mm beside the true centre-line and ends pressed on the face, never in the hole', () => {
  for (let seed = 0; seed < 30; seed++) {
    const c = new FacePress();
    const { plant, actions } = plantEpisode(c, [0.615, 0.042, 0.14], goal, socket, seed, 0.0012);
    const r = Math.hypot(...c.offset);
    assert.ok(r >= 0.0015 - 1e-12 && r <= 0.006 + 1e-12, `offset ${r}`);
    assert.ok(!plant.seated, `seed ${seed} seated`);
    assert.ok(Math.abs(plant.pos[2] - plant.surfaceZ) < 1e-9, `seed ${seed}: tip at ${plant.pos[2]}, face at ${plant.surfaceZ}`);
    const lateral = Math.hypot(plant.pos[0] - socket[0], plant.pos[1] - socket[1]);
    assert.ok(lateral > 0.0012 && lateral < 0.0071, `seed ${seed}: ${lateral}`);
    for (const u of actions) for (const v of u) assert.ok(Math.abs(v) <= 0.01);
  }
});

test('seat-lift: seated, then 1-4 mm above seated, then home again, in turns', () => {
  for (let seed = 0; seed < 10; seed++) {
    const { actions } = plantEpisode(new SeatLift(), [0.615, 0.042, 0.14], goal, socket, seed, 0.0012);
    // Replay on a fresh plant, recording the height above seated after each step.
    const heights: number[] = [];
    const { plant } = plantEpisode(
      {
        name: 'replay',
        reset: () => {},
        act: (o) => {
          heights.push(o.eePos[2] - socket[2]);
          return actions[heights.length - 1] as Vec3;
        },
      },
      [0.615, 0.042, 0.14],
      goal,
      socket,
      seed,
      0.0012,
    );
    heights.push(plant.pos[2] - socket[2]);
    const seated = heights.map((h) => h < 0.0005);
    const lifted = heights.map((h) => h > 0.001 - 1e-9 && h < 0.004 + 1e-9);
    const firstSeated = seated.indexOf(true);
    assert.ok(firstSeated > 0 && firstSeated < 12, `seed ${seed}: first seated at ${firstSeated}`);
    // After seating, the plug is lifted and seated again at least twice each.
    const after = heights.slice(firstSeated);
    assert.ok(lifted.slice(firstSeated).filter(Boolean).length >= 2, `seed ${seed}: ${after.map((h) => (h * 1000).toFixed(1)).join(' ')}`);
    assert.ok(seated.slice(firstSeated).filter(Boolean).length >= 3, `seed ${seed}: ${after.map((h) => (h * 1000).toFixed(1)).join(' ')}`);
  }
  assert.throws(() => new SeatLift().reset(ctx(0)), /needs ctx.privileged.socketPos/);
  assert.throws(() => new FacePress({ offsetMin: 0.004, offsetMax: 0.002 }), /offsetMax must be a finite number/);
});

test('the collectors are registered as privileged prior-data collectors, not baselines', () => {
  for (const name of ['face-press', 'seat-lift']) {
    assert.equal(createController(name).name, name);
    assert.ok(needsPrivileged(name) && isCollectorOnly(name));
    assert.throws(() => checkBaseline(name), /unknown baseline/);
  }
  assert.ok(!isCollectorOnly('p'));
  checkBaseline('p');
});

test('in the MuJoCo cell: face-press episodes are unseated at the insertion depth; seat-lift ones hold seated and lifted frames', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hard-negatives-'));
  try {
    const db = join(dir, 'prior.db');
    await collectPrior({
      db,
      connectors: ['hex14', 'dsub'],
      controllers: ['face-press', 'seat-lift'],
      scenarios: ['I', 'II'],
      episodesPerConnector: 4,
      seed: 3,
      workers: 0,
      settings: { ...DEFAULT_PRIOR_SETTINGS, imageSize: 16, episodeLength: 16 },
    });
    const store = Store.openReadOnly(db);
    try {
      const of = (controller: string) => loadLabelledImages(store, { domains: ['hex14', 'dsub'], imageSize: 16, policyVersions: [controller] });
      const face = of('face-press');
      const lift = of('seat-lift');
      // Ground truth: no face-pressed frame is seated, and the last frames rest 6 mm or more above seated (the pins are
      // 8-12 mm long: on the face, not in a hole).
      assert.equal(face.success.filter((s) => s === 1).length, 0);
      const high = Array.from(face.aboveSeated).filter((z) => z >= 0.006).length;
      assert.ok(high >= face.count / 2, `${high} of ${face.count} face frames >= 6 mm above seated`);
      const seated = lift.success.filter((s) => s === 1).length;
      const lifted = Array.from(lift.aboveSeated).filter((z, i) => lift.success[i] === 0 && z >= 0.001 && z <= 0.0045).length;
      assert.ok(seated >= lift.count / 5 && lifted >= lift.count / 5, `seat-lift: ${seated} seated, ${lifted} lifted 1-4.5 mm of ${lift.count}`);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

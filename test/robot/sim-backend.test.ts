import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimBackend } from '../../src/robot/sim-backend.ts';
import type { EstopSignal } from '../../src/robot/backend.ts';

const backend = await SimBackend.create({ connector: 'square16', cell: { imageSize: 32, nuisance: false } });
process.on('exit', () => backend.dispose());

test('moveToStart resets deterministically; command runs one control period of physics', async () => {
  await backend.moveToStart({ seed: 7, scenario: 'II' });
  const a = backend.observe();
  assert.equal(backend.clock(), 0);
  assert.equal(a.image.width, 32);
  backend.command([0, 0, -0.005]);
  assert.ok(Math.abs(backend.clock() - 0.1) < 1e-9, 'one 10 Hz period of simulated time');
  const b = backend.observe();
  assert.ok(b.eePos[2] < a.eePos[2], 'moved down');
  assert.equal(b.imageStamp, backend.clock());
  await backend.moveToStart({ seed: 7, scenario: 'II' });
  assert.deepEqual(backend.observe().eePos, a.eePos, 'same seed, same start');
  const lateral = Math.hypot(a.eePos[0] - a.goal[0], a.eePos[1] - a.goal[1]);
  assert.ok(lateral >= 0.0095 && lateral <= 0.0205, `scenario II starts 10-20 mm away (${(lateral * 1000).toFixed(1)} mm)`);
  assert.equal(typeof backend.groundTruth().success, 'boolean');
});

test('a practice request naming another connector switches the cell', async () => {
  await backend.moveToStart({ seed: 1, scenario: 'I', domain: 'round12' });
  assert.equal(backend.connector, 'round12');
  assert.equal(backend.simCell.config.connector.name, 'round12');
  await assert.rejects(backend.moveToStart({ seed: 1, scenario: 'I', domain: 'no-such-plug' }), /unknown connector/);
  assert.equal(backend.connector, 'round12', 'a bad name leaves the cell as it was');
});

test('simulated e-stop button notifies listeners; faults freeze stamps or poison the pose', async () => {
  await backend.moveToStart({ seed: 2, scenario: 'I' });
  const seen: EstopSignal[] = [];
  const off = backend.onEstop((s) => seen.push(s));
  backend.pressEstop();
  backend.pressEstop(); // no duplicate event
  backend.releaseEstop();
  off();
  backend.pressEstop();
  backend.releaseEstop();
  assert.deepEqual(seen, [
    { engaged: true, source: 'sim-button' },
    { engaged: false, source: null },
  ]);
  backend.injectFault({ freezeCamera: true });
  const frozen = backend.observe().imageStamp;
  backend.command([0, 0, 0]);
  backend.command([0, 0, 0]);
  assert.equal(backend.observe().imageStamp, frozen);
  assert.ok(backend.observe().wrenchStamp > frozen, 'the wrench stream still runs');
  backend.injectFault({ nanPose: true });
  assert.ok(backend.observe().eePos.every(Number.isNaN));
  backend.clearFaults();
  assert.equal(backend.observe().imageStamp, backend.clock());
});

test('retract lifts the tip; the cell refuses non-finite commands itself', async () => {
  await backend.moveToStart({ seed: 3, scenario: 'I' });
  const z0 = backend.observe().eePos[2];
  await backend.retract(0.01);
  assert.ok(backend.observe().eePos[2] - z0 > 0.005);
  assert.throws(() => backend.command([NaN, 0, 0]), /finite/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProprioBuilder, PROPRIO_NAMES } from '../../src/policy/inputs.ts';
import type { Observation } from '../../src/core/types.ts';

const obs: Observation = {
  image: { width: 1, height: 1, data: new Uint8Array(3) },
  wrench: [1, 2, 3, 4, 5, 6],
  eePos: [0.6, 0.1, 0.05],
  eeQuat: [1, 0, 0, 0],
  goal: [0.62, 0.16, 0.01],
  imageStamp: 0,
  wrenchStamp: 0,
};

test('proprio elements by name, normalised as (raw - mean) / std', () => {
  const b = new ProprioBuilder(
    { layout: ['dx', 'dy', 'dz', 'fz', 'tx', 'z', 'gx'], mean: [0, 0, 0, 1, 0, 0, 0], std: [0.01, 0.01, 0.01, 2, 1, 1, 1] },
    'card.json',
  );
  const v = Array.from(b.build(obs));
  const want = [(0.6 - 0.62) / 0.01, (0.1 - 0.16) / 0.01, (0.05 - 0.01) / 0.01, (3 - 1) / 2, 4, 0.05, 0.62];
  v.forEach((x, i) => assert.ok(Math.abs(x - (want[i] as number)) < 1e-5, `element ${i}: ${x} vs ${want[i]}`));
  assert.equal(b.build(obs), b.build(obs), 'reuses one buffer (no allocation per tick)');
  assert.ok(PROPRIO_NAMES.includes('ty'));
});

test('unknown element names and non-positive std are refused naming the source and index', () => {
  assert.throws(
    () => new ProprioBuilder({ layout: ['dx', 'speed'], mean: [0, 0], std: [1, 1] }, 'models/p.onnx.json'),
    /models\/p\.onnx\.json: proprio layout\[1\] 'speed'/,
  );
  assert.throws(() => new ProprioBuilder({ layout: ['dx'], mean: [0], std: [0] }, 'm.json'), /m\.json: proprio std\[0\] must be > 0/);
});

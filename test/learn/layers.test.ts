import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Scale, scale } from '../../src/learn/layers.ts';

await tf.setBackend('cpu');

test('Scale multiplies per channel and survives a save/load round trip', async () => {
  const inp = tf.input({ shape: [2, 3] });
  const out = scale([1, -2, 0.5], 'sc').apply(inp) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: out });
  const x = tf.tensor3d([
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
  ]);
  const y = (model.predict(x) as tf.Tensor).arraySync();
  assert.deepEqual(y, [
    [
      [1, -4, 1.5],
      [4, -10, 3],
    ],
  ]);

  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  assert.ok(saved);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved));
  const layer = loaded.getLayer('sc');
  assert.ok(layer instanceof Scale);
  assert.deepEqual(layer.scale, [1, -2, 0.5]);
  assert.deepEqual((loaded.predict(x) as tf.Tensor).arraySync(), y);
});

test('Scale rejects a bad config and a channel mismatch', () => {
  assert.throws(() => new Scale({ scale: [] }), /non-empty/);
  assert.throws(() => new Scale({ scale: [1, Number.NaN] }), /finite/);
  const inp = tf.input({ shape: [4] });
  assert.throws(() => scale([1, 2, 3], 'bad').apply(inp), /3 entries but the input has 4 channels/);
});

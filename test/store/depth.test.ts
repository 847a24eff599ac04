// The depth image in the log (schema 5): stored beside the colour image in 0.1 mm steps, read back as logged, absent on
// rows without one, carried by the raw row shipping, and refused with the field named when malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DepthImage } from '../../src/core/types.ts';
import { CodecError, DEPTH_CODEC, decodeDepth, encodeDepth } from '../../src/store/codec.ts';
import { makeTransition, openEpisodeLog } from './fixtures/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-depth-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A 0.1 mm-quantised depth frame with holes (0) and a step edge, as the simulated D405 gives. */
function depthFrame(step: number, w = 64, h = 64): DepthImage {
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const z = x < w / 2 ? 0.0523 + 1e-4 * ((x * 7 + y * 3 + step) % 13) : 0.0911 - 1e-4 * y;
      data[y * w + x] = (x + y + step) % 17 === 0 ? 0 : Math.round(z / 1e-4) * 1e-4;
    }
  }
  return { width: w, height: h, data };
}

test('a transition with depth reads back its depth to float32 precision; one without reads null', () => {
  const { store, eid } = openEpisodeLog(join(dir, 'a.db'));
  try {
    const withDepth = { ...makeTransition(eid, 0), obs: { ...makeTransition(eid, 0).obs, depth: depthFrame(0) } };
    const [a, b] = store.appendTransitions([withDepth, makeTransition(eid, 1)]);
    const ra = store.getTransition(a as number);
    const rb = store.getTransition(b as number);
    assert.ok(ra?.depth, 'depth missing on read');
    assert.equal(ra.depth.width, 64);
    const want = depthFrame(0).data;
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(ra.depth.data[i]! - want[i]!) < 1e-7, `pixel ${i}: ${ra.depth.data[i]} vs ${want[i]}`);
    assert.equal(rb?.depth, null);
    // Without pixels: no depth either (the reads that skip images skip it too).
    assert.equal(store.getTransition(a as number, { images: false })?.depth, null);
    // Shipping copies the stored columns to another log (the fleet's path): the depth goes with them.
    const other = openEpisodeLog(join(dir, 'b.db'));
    try {
      const raw = store.rawTransitions(0, 10).map((r) => ({ ...r, episode_id: other.eid }));
      const [c] = other.store.importRawTransitions(raw);
      assert.deepEqual(other.store.getTransition(c as number)?.depth, ra.depth);
    } finally {
      other.store.close();
    }
  } finally {
    store.close();
  }
});

test('the depth codec: lossless at 0.1 mm, compact, and refuses a malformed frame or blob naming the field', () => {
  const d = depthFrame(3);
  const blob = encodeDepth(d);
  assert.ok(blob.length < 2 * 64 * 64, `${blob.length} bytes`);
  assert.deepEqual(
    decodeDepth(blob, 64, 64, DEPTH_CODEC, 'x').data,
    decodeDepth(encodeDepth(decodeDepth(blob, 64, 64, DEPTH_CODEC, 'x')), 64, 64, DEPTH_CODEC, 'x').data,
  );
  assert.throws(
    () => decodeDepth(blob, 64, 32, DEPTH_CODEC, 'row 5'),
    (e: Error) => e instanceof CodecError && /row 5: depth inflates/.test(e.message),
  );
  assert.throws(() => decodeDepth(blob, 64, 64, 'png16', 'row 5'), /unknown depth codec 'png16'/);
  const { store, eid } = openEpisodeLog(join(dir, 'c.db'));
  try {
    const bad = { ...makeTransition(eid, 0), obs: { ...makeTransition(eid, 0).obs, depth: { width: 64, height: 64, data: new Float32Array(10) } } };
    assert.throws(() => store.appendTransition(bad), /obs: depth\.data must be a Float32Array of width\*height = 4096 values, got 10/);
  } finally {
    store.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, nativeGemm, setNativeGemm } from '../../src/learn/backend.ts';
import { gatherImages } from '../../src/learn/nets.ts';
import { Rng } from '../../src/util/rng.ts';

await initBackend();

test('gatherImages: random shifts with edge replication, uint8 / 255; the native loop = the JS loop, bit for bit', () => {
  // One 2x3 image, 1 channel: values 10 * row + column.
  const tiny = Uint8Array.from([0, 1, 2, 10, 11, 12]);
  const draws = [2, 0]; // randInt(3) - 1: one row down (+1), one column left (-1)
  const want = [10, 10, 11, 10, 10, 11].map((v) => v / 255); // rows min(1, y + 1) = 1, 1; columns clamp(x - 1) = 0, 0, 1
  for (const native of [true, false]) {
    setNativeGemm(native);
    const out = new Float32Array(6);
    let k = 0;
    gatherImages(tiny, [2, 3, 1], [0], out, 1, () => draws[k++] as number);
    assert.deepEqual([...out], want.map(Math.fround), `native=${native}`);
  }
  // Bigger batches: the two loops give the same bits and draw the same shifts (the rng continues alike).
  const rng = new Rng(4);
  const [h, w, c, count] = [32, 32, 3, 40];
  const images = Uint8Array.from({ length: count * h * w * c }, () => rng.int(256));
  const idx = Int32Array.from({ length: 64 }, () => rng.int(count));
  for (const pad of [0, 2, 4]) {
    const runs = [true, false].map((native) => {
      setNativeGemm(native);
      const r = new Rng(9);
      const out = new Float32Array(idx.length * h * w * c);
      gatherImages(images, [h, w, c], idx, out, pad, (n) => r.int(n));
      return { out, next: r.int(1 << 30) };
    });
    const [a, b] = runs as [{ out: Float32Array; next: number }, { out: Float32Array; next: number }];
    assert.equal(a.next, b.next, `pad ${pad}: the same draws`);
    assert.deepEqual(new Uint32Array(a.out.buffer), new Uint32Array(b.out.buffer), `pad ${pad}: the same bits`);
  }
  setNativeGemm(true);
  assert.ok(nativeGemm() === null || nativeGemm()?.gatherImages, 'this addon has the native loop (rebuild with bash native/build.sh)');
});

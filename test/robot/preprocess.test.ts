import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ImagePreprocessor, PreprocessError, WrenchCorrector } from '../../src/robot/preprocess.ts';
import { resizeRgb } from '../../src/policy/inputs.ts';
import type { RgbImage, Wrench } from '../../src/core/types.ts';

function gradient(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = (x * 255) / (w - 1);
      data[i + 1] = (y * 255) / (h - 1);
      data[i + 2] = (x + y) % 256;
    }
  }
  return { width: w, height: h, data };
}

test('identity path: no sharp call, exact bytes, floats in [0,1] NHWC', async () => {
  const frame = gradient(64, 64);
  const p = new ImagePreprocessor({ crop: null, width: 64, height: 64, channelOrder: 'rgb' });
  assert.ok(p.isIdentity(64, 64));
  const out = await p.prepare(frame);
  assert.equal(out.usedSharp, false);
  assert.deepEqual(out.rgb.data, frame.data);
  assert.notEqual(out.rgb.data, frame.data, 'a copy: the backend may reuse its buffer');
  assert.equal(out.tensor.length, 64 * 64 * 3);
  for (const i of [0, 1, 2, 3000, 12287]) assert.ok(Math.abs((out.tensor[i] as number) - (frame.data[i] as number) / 255) < 1e-7);
});

test('crop then resize matches sharp applied by hand, and the crop really selects the region', async () => {
  const frame = gradient(160, 120);
  const crop = { x: 40, y: 20, width: 80, height: 80 };
  const p = new ImagePreprocessor({ crop, width: 32, height: 32, channelOrder: 'rgb' });
  const out = await p.prepare(frame);
  assert.equal(out.usedSharp, true);
  assert.equal(out.rgb.width, 32);
  const ref = await sharp(frame.data, { raw: { width: 160, height: 120, channels: 3 } })
    .extract({ left: 40, top: 20, width: 80, height: 80 })
    .resize(32, 32, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  assert.deepEqual(out.rgb.data, new Uint8Array(ref));
  // Red encodes x: the crop spans x 40..119 of 160, so red runs from ~64 to ~190, not 0..255.
  const red0 = out.rgb.data[0] as number;
  const redEnd = out.rgb.data[31 * 3] as number;
  assert.ok(red0 > 55 && red0 < 80, `left edge red ${red0}`);
  assert.ok(redEnd > 175 && redEnd < 200, `right edge red ${redEnd}`);
});

test('BGR cameras are converted to RGB', async () => {
  const frame = gradient(8, 8);
  const p = new ImagePreprocessor({ crop: null, width: 8, height: 8, channelOrder: 'bgr' });
  const out = await p.prepare(frame);
  for (let i = 0; i < 64; i++) {
    assert.equal(out.rgb.data[i * 3], frame.data[i * 3 + 2]);
    assert.equal(out.rgb.data[i * 3 + 2], frame.data[i * 3]);
    assert.ok(Math.abs((out.tensor[i * 3] as number) - (frame.data[i * 3 + 2] as number) / 255) < 1e-7);
  }
});

test('bad frames and crops outside the frame are refused with a clear error', async () => {
  const p = new ImagePreprocessor({ crop: { x: 50, y: 0, width: 30, height: 30 }, width: 16, height: 16, channelOrder: 'rgb' });
  await assert.rejects(p.prepare(gradient(64, 64)), (e: unknown) => e instanceof PreprocessError && /camera\.crop/.test(e.message));
  const q = new ImagePreprocessor({ crop: null, width: 16, height: 16, channelOrder: 'rgb' });
  await assert.rejects(q.prepare({ width: 10, height: 10, data: new Uint8Array(5) }), /expected 300/);
  assert.throws(() => new ImagePreprocessor({ crop: null, width: 0, height: 16, channelOrder: 'rgb' }), PreprocessError);
});

test('wrench: calibrated bias subtracted, re-zero takes the current reading, non-finite re-zero refused', () => {
  const c = new WrenchCorrector([1, 2, 3, 0.1, 0.2, 0.3]);
  assert.deepEqual(c.correct([1, 2, 13, 0.1, 0.2, 0.3]), [0, 0, 10, 0, 0, 0]);
  const raw: Wrench = [0.5, -0.5, 4, 0, 0, 0.01];
  assert.ok(c.rezero(raw));
  assert.deepEqual(c.correct(raw), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(c.correct([0.5, -0.5, 9, 0, 0, 0.01]), [0, 0, 5, 0, 0, 0]);
  assert.equal(c.rezero([NaN, 0, 0, 0, 0, 0]), false);
  assert.deepEqual(c.currentBias, raw);
});

test('area resize reproduces the training loader exactly (no sharp), with and without a crop', async () => {
  const frame = gradient(64, 64);
  const p = new ImagePreprocessor({ crop: null, width: 32, height: 32, channelOrder: 'rgb', resize: 'area' });
  const out = await p.prepare(frame);
  assert.equal(out.usedSharp, false);
  const want = new Uint8Array(32 * 32 * 3);
  resizeRgb(frame.data, 64, 64, want, 32, 32);
  assert.deepEqual(out.rgb.data, want);
  // 2x2 box average by hand for one pixel.
  const px = (x: number, y: number, c: number) => frame.data[(y * 64 + x) * 3 + c] as number;
  assert.equal(out.rgb.data[(5 * 32 + 7) * 3], Math.round((px(14, 10, 0) + px(15, 10, 0) + px(14, 11, 0) + px(15, 11, 0)) / 4));
  const crop = { x: 8, y: 4, width: 48, height: 48 };
  const q = new ImagePreprocessor({ crop, width: 16, height: 16, channelOrder: 'rgb', resize: 'area' });
  const cropped = new Uint8Array(48 * 48 * 3);
  for (let y = 0; y < 48; y++) cropped.set(frame.data.subarray(((4 + y) * 64 + 8) * 3, ((4 + y) * 64 + 8 + 48) * 3), y * 48 * 3);
  const want2 = new Uint8Array(16 * 16 * 3);
  resizeRgb(cropped, 48, 48, want2, 16, 16);
  assert.deepEqual((await q.prepare(frame)).rgb.data, want2);
});

test('sameAs: only preprocessors that produce the same input are shared between models', () => {
  const base = { crop: null, width: 32, height: 32, channelOrder: 'rgb' as const, resize: 'area' as const };
  const a = new ImagePreprocessor(base);
  assert.equal(a.sameAs(new ImagePreprocessor({ ...base })), true);
  assert.equal(a.sameAs(new ImagePreprocessor({ ...base, width: 64, height: 64 })), false);
  assert.equal(a.sameAs(new ImagePreprocessor({ ...base, resize: 'linear' })), false);
  assert.equal(a.sameAs(new ImagePreprocessor({ ...base, channelOrder: 'bgr' })), false);
  const cropped = new ImagePreprocessor({ ...base, crop: { x: 4, y: 4, width: 48, height: 48 } });
  assert.equal(a.sameAs(cropped), false);
  assert.equal(cropped.sameAs(new ImagePreprocessor({ ...base, crop: { x: 4, y: 4, width: 48, height: 48 } })), true);
  assert.equal(cropped.sameAs(new ImagePreprocessor({ ...base, crop: { x: 5, y: 4, width: 48, height: 48 } })), false);
});

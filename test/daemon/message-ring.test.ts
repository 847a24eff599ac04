/**
 * The shared-memory ring the main thread and the control thread talk through (MessageRing, src/daemon/thread-protocol.ts):
 * order, wrap-around, a full ring (the writer keeps messages back, in order, and never waits), and two real threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageRing } from '../../src/daemon/thread-protocol.ts';
import { startWorker } from '../../src/util/worker.ts';

const drain = (ring: MessageRing): unknown[] => {
  const got: unknown[] = [];
  ring.read((m) => got.push(m));
  return got;
};

test('messages come out in the order they went in, as structured clones (typed arrays kept)', () => {
  const ring = MessageRing.create(1 << 12);
  const sent = [{ type: 'start' }, { type: 'call', id: 1, method: 'status' }, { samples: new Float64Array([1.5, -2, NaN]) }, null, 'text', 7];
  for (const m of sent) assert.equal(ring.write(m), true);
  const got = drain(ring);
  assert.deepEqual(got, sent);
  assert.ok(got[2] && (got[2] as { samples: unknown }).samples instanceof Float64Array);
  assert.deepEqual(drain(ring), [], 'read once');
  assert.equal(ring.stats().pendingBytes, 0);
});

test('messages that straddle the end of the buffer wrap around intact, over many laps', () => {
  const ring = MessageRing.create(256);
  let next = 0;
  let expect = 0;
  for (let lap = 0; lap < 2000; lap++) {
    // 1-3 messages of odd sizes per round: their length words and bodies land at every offset, both split at the end.
    const k = 1 + (lap % 3);
    for (let i = 0; i < k; i++) assert.equal(ring.write({ n: next + i, pad: 'x'.repeat(((next + i) * 7) % 41) }), true, `message ${next + i} fits`);
    next += k;
    for (const m of drain(ring) as Array<{ n: number; pad: string }>) {
      assert.equal(m.n, expect);
      assert.equal(m.pad.length, (expect * 7) % 41);
      expect++;
    }
  }
  assert.equal(expect, next);
  assert.ok(next * 20 > 256 * 50, 'many laps of the buffer');
});

test('a full ring: the writer keeps the rest back in order without waiting, and sends it once the reader made room', () => {
  const ring = MessageRing.create(128);
  const written: boolean[] = [];
  for (let i = 0; i < 20; i++) written.push(ring.write({ i }));
  assert.equal(written[0], true);
  const firstHeld = written.indexOf(false);
  assert.ok(firstHeld > 0, 'the ring filled');
  // Once one waits, everything after it waits too (nothing overtakes)...
  assert.deepEqual(written.slice(firstHeld), Array<boolean>(20 - firstHeld).fill(false));
  const got: number[] = [];
  for (let guard = 0; guard < 100 && got.length < 20; guard++) {
    ring.flush();
    ring.read((m) => got.push((m as { i: number }).i));
  }
  assert.deepEqual(
    got,
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.equal(ring.backlogged, 0);
  assert.equal(ring.stats().backlogEpisodes, 1);
  assert.ok(ring.stats().maxPendingBytes <= 128);
});

test('a small message never overtakes a big one held back, though it would fit', () => {
  const ring = MessageRing.create(128);
  assert.equal(ring.write('a'.repeat(60)), true);
  assert.equal(ring.write('b'.repeat(60)), false, 'does not fit beside the first');
  assert.equal(ring.write('s'), false, 'would fit, but waits behind the big one');
  const got: unknown[] = [];
  for (let guard = 0; guard < 10 && got.length < 3; guard++) {
    ring.flush();
    ring.read((m) => got.push(m));
  }
  assert.deepEqual(got, ['a'.repeat(60), 'b'.repeat(60), 's']);
});

test('a message larger than the ring is refused with its size; one that exactly fits goes through', () => {
  const ring = MessageRing.create(64);
  assert.throws(() => ring.write('y'.repeat(100)), /message of \d+ bytes is larger than its ring \(64 bytes\)/);
  // serialize('z' x 55) is 2 bytes of header + 1 tag + 1 length + 55 = 59 bytes; with its 4-byte length: 63 <= 64.
  assert.equal(ring.write('z'.repeat(55)), true);
  assert.deepEqual(drain(ring), ['z'.repeat(55)]);
  assert.throws(() => MessageRing.create(100), /power of two/);
});

test('between two threads: 20,000 messages through a small ring, all in order; the writer kept some back, never waited', { timeout: 60_000 }, async () => {
  const ring = MessageRing.create(1 << 10);
  const n = 20_000;
  const worker = startWorker(new URL('./fixtures/ring-writer.ts', import.meta.url), { buffer: ring.buffer, n });
  let ended: Error | null = null;
  const done = new Promise<{ held: number; writeMs: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', (e) => reject((ended = e)));
    worker.once('exit', (code) => (ended ??= new Error(`writer exited (code ${code})`)));
  });
  let expect = 0;
  const deadline = performance.now() + 45_000;
  while (expect < n && performance.now() < deadline) {
    ring.read((m) => {
      const { i, s } = m as { i: number; s: string };
      assert.equal(i, expect, 'in order');
      assert.equal(s.length, 3 * (i % 9));
      expect++;
    });
    if (ended && ring.stats().pendingBytes === 0) break;
    await new Promise((r) => setTimeout(r, 0));
  }
  const { held } = await done;
  await worker.terminate();
  assert.equal(expect, n, 'every message arrived');
  assert.ok(held > 0, 'the ring was full at times (the backlog was used)');
  assert.ok(ring.stats().maxPendingBytes <= 1 << 10);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingStats, TickScheduler, type TickInfo } from '../../src/daemon/scheduler.ts';
import { summarize } from '../../src/daemon/stats.ts';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn
  }
}

test('deadlines are absolute: they sit on the t0 + k*period grid whatever each tick costs', async () => {
  const period = 20;
  const s = new TickScheduler({ periodMs: period, realtime: true });
  const infos: TickInfo[] = [];
  s.start(
    (i) => {
      infos.push(i);
      busy((i.index * 7) % 6); // 0-5 ms of work, varying
    },
    (e) => assert.fail(String(e)),
  );
  await new Promise((r) => setTimeout(r, 20 * period + 5));
  await s.stop();
  assert.ok(infos.length >= 15, `${infos.length} ticks`);
  const t0 = (infos[0] as TickInfo).deadline;
  for (const i of infos) {
    const k = (i.deadline - t0) / period;
    assert.ok(Math.abs(k - Math.round(k)) < 1e-6, `deadline off the grid at tick ${i.index}`);
    assert.ok(i.lateMs >= 0, 'never early');
  }
  assert.equal(s.ticks, infos.length);
  assert.equal(s.jitter.count, infos.length);
});

test('an overrunning tick counts missed deadlines and the schedule skips instead of bursting', async () => {
  const period = 20;
  const s = new TickScheduler({ periodMs: period, realtime: true });
  const infos: TickInfo[] = [];
  s.start(
    (i) => {
      infos.push(i);
      if (i.index === 2) busy(2.6 * period);
    },
    () => undefined,
  );
  await new Promise((r) => setTimeout(r, 12 * period));
  await s.stop();
  const after = infos[3] as TickInfo;
  assert.ok(after.skipped >= 2, `skipped ${after.skipped}`);
  assert.ok(after.missed);
  assert.ok(s.missed >= 2);
  // No burst: the tick after the overrun starts on a future grid point, not immediately one after another.
  const gaps = infos.slice(3).map((x, k) => x.deadline - (infos[k + 2] as TickInfo).deadline);
  for (const g of gaps) {
    const k = g / period;
    assert.ok(k >= 1 - 1e-9 && Math.abs(k - Math.round(k)) < 1e-6, `gap ${g} ms is not a whole number of periods`);
  }
  assert.ok(gaps[0] !== undefined && gaps[0] >= 3 * period - 1e-6, 'the overrun deadlines were skipped, not replayed');
});

test('a throwing tick is reported and the schedule keeps running; free-run ticks back to back', async () => {
  const errors: unknown[] = [];
  const s = new TickScheduler({ periodMs: 1000, realtime: false });
  let n = 0;
  s.start(
    () => {
      n++;
      if (n === 3) throw new Error('boom');
    },
    (e) => errors.push(e),
  );
  await new Promise((r) => setTimeout(r, 50));
  await s.stop();
  assert.ok(n > 20, `free-run did ${n} ticks in 50 ms at a nominal 1 Hz`);
  assert.equal(errors.length, 1);
  assert.equal(s.missed, 0, 'free-run never counts missed ticks');
});

test('ring statistics keep the newest samples and summarise them', () => {
  const r = new RingStats(4);
  for (const v of [10, 1, 2, 3, 4]) r.push(v);
  assert.equal(r.count, 4);
  assert.deepEqual([...r.values()].sort(), [1, 2, 3, 4]);
  assert.equal(r.last, 4);
  const s = r.summary();
  assert.equal(s.p50, 2);
  assert.equal(s.max, 4);
  assert.equal(summarize([]).n, 0);
  const big = summarize(Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(big.p99, 99);
  assert.equal(big.p50, 50);
});

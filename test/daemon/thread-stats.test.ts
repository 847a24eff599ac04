/**
 * Where a missed tick's time went (thread-stats.ts, scheduler.ts TickInfo.timerLateMs, timing.ts LateTick.thread): the
 * ticking thread's own counters from /proc/thread-self, and how late the scheduler's timer fired.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TickScheduler, type TickInfo } from '../../src/daemon/scheduler.ts';
import { parseCtxSwitches, parseStatFaults, parseSteal, ThreadStats, threadDelta, type ThreadSample } from '../../src/daemon/thread-stats.ts';
import { TickTiming } from '../../src/daemon/timing.ts';

const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn
  }
};

test('the /proc lines are read by field, whatever the thread is called', () => {
  // A command with spaces and a parenthesis, as a worker's may be.
  const stat =
    '4242 (node (worker) x) S 1 2 3 0 -1 4194560 1234 0 56 0 10 20 0 0 -100 0 40 0 1000 1 2 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 10 1 0 0 0';
  assert.deepEqual(parseStatFaults(stat), { minflt: 1234, majflt: 56, cpu: 1 });
  assert.deepEqual(parseCtxSwitches('Name:\tnode\nvoluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t3\n'), { vcsw: 17, nvcsw: 3 });
  const procStat = 'cpu  4981923 459666 709988 2257036 38047 0 9057 42919 0 0\ncpu0 1 2 3 4 5 6 7 21520 0 0\ncpu1 1 2 3 4 5 6 7 21399 0 0\nintr 1 2\n';
  assert.deepEqual(parseSteal(procStat), [215200, 213990]);
});

test('a stretch is split into on a core, in the run queue and off a core', () => {
  const s = (runNs: number, waitNs: number, loopIdleMs: number): ThreadSample => ({
    runNs,
    waitNs,
    minflt: 10,
    majflt: 0,
    vcsw: 5,
    nvcsw: 1,
    loopIdleMs,
    cpu: 1,
    stealMs: [40, 100],
  });
  // 150 ms: 5 on a core, 20 waiting for one, so 125 asleep; the loop waited 120 of them.
  assert.deepEqual(threadDelta(s(1e6, 2e6, 50), { ...s(6e6, 22e6, 170), minflt: 14, vcsw: 6, cpu: 0, stealMs: [50, 110] }, 150), {
    runMs: 5,
    runQueueMs: 20,
    offCpuMs: 125,
    minflt: 4,
    majflt: 0,
    vcsw: 1,
    nvcsw: 0,
    loopIdleMs: 120,
    loopActiveMs: 30,
    stealMs: 20,
    stealOnCpuMs: 10,
    cpu: 1,
  });
});

test("this thread's own counters: work is time on a core, a wait is time off it, new memory is page faults", { skip: process.platform !== 'linux' }, () => {
  const st = ThreadStats.open();
  assert.ok(st, '/proc/thread-self readable');
  try {
    const a = st.sample();
    let t = performance.now();
    busy(40);
    const b = st.sample();
    const work = threadDelta(a, b, performance.now() - t);
    // On a loaded machine part of the 40 ms may be spent waiting for a core, and a few ms off it (a CI run saw 5 ms in
    // 3 voluntary switches: V8's own waits); a sleep instead of the busy loop would show about 0 here.
    assert.ok(work.runMs + work.runQueueMs > 30, JSON.stringify(work));
    t = performance.now();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60);
    const c = st.sample();
    const sleep = threadDelta(b, c, performance.now() - t);
    assert.ok(sleep.offCpuMs > 45 && sleep.runMs < 15, JSON.stringify(sleep));
    assert.ok(sleep.vcsw >= 1, 'it slept: a voluntary switch');
    const mem = Buffer.allocUnsafeSlow(32 << 20);
    for (let i = 0; i < mem.length; i += 4096) mem[i] = 1; // touch every page of fresh memory
    const d = st.sample();
    assert.ok(d.minflt - c.minflt > 1000, `${d.minflt - c.minflt} minor faults for 8192 new pages`);
  } finally {
    st.close();
  }
});

test('a late tick says how late the timer fired, and what the thread did meanwhile', async () => {
  const period = 100;
  const s = new TickScheduler({ periodMs: period, realtime: true, spinMs: 1 });
  const infos: TickInfo[] = [];
  s.start(
    (i) => {
      infos.push(i);
      // During tick 1's wait, the event loop is held for 120 ms: its timer cannot fire until then.
      if (i.index === 1) setTimeout(() => busy(120), 20);
    },
    (e) => assert.fail(String(e)),
  );
  await new Promise((r) => setTimeout(r, 3.5 * period));
  await s.stop();
  const [, one, two, three] = infos;
  assert.ok(one && two && three, `${infos.length} ticks`);
  assert.ok((one.timerLateMs ?? NaN) < 15, `tick 1: timer late ${one.timerLateMs} ms`);
  assert.ok((two.timerLateMs ?? 0) > 30, `tick 2: timer late ${two.timerLateMs} ms`);
  assert.ok(two.lateMs > 30 && (two.spinMs ?? NaN) >= 0, JSON.stringify(two));

  // The record of a missed tick carries them, with the thread's counters over the stretch it waited.
  let n = 0;
  const sample = (runMs: number, waitMs: number): ThreadSample => ({
    runNs: runMs * 1e6,
    waitNs: waitMs * 1e6,
    minflt: 0,
    majflt: 0,
    vcsw: n++,
    nvcsw: 0,
    loopIdleMs: 0,
    cpu: 0,
    stealMs: [0],
  });
  const probes = [sample(0, 0), sample(4, 150)];
  const t = new TickTiming(16, 100, () => probes.shift() ?? sample(0, 0));
  t.tickStarted({ index: 0, deadline: 0, lateMs: 0, skipped: 0, missed: false }, true);
  t.tickEnded(true, 4);
  t.tickStarted({ index: 1, deadline: 100, lateMs: 160, skipped: 0, missed: true, timerLateMs: 158, spinMs: 1 }, true);
  const late = t.lateTicks[0];
  assert.equal(late?.timerLateMs, 158);
  assert.equal(late.spinMs, 1);
  assert.equal(late.thread?.runQueueMs, 150, 'the thread was runnable and waited for a core');
  assert.equal(late.thread.offCpuMs, 106);
});

/**
 * setThreadRealtime (src/util/realtime.ts): one thread's scheduling class through the C addon's sched_setscheduler,
 * read back from /proc/<pid>/task/<tid>/stat; what it refuses and how it says so. The control thread's use of it
 * (config controlRealtime, and the normal class for the simulated cell's resets) is tested in
 * test/daemon/realtime-class.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { withProcessCpus } from '../../src/util/affinity.ts';
import { atForkCeiling, forkCeiling, holdForkCeiling, realtimeMechanism, setThreadRealtime, threadPolicy } from '../../src/util/realtime.ts';
import { teardown } from '../teardown.ts';

/** A worker thread that idles, and its thread id (the task that appeared when it started). */
async function idleThread(): Promise<{ worker: Worker; tid: number }> {
  const before = new Set(readdirSync('/proc/self/task'));
  const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
  await new Promise((r) => worker.once('online', r));
  const fresh = readdirSync('/proc/self/task').filter((x) => !before.has(x));
  return { worker, tid: Math.min(...fresh.map(Number)) };
}

/** Whether this process may take SCHED_FIFO (root or CAP_SYS_NICE). */
function mayTakeFifo(): boolean {
  try {
    setThreadRealtime(process.pid, 1);
    setThreadRealtime(process.pid, null);
    return true;
  } catch {
    return false;
  }
}
const skip = process.platform !== 'linux' ? 'Linux only' : !mayTakeFifo() ? 'needs root or CAP_SYS_NICE for SCHED_FIFO' : false;

test('the addon sets one thread real-time and back: read from /proc, nice kept, the others untouched', { skip }, async (t) => {
  assert.equal(realtimeMechanism(), 'sched_setscheduler', 'native/build/gemm.node has setThreadRealtime (bash native/build.sh)');
  const defer = teardown(t);
  const { worker, tid } = await idleThread();
  defer(() => worker.terminate());
  setPriority(tid, 5);
  assert.deepEqual(threadPolicy(process.pid, tid), { policy: 'SCHED_OTHER', priority: 0 });
  setThreadRealtime(tid, 10);
  defer(() => setThreadRealtime(tid, null));
  assert.deepEqual(threadPolicy(process.pid, tid), { policy: 'SCHED_FIFO', priority: 10 });
  assert.deepEqual(threadPolicy(), { policy: 'SCHED_OTHER', priority: 0 }, 'the calling thread is not changed');
  setThreadRealtime(tid, null);
  assert.deepEqual(threadPolicy(process.pid, tid), { policy: 'SCHED_OTHER', priority: 0 });
  assert.equal(getPriority(tid), 5, 'back in the normal class at its nice value');
});

test('refused, with the reason: a priority out of [1, 99], a thread of another process', () => {
  for (const p of [0, 100, 1.5, -1]) assert.throws(() => setThreadRealtime(process.pid, p), /real-time priority must be an integer in \[1, 99\]/, String(p));
  assert.throws(() => setThreadRealtime(1, 10), /1 is not a thread of this process/);
});

test('a fork while a control thread is real-time runs just below it (the fork ceiling); the child and the thread after it are normal', { skip }, async (t) => {
  const defer = teardown(t);
  const nice = getPriority(0);
  const none = withProcessCpus(() => threadPolicy());
  assert.deepEqual(none, { policy: 'SCHED_OTHER', priority: 0 }, 'no real-time control thread: no ceiling');
  const faults: string[] = [];
  const drop = holdForkCeiling(10, (m) => faults.push(m));
  defer(drop);
  assert.equal(forkCeiling(), 9);
  let during: ReturnType<typeof threadPolicy> | null = null;
  // What every child of the daemon goes through (src/online/supervisor.ts, src/util/worker.ts).
  const child = withProcessCpus(() => {
    during = threadPolicy();
    return spawn('sleep', ['5'], { stdio: 'ignore' });
  });
  defer(() => child.kill('SIGKILL'));
  assert.deepEqual(during, { policy: 'SCHED_FIFO', priority: 9 }, 'the main thread forks at one below the control thread');
  assert.ok(child.pid);
  assert.deepEqual(threadPolicy(child.pid, child.pid), { policy: 'SCHED_OTHER', priority: 0 }, 'the child starts in the normal class');
  assert.deepEqual(threadPolicy(), { policy: 'SCHED_OTHER', priority: 0 }, 'the main thread is normal again');
  assert.equal(getPriority(0), nice, 'at its nice value');
  assert.deepEqual(faults, []);
  drop();
  assert.equal(forkCeiling(), null, 'released: no ceiling');
  assert.deepEqual(
    atForkCeiling(() => threadPolicy()),
    { policy: 'SCHED_OTHER', priority: 0 },
  );
});

test('the ceiling is one below the lowest real-time control thread of the process (several daemons), at least 1', () => {
  const a = holdForkCeiling(20, () => undefined);
  const b = holdForkCeiling(10, () => undefined);
  try {
    assert.equal(forkCeiling(), 9);
    b();
    assert.equal(forkCeiling(), 19, 'the other daemon closed');
    b();
    assert.equal(forkCeiling(), 19, 'releasing twice changes nothing');
    const c = holdForkCeiling(1, () => undefined);
    assert.equal(forkCeiling(), 1);
    c();
  } finally {
    a();
    b();
  }
  assert.equal(forkCeiling(), null);
});

test(
  'refusals: the fork runs anyway, said once to every holder until the ceiling works again',
  { skip: realtimeMechanism() === 'sched_setscheduler' ? false : 'the ceiling needs the addon (bash native/build.sh)' },
  () => {
    const said: string[][] = [[], []];
    const drops = [holdForkCeiling(10, (m) => said[0]?.push(m)), holdForkCeiling(12, (m) => said[1]?.push(m))];
    try {
      let refuse: 'take' | 'leave' | null = 'take';
      const calls: (number | null)[] = [];
      const set = (tid: number, p: number | null): void => {
        assert.equal(tid, process.pid, 'the main thread: it forks');
        calls.push(p);
        if ((refuse === 'take' && p !== null) || (refuse === 'leave' && p === null)) throw new Error('Operation not permitted');
      };
      assert.equal(
        atForkCeiling(() => 1, set),
        1,
      );
      assert.equal(
        atForkCeiling(() => 2, set),
        2,
      );
      assert.deepEqual(calls, [9, 9], 'not taken: nothing to leave');
      for (const s of said) {
        assert.equal(s.length, 1, 'said once to each holder');
        assert.match(
          s[0] ?? '',
          /a child process was started in the normal class, not at real-time priority 9 below the control thread \(Operation not permitted\)/,
        );
      }
      refuse = null;
      assert.equal(
        atForkCeiling(() => 3, set),
        3,
      );
      refuse = 'leave';
      assert.equal(
        atForkCeiling(() => 4, set),
        4,
      );
      assert.match(
        said[0]?.[1] ?? '',
        /the main thread stays real-time at priority 9 after starting a child process \(Operation not permitted\)/,
        'said again after a success',
      );
      assert.equal(said[0]?.length, 2);
    } finally {
      for (const d of drops) d();
    }
  },
);

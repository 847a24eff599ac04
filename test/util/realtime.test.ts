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
import { realtimeMechanism, setThreadRealtime, threadPolicy } from '../../src/util/realtime.ts';
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

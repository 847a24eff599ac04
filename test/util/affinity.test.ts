/**
 * setThreadCpus (src/util/affinity.ts): one thread's CPUs through the C addon's sched_setaffinity, read back from
 * /proc/self/task/<tid>/status; what it refuses and how it says so. The daemon's use of it (config controlCpu) is
 * tested in test/app/control-cpu.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { NATIVE_ADDON } from '../../src/util/native-addon.ts';
import { affinityMechanism, setThreadCpus, threadCpus } from '../../src/util/affinity.ts';

const all = process.platform === 'linux' ? threadCpus(process.pid) : [];
const skip = all.length < 2 ? 'needs Linux and at least 2 CPUs for this process' : false;

/** A worker thread that idles, and its thread id (the task that appeared when it started). */
async function idleThread(): Promise<{ worker: Worker; tid: number }> {
  const before = new Set(readdirSync('/proc/self/task'));
  const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
  await new Promise((r) => worker.once('online', r));
  const fresh = readdirSync('/proc/self/task').filter((x) => !before.has(x));
  // The worker's JS thread is the first new task (V8 may start helper threads after it).
  const tid = Math.min(...fresh.map(Number));
  return { worker, tid };
}

test('the addon pins one thread: set, read back from /proc, the others untouched', { skip }, async (t) => {
  assert.equal(affinityMechanism(), 'sched_setaffinity', 'native/build/gemm.node has setThreadCpus (bash native/build.sh)');
  const { worker, tid } = await idleThread();
  t.after(() => worker.terminate());
  const last = all[all.length - 1] as number;
  setThreadCpus(tid, [last]);
  assert.deepEqual(threadCpus(process.pid, tid), [last]);
  assert.deepEqual(threadCpus(process.pid), all, 'the main thread keeps every CPU');
  setThreadCpus(tid, all);
  assert.deepEqual(threadCpus(process.pid, tid), all);
});

test('refused, with the reason: a CPU that does not exist, no CPU, a thread of another process', { skip }, () => {
  const me = process.pid;
  // A CPU the kernel cannot give (the mask has none of the online CPUs): sched_setaffinity says EINVAL.
  assert.throws(() => setThreadCpus(me, [1000]), new RegExp(`could not set the CPUs of thread ${me} to 1000: sched_setaffinity\\(${me}\\): Invalid argument`));
  assert.deepEqual(threadCpus(me), all, 'nothing changed');
  assert.throws(() => setThreadCpus(me, []), /could not set the CPUs of thread \d+ to : gemm.setThreadCpus: no CPU given/);
  assert.throws(() => setThreadCpus(me, [-1]), /each CPU must be an integer/);
  // pid 1 exists but is not a thread of this process: refused before any system call.
  assert.throws(() => setThreadCpus(1, [0]), /could not set the CPUs of thread 1 to 0: gemm.setThreadCpus: 1 is not a thread of this process/);
});

test('the addon call on the calling thread (tid 0)', { skip }, () => {
  const addon = createRequire(import.meta.url)(NATIVE_ADDON) as { setThreadCpus: (tid: number, cpus: number[]) => void };
  const first = all[0] as number;
  try {
    addon.setThreadCpus(0, [first]);
    assert.deepEqual(threadCpus(process.pid), [first]);
  } finally {
    addon.setThreadCpus(0, all);
  }
  assert.deepEqual(threadCpus(process.pid), all);
});

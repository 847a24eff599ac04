/**
 * The control thread's real-time class (src/daemon/realtime-class.ts): the simulated cell's reset and retract run in
 * the normal class, the class is taken back after them, and a refusal either way is said once and does not stop the
 * work. Behind the real app (real control thread, real MuJoCo cell, real SQLite file) and, for the refusals (which root
 * cannot provoke), with the system call refusing on cue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { RealtimeClass } from '../../src/daemon/realtime-class.ts';
import { DaemonThread } from '../../src/daemon/thread.ts';
import type { OffTickWork } from '../../src/daemon/thread-protocol.ts';
import { forkCeiling, setThreadRealtime, threadPolicy } from '../../src/util/realtime.ts';
import { simApp, tempDir } from './helpers.ts';
import { teardown } from '../teardown.ts';

const ownTid = (): number => Number(readlinkSync('/proc/thread-self').split('/').pop());

function mayTakeFifo(): boolean {
  try {
    setThreadRealtime(ownTid(), 1);
    setThreadRealtime(ownTid(), null);
    return true;
  } catch {
    return false;
  }
}
const skip = process.platform !== 'linux' ? 'Linux only' : !mayTakeFifo() ? 'needs root or CAP_SYS_NICE for SCHED_FIFO' : false;

/** The process's threads in the SCHED_FIFO class (ps: cls FF). */
function fifoThreads(): number {
  return execFileSync('ps', ['-L', '-o', 'cls=', '-p', String(process.pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() === 'FF').length;
}

test('the simulated cell resets in the normal class and ticks real-time again after (the real control thread)', { skip, timeout: 120_000 }, async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('realtime-class-');
  defer(tmp.cleanup);
  const before = fifoThreads();
  const app = await simApp(tmp.dir, 'rt', { realtime: true, episodeSteps: 4 }, (c) => {
    c.controlThread = true;
    c.controlRealtime = 10;
    c.controlCpu = null;
    c.lockDir = tmp.dir;
  });
  defer(() => app.close());
  const d = app.daemon;
  assert.ok(d instanceof DaemonThread);
  assert.ok(
    d.notes.some((n) =>
      /real-time SCHED_FIFO priority 10 \(controlRealtime; set through sched_setscheduler\); the simulated cell's resets and retracts run in the normal class/.test(
        n,
      ),
    ),
    d.notes.join('\n'),
  );
  assert.equal(fifoThreads(), before + 1, 'the control thread is real-time once ready');
  assert.equal(forkCeiling(), 9, "the process's forks run just below it (util/realtime.ts atForkCeiling)");
  const faults: string[] = [];
  d.on('fault', (m: string) => faults.push(m));
  const r = d.startPractice({ count: 2, scenario: 'I' });
  assert.ok(r.ok);
  await d.whenState('idle', 60_000);
  const w = d.simulation({ op: 'offTickWork' }) as OffTickWork;
  assert.ok(w.runs >= 2, `one reset per episode: ${JSON.stringify(w)}`);
  assert.equal(w.realtime, 0, `no reset ran real-time: ${JSON.stringify(w)}`);
  assert.equal(w.normal, w.runs);
  assert.equal(w.dropFailures + w.restoreFailures, 0);
  assert.equal(fifoThreads(), before + 1, 'real-time again after the resets');
  assert.deepEqual(faults, [], 'nothing to say');
  await app.close();
  assert.equal(forkCeiling(), null, 'no ceiling once the control thread has ended');
});

test('a free-running or never real-time thread resets as it is: no class change asked', async () => {
  const calls: (number | null)[] = [];
  const rc = new RealtimeClass({ tid: ownTid, fault: () => assert.fail('no fault'), set: (_tid, p) => void calls.push(p) });
  assert.equal(await rc.normalDuring(async () => 7), 7);
  assert.deepEqual(calls, []);
  assert.equal(rc.work.runs, 0, 'not off-tick work of a real-time thread');
});

test('leaving and taking back the class around the work, in that order (the system call as it is)', { skip }, async (t) => {
  const faults: string[] = [];
  const rc = new RealtimeClass({ tid: ownTid, fault: (m) => faults.push(m) });
  t.after(() => setThreadRealtime(ownTid(), null));
  assert.match(rc.take(10)[0] ?? '', /real-time SCHED_FIFO priority 10/);
  assert.equal(threadPolicy().policy, 'SCHED_FIFO');
  const during = await rc.normalDuring(async () => threadPolicy());
  assert.deepEqual(during, { policy: 'SCHED_OTHER', priority: 0 }, 'the work runs in the normal class');
  assert.deepEqual(threadPolicy(), { policy: 'SCHED_FIFO', priority: 10 }, 'then real-time again');
  await assert.rejects(
    rc.normalDuring(async () => {
      throw new Error('reset failed');
    }),
    /reset failed/,
  );
  assert.equal(threadPolicy().policy, 'SCHED_FIFO', 'taken back after a failed reset too');
  assert.deepEqual(faults, []);
  assert.deepEqual(rc.work, { runs: 2, realtime: 0, normal: 2, dropFailures: 0, restoreFailures: 0 });
});

test('refusals: the work still runs; each is said once; a later success takes the class back and says so', async () => {
  const faults: string[] = [];
  let refuse: 'drop' | 'restore' | null = null;
  const calls: (number | null)[] = [];
  const rc = new RealtimeClass({
    tid: () => 4242,
    fault: (m) => faults.push(m),
    set: (tid, p) => {
      assert.equal(tid, 4242);
      calls.push(p);
      if ((refuse === 'drop' && p === null) || (refuse === 'restore' && p !== null && calls.length > 1)) throw new Error('Operation not permitted');
    },
  });
  assert.match(rc.take(10)[0] ?? '', /SCHED_FIFO priority 10/);
  // The class cannot be left: the reset runs anyway (real-time), said once over two resets.
  refuse = 'drop';
  let ran = 0;
  await rc.normalDuring(async () => ran++);
  await rc.normalDuring(async () => ran++);
  assert.equal(ran, 2);
  assert.equal(faults.length, 1);
  assert.match(faults[0] ?? '', /could not leave SCHED_FIFO for the simulated cell's reset \(Operation not permitted\); it runs real-time/);
  assert.equal(rc.work.dropFailures, 2);
  // It cannot be taken back: said once, tried again after the next reset; a success says so.
  refuse = 'restore';
  await rc.normalDuring(async () => ran++);
  await rc.normalDuring(async () => ran++);
  assert.equal(ran, 4);
  assert.equal(faults.length, 2);
  assert.match(
    faults[1] ?? '',
    /could not take SCHED_FIFO priority 10 back after the simulated cell's reset \(Operation not permitted\); it runs in the normal class until a later reset takes it back/,
  );
  assert.equal(rc.work.restoreFailures, 2);
  refuse = null;
  await rc.normalDuring(async () => ran++);
  assert.equal(faults.length, 3);
  assert.match(faults[2] ?? '', /SCHED_FIFO priority 10 taken back/);
  assert.deepEqual(calls.slice(-2), [null, 10], 'left, then taken back');
});

test('the class cannot be taken at all: said, and resets are left alone', () => {
  const rc = new RealtimeClass({
    tid: () => 1,
    fault: () => assert.fail('no fault'),
    set: () => {
      throw new Error('Operation not permitted');
    },
  });
  assert.match(rc.take(10)[0] ?? '', /could not take real-time priority 10 \(Operation not permitted\); normal scheduling at its nice value/);
});

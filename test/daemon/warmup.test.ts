/**
 * The control thread's warm-up (src/daemon/warmup.ts, run by thread-host.ts before 'ready'), behind the real app: real
 * simulated cells, real SQLite file. It runs before the daemon is ready, moves only a cell of its own (never the
 * robot), writes nothing to the log, and the real-time class comes after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { DaemonThread } from '../../src/daemon/thread.ts';
import type { DaemonApp } from '../../src/app/daemon-app.ts';
import type { DaemonConfig } from '../../src/config/schema.ts';
import type { RunningDaemon } from '../../src/daemon/types.ts';
import { simApp, tempDir } from './helpers.ts';

const tmp = tempDir('daemon-warmup-');
process.on('exit', tmp.cleanup);

async function app(name: string, edit: (c: DaemonConfig) => void, realtime = false): Promise<{ app: DaemonApp<RunningDaemon>; d: DaemonThread }> {
  const a = await simApp(tmp.dir, name, { realtime, episodeSteps: 6 }, (c) => {
    c.controlThread = true;
    edit(c);
  });
  assert.ok(a.daemon instanceof DaemonThread);
  return { app: a, d: a.daemon };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The process's threads in the SCHED_FIFO class (ps: cls FF). */
function fifoThreads(): number {
  const out = execFileSync('ps', ['-L', '-o', 'cls=', '-p', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() === 'FF').length;
}

test('the warm-up practises on a cell of its own before the daemon is ready: the robot is not moved, nothing is logged', { timeout: 90_000 }, async (t) => {
  const { app: a, d } = await app('warm', (c) => {
    c.controlWarmupTicks = 40;
  });
  t.after(() => a.close());
  // The robot (the daemon's cell) got no motion command; the log got no episode, transition or practice event.
  assert.deepEqual(d.simulation({ op: 'motionTimes', since: 0 }), []);
  await d.flushLog();
  assert.equal(a.log.store.listEpisodes().length, 0);
  assert.equal(a.log.store.countTransitions(), 0);
  assert.equal(a.log.store.listEvents({ kind: 'practice' }).length, 0);
  const st = d.status();
  assert.equal(st.state, 'idle');
  assert.equal(st.recent.n, 0);
  assert.equal(st.timing.controlTicks, 0);
  // Ready: the warm-up has run, on its own cell, every tick it was asked for.
  const w = d.warmup;
  assert.ok(w, 'a warm-up report');
  assert.equal(w.aborted, false);
  assert.equal(w.controlTicks, 40);
  assert.ok(w.episodes >= 6, `episodes of 6 steps: ${w.episodes}`);
  assert.ok(w.warmupCellCommands >= 40, `its own cell moved: ${w.warmupCellCommands} commands`);
  assert.ok(w.logCalls > 40, `its rows were serialized: ${w.logCalls}`);
  assert.ok(
    d.notes.some((n) => /warmed up on a cell of its own, 40 control ticks/.test(n)),
    d.notes.join('\n'),
  );
  // The same checks see real practice: the daemon's cell moves and its episode is logged.
  const r = d.startPractice({ count: 1, scenario: 'I' });
  assert.ok(r.ok);
  await d.whenState('idle', 60_000);
  await d.flushLog();
  assert.ok((d.simulation({ op: 'motionTimes', since: 0 }) as number[]).length > 0);
  assert.equal(a.log.store.listEpisodes().length, 1);
});

test('controlWarmupTicks 0: no warm-up', { timeout: 60_000 }, async (t) => {
  const { app: a, d } = await app('cold', (c) => {
    c.controlWarmupTicks = 0;
  });
  t.after(() => a.close());
  assert.equal(d.warmup, null);
  assert.ok(!d.notes.some((n) => /warm/.test(n)), d.notes.join('\n'));
});

test('the real-time class comes after the warm-up, and not at all for a free-running loop', { timeout: 90_000 }, async (t) => {
  const before = fifoThreads();
  const free = await app('free-run', (c) => {
    c.controlWarmupTicks = 10;
    c.controlRealtime = 10;
  });
  try {
    assert.ok(
      free.d.notes.some((n) => /normal scheduling, no real-time priority \(controlRealtime 10\): the loop free-runs/.test(n)),
      free.d.notes.join('\n'),
    );
    assert.equal(fifoThreads(), before, 'a free-running control thread takes no real-time class');
  } finally {
    await free.app.close();
  }

  const timed = await app(
    'timed',
    (c) => {
      c.controlWarmupTicks = 10;
      c.controlRealtime = 10;
    },
    true,
  );
  t.after(() => timed.app.close());
  const notes = timed.d.notes;
  const warm = notes.findIndex((n) => /warmed up/.test(n));
  const rt = notes.findIndex((n) => /real-time/.test(n));
  assert.ok(warm >= 0 && rt > warm, `the warm-up's note, then the real-time class's:\n${notes.join('\n')}`);
  if (notes[rt]?.includes('SCHED_FIFO priority 10')) {
    await sleep(50);
    assert.equal(fifoThreads(), before + 1, 'the control thread is SCHED_FIFO once ready');
  }
});

/**
 * What a missed control tick was doing (timing.ts LateTick, the control thread's 'lateTicks' call): the tick before it
 * and the stretch it waited, to be matched with this thread's garbage collections (gc-watch.ts); and the daemon's
 * warning when node runs without --single-threaded-gc (the cause found under load: parallel scavenges waiting for
 * V8's normal-priority helper threads).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GcWatch, singleThreadedGcNote } from '../../src/daemon/gc-watch.ts';
import { TickTiming } from '../../src/daemon/timing.ts';

test('a missed control tick is recorded with the tick before it and the stretch it waited', () => {
  const t = new TickTiming(64, 100);
  // Tick 0 at 0 ms (2 ms compute, 3 ms robot, 1 ms inference), ends at 6 ms; tick 1 due at 100 ms starts at 180 ms.
  assert.equal(t.tickStarted({ index: 0, deadline: 0, lateMs: 0, skipped: 0, missed: false }, true), 0);
  t.compute.push(2);
  t.backend.push(3);
  t.infer.push(1);
  t.tickEnded(true, 6);
  assert.equal(t.tickStarted({ index: 1, deadline: 100, lateMs: 80, skipped: 0, missed: true }, true), 1);
  t.tickEnded(true, 185);
  assert.equal(t.lateTicks.length, 1);
  assert.deepEqual(t.lateTicks[0], {
    index: 1,
    startedAt: 180,
    lateMs: 80,
    skipped: 0,
    sincePrevStartMs: 180,
    prevTickMs: 6,
    prevComputeMs: 2,
    prevBackendMs: 3,
    prevInferMs: 1,
  });
  // Not a control tick (idle, resetting): not a safety event, not recorded.
  t.tickStarted({ index: 2, deadline: 200, lateMs: 90, skipped: 0, missed: true }, false);
  assert.equal(t.lateTicks.length, 1);
});

test('the collections of this thread are seen and matched to a stretch of time', async () => {
  const w = new GcWatch().start();
  const t0 = performance.now();
  // Enough short-lived garbage for several scavenges.
  let keep = 0;
  for (let i = 0; i < 200_000; i++) keep += new Float64Array(64).length;
  await new Promise((r) => setTimeout(r, 50)); // the observer's entries are delivered after the collection
  w.stop();
  assert.ok(keep > 0);
  assert.ok(w.count > 0, 'collections seen');
  const d = w.during(t0, performance.now());
  assert.equal(d.count, w.count);
  assert.ok(
    d.kinds.every((k) => /^(minor|major|incremental|weakcb|other) /.test(k)),
    d.kinds.join(', '),
  );
  assert.equal(w.during(t0 - 1000, t0 - 500).count, 0);
});

test('the daemon warns when node runs without --single-threaded-gc, and not with it', () => {
  assert.equal(singleThreadedGcNote(false), null, 'nothing needs it (in process, or no real-time class)');
  if (process.execArgv.includes('--single-threaded-gc')) return;
  assert.match(singleThreadedGcNote(true) ?? '', /^WARNING: node runs without --single-threaded-gc/);
  const withFlag = execFileSync(
    process.execPath,
    [
      '--single-threaded-gc',
      '--import',
      'tsx',
      '-e',
      "import('./src/daemon/gc-watch.ts').then((m) => console.log(JSON.stringify(m.singleThreadedGcNote(true))))",
    ],
    { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname },
  ).trim();
  assert.equal(withFlag, 'null');
});

test('the npm scripts that run a real-time control thread start node with --single-threaded-gc (the campaign too)', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  for (const name of ['start', 'daemon', 'campaign']) {
    assert.match(pkg.scripts[name] ?? '', /^node --single-threaded-gc --import tsx src\/cli\/\S+\.ts$/, `npm run ${name}`);
  }
});

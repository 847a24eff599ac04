/**
 * Config controlCpu (src/util/affinity.ts, src/app/control-cpu.ts): the daemon pins its control thread to one CPU and
 * its main thread to the others, says so, gives the trainer it starts every CPU back (a child inherits the forking
 * thread's CPUs), unpins at close, and refuses a CPU the process may not use before it opens anything. Daemons on one
 * machine claim different CPUs (lock files in lockDir), in one process or in several. Real threads, read from /proc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { chooseControlCpu, controlCpuLockFile } from '../../src/app/control-cpu.ts';
import { startDaemonApp, type DaemonApp } from '../../src/app/daemon-app.ts';
import { loadCalibration, loadDaemonConfig } from '../../src/config/load.ts';
import type { DaemonConfig } from '../../src/config/schema.ts';
import { TrainerSupervisor } from '../../src/online/supervisor.ts';
import { DEFAULT_ONLINE } from '../../src/online/trainer.ts';
import { Store } from '../../src/store/index.ts';
import { parseCpuList, planCpus, threadCpus } from '../../src/util/affinity.ts';
import { startWorker } from '../../src/util/worker.ts';
import { tempDir } from '../daemon/helpers.ts';
import { startChild } from '../store/fixtures/child.ts';
import type { RunningDaemon } from '../../src/daemon/types.ts';
import { endProcess, teardown } from '../teardown.ts';

const root = resolve(import.meta.dirname, '../..');
const all = process.platform === 'linux' ? threadCpus(process.pid) : [];
const skip = all.length < 2 || availableParallelism() < 2 ? 'needs Linux and at least 2 CPUs for this process' : false;

function pidCpus(pid: number): number[] {
  return threadCpus(pid);
}

/** The threads of this process on exactly these CPUs. */
function threadsOn(cpus: number[]): number[] {
  return readdirSync('/proc/self/task')
    .map(Number)
    .filter((tid) => {
      try {
        return threadCpus(process.pid, tid).join() === cpus.join();
      } catch {
        return false; // exited meanwhile
      }
    });
}

/** The daemon config these tests start: the control thread on CPU `controlCpu`, no real-time privileges needed, and
 *  claims in a lock directory of its own (no other daemon's on this machine). */
function controlThreadConfig(dir: string, db: string, controlCpu: number): DaemonConfig {
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), { port: 0, db, realtime: true, modelsDir: join(dir, 'none') });
  config.controlThread = true;
  config.controlRealtime = null;
  config.controlCpu = controlCpu;
  config.lockDir = join(dir, 'locks');
  return config;
}

function startControlDaemon(config: DaemonConfig): Promise<DaemonApp<RunningDaemon>> {
  return startDaemonApp({
    config,
    calibration: loadCalibration(join(root, 'calibration')),
    token: 'control-cpu-token-123456',
    listen: false,
    startLoop: false,
  });
}

test('planCpus: -1 is the last CPU, a CPU the process may not use is refused naming it, one CPU is off', () => {
  assert.deepEqual(parseCpuList('0-2,5'), [0, 1, 2, 5]);
  assert.deepEqual(planCpus(-1, [0, 1]).plan, { control: 1, main: [0], all: [0, 1] });
  assert.deepEqual(planCpus(0, [0, 1, 2]).plan, { control: 0, main: [1, 2], all: [0, 1, 2] });
  assert.equal(planCpus(null, [0, 1]).plan, null);
  assert.throws(() => planCpus(7, [0, 1]), /controlCpu: CPU 7 does not exist here or is not allowed to this process \(this process may use CPUs 0,1/);
  const one = planCpus(-1, [3]);
  assert.equal(one.plan, null);
  assert.match(one.note ?? '', /off, the process has one CPU \(3\)/);
});

test(
  'controlCpu -1: control thread on the last CPU, main thread on the others, the trainer gets every CPU; unpinned at close',
  { skip, timeout: 60_000 },
  async (t) => {
    const defer = teardown(t);
    const tmp = tempDir('control-cpu-');
    defer(tmp.cleanup);
    const config = controlThreadConfig(tmp.dir, join(tmp.dir, 'log.db'), -1);
    const last = all[all.length - 1] as number;
    const others = all.filter((c) => c !== last);
    const app = await startControlDaemon(config);
    let closed = false;
    defer(async () => {
      if (!closed) await app.close();
    });
    assert.ok(
      app.notes.some((n) =>
        n.startsWith(
          `CPU pinning: control thread on CPU ${last} (claimed: ${controlCpuLockFile(config.lockDir ?? '', last, 0)}), main thread on CPU ${others.join(',')} (controlCpu -1)`,
        ),
      ),
      app.notes.join('\n'),
    );
    assert.ok(
      app.notes.some((n) => n === `control thread: CPU ${last} (controlCpu -1)`),
      app.notes.join('\n'),
    );
    assert.deepEqual(pidCpus(process.pid), others, 'the main thread is off the control CPU');
    assert.equal(threadsOn([last]).length, 1, 'one thread (the control thread) alone on its CPU');

    // What a fork from the pinned main thread inherits (why the daemon's children go through withProcessCpus) ...
    const plain = spawn('sleep', ['5'], { stdio: 'ignore' });
    defer(() => plain.kill('SIGKILL'));
    assert.deepEqual(pidCpus(plain.pid as number), others);
    // ... and the trainer the daemon starts: every CPU.
    Store.open(join(tmp.dir, 'trainer.db')).close();
    const sup = new TrainerSupervisor({
      config: {
        ...DEFAULT_ONLINE,
        db: join(tmp.dir, 'trainer.db'),
        startCheckpoint: join(root, 'models/iql-offline'),
        offlineDb: null,
        offlineDomains: [],
        workDir: join(tmp.dir, 'trainer'),
      },
      backoffBaseMs: 60_000,
    });
    sup.start();
    defer(() => sup.stop());
    const pid = sup.status().pid;
    assert.ok(pid);
    assert.deepEqual(pidCpus(pid), all, 'the trainer child has every CPU');
    assert.deepEqual(pidCpus(process.pid), others, 'the main thread is pinned again after the fork');
    // A worker thread started later (replay jobs, the fleet shipper: src/util/worker.ts) gets every CPU too.
    const before = new Set(readdirSync('/proc/self/task'));
    const w = startWorker(new URL('data:text/javascript,setInterval(() => {}, 1000)'), null);
    defer(() => w.terminate());
    await new Promise((r) => w.once('online', r));
    const fresh = readdirSync('/proc/self/task')
      .filter((x) => !before.has(x))
      .map(Number);
    assert.ok(fresh.length >= 1, 'the worker has a thread');
    for (const tid of fresh) assert.deepEqual(threadCpus(process.pid, tid), all, `new thread ${tid} has every CPU`);
    await w.terminate();
    await sup.stop();

    await app.close();
    closed = true;
    assert.deepEqual(pidCpus(process.pid), all, 'the main thread has every CPU again after close');
  },
);

test('controlCpu naming a CPU the process may not use: refused before anything opens', { skip, timeout: 30_000 }, async (t) => {
  const tmp = tempDir('control-cpu-bad-');
  t.after(tmp.cleanup);
  const db = join(tmp.dir, 'log.db');
  await assert.rejects(
    startControlDaemon(controlThreadConfig(tmp.dir, db, 1023)),
    new RegExp(`controlCpu: CPU 1023 does not exist here or is not allowed to this process \\(this process may use CPUs ${all.join(',')}`),
  );
  assert.equal(existsSync(db), false, 'no log opened');
  assert.deepEqual(pidCpus(process.pid), all);
});

test('controlCpu that is not a CPU number: the config is refused, naming the field and the bound', (t) => {
  const tmp = tempDir('control-cpu-config-');
  t.after(tmp.cleanup);
  const base = readFileSync(join(root, 'config/daemon.yaml'), 'utf8').replace(/^controlCpu:.*\n/m, '');
  for (const [value, why] of [
    ['-2', /field 'controlCpu': must be >= -1/],
    ['2048', /field 'controlCpu': must be <= 1023/],
    ['1.5', /field 'controlCpu': must be integer/],
    ['last', /field 'controlCpu': must be integer/],
  ] as const) {
    const file = join(tmp.dir, 'daemon.yaml');
    writeFileSync(file, `${base}controlCpu: ${value}\n`);
    assert.throws(() => loadDaemonConfig(file), why, `controlCpu: ${value}`);
  }
});

test('claims: each daemon a CPU no other has (last first), then the least shared, said; a claim ends with its holder', (t) => {
  const defer = teardown(t);
  const tmp = tempDir('control-cpu-claims-');
  defer(tmp.cleanup);
  const dir = join(tmp.dir, 'locks');
  const held: { release: () => void }[] = [];
  defer(() => held.forEach((c) => c.release()));
  const claim = (setting: number) => {
    const c = chooseControlCpu(setting, [0, 1, 2], dir);
    if (c.claim) held.push(c.claim);
    return c;
  };
  const first = claim(-1);
  assert.deepEqual(first.plan, { control: 2, main: [0, 1], all: [0, 1, 2] });
  assert.equal(first.sharedWith, 0);
  assert.equal(first.note, null);
  assert.equal(first.claim?.file, controlCpuLockFile(dir, 2, 0));
  assert.equal(claim(-1).plan?.control, 1);
  assert.equal(claim(-1).plan?.control, 0);
  // More arms than CPUs: shared, the last first again, and said.
  const fourth = claim(-1);
  assert.equal(fourth.plan?.control, 2);
  assert.equal(fourth.sharedWith, 1);
  assert.match(
    fourth.note ?? '',
    /control CPU 2 is shared with 1 other daemon's control thread: every CPU of this process \(0,1,2\) has one; their real-time ticks can delay each other's/,
  );
  // An explicit CPU is claimed too (a -1 daemon keeps off it) and says when another daemon has it.
  const fifth = claim(1);
  assert.equal(fifth.plan?.control, 1);
  assert.equal(fifth.sharedWith, 1);
  assert.match(fifth.note ?? '', /control CPU 1 is shared with 1 other daemon's control thread: it was claimed first; .* \(controlCpu 1;/);
  // The first daemon closes: its CPU is free again (slot 0), and the next daemon takes it alone.
  first.claim?.release();
  const next = claim(-1);
  assert.equal(next.plan?.control, 2);
  assert.equal(next.sharedWith, 0);
  // One CPU, or pinning off: no claim.
  assert.equal(chooseControlCpu(-1, [3], dir).claim, null);
  assert.equal(chooseControlCpu(null, [0, 1], dir).plan, null);
});

test('claims across processes: a CPU another process holds is passed over, and free again once that process dies', { timeout: 60_000 }, async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('control-cpu-procs-');
  defer(tmp.cleanup);
  const dir = join(tmp.dir, 'locks');
  const other = startChild(join(import.meta.dirname, 'fixtures', 'claim-child.ts'), [dir, '-1', '0,1']);
  defer(() => endProcess(other.proc));
  await other.ready;
  assert.deepEqual(other.lines, ['READY 1 0'], other.stderr());
  const mine = chooseControlCpu(-1, [0, 1], dir);
  defer(() => mine.claim?.release());
  assert.equal(mine.plan?.control, 0, 'the other process has CPU 1');
  mine.claim?.release();
  await endProcess(other.proc); // killed: the kernel drops its lock
  const after = chooseControlCpu(-1, [0, 1], dir);
  defer(() => after.claim?.release());
  assert.equal(after.plan?.control, 1);
  assert.equal(after.sharedWith, 0);
});

test('a lock directory that cannot be used: the preferred CPU, unclaimed, and said', (t) => {
  const tmp = tempDir('control-cpu-nodir-');
  t.after(tmp.cleanup);
  const file = join(tmp.dir, 'not-a-dir');
  writeFileSync(file, 'x');
  const c = chooseControlCpu(-1, [0, 1], join(file, 'locks'));
  assert.equal(c.plan?.control, 1);
  assert.equal(c.claim, null);
  assert.match(
    c.note ?? '',
    new RegExp(`control CPU 1 taken without a claim \\(cannot create the lock directory ${file}/locks: .*\\): other daemons on this machine may choose it too`),
  );
});

test('two daemons started side by side get different control CPUs; the main thread keeps off both', { skip, timeout: 90_000 }, async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('control-cpu-two-');
  defer(tmp.cleanup);
  const start = async (name: string): Promise<DaemonApp<RunningDaemon>> => {
    const config = controlThreadConfig(tmp.dir, join(tmp.dir, `${name}.db`), -1);
    config.controlWarmupTicks = 0;
    const app = await startControlDaemon(config);
    defer(() => app.close());
    return app;
  };
  const a = await start('a');
  const b = await start('b');
  const cpuOf = (app: DaemonApp<RunningDaemon>): number =>
    Number(/^control thread: CPU (\d+) /.exec(app.notes.find((n) => n.startsWith('control thread: CPU')) ?? '')?.[1]);
  const [ca, cb] = [cpuOf(a), cpuOf(b)];
  const last = all[all.length - 1] as number;
  assert.equal(ca, last, a.notes.join('\n'));
  assert.ok(Number.isInteger(cb) && cb !== ca, `a on CPU ${ca}, b on CPU ${cb}:\n${b.notes.join('\n')}`);
  assert.equal(threadsOn([ca]).length, 1, 'one thread alone on each control CPU');
  assert.equal(threadsOn([cb]).length, 1);
  const rest = all.filter((c) => c !== ca && c !== cb);
  assert.deepEqual(pidCpus(process.pid), rest.length > 0 ? rest : all, 'the main thread: every other CPU (all, when none is left)');
  await b.close();
  assert.deepEqual(
    pidCpus(process.pid),
    all.filter((c) => c !== ca),
    "b's CPU back to the main thread when b closes",
  );
});

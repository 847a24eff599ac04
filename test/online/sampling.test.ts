/**
 * Per-arm and per-connector sampling weights (issue 17: the fleet learner "trains on the pooled data of all arms, with
 * per-arm and per-connector sampling settings"): declared once in the fleet section of the config
 * (fleet.sampling), they set how often the real online trainer draws each arm's and each connector's rows. The log
 * is laid out as the fleet learner's mirror is (one session per arm, `robot` = the arm's robot id).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDaemonConfig } from '../../src/config/load.ts';
import { DEFAULT_ONLINE, OnlineTrainer } from '../../src/online/trainer.ts';
import { Store } from '../../src/store/index.ts';
import { makeTransition } from '../store/fixtures/data.ts';
import { tinyOffline } from './fixtures.ts';

const fx = await tinyOffline('online-sampling-test');
const dir = mkdtempSync(join(tmpdir(), 'sampling-'));
after(() => {
  fx.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const root = resolve(import.meta.dirname, '../..');

/** Two arms x two connectors, the same number of rows in each group. */
function pooledLog(file: string): void {
  const s = Store.open(file);
  let key = 0;
  for (const robot of ['arm-a', 'arm-b']) {
    const session = s.openSession({ robot, backend: 'fleet', config: {}, calibration: {} });
    for (const domain of ['europlug', 'dt12'])
      for (let e = 0; e < 2; e++) {
        const ep = s.beginEpisode({ sessionId: session, kind: 'practice', domain });
        s.appendTransitions(Array.from({ length: 20 }, (_, k) => makeTransition(ep, k, ++key)));
        s.endEpisode(ep, { outcome: 'success', learnedSuccessProb: 0.9 });
      }
  }
  s.close();
}

async function shares(db: string, sampling: { arms: Record<string, number>; connectors: Record<string, number> } | null): Promise<Record<string, number>> {
  const tr = new OnlineTrainer({
    ...DEFAULT_ONLINE,
    db,
    offlineDb: null,
    offlineDomains: [],
    startCheckpoint: fx.checkpoint,
    workDir: join(dir, `work-${Math.random().toString(36).slice(2)}`),
    onlineFraction: 1,
    batchSize: 64,
    utd: 1,
    warmupUpdates: 0,
    sampling,
  });
  try {
    await tr.init();
    assert.ok(tr.poll() > 0);
    const n: Record<string, number> = {};
    let total = 0;
    for (let u = 0; u < 60; u++) {
      tr.update();
      for (const [k, c] of Object.entries(tr.lastBatch?.onlineByGroup ?? {})) {
        n[k] = (n[k] ?? 0) + c;
        total += c;
      }
    }
    assert.equal(total, 60 * 64, 'every online row of every batch is counted in a group');
    return Object.fromEntries(Object.entries(n).map(([k, c]) => [k, c / total]));
  } finally {
    tr.close();
  }
}

test('the sampled share of each arm and connector follows the declared weights', async () => {
  const db = join(dir, 'mirror.db');
  pooledLog(db);
  // Declared in the config file's fleet section, as the fleet learner reads it (--config).
  const cfgFile = join(dir, 'learner.yaml');
  writeFileSync(
    cfgFile,
    `db: x.db\nmodelsDir: ${join(root, 'models')}\ncalibrationDir: ${join(root, 'calibration')}\nfleet: {sampling: {arms: {arm-a: 3}, connectors: {dt12: 0}}}\n`,
  );
  const sampling = loadDaemonConfig(cfgFile).fleet.sampling;
  assert.deepEqual(sampling, { arms: { 'arm-a': 3 }, connectors: { dt12: 0 } });

  // Row weight = arm x connector: arm-a/europlug 3, arm-b/europlug 1, dt12 0 -> 0.75 / 0.25 / 0.
  const weighted = await shares(db, sampling);
  const want: Record<string, number> = { 'arm-a/europlug': 0.75, 'arm-b/europlug': 0.25, 'arm-a/dt12': 0, 'arm-b/dt12': 0 };
  for (const [k, w] of Object.entries(want))
    assert.ok(Math.abs((weighted[k] ?? 0) - w) < 0.03, `${k}: sampled ${(weighted[k] ?? 0).toFixed(3)}, weight says ${w}`);

  // Without weights (the default, empty maps): every group as often as its rows, a quarter each.
  const uniform = await shares(db, loadDaemonConfig(join(root, 'config/daemon.yaml')).fleet.sampling);
  for (const k of Object.keys(want)) assert.ok(Math.abs((uniform[k] ?? 0) - 0.25) < 0.03, `${k}: sampled ${(uniform[k] ?? 0).toFixed(3)} without weights`);
});

test('a weight that is not a number >= 0 is refused naming the file and the field', () => {
  const cfgFile = join(dir, 'bad.yaml');
  writeFileSync(cfgFile, 'db: x.db\nmodelsDir: m\ncalibrationDir: c\nfleet: {sampling: {arms: {arm-a: -1}}}\n');
  assert.throws(
    () => loadDaemonConfig(cfgFile),
    (e: Error) => e.message.includes('bad.yaml') && /fleet\.sampling\.arms/.test(e.message),
  );
  writeFileSync(cfgFile, 'db: x.db\nmodelsDir: m\ncalibrationDir: c\nfleet: {sampling: {robots: {arm-a: 2}}}\n');
  assert.throws(() => loadDaemonConfig(cfgFile), /fleet\.sampling.*robots|robots.*fleet\.sampling/);
});

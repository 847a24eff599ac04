/**
 * The fleet learner keeps its mirror across restarts (issue 17): a restarted learner pulls only the rows that are new
 * since it stopped, and none is lost or doubled; the marks are saved with the rows, so a pull that fails half-way
 * leaves neither; a mirror of another fleet database, ahead of PostgreSQL, or a corrupt file is named and pulled
 * again, and so is a mirror with one damaged page inside an otherwise valid file (found by the quick_check on open).
 * Real throw-away PostgreSQL, real SQLite files, the real online trainer on a tiny checkpoint.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runFleetLearner, type FleetLearnerStats } from '../../../src/online/fleet-learner.ts';
import { DEFAULT_ONLINE } from '../../../src/online/trainer.ts';
import { Store, StoreOpenError } from '../../../src/store/index.ts';
import { FleetStore } from '../../../src/store/pg/fleet-store.ts';
import { FleetMirror } from '../../../src/store/pg/mirror.ts';
import { Shipper } from '../../../src/store/pg/shipper.ts';
import { pgTarget, type PgTarget } from '../../../src/store/pg/credentials.ts';
import { makeTransition } from '../fixtures/data.ts';
import { tinyOffline } from '../../online/fixtures.ts';
import { pgSkip, usePgCluster } from './helpers.ts';
import { teardown } from '../../teardown.ts';

const pg = usePgCluster();
const fx = pgSkip ? null : await tinyOffline('fleet-mirror-restart');
const dir = mkdtempSync(join(tmpdir(), 'fleet-mirror-'));
after(() => {
  fx?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Logs `episodes` episodes of 20 steps on an arm (the last left open if `leaveOpen`) and ships them. */
async function practise(arm: Store, robotId: string, episodes: number, o: { leaveOpen?: boolean; end?: number[]; target?: PgTarget } = {}): Promise<number[]> {
  const session = arm.listSessions()[0]?.id ?? arm.openSession({ robot: robotId, backend: 'test', config: {}, calibration: {} });
  for (const ep of o.end ?? []) arm.endEpisode(ep, { outcome: 'success', learnedSuccessProb: 0.9, gtSuccess: true });
  const eps: number[] = [];
  for (let i = 0; i < episodes; i++) {
    // The seed carries the arm's episode id into the mirror (the key of rowKeys).
    const seed = (arm.listEpisodes({ limit: 1 })[0]?.id ?? 0) + 1;
    const ep = arm.beginEpisode({ sessionId: session, kind: 'practice', domain: fx!.domains[0] as string, seed });
    assert.equal(ep, seed);
    arm.appendTransitions(Array.from({ length: 20 }, (_, k) => makeTransition(ep, k, 1000 * ep + k)));
    if (!(o.leaveOpen && i === episodes - 1)) arm.endEpisode(ep, { outcome: 'failure', learnedSuccessProb: 0.1, gtSuccess: false });
    eps.push(ep);
  }
  const s = new Shipper({ db: arm.file, robotId, target: o.target ?? pg.target(), batch: 64, intervalMs: 20 });
  s.start();
  try {
    await s.drain();
  } finally {
    await s.stop();
  }
  return eps;
}

/** The mirrored rows as (robot, the arm's episode id, step), sorted: a row twice shows twice. */
function rowKeys(store: Store): string[] {
  const sessions = new Map(store.listSessions().map((s) => [s.id, s.robot]));
  return store
    .listEpisodes()
    .flatMap((e) => (store.getEpisode(e.id, { transitions: true })?.transitions ?? []).map((t) => `${sessions.get(e.sessionId)}:${e.seed}:${t.step}`))
    .sort();
}

/** Runs a fleet learner (the real online trainer on the tiny checkpoint) until it has pulled `want` rows in this run. */
async function runLearner(target: PgTarget, workDir: string, logs: string[], want: number): Promise<FleetLearnerStats> {
  let pulled = 0;
  let stop = false;
  const t0 = Date.now();
  const stats = await runFleetLearner({
    target,
    trainer: {
      ...DEFAULT_ONLINE,
      offlineDb: null,
      offlineDomains: [],
      onlineFraction: 1,
      startCheckpoint: fx!.checkpoint,
      workDir,
      batchSize: 16,
      utd: 1,
      exportEvery: 0,
      minOnline: 1000,
      seed: 1,
    },
    rollout: { mode: 'all' },
    pollMs: 50,
    shouldStop: () => stop || (stop = pulled >= want || Date.now() - t0 > 30_000),
    log: (l) => logs.push(l),
    onPull: (s) => (pulled = s.pulled),
  });
  assert.ok(stats.pulled >= want, `pulled ${stats.pulled} of ${want} within 30 s; log:\n${logs.join('\n')}`);
  return stats;
}

test('a kept mirror pulls only new rows; marks and rows are saved together; another fleet or a mirror ahead is refused', { skip: pgSkip }, async (t) => {
  const defer = teardown(t);
  const arm = Store.open(join(dir, 'a1.db'));
  defer(() => arm.close());
  const [, open] = (await practise(arm, 'a1', 2, { leaveOpen: true })) as [number, number];
  const fleet = await FleetStore.connect(pg.target());
  defer(() => fleet.close());
  const identity = await fleet.identity();
  assert.match(identity.fleetId, /^[0-9a-f-]{36}$/);
  assert.match(identity.cluster ?? '', /^\d+$/, 'the cluster system identifier is readable');

  const file = join(dir, 'mirror-a.db');
  let m = Store.open(file);
  assert.deepEqual(await FleetMirror.check(m, fleet, identity), { ok: true, transitions: 0, arms: 0 }, 'a new mirror may be used');
  await new FleetMirror(m, {}, identity).pull(fleet);
  assert.equal(m.countTransitions(), 40);
  m.close();

  // More practice: the open episode ends, two more; a label. The kept mirror pulls those rows only.
  await practise(arm, 'a1', 2, { end: [open] });
  arm.labelEpisode({ episodeId: open, success: false, by: 'api' });
  await practise(arm, 'a1', 0);
  m = Store.open(file);
  assert.deepEqual(await FleetMirror.check(m, fleet, identity), { ok: true, transitions: 40, arms: 1 });
  const kept = new FleetMirror(m, {}, identity);
  assert.equal(kept.stats.kept, 40);
  // A pull whose local write fails half-way (the marks after the rows) leaves no rows and no marks...
  const save = m.saveMirrorArm.bind(m);
  m.saveMirrorArm = () => {
    throw new Error('disk full (test)');
  };
  await assert.rejects(kept.pull(fleet), /disk full/);
  assert.equal(m.countTransitions(), 40, 'the failed pull wrote no rows');
  assert.equal(m.mirrorState().arms[0]?.lastTransition, arm.rawTransitions(0, 1000)[39]!.id, 'nor marks');
  m.saveMirrorArm = save;
  // ...and the next pull brings them, once.
  assert.equal(await kept.pull(fleet), 40, 'only the 40 new rows are pulled');
  assert.equal(await kept.pull(fleet), 0);
  assert.equal(m.countTransitions(), 80);
  const keys = rowKeys(m);
  assert.equal(new Set(keys).size, 80, 'no row twice');
  const ended = m.listEpisodes().find((e) => e.seed === open)!;
  assert.equal(ended.outcome, 'success', 'the episode open at the restart was ended when its end arrived');
  assert.equal(m.episodeLabel(ended.id)?.success, false, 'its label came along');

  // A fresh mirror of the same fleet holds the same rows: nothing lost.
  const fresh = Store.open(join(dir, 'mirror-fresh.db'));
  defer(() => fresh.close());
  await new FleetMirror(fresh, {}, identity).pull(fleet);
  assert.deepEqual(rowKeys(fresh), keys);

  // Another fleet database in the same cluster (a database made anew would be the same), another filter, a
  // mirror ahead of PostgreSQL: each refused with its reason.
  await fleet.query('CREATE DATABASE other_fleet');
  const other = await FleetStore.connect(pgTarget({}, { ...pg.cluster().env, PGDATABASE: 'other_fleet' }));
  defer(() => other.close());
  const otherId = await other.identity();
  const refused = await FleetMirror.check(m, other, otherId);
  assert.ok(!refused.ok && /pulled from database '.+', this fleet is 'other_fleet'/.test(refused.reason), JSON.stringify(refused));
  const sameName = await FleetMirror.check(m, fleet, { ...identity, fleetId: otherId.fleetId });
  assert.ok(!sameName.ok && /pulled from fleet .*, this database is fleet/.test(sameName.reason), JSON.stringify(sameName));
  const filtered = await FleetMirror.check(m, fleet, identity, { robots: ['a2'] });
  assert.ok(!filtered.ok && /filter/.test(filtered.reason), JSON.stringify(filtered));
  assert.throws(() => new FleetMirror(m, {}, otherId), /pulled from database/);
  await fleet.query("DELETE FROM fleet_transitions WHERE robot_id = 'a1' AND local_id > 60");
  const ahead = await FleetMirror.check(m, fleet, identity);
  assert.ok(!ahead.ok && /a1: the mirror is at transition \d+ .*PostgreSQL holds 60/.test(ahead.reason), JSON.stringify(ahead));
  m.close();
});

test('a restarted learner pulls only what is new; a corrupt mirror is named and pulled again', { skip: pgSkip }, async (t) => {
  const arm = Store.open(join(dir, 'b1.db'));
  t.after(() => arm.close());
  await practise(arm, 'b1', 3);
  const env = pg.cluster().env;
  // Its own database: the first test changed the shared one.
  const admin = await FleetStore.connect(pg.target());
  try {
    await admin.query('CREATE DATABASE learner_fleet');
  } finally {
    await admin.close(); // (an open client would keep the test process alive)
  }
  const target = pgTarget({}, { ...env, PGDATABASE: 'learner_fleet' });
  {
    const s = new Shipper({ db: arm.file, robotId: 'b1', target, batch: 64, intervalMs: 20 });
    s.start();
    await s.drain();
    await s.stop();
  }
  const workDir = join(dir, 'learner');
  const logs: string[] = [];
  const run = (want: number): Promise<FleetLearnerStats> => runLearner(target, workDir, logs, want);
  const first = await run(60);
  assert.deepEqual([first.kept, first.pulled, first.remade], [0, 60, null]);
  await practise(arm, 'b1', 2);
  {
    const s = new Shipper({ db: arm.file, robotId: 'b1', target, batch: 64, intervalMs: 20 });
    s.start();
    await s.drain();
    await s.stop();
  }
  const second = await run(40);
  assert.deepEqual([second.kept, second.pulled, second.remade], [60, 40, null], 'the restart kept 60 rows and pulled the 40 new ones only');
  assert.ok(
    logs.some((l) => /mirror .* kept: 60 transitions of 1 arms/.test(l)),
    logs.join('\n'),
  );
  const mirror = Store.openReadOnly(join(workDir, 'mirror.db'));
  const keys = rowKeys(mirror);
  mirror.close();
  assert.equal(keys.length, 100);
  assert.equal(new Set(keys).size, 100, 'no row twice, none lost');

  // A corrupt mirror: the learner names it and pulls the whole pool again.
  for (const f of ['mirror.db-wal', 'mirror.db-shm']) rmSync(join(workDir, f), { force: true });
  writeFileSync(join(workDir, 'mirror.db'), Buffer.alloc(8192, 7));
  const third = await run(100);
  assert.equal(third.kept, 0);
  assert.equal(third.pulled, 100);
  assert.match(third.remade ?? '', /unusable/);
  assert.ok(
    logs.some((l) => /mirror .*mirror\.db unusable .*; pulling the pool again/.test(l)),
    logs.join('\n'),
  );
});

/** What the open says of a damaged page: quick_check's findings, or SQLite's own error when its walk hits the page. */
const DAMAGED = /quick_check failed|database disk image is malformed/;

/** Overwrites page `pageno` (1-based) of `file` with seeded noise, as a bad sector or a torn write would leave it. */
function damagePage(file: string, pageno: number, pageSize: number): void {
  const b = readFileSync(file);
  let x = 0x9e3779b9 ^ pageno;
  for (let i = 0; i < pageSize; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[(pageno - 1) * pageSize + i] = x & 255;
  }
  writeFileSync(file, b);
}

test(
  'a damaged page inside a kept mirror is found on start, named, removed and pulled again; nothing lost or doubled against PostgreSQL',
  { skip: pgSkip },
  async (t) => {
    const admin = await FleetStore.connect(pg.target());
    try {
      await admin.query('CREATE DATABASE corrupt_fleet');
    } finally {
      await admin.close(); // (an open client would keep the test process alive)
    }
    const target = pgTarget({}, { ...pg.cluster().env, PGDATABASE: 'corrupt_fleet' });
    const arms = ['c1', 'c2'].map((r) => ({ robot: r, store: Store.open(join(dir, `${r}.db`)) }));
    t.after(() => arms.forEach((a) => a.store.close()));
    for (const a of arms) await practise(a.store, a.robot, 3, { target });
    const workDir = join(dir, 'learner-c');
    const file = join(workDir, 'mirror.db');
    const logs: string[] = [];
    const first = await runLearner(target, workDir, logs, 120);
    assert.deepEqual([first.kept, first.remade], [0, null]);

    // Where the mirror's pages are (SQLite's dbstat), read with no other connection on the file. The learner's last
    // connection checkpointed its write-ahead log into the file, so the damage below is not masked by a newer copy.
    assert.ok(!existsSync(`${file}-wal`), 'no write-ahead log left beside the stopped mirror');
    const db = new Database(file, { readonly: true, fileMustExist: true });
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.prepare('SELECT name, pageno, pagetype FROM dbstat ORDER BY pageno').all() as { name: string; pageno: number; pagetype: string }[];
    db.close();
    const pick = (name: string, type: string): number | undefined => {
      const of = pages.filter((p) => p.name === name && p.pagetype === type);
      return of[Math.floor(of.length / 2)]?.pageno;
    };
    const targets = {
      'a transitions leaf': pick('transitions', 'leaf'),
      'an image overflow page': pick('transitions', 'overflow'),
      'a cached-features page': pick('features', 'leaf') ?? pick('features', 'overflow'),
      'an episodes index page': pick('episodes_domain_kind', 'leaf'),
      "the mirror's id map": pick('mirror_ids', 'leaf'),
    };
    for (const [what, pageno] of Object.entries(targets))
      assert.ok(pageno !== undefined && pageno > 1, `the mirror has ${what}: ${JSON.stringify(pages.slice(0, 40))}`);

    // Each kind of page, damaged in a copy: the header and schema still read (the file is otherwise valid), and the
    // open the learner does (Store.open: quick_check) refuses it, naming the file.
    for (const [what, pageno] of Object.entries(targets)) {
      const copy = join(dir, `damaged-${pageno}.db`);
      cpSync(file, copy);
      damagePage(copy, pageno!, pageSize);
      Store.openReadOnly(copy).close();
      assert.throws(
        () => Store.open(copy),
        (e: unknown) => e instanceof StoreOpenError && e.reason === 'corrupt' && e.message.includes(copy) && DAMAGED.test(e.message),
        `${what} (page ${pageno}) damaged: refused on open`,
      );
    }

    // More practice while the learner is down; then a damaged transitions page in the learner's own mirror.
    await practise(arms[0]!.store, 'c1', 2, { target });
    damagePage(file, targets['a transitions leaf']!, pageSize);
    const second = await runLearner(target, workDir, logs, 160);
    assert.equal(second.kept, 0, 'nothing kept from the damaged mirror');
    assert.match(second.remade ?? '', DAMAGED);
    assert.ok(
      logs.some((l) => l.includes(`mirror ${file} unusable (`) && DAMAGED.test(l) && l.endsWith('; pulling the pool again')),
      logs.join('\n'),
    );
    // Counted against PostgreSQL: every row of every arm once, none missing.
    const fleet = await FleetStore.connect(target);
    const rows = await fleet
      .query<{ k: string }>("SELECT robot_id || ':' || episode_local_id || ':' || step AS k FROM fleet_transitions")
      .finally(() => fleet.close()); // (also when the query fails: an open client keeps the test process alive)
    const inPg = rows.map((r) => r.k).sort();
    assert.equal(inPg.length, 160);
    const mirror = Store.openReadOnly(file);
    const keys = rowKeys(mirror);
    mirror.close();
    assert.deepEqual(keys, inPg, 'the remade mirror holds exactly the rows in PostgreSQL');
  },
);

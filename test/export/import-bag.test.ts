/**
 * Import of a ROS 2 recording written by an MCAP writer the project did not write (test/export/bag.ts: @mcap/core's
 * McapWriter + @foxglove/rosmsg2-serialization's MessageWriter, as rosbag2 writes), into a real SQLite log, read
 * back through the Store and the learners' own loader.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTransitions } from '../../src/data/dataset.ts';
import { importBag, type ImportOptions } from '../../src/export/import-bag.ts';
import { ExportError } from '../../src/export/select.ts';
import { Store } from '../../src/store/index.ts';
import { tempDir } from '../daemon/helpers.ts';
import { BAG_TOPICS, writeRosbag } from './bag.ts';

const tmp = tempDir('import-bag-');
after(() => tmp.cleanup());
const rawBag = join(tmp.dir, 'raw.mcap');
const truth = await writeRosbag(rawBag);
let dbs = 0;
const newDb = (): string => join(tmp.dir, `prior${dbs++}.db`);

const base = (db: string): ImportOptions => ({
  bag: rawBag,
  db,
  domain: 'europlug',
  topics: { image: BAG_TOPICS.image, wrench: BAG_TOPICS.wrench, pose: BAG_TOPICS.pose },
  goal: [0.6, 0.1, 0.0],
  split: { kind: 'gap', seconds: 1.0 },
  labels: { kind: 'topic', topic: BAG_TOPICS.success },
});

test('a rosbag2-style recording (raw bgr8 Image) becomes prior episodes: split by gaps, labelled from a Bool topic', async () => {
  const db = newDb();
  const s = await importBag(base(db));
  assert.equal(s.episodes.length, 3);
  assert.equal(s.skippedEpisodes, 1, 'the lonely frame before the first episode is an episode of one tick: skipped');
  assert.deepEqual(
    s.episodes.map((e) => e.success),
    truth.episodes.map((e) => e.success),
  );
  assert.equal(s.transitions, 3 * 4);
  const store = Store.openReadOnly(db);
  try {
    const session = store.getSession(s.sessionId)!;
    assert.equal(session.backend, 'ros2-bag');
    assert.equal((session.config as { bagSha256: string }).bagSha256.length, 64);
    const eps = store.listEpisodes({ sessionId: s.sessionId, order: 'asc' });
    eps.forEach((e, k) => {
      const tr = truth.episodes[k]!;
      assert.equal(e.kind, 'prior');
      assert.equal(e.domain, 'europlug');
      assert.equal(e.outcome, tr.success ? 'success' : 'failure');
      assert.equal(e.gtSuccess, tr.success);
      assert.match(e.reason ?? '', /topic \/insertion\/success/);
      const rows = store.getEpisode(e.id, { transitions: true, images: true })!.transitions!;
      assert.equal(rows.length, tr.frames.length);
      rows.forEach((r, i) => {
        const f = tr.frames[i]!;
        const next = tr.frames[i + 1];
        assert.equal(r.step, i);
        assert.ok(Buffer.from(r.image!.data).equals(Buffer.from(f.rgb)), `episode ${k} frame ${i}: bgr8 converted to the logged RGB`);
        assert.deepEqual(r.eePos, f.pos);
        assert.deepEqual(r.eeQuat, f.quat);
        assert.deepEqual(r.goal, truth.goal);
        // Re-zeroed at the episode's first tick: the latest wrench before the frame minus the first tick's.
        assert.deepEqual(
          r.wrench,
          f.wrench.map((w, j) => w - tr.frames[0]!.wrench[j]!),
        );
        assert.equal(r.tickTime, Number(f.t) / 1e9);
        assert.equal(r.imageStamp, Number(f.stamp) / 1e9);
        assert.equal(r.done, i >= rows.length - 2);
        if (!next) {
          assert.equal(r.actionExecuted, null, 'final row: observation only');
          assert.equal(r.gtSuccess, tr.success);
          return;
        }
        const exec = [0, 1, 2].map((j) => next.pos[j]! - f.pos[j]!);
        const p = [0, 1, 2].map((j) => -[1, 1, 0.3][j]! * (f.pos[j]! - truth.goal[j]!));
        assert.deepEqual(r.actionExecuted, exec);
        assert.deepEqual(r.actionP, p);
        assert.deepEqual(
          r.actionResidual,
          exec.map((x, j) => x - p[j]!),
        );
        // Label of the next observation: false until the final one, which carries the episode's label.
        const label = i + 1 === rows.length - 1 ? tr.success : false;
        assert.equal(r.gtSuccess, label, `episode ${k} row ${i}`);
        assert.equal(r.rewardProb, label ? 1 : 0);
      });
    });
    // The learners' loader takes it as prior data.
    const d = loadTransitions(store, { domains: ['europlug'], imageSize: 64 });
    assert.equal(d.count, 12);
    assert.equal(d.episodes, 3);
    assert.equal(
      d.reward.reduce((a, b) => a + b, 0),
      truth.episodes.filter((e) => e.success).length,
    );
  } finally {
    store.close();
  }
});

test('CompressedImage (PNG) resized, episodes from a marker topic, goal from a topic, labels from final z or a JSON file', async () => {
  const bag = join(tmp.dir, 'compressed.mcap');
  const t = await writeRosbag(bag, { compressed: true, width: 80, height: 60 });
  const db = newDb();
  const o: ImportOptions = {
    ...base(db),
    bag,
    imageSize: 32,
    topics: { image: BAG_TOPICS.compressed, wrench: BAG_TOPICS.wrench, pose: BAG_TOPICS.pose, goal: BAG_TOPICS.goal },
    goal: null,
    split: { kind: 'marker', topic: BAG_TOPICS.marker },
    labels: { kind: 'final-z', below: 0.008 },
  };
  const s = await importBag(o);
  assert.equal(s.episodes.length, 3);
  assert.equal(s.frames.outsideEpisodes, 1, 'the frame before the first marker');
  assert.deepEqual(
    s.episodes.map((e) => e.success),
    [false, false, true],
    'final z 10, 30, 5 mm vs 8 mm',
  );
  const store = Store.openReadOnly(db);
  try {
    const eps = store.listEpisodes({ sessionId: s.sessionId, order: 'asc' });
    const rows = store.getEpisode(eps[2]!.id, { transitions: true, images: true })!.transitions!;
    assert.deepEqual([rows[0]!.image!.width, rows[0]!.image!.height], [32, 32]);
    assert.deepEqual(rows[0]!.goal, t.goal);
    // Per observation: z below 8 mm only at the last frame of the third episode.
    assert.deepEqual(
      rows.map((r) => r.gtSuccess),
      [false, false, false, true, true],
    );
    // Centre crop and resize keep the picture: mean red of the crop within a few levels of the source's centre.
    const src = t.episodes[2]!.frames[0]!.rgb;
    let a = 0,
      b = 0;
    for (let y = 0; y < 60; y++) for (let x = 10; x < 70; x++) a += src[(y * 80 + x) * 3 + 2]!;
    for (let i = 0; i < 32 * 32; i++) b += rows[0]!.image!.data[i * 3 + 2]!;
    assert.ok(Math.abs(a / 3600 - b / 1024) < 6, `blue mean ${a / 3600} vs ${b / 1024}`);
  } finally {
    store.close();
  }
  const labels = join(tmp.dir, 'labels.json');
  writeFileSync(labels, JSON.stringify({ labels: [1, 0, 0] }));
  const s2 = await importBag({ ...o, db: newDb(), labels: { kind: 'json', file: labels } });
  assert.deepEqual(
    s2.episodes.map((e) => e.success),
    [true, false, false],
  );
});

test('bad input gets a clear error: missing topic, wrong type, no goal, corrupt MCAP, label count, missing bag', async () => {
  const db = newDb();
  const rejects = (o: ImportOptions, re: RegExp) =>
    assert.rejects(importBag(o), (e: Error) => e instanceof ExportError && re.test(e.message), `expected ${re}`);
  await rejects(
    { ...base(db), topics: { ...base(db).topics, wrench: '/wrench' } },
    /no topic \/wrench for the wrench; it has .*\/ft_sensor\/wrench \(geometry_msgs\/msg\/WrenchStamped\)/,
  );
  await rejects(
    { ...base(db), topics: { ...base(db).topics, pose: BAG_TOPICS.wrench } },
    /topic \/ft_sensor\/wrench \(pose\) is geometry_msgs\/msg\/WrenchStamped, expected geometry_msgs\/msg\/PoseStamped/,
  );
  await rejects({ ...base(db), goal: null }, /goal: give a goal topic or a fixed goal/);
  await rejects({ ...base(db), bag: join(tmp.dir, 'nope.mcap') }, /nope\.mcap: does not exist/);
  const labels = join(tmp.dir, 'two.json');
  writeFileSync(labels, '[true, false]');
  await rejects({ ...base(db), labels: { kind: 'json', file: labels } }, /has 2 labels, the bag split into 3 episodes/);
  // Corrupt: the recording cut off half-way (no summary, no footer), and one with its middle overwritten.
  const bytes = readFileSync(rawBag);
  const cut = join(tmp.dir, 'cut.mcap');
  writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  await rejects({ ...base(db), bag: cut }, /not a readable indexed MCAP file .*mcap recover/);
  const garbled = Buffer.from(bytes);
  garbled.fill(0x5a, 200, bytes.length - 4096);
  const bad = join(tmp.dir, 'garbled.mcap');
  writeFileSync(bad, garbled);
  await rejects({ ...base(db), bag: bad }, /garbled\.mcap: (not a readable indexed MCAP|corrupt MCAP data)/);
  const text = join(tmp.dir, 'text.mcap');
  writeFileSync(text, 'not an mcap file at all');
  await rejects({ ...base(db), bag: text }, /not a readable indexed MCAP/);
  // The refused imports checked everything before opening the database: none was created.
  assert.ok(!existsSync(db));
});

/**
 * MCAP export round trip against readers the project did not write: @mcap/core's indexed and stream readers, the
 * schemas parsed by @foxglove/rosmsg and the messages decoded by @foxglove/rosmsg2-serialization's MessageReader,
 * the PNGs decoded by sharp. The log is a real daemon session on the simulated cell (test/export/fixture.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { McapIndexedReader, McapStreamReader, type McapTypes } from '@mcap/core';
import { parse } from '@foxglove/rosmsg';
import { MessageReader } from '@foxglove/rosmsg2-serialization';
import { exportMcap, TOPICS } from '../../src/export/mcap.ts';
import { ExportError } from '../../src/export/select.ts';
import { Store } from '../../src/store/index.ts';
import type { TransitionRecord } from '../../src/store/types.ts';
import { tempDir } from '../daemon/helpers.ts';
import { loggedSession } from './fixture.ts';
import { teardown } from '../teardown.ts';

const tmp = tempDir('export-mcap-');
const closeFile = teardown();
closeFile(tmp.cleanup);
const fx = await loggedSession(tmp.dir, { episodes: 3, steps: 6 });
const store = Store.openReadOnly(fx.db);
closeFile(() => store.close());

/** The whole file in memory behind @mcap/core's IReadable: no project code between the file and the reader. */
function bufferReadable(bytes: Uint8Array): McapTypes.IReadable {
  return { size: async () => BigInt(bytes.length), read: async (off, n) => bytes.subarray(Number(off), Number(off + n)) };
}

interface Decoded {
  topic: string;
  schema: string;
  logTime: bigint;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- decoded ROS messages are untyped objects
  msg: Record<string, any>;
}

async function readAll(file: string): Promise<{ reader: McapIndexedReader; msgs: Decoded[] }> {
  const reader = await McapIndexedReader.Initialize({ readable: bufferReadable(readFileSync(file)) });
  const readers = new Map<number, MessageReader>();
  const msgs: Decoded[] = [];
  for await (const m of reader.readMessages({ validateCrcs: true })) {
    const ch = reader.channelsById.get(m.channelId)!;
    const schema = reader.schemasById.get(ch.schemaId)!;
    let r = readers.get(ch.id);
    if (!r) {
      r = new MessageReader(parse(new TextDecoder().decode(schema.data), { ros2: true }));
      readers.set(ch.id, r);
    }
    msgs.push({ topic: ch.topic, schema: schema.name, logTime: m.logTime, msg: r.readMessage(m.data) });
  }
  return { reader, msgs };
}

test('a session to MCAP: profile, topics, schemas, counts and every message match the log', async () => {
  const out = join(tmp.dir, 'session.mcap');
  const summary = await exportMcap({ store, sessionId: fx.sessionId, out });
  assert.equal(summary.transitions, fx.episodes * fx.steps);
  const { reader, msgs } = await readAll(out);
  assert.equal(reader.header.profile, 'ros2');
  // Channels and schemas as rosbag2 writes them.
  const channels = [...reader.channelsById.values()];
  assert.deepEqual(channels.map((c) => c.topic).sort(), Object.keys(TOPICS).sort());
  for (const c of channels) {
    const s = reader.schemasById.get(c.schemaId)!;
    assert.equal(c.messageEncoding, 'cdr', c.topic);
    assert.equal(s.encoding, 'ros2msg', c.topic);
    assert.equal(s.name, TOPICS[c.topic as keyof typeof TOPICS], c.topic);
  }
  assert.equal(new Set(channels.map((c) => c.schemaId)).size, new Set(Object.values(TOPICS)).size, 'one schema per type');

  // Counts per topic against the log.
  const eps = store.listEpisodes({ sessionId: fx.sessionId, order: 'asc' });
  const rows: TransitionRecord[] = eps.flatMap((e) => store.getEpisode(e.id, { transitions: true, images: true })!.transitions!);
  const byTopic = (t: string): Decoded[] => msgs.filter((m) => m.topic === t);
  const n = rows.length;
  const expected: Record<string, number> = {
    '/camera/image/compressed': n,
    '/wrist/wrench': n,
    '/ee/pose': n,
    '/goal': n,
    '/command/p': rows.filter((r) => r.actionP).length,
    '/command/residual': rows.filter((r) => r.actionResidual).length,
    '/command/executed': rows.filter((r) => r.actionExecuted).length,
    '/reward/probability': rows.filter((r) => r.rewardProb != null).length,
    '/reward/ground_truth': rows.filter((r) => r.gtSuccess != null).length,
    '/episode': 2 * eps.length,
  };
  for (const [t, c] of Object.entries(expected)) assert.equal(byTopic(t).length, c, t);
  assert.ok(expected['/reward/probability']! > 0 && expected['/command/residual']! > 0, 'the fixture logs rewards and residuals');
  assert.equal(Number(reader.statistics?.messageCount), msgs.length);
  assert.deepEqual(summary.messages, expected);

  // Contents, row by row.
  const img = byTopic('/camera/image/compressed');
  const wr = byTopic('/wrist/wrench');
  const pose = byTopic('/ee/pose');
  const goal = byTopic('/goal');
  const cmd = (t: string) => byTopic(t);
  const reward = byTopic('/reward/probability');
  const gt = byTopic('/reward/ground_truth');
  for (const [i, r] of rows.entries()) {
    const im = img[i]!.msg;
    assert.equal(im.format, 'png');
    assert.equal(im.header.frame_id, 'camera');
    const { data, info } = await sharp(im.data as Uint8Array)
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [r.image!.width, r.image!.height, 3]);
    assert.ok(Buffer.from(r.image!.data).equals(data), `row ${i}: PNG pixels equal the logged frame`);
    const w = wr[i]!.msg.wrench;
    assert.deepEqual([w.force.x, w.force.y, w.force.z, w.torque.x, w.torque.y, w.torque.z], r.wrench);
    const p = pose[i]!.msg.pose;
    assert.deepEqual([p.position.x, p.position.y, p.position.z], r.eePos);
    assert.deepEqual([p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z], r.eeQuat, 'ROS x y z w from the log w x y z');
    assert.equal(pose[i]!.msg.header.frame_id, 'base');
    assert.deepEqual([goal[i]!.msg.point.x, goal[i]!.msg.point.y, goal[i]!.msg.point.z], r.goal);
    for (const [t, v] of [
      ['/command/p', r.actionP],
      ['/command/residual', r.actionResidual],
      ['/command/executed', r.actionExecuted],
    ] as const) {
      const m = cmd(t)[i]!.msg.vector;
      assert.deepEqual([m.x, m.y, m.z], v, `${t} row ${i}`);
    }
    assert.equal(reward[i]!.msg.data, Math.fround(r.rewardProb!), `reward row ${i}`);
    assert.equal(gt[i]!.msg.data, r.gtSuccess);
    // One log time per row, shared by its messages; stamps keep the logged skew to the tick.
    for (const t of [img, wr, pose, goal, reward]) assert.equal(t[i]!.logTime, img[i]!.logTime);
    const stampNs = (m: Decoded): bigint => BigInt(m.msg.header.stamp.sec) * 1_000_000_000n + BigInt(m.msg.header.stamp.nanosec);
    const skew = Number(stampNs(img[i]!) - img[i]!.logTime) / 1e9;
    assert.ok(Math.abs(skew - (r.imageStamp! - r.tickTime!)) < 1e-6, `row ${i}: image stamp skew ${skew} vs logged ${r.imageStamp! - r.tickTime!}`);
  }
  // Log time: increasing across the session; within an episode it advances by the logged tick times.
  for (let i = 1; i < n; i++) {
    assert.ok(img[i]!.logTime > img[i - 1]!.logTime, `log time increases at row ${i}`);
    if (rows[i]!.episodeId === rows[i - 1]!.episodeId) {
      assert.ok(Math.abs(Number(img[i]!.logTime - img[i - 1]!.logTime) / 1e9 - (rows[i]!.tickTime! - rows[i - 1]!.tickTime!)) < 1e-6);
    }
  }
  assert.equal(summary.timeline, 'anchored', 'the simulator clock restarts per episode');

  // Episode markers: start and end per episode, with the episode row's fields.
  const ev = byTopic('/episode');
  assert.equal(ev[0]!.schema, 'insertion_daemon/msg/EpisodeEvent');
  eps.forEach((e, k) => {
    const [s, end] = [ev[2 * k]!.msg, ev[2 * k + 1]!.msg];
    assert.equal(s.event, 'start');
    assert.equal(end.event, 'end');
    for (const m of [s, end]) {
      assert.equal(m.episode_id, e.id);
      assert.equal(m.session_id, fx.sessionId);
      assert.equal(m.domain, e.domain);
      assert.equal(m.kind, e.kind);
      assert.equal(m.scenario, e.scenario);
      assert.equal(m.seed, BigInt(e.seed!));
      assert.equal(m.policy_version, e.policyVersion);
      assert.equal(m.steps, e.transitionCount);
    }
    assert.equal(end.outcome, e.outcome);
    assert.equal(end.gt_success, e.gtSuccess ? 1 : 0);
    assert.equal(end.learned_success_prob, Math.fround(e.learnedSuccessProb!));
    assert.equal(s.gt_success, -1);
    assert.ok(Number.isNaN(s.learned_success_prob));
  });

  // The session row travels as MCAP metadata.
  const meta = [];
  for await (const m of reader.readMetadata({ name: 'insertion_daemon/session' })) meta.push(m);
  assert.equal(meta.length, 1);
  assert.equal(meta[0]!.metadata.get('session_id'), String(fx.sessionId));
  assert.deepEqual(JSON.parse(meta[0]!.metadata.get('calibration_json')!), store.getSession(fx.sessionId)!.calibration);

  // The stream reader (no index, every CRC checked) sees the same file through to a valid footer.
  const stream = new McapStreamReader({ validateCrcs: true });
  stream.append(readFileSync(out));
  let messages = 0;
  for (let rec; (rec = stream.nextRecord());) if (rec.type === 'Message') messages++;
  assert.ok(stream.done(), 'stream reader reached the footer');
  assert.equal(messages, msgs.length);
});

test('chosen episodes only; unknown session or episode and an unwritable output are refused, leaving no file', async () => {
  const eps = store.listEpisodes({ sessionId: fx.sessionId, order: 'asc' });
  const pick = [eps[1]!.id];
  const out = join(tmp.dir, 'one.mcap');
  const s = await exportMcap({ store, sessionId: fx.sessionId, episodeIds: pick, out });
  assert.equal(s.episodes, 1);
  const { msgs } = await readAll(out);
  assert.equal(msgs.filter((m) => m.topic === '/ee/pose').length, eps[1]!.transitionCount);
  assert.deepEqual(new Set(msgs.filter((m) => m.topic === '/episode').map((m) => m.msg.episode_id)), new Set(pick));

  await assert.rejects(
    exportMcap({ store, sessionId: 99, out: join(tmp.dir, 'x.mcap') }),
    (e: Error) => e instanceof ExportError && /no session 99 \(its sessions are 1\)/.test(e.message),
  );
  await assert.rejects(
    exportMcap({ store, sessionId: fx.sessionId, episodeIds: [12345], out: join(tmp.dir, 'x.mcap') }),
    /episode 12345 is not in session 1 \(no such episode\)/,
  );
  await assert.rejects(exportMcap({ store, sessionId: fx.sessionId, out: join(tmp.dir, 'missing-dir', 'x.mcap') }), /directory .*missing-dir does not exist/);
  await assert.rejects(exportMcap({ store, sessionId: fx.sessionId, out: tmp.dir }), /is a directory/);
  assert.ok(!existsSync(join(tmp.dir, 'x.mcap')));
  assert.deepEqual(
    readdirSync(tmp.dir).filter((f) => f.includes('.partial')),
    [],
    'no temporary file left behind',
  );
});

test("a real robot's epoch clock is kept: log time = tick time, header stamps = the logged stamps", async () => {
  const db = join(tmp.dir, 'robot.db');
  const w = Store.open(db);
  const sid = w.openSession({ robot: 'sawyer', backend: 'ros2', config: {}, calibration: {} });
  const t0 = 1_796_000_000.25;
  let k = 0;
  for (let e = 0; e < 2; e++) {
    const id = w.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'europlug' });
    w.appendTransitions(
      [0, 1, 2].map((step) => {
        const tick = t0 + 0.1 * k++;
        return {
          episodeId: id,
          step,
          tickTime: tick,
          actionP: [0, 0, -0.001],
          actionResidual: [0, 0, 0],
          actionExecuted: [0, 0, -0.001],
          rewardProb: 0.5,
          obs: {
            image: { width: 4, height: 4, data: new Uint8Array(48).fill(step * 40) },
            wrench: [0, 0, step, 0, 0, 0],
            eePos: [0.6, 0.1, 0.05 - 0.001 * step],
            eeQuat: [1, 0, 0, 0],
            goal: [0.6, 0.1, 0],
            imageStamp: tick - 0.03,
            wrenchStamp: tick - 0.002,
          },
        };
      }),
    );
    w.endEpisode(id, { outcome: 'failure' });
  }
  w.close();
  const ro = Store.openReadOnly(db);
  try {
    const out = join(tmp.dir, 'robot.mcap');
    const s = await exportMcap({ store: ro, sessionId: sid, out });
    assert.equal(s.timeline, 'robot-clock');
    const { msgs } = await readAll(out);
    const rows = ro.listEpisodes({ sessionId: sid, order: 'asc' }).flatMap((e) => ro.getEpisode(e.id, { transitions: true, images: false })!.transitions!);
    const ns = (x: number): bigint => BigInt(Math.round(x * 1e9));
    const stampNs = (m: Decoded): bigint => BigInt(m.msg.header.stamp.sec) * 1_000_000_000n + BigInt(m.msg.header.stamp.nanosec);
    const img = msgs.filter((m) => m.topic === '/camera/image/compressed');
    const wr = msgs.filter((m) => m.topic === '/wrist/wrench');
    rows.forEach((r, i) => {
      assert.equal(img[i]!.logTime, ns(r.tickTime!));
      assert.equal(stampNs(img[i]!), ns(r.imageStamp!));
      assert.equal(stampNs(wr[i]!), ns(r.wrenchStamp!));
    });
  } finally {
    ro.close();
  }
});

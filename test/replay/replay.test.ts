/**
 * Replay of sessions the real daemon logged on the simulated cell (real MuJoCo, real SQLite files, real onnxruntime
 * for the shipped reward classifier).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runReplay } from '../../src/replay/run.ts';
import { limitStep } from '../../src/control/action.ts';
import { clipAction } from '../../src/control/controller.ts';
import { ReplaySourceError } from '../../src/replay/source.ts';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { Store } from '../../src/store/index.ts';
import { root } from '../daemon/helpers.ts';
import { copyDb, logSession, sourceFingerprint, type LoggedSession } from './helpers.ts';

describe('replay of a simulated session', () => {
  let src: LoggedSession;
  before(async () => {
    src = await logSession({ count: 3, steps: 12 });
  });
  after(() => src?.cleanup());

  it('open loop reproduces every outcome and the trajectory exactly, and leaves the source rows as they were', async () => {
    const before = sourceFingerprint(src.db, src.sessionId);
    const r = await runReplay({ db: src.db, sessionId: src.sessionId, mode: 'open-loop' });
    assert.equal(r.episodes.length, 3);
    for (const e of r.episodes) {
      assert.equal(e.start?.kind, 'seeded', `episode ${e.sourceEpisodeId}: ${e.start?.note}`);
      assert.equal(e.replay.outcome, e.logged.outcome, `episode ${e.sourceEpisodeId} outcome`);
      assert.equal(e.replay.gtSuccess, e.logged.gtSuccess, `episode ${e.sourceEpisodeId} ground truth`);
      assert.equal(e.replay.steps, e.logged.steps);
      assert.ok(e.sameOutcome);
      assert.equal(e.divergence.partedAtStep, null);
      assert.equal(e.divergence.maxPoseMm, 0, 'bit-exact poses');
      assert.equal(e.divergence.maxForceN, 0, 'bit-exact wrenches');
      assert.equal(e.divergence.maxActionMm, 0, 'bit-exact commands');
      assert.equal(e.divergence.stepsCompared, 12);
    }
    assert.equal(r.overall.sameOutcome, 3);
    assert.ok(r.speed.stepsPerSecond > 0);
    // Its own session, tagged; the source untouched.
    const after = sourceFingerprint(src.db, src.sessionId);
    assert.deepEqual(after, before);
    const s = Store.openReadOnly(src.db);
    try {
      const session = s.getSession(r.out.sessionId)!;
      assert.notEqual(r.out.sessionId, src.sessionId);
      assert.equal(session.backend, 'replay');
      assert.match(session.note ?? '', new RegExp(`replay of session ${src.sessionId} \\(open-loop\\)`));
      assert.deepEqual((session.config as { replay: { sourceSessionId: number } }).replay.sourceSessionId, src.sessionId);
      const eps = s.listEpisodes({ sessionId: r.out.sessionId, order: 'asc' });
      assert.equal(eps.length, 3);
      for (const [i, e] of eps.entries()) {
        assert.equal(e.kind, 'eval', 'replays never count as practice for the trainer');
        assert.equal((e.startState as { replayOf: { sourceEpisodeId: number } }).replayOf.sourceEpisodeId, r.episodes[i]!.sourceEpisodeId);
        assert.equal(e.transitionCount, 12);
      }
    } finally {
      s.close();
    }
  });

  it('closed loop with another policy (P-controller alone) gives the per-episode and overall comparison', async () => {
    const before = sourceFingerprint(src.db, src.sessionId);
    const r = await runReplay({ db: src.db, sessionId: src.sessionId, mode: 'closed-loop', policy: 'p-only' });
    assert.equal(r.policy, 'p-only');
    assert.equal(r.episodes.length, 3);
    for (const e of r.episodes) {
      assert.equal(e.replay.steps, 12);
      assert.notEqual(e.divergence.partedAtStep, null, 'a different policy parts from the logged trajectory');
      assert.equal(typeof e.replay.gtSuccess, 'boolean');
    }
    const o = r.overall;
    assert.equal(o.episodes, 3);
    assert.equal(o.paired.both + o.paired.loggedOnly + o.paired.replayOnly + o.paired.neither, 3);
    assert.equal(o.parted, 3);
    assert.equal(o.byConnector.length, 1);
    assert.notEqual(o.replay.gtSuccessRate, null);
    assert.deepEqual(sourceFingerprint(src.db, src.sessionId), before);
  });

  it('the reward audit flags a false positive injected into (a copy of) the log, and runs the shipped ONNX classifier on the replayed frames', async () => {
    const db = copyDb(src.db, src.dir, 'injected.db');
    const raw = new Database(db);
    const ep = (raw.prepare('SELECT id FROM episodes WHERE session_id = ? ORDER BY id LIMIT 1').get(src.sessionId) as { id: number }).id;
    // Every frame of the first episode called not seated, except the one after step 0 (tip still ~2 cm up): a lie.
    raw.prepare('UPDATE transitions SET reward_prob = 0.01 WHERE episode_id = ?').run(ep);
    raw.prepare('UPDATE transitions SET reward_prob = 0.97 WHERE episode_id = ? AND step = 0').run(ep);
    raw.close();
    const r = await runReplay({ db, sessionId: src.sessionId, mode: 'open-loop', reward: join(root, 'models/reward.onnx') });
    const logged = r.audit?.logged;
    assert.ok(logged, 'logged predictions audited');
    assert.equal(logged.samples, 12);
    assert.equal(logged.fp, 1);
    assert.deepEqual(
      { ...logged.falsePositives[0], aboveSeatedMm: undefined },
      { sourceEpisodeId: ep, replayEpisodeId: r.episodes[0]!.replayEpisodeId, step: 0, domain: r.episodes[0]!.domain, prob: 0.97, aboveSeatedMm: undefined },
    );
    assert.ok(logged.falsePositives[0]!.aboveSeatedMm > 5, `height above seated ${logged.falsePositives[0]!.aboveSeatedMm} mm`);
    const seatedSteps = r.episodes[0]!.replay.gtSuccess ? 1 : 0;
    assert.ok(logged.fn >= seatedSteps, 'seated frames called 0.01 are false negatives');
    const bins = logged.byHeight[0]!.bins;
    assert.equal(
      bins.reduce((a, b) => a + b.samples, 0),
      12,
    );
    // The shipped classifier, through the daemon's input pipeline, on all 36 replayed frames.
    const rep = r.audit?.replayed;
    assert.ok(rep);
    assert.equal(rep.samples, 36);
    assert.match(rep.model ?? '', /^reward/);
    assert.equal(rep.tp + rep.tn + rep.fp + rep.fn, 36);
  });

  it('a classifier that always says seated: every unseated replayed frame is a false positive, by connector and height', async () => {
    const always: RewardScorer = { version: 'always-seated@1', input: { image: null, proprio: null }, probability: async () => 0.99 };
    const r = await runReplay({ db: src.db, sessionId: src.sessionId, mode: 'open-loop', rewardModel: always });
    const a = r.audit!.replayed!;
    assert.equal(a.fn, 0);
    assert.equal(a.tp + a.fp, 36);
    assert.ok(a.fp > 0);
    assert.equal(a.byConnector[0]!.fp, a.fp);
    const unseatedBins = a.byHeight[0]!.bins.filter((b) => b.label !== 'seated');
    assert.equal(
      unseatedBins.reduce((s, b) => s + b.samples, 0),
      a.fp,
    );
    for (const b of unseatedBins) assert.equal(b.errorRate, 1);
  });

  it('a session whose connector the simulator does not define gets a message naming it and the way to map it', async () => {
    const db = copyDb(src.db, src.dir, 'unknown.db');
    const raw = new Database(db);
    raw.prepare(`UPDATE episodes SET domain = 'usb-c-9000' WHERE session_id = ?`).run(src.sessionId);
    raw.close();
    const before = sourceFingerprint(db, src.sessionId);
    const sessionsBefore = (() => {
      const s = Store.openReadOnly(db);
      try {
        return s.counts().sessions;
      } finally {
        s.close();
      }
    })();
    await assert.rejects(runReplay({ db, sessionId: src.sessionId, mode: 'open-loop' }), (e: Error) => {
      assert.ok(e instanceof ReplaySourceError);
      assert.match(e.message, /connector 'usb-c-9000' \(episodes [\d, ]+\) has no definition in the simulator/);
      assert.match(e.message, /--map-connector usb-c-9000=<defined>/);
      assert.match(e.message, /square16/);
      return true;
    });
    const s = Store.openReadOnly(db);
    try {
      assert.equal(s.counts().sessions, sessionsBefore, 'a refused replay writes nothing');
    } finally {
      s.close();
    }
    // Mapped: rebuilt relative to x* on the defined connector, and it runs.
    const r = await runReplay({ db, sessionId: src.sessionId, mode: 'open-loop', mapConnector: { 'usb-c-9000': 'square16' } });
    for (const e of r.episodes) {
      assert.equal(e.start?.kind, 'relative');
      assert.equal(e.replayedAs, 'square16');
      assert.equal(e.domain, 'usb-c-9000');
      assert.ok(e.start.startErrorM < 1e-4, `start rebuilt within 0.1 mm of the logged offset from x* (${e.start.startErrorM})`);
    }
    assert.deepEqual(sourceFingerprint(db, src.sessionId), before);
  });
});

describe('replay of a real-robot session', () => {
  it('rebuilds the starts relative to x* with the assumed x* error, from the shipped config and calibration', async () => {
    const src = await logSession({ count: 2, steps: 8 });
    try {
      // What a ROS 2 session looks like to replay: another backend, no daemon snapshot of the simulated cell.
      const db = copyDb(src.db, src.dir, 'robot.db');
      const raw = new Database(db);
      raw.prepare(`UPDATE sessions SET backend = 'ros2', robot = 'sawyer', config_json = '{}', calibration_json = '{}' WHERE id = ?`).run(src.sessionId);
      raw.close();
      const exact = await runReplay({ db, sessionId: src.sessionId, mode: 'open-loop' });
      const off = await runReplay({ db, sessionId: src.sessionId, mode: 'open-loop', goalError: [0.002, 0, 0] });
      assert.match(exact.notes.join('\n'), /ran on 'ros2': starts rebuilt relative to x\*/);
      for (const [i, e] of exact.episodes.entries()) {
        assert.equal(e.start?.kind, 'relative');
        assert.match(e.start?.note ?? '', /x\* error \[0\.00, 0\.00, 0\.00\] mm \(assumed\)/);
        const o = off.episodes[i]!;
        assert.match(o.start?.note ?? '', /x\* error \[2\.00, 0\.00, 0\.00\] mm/);
        // Same offset from x* either way; x* itself 2 mm from the socket in the second.
        assert.ok(e.start.startErrorM < 1e-4 && o.start!.startErrorM < 1e-4);
        assert.ok(Math.abs(o.start!.goal[0] - e.start.goal[0] - 0.002) < 1e-9);
        assert.equal(e.replay.steps, 8);
      }
      // The session was simulated with an exact x*: assuming no error, the rebuilt starts replay to the logged outcomes.
      assert.equal(exact.overall.sameOutcome, 2);
    } finally {
      src.cleanup();
    }
  });
});

describe('closed-loop replay with a scripted baseline', () => {
  it("runs 'baseline:<name>' through the daemon's step limit and safety filter, and names the known ones otherwise", async () => {
    const src = await logSession({ count: 2, steps: 12, residual: () => [0.004, 0, 0] });
    try {
      // The P-controller as a baseline: its own per-axis clip, then the daemon's Euclidean step limit.
      const asBaseline = await runReplay({ db: src.db, sessionId: src.sessionId, mode: 'closed-loop', policy: 'baseline:p' });
      assert.equal(asBaseline.policy, 'baseline:p');
      const store = Store.openReadOnly(src.db);
      try {
        for (const e of asBaseline.episodes) {
          const rows = store.getEpisode(e.replayEpisodeId!, { transitions: true, images: false })!.transitions!;
          const logged0 = store.getEpisode(e.sourceEpisodeId, { transitions: true, images: false })!.transitions![0]!;
          // Same start, so the same u_H at step 0: the baseline's move is clip(u_H), and what ran is its step-limited version.
          const want = limitStep(clipAction(logged0.actionP!, 0.01), 0.01);
          assert.ok(want.clamped, 'the start is far enough away for the step limit to bite');
          rows[0]!.actionExecuted!.forEach((x, k) => assert.ok(Math.abs(x - want.v[k]!) < 1e-12, `step 0 axis ${k}: ${x} vs ${want.v[k]}`));
          for (const t of rows) assert.ok(Math.hypot(...t.actionExecuted!) <= 0.01 + 1e-12, `step ${t.step} within the step limit`);
        }
      } finally {
        store.close();
      }
      // Straight down from a scenario-II start (10-20 mm off) never inserts (README: 0/200).
      const straight = await runReplay({ db: src.db, sessionId: src.sessionId, mode: 'closed-loop', policy: 'baseline:straight' });
      assert.equal(straight.overall.replay.gtSuccessRate, 0);
      for (const e of straight.episodes) assert.equal(e.replay.steps, 12);
      await assert.rejects(
        runReplay({ db: src.db, sessionId: src.sessionId, mode: 'closed-loop', policy: 'baseline:teleport' }),
        /unknown baseline 'teleport' \(known: .*baseline:spiral/,
      );
    } finally {
      src.cleanup();
    }
  });
});

/**
 * Two arms and one learner against a real PostgreSQL (a throw-away cluster): both daemons (real MuJoCo, SQLite,
 * onnxruntime) ship their practice, the fleet learner trains on the pooled rows and publishes a version, and each arm
 * validates it on its own logged observations and swaps it in. The password is in neither /status nor the log.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startFleet } from '../../src/app/fleet.ts';
import { runFleetLearner } from '../../src/online/fleet-learner.ts';
import { DEFAULT_ONLINE } from '../../src/online/trainer.ts';
import { FleetStore } from '../../src/store/pg/fleet-store.ts';
import { rig } from '../daemon/helpers.ts';
import { TRAIN } from '../offline/fixtures.ts';
import { tinyOffline } from '../online/fixtures.ts';
import { pgSkip, usePgCluster } from '../store/pg/helpers.ts';
import { teardown } from '../teardown.ts';

const pg = usePgCluster();
const fx = pgSkip ? null : await tinyOffline('fleet-test');
after(() => fx?.cleanup());

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'two arms and one learner: the version reaches both arms and each validates it, a bad one is refused by each; no password in /status or the log',
  { skip: pgSkip },
  async (t) => {
    const defer = teardown(t);
    const c = pg.cluster();
    const env = { ...c.env };
    const validation = { probeCount: 8, residualBoundM: 0.005, maxDiffM: 1, maxMeanDiffM: 1, onFlag: 'accept' as const };
    // (each close registered as its part opens: one arm failing to start must not leave the other running; each fleet
    // closes before its arm, into whose folder it writes)
    const arms = await Promise.all(
      ['arm-1', 'arm-2'].map(async (robotId) => {
        const r = await rig({ startLoop: true, overrides: { episodeSteps: 6 }, connector: fx!.domains[0] as string });
        defer(() => r.close());
        const fleet = startFleet(r.app, {
          config: { enabled: true, credentialsFile: null, shipBatch: 64, shipIntervalMs: 50, takeVersions: true },
          robotId,
          env,
          retryMs: 300,
          swapValidation: validation,
        });
        defer(() => fleet.close());
        return { r, fleet, robotId };
      }),
    );
    for (const a of arms) assert.ok(a.r.app.daemon.startPractice({ count: 3, scenario: 'I', explorationNoise: 0.001 }).ok);
    let stop = false;
    const published: number[] = [];
    const versions = new Map<number, string>();
    let pulled: Record<string, number> = {};
    const learner = runFleetLearner({
      target: {
        config: { ...{ host: env.PGHOST, port: Number(env.PGPORT), user: env.PGUSER, password: env.PGPASSWORD, database: env.PGDATABASE } },
        describe: 'test',
        source: 'test',
        secrets: [c.password],
      },
      trainer: {
        ...DEFAULT_ONLINE,
        offlineDb: fx!.db,
        offlineDomains: fx!.domains,
        onlineFraction: 0.5, // mixed batches, as before the default became practice data alone
        startCheckpoint: fx!.checkpoint,
        workDir: join(fx!.dir, 'fleet-learner'),
        batchSize: 16,
        utd: 1,
        exportEvery: 0,
        minOnline: 12,
        seed: 1,
      },
      rollout: { mode: 'all' },
      pollMs: 100,
      shouldStop: () => stop,
      onPublished: (p) => {
        published.push(p.modelId);
        versions.set(p.modelId, p.version);
      },
      onPull: (s) => (pulled = { ...s.perRobot }),
    });
    defer(async () => {
      stop = true;
      await learner;
    });
    // On a loaded machine one arm may ship well before the other: wait for both arms' rows and a version since.
    let publishedBefore = 0;
    await until(
      () => {
        if (!((pulled['arm-1'] ?? 0) > 0 && (pulled['arm-2'] ?? 0) > 0)) publishedBefore = published.length;
        return published.length > publishedBefore;
      },
      90_000,
      'a version published after rows of both arms were pulled',
    );
    stop = true;
    const stats = await learner;
    assert.ok(
      (stats.perRobot['arm-1'] ?? 0) > 0 && (stats.perRobot['arm-2'] ?? 0) > 0,
      `the learner pulled rows of both arms: ${JSON.stringify(stats.perRobot)}`,
    );
    const id = published[0]!;
    const decisions = await Promise.all(arms.map((a) => a.fleet.decided(id)));
    assert.deepEqual(decisions, ['accepted', 'accepted']);
    // Validated by each arm on its own log (the validation is on its model row), then live at an episode boundary.
    for (const a of arms) {
      // This version's row: a newer one the learner published before it stopped may still be in validation.
      const m = a.r.app.log.store.listModels('policy').find((x) => x.version === versions.get(id));
      assert.ok(m && m.validation, `${a.robotId} validated the version`);
      if (a.r.app.daemon.status().practice === null) assert.ok(a.r.app.daemon.startPractice({ count: 1, scenario: 'I' }).ok);
    }
    await until(() => arms.every((a) => /^policy-iql-online@/.test(a.r.app.daemon.policyVersion ?? '')), 60_000, 'the version live on both arms');
    const fleet = await FleetStore.connect({
      config: { host: env.PGHOST, port: Number(env.PGPORT), user: env.PGUSER, password: env.PGPASSWORD, database: env.PGDATABASE },
      describe: 'test',
      source: 'test',
      secrets: [],
    });
    defer(() => fleet.close());
    await until(async () => (await fleet.modelStatus(id)).filter((s) => s.state === 'live').length === 2, 10_000, 'both arms reporting live');
    assert.ok((await fleet.modelStatus(id)).every((s) => s.liveAt !== null && s.liveAt >= s.at - 60_000));
    // The learner may have published more than one version before it stopped: let every arm reach the newest, so
    // that nothing else is in flight when the bad version comes.
    const newest = (await fleet.modelsAfter(0)).filter((m) => m.version.startsWith('policy-iql-online@')).at(-1)?.version;
    assert.ok(newest);
    await until(
      () => {
        for (const a of arms)
          if (a.r.app.daemon.status().practice === null && a.r.app.daemon.currentState === 'idle') a.r.app.daemon.startPractice({ count: 1, scenario: 'I' });
        return arms.every((a) => a.r.app.daemon.policyVersion === newest);
      },
      60_000,
      'the newest version live on both arms',
    );
    // A bad version (bytes that are no ONNX model) is refused by each arm on its own; the driving policy stays.
    const driving = arms.map((a) => a.r.app.daemon.policyVersion);
    const bad = await fleet.publishModel({
      kind: 'policy',
      version: 'policy-broken@1',
      onnx: Buffer.from('not an onnx model'),
      card: { kind: 'policy', name: 'policy-broken', version: 1 },
      sha256: 'x',
      rollout: { mode: 'all' },
    });
    assert.deepEqual(await Promise.all(arms.map((a) => a.fleet.decided(bad))), ['rejected', 'rejected']);
    await until(
      async () => (await fleet.modelStatus(bad)).filter((s) => s.state === 'rejected' && /does not load/.test(s.reason ?? '')).length === 2,
      10_000,
      'both arms reporting the refusal',
    );
    assert.deepEqual(
      arms.map((a) => a.r.app.daemon.policyVersion),
      driving,
    );
    // Rollouts, with the learner's bytes under new card versions: 'arm' gives it to arm-2 only; 'staged' gives it to
    // arm-1 first and to arm-2 once arm-1 has driven one episode on it.
    const good = (await fleet.modelsAfter(0)).find((m) => m.id === id)!;
    const again = (v: number, rollout: Parameters<FleetStore['publishModel']>[0]['rollout']): Promise<number> =>
      fleet.publishModel({
        kind: 'policy',
        version: `policy-iql-online@${v}`,
        onnx: good.onnx,
        card: { ...(good.card as object), version: v },
        sha256: good.sha256,
        rollout,
      });
    const onlyArm2 = await again(900001, { mode: 'arm', robots: ['arm-2'] });
    assert.deepEqual(await Promise.all(arms.map((a) => a.fleet.decided(onlyArm2))), ['skipped', 'accepted']);
    const staged = await again(900002, { mode: 'staged', first: 'arm-1', episodes: 1, minSuccess: 0 });
    assert.equal(await arms[0]!.fleet.decided(staged), 'accepted');
    const second = arms[1]!.fleet.decided(staged);
    assert.equal(await Promise.race([second, new Promise((r) => setTimeout(() => r('waiting'), 300))]), 'waiting', 'arm-2 waits for arm-1');
    for (const a of arms) if (a.r.app.daemon.status().practice === null) assert.ok(a.r.app.daemon.startPractice({ count: 3, scenario: 'I' }).ok);
    assert.equal(await second, 'accepted');
    const st = await fleet.modelStatus(staged);
    assert.ok(st.find((s) => s.robotId === 'arm-1')!.episodes >= 1, 'arm-2 took it only after arm-1 drove an episode on it');
    // 'connector' gives it to the arms practising the named connectors; an arm on another one waits until it practises
    // one of them. arm-2 moves to another connector first.
    const here = fx!.domains[0] as string;
    const other = TRAIN.find((d) => d !== here) as string;
    const d2 = arms[1]!.r.app.daemon;
    const idle = (d: typeof d2): boolean => d.status().practice === null && d.currentState === 'idle';
    await until(() => idle(d2), 60_000, 'arm-2 idle');
    assert.ok(d2.startPractice({ count: 1, scenario: 'I', domain: other }).ok);
    await until(() => idle(d2) && arms[1]!.r.app.log.store.listEpisodes({ limit: 1 })[0]?.domain === other, 60_000, `arm-2 practising ${other}`);
    const byConnector = await again(900003, { mode: 'connector', connectors: [here] });
    assert.equal(await arms[0]!.fleet.decided(byConnector), 'accepted', `arm-1 practises ${here}`);
    const onOther = arms[1]!.fleet.decided(byConnector);
    // Several of the arm's retry rounds (300 ms): still waiting.
    assert.equal(await Promise.race([onOther, new Promise((r) => setTimeout(() => r('waiting'), 1500))]), 'waiting', `arm-2 on ${other} waits`);
    assert.ok(d2.startPractice({ count: 1, scenario: 'I', domain: here }).ok);
    assert.equal(await onOther, 'accepted', `arm-2 takes it once it practises ${here}`);
    // Each arm's report reaches PostgreSQL asynchronously.
    await until(
      async () =>
        (await fleet.modelStatus(byConnector))
          .filter((s) => s.state === 'accepted' || s.state === 'live')
          .map((s) => s.robotId)
          .join() === 'arm-1,arm-2',
      10_000,
      'both arms reporting the connector-rolled version taken',
    );
    for (const a of arms) {
      const status = JSON.stringify(a.r.app.daemon.status());
      assert.match(status, /"fleet":/);
      assert.ok(!status.includes(c.password), 'no password in /status');
      assert.ok(status.includes(`fleet@127.0.0.1:${c.port}/fleet`), 'the target is shown as user@host:port/database');
      const events = JSON.stringify(a.r.app.log.store.listEvents({ limit: 10_000 }));
      assert.ok(!events.includes(c.password), 'no password in the log');
      const sessions = JSON.stringify(a.r.app.log.store.listSessions());
      assert.ok(!sessions.includes(c.password), 'no password in the session config snapshot');
    }
  },
);

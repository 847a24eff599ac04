/**
 * The shadow swap gate: the candidate replayed closed loop from the most recent logged starts beside the driving
 * policy (real simulator in worker threads, real SQLite, real onnxruntime for the shipped policy).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { recentStarts, shadowGate } from '../../src/replay/shadow.ts';
import { SwapManager } from '../../src/swap/manager.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { learningPlan } from '../../src/app/learning.ts';
import { loadDaemonConfig } from '../../src/config/load.ts';
import { logged, rig, root, tickUntil, type Rig } from '../daemon/helpers.ts';

describe('shadow swap gate', () => {
  let r: Rig;
  before(async () => {
    // The P-controller alone drives: scenario II starts, exact x*, 12 steps.
    r = await rig({ overrides: { episodeSteps: 12 }, policy: null });
    assert.ok(r.app.daemon.startPractice({ count: 4, scenario: 'II', explorationNoise: 0, seed: 11 }).ok);
    await tickUntil(r.app, () => r.app.daemon.currentState === 'idle' && r.app.daemon.status().practice === null, 400);
    await logged(r);
  });
  after(async () => r?.close());

  it('picks the most recent logged starts', () => {
    const s = recentStarts(r.db, 3)!;
    assert.equal(s.sessionId, r.app.log.sessionId);
    assert.equal(s.episodes.length, 3);
    assert.deepEqual(
      s.episodes,
      [...s.episodes].sort((a, b) => a - b),
    );
  });

  it('refuses a candidate that does worse in simulation than the driving policy, with the figures as the reason', async () => {
    // Straight down from 10-20 mm off never inserts; the P-controller with an exact x* does.
    const bad = await shadowGate({ db: r.db, candidate: 'baseline:straight', current: 'p-only', cfg: { episodes: 3, margin: 0.1 } });
    assert.equal(bad.ok, false, bad.reason);
    assert.equal(bad.candidate!.successRate, 0);
    assert.ok(bad.current!.successRate > 0.1);
    assert.match(
      bad.reason,
      /shadow gate refused: candidate baseline:straight 0% vs driving p-only \d+% simulated success over the 3 most recent logged starts/,
    );
    const good = await shadowGate({ db: r.db, candidate: 'p-only', current: 'baseline:straight', cfg: { episodes: 3, margin: 0.1 } });
    assert.equal(good.ok, true, good.reason);
    assert.ok(good.ms > 0);
  });

  it('in the swap manager: off by default; on, it refuses a trainer export (recorded with the figures) or lets it through', async () => {
    const path = join(root, 'models/policy.onnx');
    // A margin below -1 refuses whatever the figures; above 1 passes whatever they are: this tests the wiring.
    const strict = new SwapManager(r.app.daemon, r.app.log.store, r.app.log, {
      validation: r.app.swapValidation,
      shadow: (o) => shadowGate({ ...o, cfg: { episodes: 2, margin: -1.01 } }),
    });
    const refused = await strict.offer(path);
    strict.close();
    assert.equal(refused.accepted, false);
    const card = readCard(cardPathFor(path));
    assert.match(refused.reason, new RegExp(`^shadow gate refused: candidate ${card.name}@${card.version} \\d+% vs driving p-only \\d+%`));
    assert.equal(strict.stats.shadowRefused, 1);
    assert.ok(strict.stats.lastShadowMs! > 0);
    assert.equal(r.app.daemon.policyVersion, null, 'the refused candidate never drives');
    const lenient = new SwapManager(r.app.daemon, r.app.log.store, r.app.log, {
      validation: r.app.swapValidation,
      shadow: (o) => shadowGate({ ...o, cfg: { episodes: 2, margin: 1.01 } }),
    });
    const passed = await lenient.offer(path);
    lenient.close();
    assert.equal(passed.accepted, true, passed.reason);
    await logged(r);
    const events = r.app.log.store.listEvents({ sessionId: r.app.log.sessionId, limit: 50 });
    const rejected = events.find((e) => e.kind === 'swap_rejected' && /shadow gate refused/.test(e.message));
    assert.ok(rejected, 'refusal recorded');
    assert.equal((rejected.data as { gate: { episodes: number } }).gate.episodes, 2);
    assert.ok(events.find((e) => e.kind === 'shadow_gate' && /shadow gate passed/.test(e.message)));
    console.log(
      `shadow gate (2 starts x 12 steps, two closed-loop replays in a worker): refused in ${strict.stats.lastShadowMs!.toFixed(0)} ms, passed in ${lenient.stats.lastShadowMs!.toFixed(0)} ms`,
    );
    await passed.live;
  });

  it('the config (learning.shadowGate, --shadow-gate-episodes/-margin) turns it on; off by default; a bad value names its flag', () => {
    const cfg = (o: Parameters<typeof loadDaemonConfig>[1]) => loadDaemonConfig(join(root, 'config/daemon.yaml'), { db: r.db, ...o });
    assert.equal(learningPlan(cfg({})).shadowGate, null);
    assert.deepEqual(learningPlan(cfg({ shadowGateEpisodes: 10 })).shadowGate, { episodes: 10, margin: 0.1 });
    assert.deepEqual(learningPlan(cfg({ shadowGateEpisodes: 5, shadowGateMargin: 0.25 })).shadowGate, { episodes: 5, margin: 0.25 });
    assert.throws(() => cfg({ shadowGateMargin: 2 }), /field 'learning.shadowGate.margin': must be <= 1 \(set by --shadow-gate-margin\)/);
  });
});

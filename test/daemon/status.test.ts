/**
 * status.ts: the snapshot is a pure function of the loop's state. What the loop mutates later (the practice run, the
 * attached sections) is copied, so a snapshot handed to the API never changes under it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildStatus, takeoverStatus, type StatusSources } from '../../src/daemon/status.ts';
import { TakeoverTracker } from '../../src/daemon/takeover.ts';
import type { LabelRequest } from '../../src/daemon/labels.ts';
import type { DaemonWarning, TimingStatus } from '../../src/daemon/types.ts';

function sources(over: Partial<StatusSources> = {}): StatusSources {
  return {
    state: 'running',
    backendKind: 'mock',
    sensors: { depth: false },
    config: { tickHz: 10, realtime: false, labels: { budget: 0.1 } },
    run: {
      id: 1,
      count: 3,
      done: 1,
      domain: 'europlug',
      scenario: 'II',
      explorationNoise: 0,
      noiseCorrelation: 0,
      seed: 7,
      kind: 'practice',
      stopRequested: false,
    },
    episode: { id: 4, index: 1, step: 2, steps: 20, domain: 'europlug', scenario: 'II' },
    lastEpisode: null,
    recent: { n: 0, learnedSuccessRate: null, gtSuccessRate: null, meanRewardProb: null },
    exams: null,
    goalRefinement: { europlug: { dxM: -0.0008, dyM: -0.001, episodes: 3 } },
    estop: { engaged: false, source: null, origin: null, since: null, detail: null },
    backendEstop: { engaged: false, source: null },
    lastTrip: null,
    timing: { ticks: 3 } as unknown as TimingStatus, // passed through as is
    policy: null,
    pendingSwap: null,
    policyFaults: 0,
    reward: null,
    labelBudget: { judged: 5, requested: 1, skipped: 2 },
    openLabelRequests: [],
    lastPose: null,
    takeover: takeoverStatus(new TakeoverTracker(), [], { holding: () => false, remainingMs: () => null }),
    warnings: [],
    extras: {},
    ...over,
  };
}

test('a status snapshot copies what the loop changes later, and says who drives', () => {
  const src = sources({ extras: { trainer: { updates: 1 } }, policy: { version: 'p@2' }, pendingSwap: { slot: null } });
  const s = buildStatus(src);
  assert.ok(src.run);
  src.run.done = 2;
  src.extras.fleet = {};
  assert.equal(s.practice?.done, 1, 'the practice run is a copy');
  assert.deepEqual(Object.keys(s.extra), ['trainer'], 'the attached sections are a copy');
  assert.deepEqual(s.policy, { version: 'p@2', mode: 'residual', pendingSwap: 'p-only', faults: 0 });
  assert.deepEqual(s.labels, { budget: 0.1, judged: 5, requested: 1, skipped: 2, open: [] });
  assert.equal(buildStatus(sources()).policy.mode, 'p-only');
});

test('a status snapshot carries the daemon warnings (e.g. height refusals at one height), as a copy', () => {
  const warnings: DaemonWarning[] = [{ kind: 'height-refusals-cluster', message: 'x* may be 5.0 mm too low', episodeId: 7, at: 1 }];
  const s = buildStatus(sources({ warnings }));
  warnings.push({ kind: 'other', message: 'later', episodeId: null, at: 2 });
  assert.deepEqual(
    s.warnings.map((w) => w.message),
    ['x* may be 5.0 mm too low'],
  );
  assert.deepEqual(buildStatus(sources()).warnings, []);
});

test('a status snapshot shows the newest 20 open label requests, oldest first', () => {
  const reqs = Array.from({ length: 25 }, (_, i) => ({ episodeId: i + 1 }) as LabelRequest);
  const s = buildStatus(sources({ openLabelRequests: new Map(reqs.map((r) => [r.episodeId, r])).values() }));
  assert.deepEqual(
    s.labels.open.map((r) => r.episodeId),
    reqs.slice(5).map((r) => r.episodeId),
  );
});

test('the takeover section lists the REST lease first, then every input polled', () => {
  const t = takeoverStatus(new TakeoverTracker(), [{ name: 'ros:joy' }], { holding: () => true, remainingMs: () => 150 });
  assert.deepEqual(t.inputs, ['rest', 'ros:joy']);
  assert.deepEqual(t.rest, { holding: true, remainingMs: 150 });
});

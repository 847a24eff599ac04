// Prior-data collection on the real MuJoCo cell into a real SQLite file: what gets logged, determinism, resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pControl } from '../../src/control/p-controller.ts';
import { codeVersion, collectPrior, summarizeStore, type CollectOptions } from '../../src/data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS, planTasks, settingsKey, type PriorSettings } from '../../src/data/episode.ts';
import { UsageError, parseCollectArgs } from '../../src/cli/collect.ts';
import { Store } from '../../src/store/index.ts';
import type { EpisodeRecord, TransitionRecord } from '../../src/store/types.ts';
import { DEFAULT_CONNECTOR_DIR, loadConnectors } from '../../src/sim/connectors.ts';

const CONNECTORS = ['round16', 'square16'];
const defs = loadConnectors();
// The free expert (the research's collector); the bounded one has its own test below.
const SETTINGS: PriorSettings = { ...DEFAULT_PRIOR_SETTINGS, imageSize: 32, goalNoise: 0.002, residualBound: null };
const L = SETTINGS.episodeLength;

function opts(db: string, over: Partial<CollectOptions> = {}): CollectOptions {
  return { db, connectors: CONNECTORS, controllers: ['expert'], scenarios: ['I', 'II'], episodesPerConnector: 3, seed: 5, settings: SETTINGS, workers: 0, ...over };
}

type Ep = EpisodeRecord & { transitions: TransitionRecord[] };
function episodes(file: string): Ep[] {
  const s = Store.openReadOnly(file);
  try {
    return [...s.iterateEpisodes({}, { images: true })];
  } finally {
    s.close();
  }
}
const key = (e: Ep): string => `${e.domain}/${e.seed}/${e.policyVersion}`;

const dir = mkdtempSync(join(tmpdir(), 'collect-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const dbA = join(dir, 'a.db');

test('2 connectors x 3 episodes: kind prior, residual = executed - P, ground-truth labels of the next observation, final row', async () => {
  const r = await collectPrior(opts(dbA));
  assert.equal(r.written, 6);
  assert.equal(r.skipped, 0);
  assert.equal(r.failed.length, 0);
  assert.equal(r.rowsWritten, 6 * (L + 1));
  const eps = episodes(dbA);
  assert.equal(eps.length, 6);
  const s = Store.openReadOnly(dbA);
  const session = s.getSession(r.sessionId!)!;
  s.close();
  assert.equal(session.backend, 'sim');
  assert.ok(session.endedAt !== null);
  assert.deepEqual((session.config as { settings: PriorSettings }).settings, SETTINGS);
  // The session records which simulator/controller sources made the data.
  const code = (session.config as { code: { dataHash: string } }).code;
  assert.match(code.dataHash, /^[0-9a-f]{16}$/);
  assert.equal(code.dataHash, codeVersion().dataHash);
  const plan = planTasks({ connectors: CONNECTORS, controllers: ['expert'], scenarios: ['I', 'II'], episodesPerConnector: 3, seed: 5 });
  let positives = 0;
  let negatives = 0;
  for (const [i, e] of eps.entries()) {
    const task = plan[i]!;
    assert.equal(e.kind, 'prior');
    assert.equal(e.domain, task.connector);
    assert.equal(e.scenario, task.scenario);
    assert.equal(e.seed, task.resetSeed);
    assert.equal(e.policyVersion, 'expert');
    assert.equal(e.sessionId, r.sessionId);
    assert.equal(e.transitionCount, L + 1);
    const st = e.startState as { socketPos: [number, number, number]; settingsKey: string; eePos: number[]; gtSuccess: boolean };
    assert.equal(st.settingsKey, settingsKey(SETTINGS, 'expert'));
    assert.deepEqual(st.eePos, e.transitions[0]!.eePos);
    assert.equal(st.gtSuccess, false);
    const def = defs.find((d) => d.name === e.domain)!;
    // Ground truth recomputed from the logged tip position and the true socket pose (independent of the collector).
    const seated = (t: TransitionRecord): boolean =>
      t.eePos[2] <= st.socketPos[2] + 0.001 && Math.hypot(t.eePos[0] - st.socketPos[0], t.eePos[1] - st.socketPos[1]) < def.clearance + 0.001;
    e.transitions.forEach((t, k) => {
      assert.equal(t.step, k);
      assert.equal(t.policyVersion, 'expert');
      assert.equal(t.imageWidth, 32);
      assert.equal(t.image!.data.length, 32 * 32 * 3);
      if (k < L) {
        const p = pControl(t.eePos, t.goal, SETTINGS.kp);
        assert.deepEqual(t.actionP, p);
        for (let a = 0; a < 3; a++) {
          assert.ok(Math.abs(t.actionResidual![a]! - (t.actionExecuted![a]! - p[a]!)) < 1e-15, `residual ${e.domain} step ${k}`);
          assert.ok(Math.abs(t.actionExecuted![a]!) <= SETTINGS.maxStep + 1e-12);
        }
        const next = e.transitions[k + 1]!;
        assert.equal(t.gtSuccess, seated(next), `${e.domain} step ${k}: label of the next observation`);
        assert.equal(t.rewardProb, t.gtSuccess ? 1 : 0);
        assert.equal(t.done, k === L - 1);
        if (t.gtSuccess) positives++;
        else negatives++;
      } else {
        // The final observation: no actions, its own label, done.
        assert.equal(t.actionP, null);
        assert.equal(t.actionResidual, null);
        assert.equal(t.actionExecuted, null);
        assert.equal(t.done, true);
        assert.equal(t.gtSuccess, seated(t));
        assert.equal(t.gtSuccess, e.gtSuccess);
        assert.equal(e.outcome, e.gtSuccess ? 'success' : 'failure');
      }
    });
    // Observations move: the log is a trajectory, not a repeated frame.
    assert.notDeepEqual(e.transitions[0]!.eePos, e.transitions[L]!.eePos);
    // The goal x* carries the configured calibration noise (uniform +-2 mm), not the true socket pose.
    const g = e.transitions[0]!.goal;
    assert.ok(Math.abs(g[0] - st.socketPos[0]) <= 0.002 + 1e-9 && Math.abs(g[1] - st.socketPos[1]) <= 0.002 + 1e-9);
  }
  // Per-step labels give both classes (early steps unseated, seated steps positive).
  assert.ok(positives > 0 && negatives > 0, `positives ${positives}, negatives ${negatives}`);
  assert.equal(r.cells.reduce((a, c) => a + c.stepLimited, 0), 0); // the free expert's moves are within the step limit
  // The summary read back from the file agrees with what the run reported.
  const ro = Store.openReadOnly(dbA);
  const back = summarizeStore(ro);
  ro.close();
  const norm = (cs: typeof back) => [...cs].sort((x, y) => `${x.connector}${x.scenario}`.localeCompare(`${y.connector}${y.scenario}`));
  assert.deepEqual(norm(back), norm(r.cells));
  const cellEps = r.cells.reduce((a, c) => a + c.episodes, 0);
  assert.equal(cellEps, 6);
  assert.equal(r.cells.reduce((a, c) => a + c.successes, 0), eps.filter((e) => e.gtSuccess).length);
});

test('deterministic under the seed, whatever the number of workers: identical actions, labels and images', async () => {
  const dbB = join(dir, 'b.db');
  const r = await collectPrior(opts(dbB, { workers: 2 }));
  assert.equal(r.written, 6);
  const a = episodes(dbA);
  const b = episodes(dbB);
  assert.deepEqual(a.map(key), b.map(key)); // same plan order in the file
  for (const [i, ea] of a.entries()) {
    const eb = b[i]!;
    assert.equal(ea.outcome, eb.outcome);
    assert.deepEqual(ea.startState, eb.startState);
    for (const [k, ta] of ea.transitions.entries()) {
      const tb = eb.transitions[k]!;
      assert.deepEqual(ta.actionExecuted, tb.actionExecuted);
      assert.deepEqual(ta.actionResidual, tb.actionResidual);
      assert.deepEqual(ta.eePos, tb.eePos);
      assert.deepEqual(ta.wrench, tb.wrench);
      assert.equal(ta.gtSuccess, tb.gtSuccess);
      assert.deepEqual(ta.image!.data, tb.image!.data);
    }
  }
  // A different seed gives different episodes.
  const dbC = join(dir, 'c.db');
  await collectPrior(opts(dbC, { seed: 6, connectors: [CONNECTORS[0]!], episodesPerConnector: 1 }));
  const c = episodes(dbC);
  assert.notDeepEqual(c[0]!.transitions.map((t) => t.actionExecuted), a[0]!.transitions.map((t) => t.actionExecuted));
});

test('re-running skips what is there, extends what is asked, re-collects an episode a killed run left dangling', async () => {
  const before = episodes(dbA).length;
  const again = await collectPrior(opts(dbA));
  assert.equal(again.written, 0);
  assert.equal(again.skipped, 6);
  assert.equal(again.sessionId, null); // nothing to do: no session row either
  assert.equal(episodes(dbA).length, before);
  // A dangling episode (a killed run between beginEpisode and endEpisode) with the key of a new task.
  const next = planTasks({ connectors: CONNECTORS, controllers: ['expert'], scenarios: ['I', 'II'], episodesPerConnector: 4, seed: 5 }).filter((t) => t.episode === 3);
  const s = Store.open(dbA);
  const sid = s.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: {} });
  s.beginEpisode({ sessionId: sid, kind: 'prior', domain: next[0]!.connector, seed: next[0]!.resetSeed, policyVersion: 'expert', startState: { settingsKey: settingsKey(SETTINGS, 'expert') } });
  s.close();
  const more = await collectPrior(opts(dbA, { episodesPerConnector: 4 }));
  assert.equal(more.written, 2);
  assert.equal(more.skipped, 6);
  const eps = episodes(dbA);
  assert.equal(eps.filter((e) => e.outcome === 'error').length, 1);
  assert.equal(eps.filter((e) => e.outcome === 'success' || e.outcome === 'failure').length, 8);
  // Other settings are a different dataset: nothing skipped.
  const other = await collectPrior(opts(dbA, { connectors: [CONNECTORS[0]!], episodesPerConnector: 1, settings: { ...SETTINGS, goalNoise: 0 } }));
  assert.equal(other.written, 1);
  assert.equal(other.skipped, 0);
});

test('a file holding episodes of an older collector format is refused, and nothing is added to it', async () => {
  const db = join(dir, 'old-format.db');
  const s = Store.open(db);
  const sid = s.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: null });
  const id = s.beginEpisode({ sessionId: sid, kind: 'prior', domain: CONNECTORS[0]!, seed: 1, policyVersion: 'expert', startState: { settingsKey: settingsKey(SETTINGS, 'expert') } });
  s.endEpisode(id, { outcome: 'success', gtSuccess: true });
  s.close();
  await assert.rejects(collectPrior(opts(db, { connectors: [CONNECTORS[0]!], episodesPerConnector: 1 })), /collector format 1 or 2 .*writes format 3.*new file/);
  assert.equal(episodes(db).length, 1);
});

test('an interrupted collection (abort) keeps what it wrote and the same command finishes it', async () => {
  const db = join(dir, 'abort.db');
  const ac = new AbortController();
  const r = await collectPrior(opts(db, { connectors: [CONNECTORS[1]!], episodesPerConnector: 4, signal: ac.signal, onProgress: (p) => p.written >= 2 && ac.abort() }));
  assert.equal(r.aborted, true);
  assert.equal(r.written, 2);
  assert.equal(episodes(db).length, 2);
  const rest = await collectPrior(opts(db, { connectors: [CONNECTORS[1]!], episodesPerConnector: 4 }));
  assert.equal(rest.skipped, 2);
  assert.equal(rest.written, 2);
  // Same episodes as an uninterrupted run of the same plan (the first test's file holds them).
  const all = episodes(db);
  const ref = new Map(episodes(dbA).map((e) => [key(e), e]));
  assert.equal(all.length, 4);
  for (const e of all) assert.deepEqual(e.transitions.map((t) => t.actionExecuted), ref.get(key(e))!.transitions.map((t) => t.actionExecuted));
});

test('bounded residual: the expert applied as the daemon applies a policy (u_H + residual within +-b, step limit)', async () => {
  const db = join(dir, 'bounded.db');
  const b = 0.005;
  const r = await collectPrior(opts(db, { connectors: [CONNECTORS[0]!], episodesPerConnector: 2, settings: { ...SETTINGS, residualBound: b } }));
  assert.equal(r.written, 2);
  let beyondFree = 0;
  for (const e of episodes(db)) {
    for (const t of e.transitions.slice(0, L)) {
      const p = pControl(t.eePos, t.goal, SETTINGS.kp);
      assert.deepEqual(t.actionP, p);
      const cmd = [0, 1, 2].map((a) => p[a]! + t.actionResidual![a]!);
      const n = Math.hypot(cmd[0]!, cmd[1]!, cmd[2]!);
      const scale = n > SETTINGS.maxStep ? SETTINGS.maxStep / n : 1;
      for (let a = 0; a < 3; a++) {
        assert.ok(Math.abs(t.actionResidual![a]!) <= b + 1e-15, `residual ${t.actionResidual?.join(',') ?? 'null'}`);
        // executed = the command after the daemon's step limit (norm <= maxStep, direction kept)
        assert.ok(Math.abs(t.actionExecuted![a]! - cmd[a]! * scale) < 1e-12);
      }
      assert.ok(Math.hypot(...t.actionExecuted!) <= SETTINGS.maxStep + 1e-12);
    }
  }
  // The P-controller under the same rule logs zero residuals, and executes u_H within the step limit.
  const pdb = join(dir, 'bounded-p.db');
  await collectPrior(opts(pdb, { connectors: [CONNECTORS[0]!], controllers: ['p'], episodesPerConnector: 2, settings: { ...SETTINGS, residualBound: b } }));
  for (const e of episodes(pdb)) {
    assert.equal(e.policyVersion, 'p');
    for (const t of e.transitions.slice(0, L)) {
      assert.deepEqual(t.actionResidual, [0, 0, 0]);
      const p = t.actionP!;
      const n = Math.hypot(...p);
      const scale = n > SETTINGS.maxStep ? SETTINGS.maxStep / n : 1;
      for (let a = 0; a < 3; a++) assert.ok(Math.abs(t.actionExecuted![a]! - p[a]! * scale) < 1e-12);
    }
  }
  // The free expert of the first test leaves the bound often (it holds its height while u_H descends).
  for (const e of episodes(dbA)) for (const t of e.transitions.slice(0, L)) if (t.actionResidual!.some((v) => Math.abs(v) > b)) beyondFree++;
  assert.ok(beyondFree > 0);
});

test('command line: connector sets from the split, exclusions, and clear errors', () => {
  const a = parseCollectArgs(['--connectors', 'train', '--exclude', 'round16', '--goal-noise-mm', '1.5', '--image-size', '32']);
  assert.ok(!a.connectors.includes('round16'));
  assert.ok(!a.connectors.includes('dt12')); // held out by the default split
  assert.equal(a.settings.goalNoise, 0.0015);
  assert.equal(a.settings.imageSize, 32);
  assert.equal(a.settings.residualBound, 0.005);
  assert.equal(parseCollectArgs(['--residual-bound-mm', 'free']).settings.residualBound, null);
  assert.equal(parseCollectArgs(['--residual-bound-mm', '3']).settings.residualBound, 0.003);
  assert.throws(() => parseCollectArgs(['--residual-bound-mm', '0']), /must be > 0/);
  assert.deepEqual(parseCollectArgs(['--connectors', 'heldout']).connectors.includes('dt12'), true);
  assert.throws(() => parseCollectArgs(['--connectors', 'round16,nope']), (e: Error) => e instanceof UsageError && /unknown connector "nope"/.test(e.message));
  assert.throws(() => parseCollectArgs(['--controllers', 'expert,wizard']), /unknown controller "wizard"/);
  assert.throws(() => parseCollectArgs(['--scenario', 'III']), /--scenario/);
  assert.throws(() => parseCollectArgs(['--workers', '65']), /--workers: must be an integer/);
  assert.throws(() => parseCollectArgs(['--connectors', 'round16', '--exclude', 'round16']), /no connector left/);
  assert.throws(() => parseCollectArgs(['--bogus']), UsageError);
});

test('the command: collects, resumes, summarises; bad flags exit 2 with the flag named', () => {
  const ROOT = join(import.meta.dirname, '../..');
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/collect.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const db = join(dir, 'cli.db');
  const args = ['--db', db, '--connectors', 'round16', '--episodes-per-connector', '2', '--image-size', '16', '--workers', '0', '--no-progress'];
  const a = run(...args);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /2 episodes written \(42 rows\), 0 already there/);
  const b = run(...args);
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /0 episodes written \(0 rows\), 2 already there/);
  const s = run('--db', db, '--summary');
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /2 episodes, 42 rows/);
  assert.match(s.stdout, /round16\s+\d\/1 \(\d+%\)\s+\d\/1 \(\d+%\)/);
  const bad = run('--db', db, '--connectors', 'nope');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--connectors: unknown connector "nope"/);
  const missing = run('--db', join(dir, 'none.db'), '--summary');
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /none\.db/);
});

test('collect: a broken connector file fails only the commands that name it; a new one is not collected as training data', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'collect-conn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DEFAULT_CONNECTOR_DIR, dir, { recursive: true });
  const dt12 = JSON.parse(readFileSync(join(dir, 'dt12.json'), 'utf8')) as Record<string, unknown>;
  delete dt12.depth_mm;
  writeFileSync(join(dir, 'dt12.json'), JSON.stringify(dt12));
  writeFileSync(join(dir, 'newplug.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'square16.json'), 'utf8')), name: 'newplug' }));
  const train = parseCollectArgs(['--connector-dir', dir, '--connectors', 'train']).connectors;
  assert.ok(train.includes('square16') && !train.includes('newplug') && !train.includes('dt12'), train.join(','));
  assert.deepEqual(parseCollectArgs(['--connector-dir', dir, '--connectors', 'square16,newplug']).connectors, ['square16', 'newplug']);
  assert.throws(
    () => parseCollectArgs(['--connector-dir', dir, '--connectors', 'square16,dt12']),
    (e: Error) => e instanceof UsageError && /--connectors: connector "dt12" cannot be used: .*dt12\.json: depth_mm is missing/.test(e.message),
  );
});

/**
 * experiment --compare and --practice-counts (src/experiment/compare.ts), which replaced
 * results/online-seeds-utd4/{compare,practice}.py: on the recorded runs the comparison is the README's tables byte for
 * byte; the practice counts come from a real SQLite log made here.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compareRuns, practiceCounts, runSeeds, trainerLag } from '../../src/experiment/compare.ts';
import { Store } from '../../src/store/index.ts';
import { makeTransition } from '../store/fixtures/data.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const UTD4 = join(ROOT, 'results/online-seeds-utd4');
const REF = join(ROOT, 'results/online-seeds-of100/runs');
const tmp = mkdtempSync(join(tmpdir(), 'compare-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("UTD 4 against the reference: the README's two tables, byte for byte (the command in its README)", () => {
  const connectors = ['megablock', 'nema15', 'dt12'];
  const seeds = runSeeds(join(UTD4, 'runs'), connectors);
  assert.deepEqual(seeds, [0, 1, 2]);
  const md = compareRuns(join(UTD4, 'runs'), REF, connectors, seeds).join('\n');
  assert.ok(readFileSync(join(UTD4, 'README.md'), 'utf8').includes(`\n${md}\n`), md);
});

test('an unfinished run (its last point short of its settings.episodes) is not counted, on either side', () => {
  const cand = join(tmp, 'cand');
  cpSync(join(UTD4, 'runs/seed-1-dt12'), join(cand, 'seed-1-dt12'), { recursive: true });
  cpSync(join(UTD4, 'runs/seed-2-dt12'), join(cand, 'seed-2-dt12'), { recursive: true });
  const curve = join(cand, 'seed-2-dt12/dt12/curve.json');
  writeFileSync(curve, JSON.stringify((JSON.parse(readFileSync(curve, 'utf8')) as unknown[]).slice(0, 3)));
  const lines = compareRuns(cand, REF, ['dt12'], [0, 1, 2]);
  assert.deepEqual(
    lines.filter((l) => l.startsWith('| dt12 |')).map((l) => l.split(' | ')[1]),
    ['1', '1'],
    'seed 1 only, in both tables',
  );
  assert.match(lines.at(-1) ?? '', /^\| all \| 1 runs \|/);
});

test('practice counts: per window, seated by ground truth / called by the learned reward (p > 0.5) / both', () => {
  const run = join(tmp, 'seed-0-europlug');
  mkdirSync(join(run, 'europlug'), { recursive: true });
  const s = Store.open(join(run, 'europlug', 'daemon-1.db'));
  const session = s.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: {} });
  // gt, learned p: window 1 (3 episodes) and the rest; an eval episode between them is not practice.
  const eps: Array<[boolean | null, number | null]> = [
    [true, 0.9],
    [true, 0.4],
    [false, 0.7],
    [null, null],
    [true, 0.51],
  ];
  eps.forEach(([gt, p], i) => {
    if (i === 3) {
      const ev = s.beginEpisode({ sessionId: session, kind: 'eval', domain: 'europlug' });
      s.endEpisode(ev, { outcome: 'success', gtSuccess: true, learnedSuccessProb: 1 });
    }
    const id = s.beginEpisode({ sessionId: session, kind: 'practice', domain: 'europlug' });
    s.endEpisode(id, { outcome: 'failure', gtSuccess: gt, learnedSuccessProb: p });
  });
  s.close();
  assert.deepEqual(practiceCounts([`${run}/`, join(tmp, 'no-such-run')], 3), ['seed-0-europlug: 2/2/1  1/1/1']);
});

test('trainer lag: updates owed for the practice before each episode minus those of the version that drove it', () => {
  const run = join(tmp, 'lag', 'seed-0-dt12');
  mkdirSync(join(run, 'dt12'), { recursive: true });
  writeFileSync(join(run, 'settings.json'), JSON.stringify({ trainer: { utd: 2 } }));
  const s = Store.open(join(run, 'dt12', 'daemon-1.db'));
  const session = s.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: {} });
  s.recordEvent({ kind: 'trainer', message: 'exported', data: { version: 'online@3010', updates: 10 } });
  s.recordEvent({ kind: 'trainer', message: 'exported', data: { version: 'online@3020', updates: 20 } });
  // 5 steps each, so 10 updates owed per episode; driven by: offline, offline, @3010, @3020 (window 2, then 2).
  ['offline@1', 'offline@1', 'online@3010', 'online@3020'].forEach((v, i) => {
    const id = s.beginEpisode({ sessionId: session, kind: 'practice', domain: 'dt12', policyVersion: v });
    s.appendTransitions(Array.from({ length: 5 }, (_, k) => makeTransition(id, k, i)));
    s.endEpisode(id, { outcome: 'failure', gtSuccess: false, learnedSuccessProb: 0 });
  });
  s.close();
  // behind: 0, 10 -> mean 5, 1 version; 20 - 10 = 10, 30 - 20 = 10 -> 10, 2 versions.
  assert.deepEqual(trainerLag([run], 2), ['seed-0-dt12: 5 (1)  10 (2)']);
  rmSync(join(run, 'settings.json'));
  assert.throws(() => trainerLag([run], 2), /settings\.json does not exist: the run's utd is unknown/);
});

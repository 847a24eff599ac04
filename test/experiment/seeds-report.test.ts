/**
 * The seeds report against the online targets, on hand-made results (no simulator): >= 18/20 within the
 * budget on every seed, no dip of more than 2/20 below the offline level, and above every search baseline of
 * scenario II (a scenario-I baseline does not count: it has the exact goal).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedsReport, type ConnectorResult } from '../../src/experiment/online.ts';

const dir = mkdtempSync(join(tmpdir(), 'seeds-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function result(connector: string, curve: number[], baselines: ConnectorResult['baselines']): ConnectorResult {
  const points = curve.map((s, i) => ({
    practiceEpisodes: 25 * i,
    policyVersion: `p@${i}`,
    successes: s,
    trials: 20,
    trainerUpdates: 1000 * i,
    learnedSuccessRate: s / 20,
    gtSuccessRate: s / 20,
    interventionSteps: 0,
    elapsedS: i,
  }));
  return {
    connector,
    offsetMm: 1.5,
    offline: { II: curve[0] ?? 0, I: 0, trials: 20 },
    pOnly: { II: 0, I: 0, trials: 20 },
    baselines,
    curve: points,
    final: { II: curve.at(-1) ?? 0, trials: 20, version: 'p@4' },
    robustness: [],
    swaps: { swaps: 4, rejected: 0, flagged: 0 },
    trainer: { crashes: 0, updates: 4000 },
    operator: null,
    wallClockS: 1,
  };
}

function run(name: string, seed: number, results: ConnectorResult[]): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'results.json'), JSON.stringify({ settings: { seed }, results, wallClockS: 1 }));
  return d;
}

test('seeds report: per-seed best baseline, above-baseline and the target verdict per connector', async () => {
  const spiral = (n: number, exactGoal = 0): ConnectorResult['baselines'] => ({
    'loc-spiral (II)': { scenario: 'II', successes: n, trials: 20 },
    'loc-straight (II)': { scenario: 'II', successes: 1, trials: 20 },
    'spiral (I)': { scenario: 'I', successes: exactGoal, trials: 20 },
  });
  const dirs = [
    // megablock: 18/20 within 100 on both seeds, dip 1, above the baselines (a scenario-I baseline of 20 is ignored).
    // europlug: seed 0 reaches 19 but its final 15 is below loc-spiral's 16.
    run('s0', 0, [result('megablock', [9, 8, 18, 20, 20], spiral(12, 20)), result('europlug', [8, 10, 19, 17, 15], spiral(16))]),
    // Seed 1 split over two runs, one connector each, as when they are run side by side.
    run('s1a', 1, [result('megablock', [9, 12, 19, 18, 19], spiral(18))]),
    run('s1b', 1, [result('europlug', [8, 9, 18, 19, 20], {})]),
    // dt12 (one seed): reaches 18 but dips 4 below its offline level first.
    run('s1c', 1, [result('dt12', [5, 1, 10, 18, 18], spiral(3))]),
  ];
  const md = await seedsReport(dirs, join(dir, 'out'));
  assert.equal(readFileSync(join(dir, 'out', 'seeds.md'), 'utf8'), md);
  assert.match(
    md,
    /\| megablock \| 0 \| 0: 9, 25: 8, 50: 18, 75: 20, 100: 20 \| 9\/20 \[26-66\] \| 20\/20 \[84-100\] \| 20 \| 1 \| 1\.00 \/ 1\.00 \| loc-spiral 12 \|/,
  );
  assert.match(md, /\| europlug \| 1 \| [^\n]* \| - \|\n/, 'a run without baselines shows none');
  assert.match(md, /\| megablock \| 2 \| 20, 19 \| 19\.5\/20 \| 19\/20 \| 1 \| yes \| met \|/);
  assert.match(md, /\| europlug \| 2 \| 15, 20 \| 17\.5\/20 \| 15\/20 \| 0 \| no \| not met \|/);
  assert.match(md, /\| dt12 \| 1 \| 18 \| 18\.0\/20 \| 18\/20 \| 4 \| yes \| not met \|/);
  const json = JSON.parse(readFileSync(join(dir, 'out', 'seeds.json'), 'utf8')) as { summary: Array<{ connector: string; aboveBaselines: boolean | null }> };
  assert.deepEqual(
    json.summary.map((s) => [s.connector, s.aboveBaselines]),
    [
      ['megablock', true],
      ['europlug', false],
      ['dt12', true],
    ],
  );
});

test("seeds report: a run without baselines takes --baselines-only's baselines.json of the same starts, and refuses another's", async () => {
  const d = run('sep', 0, [result('nema15', [1, 10, 18, 19, 19], {})]);
  const file = (seed: number, successes: number) =>
    writeFileSync(
      join(d, 'baselines.json'),
      JSON.stringify({ trials: 20, offsetMm: 1.5, seed, baselines: { nema15: { 'loc-spiral (II)': { scenario: 'II', successes, trials: 20 } } } }),
    );
  writeFileSync(
    join(d, 'results.json'),
    JSON.stringify({ settings: { seed: 0, trials: 20, offsetMm: 1.5 }, results: [result('nema15', [1, 10, 18, 19, 19], {})] }),
  );
  file(0, 19);
  const md = await seedsReport([d], join(dir, 'out-sep'));
  assert.match(md, /\| nema15 \| 0 \| [^\n]* \| loc-spiral 19 \|\n/);
  assert.match(md, /\| nema15 \| 1 \| 19 \| 19\.0\/20 \| 19\/20 \| 0 \| no \| not met \|/, 'a final equal to the baseline is not above it');
  file(1, 7);
  await assert.rejects(seedsReport([d], join(dir, 'out-sep2')), /baselines\.json has seed 1, the run's results\.json 0/);
});

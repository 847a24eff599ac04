/**
 * The experiment runner end to end at a tiny size: real daemon (free-running), real trainer child, hot-swap, eval
 * episodes judged by simulator ground truth, the learning curve, the table and the plot. (Whether learning succeeds
 * is the experiment's result, not this test's.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { main as experimentMain } from '../../src/cli/experiment.ts';
import { curveSvg, formatTable, runConnector } from '../../src/experiment/online.ts';
import { exportCheckpointPolicy } from '../../src/online/trainer.ts';
import { tinyOffline } from '../online/fixtures.ts';

const root = resolve(import.meta.dirname, '../..');
const fx = await tinyOffline('experiment-test');
after(() => fx.cleanup());

test('runConnector: offline eval, practice with the trainer through the daemon, curve, table, plot', async () => {
  const policyPath = await exportCheckpointPolicy(fx.checkpoint, join(fx.dir, 'offline-policy.onnx'));
  const lines: string[] = [];
  const r = await runConnector('europlug', {
    connectors: ['europlug'],
    episodes: 4,
    evalEvery: 2,
    trials: 2,
    offsetMm: 1.5,
    startCheckpoint: fx.checkpoint,
    policyPath,
    rewardPath: null,
    offlineDb: fx.db,
    offlineDomains: fx.domains,
    outDir: join(fx.dir, 'exp'),
    seed: 1,
    episodeSteps: 6,
    explorationNoise: 0.002,
    noiseCorrelation: 0,
    noiseTaperM: 0,
    trainer: { batchSize: 16 },
    robustMm: 1,
    baselines: false,
    trainerWaitS: 60,
    // The shadow gate enforced with a margin it cannot refuse by: only a gate that cannot replay refuses.
    shadowGate: { episodes: 2, margin: 1, observe: false },
    configFile: join(root, 'config/daemon.yaml'),
    calibrationDir: join(root, 'calibration'),
    onProgress: (l) => lines.push(l),
  });
  assert.deepEqual(
    r.curve.map((c) => c.practiceEpisodes),
    [0, 2, 4],
  );
  for (const c of r.curve) assert.ok(c.successes >= 0 && c.successes <= 2 && c.trials === 2);
  assert.ok(r.trainer.updates > 0, 'the trainer trained on the practice data');
  assert.ok(r.swaps.swaps >= 1, 'trainer exports were swapped in');
  // The gate judged every export against the driving policy, the offline one included (registered by its version).
  assert.ok(r.gate && r.gate.verdicts.length >= 1, 'the gate ran');
  assert.deepEqual(
    r.gate.verdicts.filter((v) => !v.ok),
    [],
    'no export refused: every gate could replay both policies',
  );
  assert.ok(
    r.gate.verdicts.some((v) => v.current === 'policy-iql-offline@10'),
    `the first gate compared with the offline policy (${r.gate.verdicts.map((v) => v.current).join(', ')})`,
  );
  assert.ok((r.gate.meanMs ?? 0) > 0);
  assert.match(r.final.version ?? '', /^policy-iql-online@\d+$/);
  assert.equal(r.robustness.length, 2);
  assert.deepEqual(
    r.robustness.map((x) => x.errorMm),
    [1, -1],
  );
  const table = formatTable([r]);
  assert.match(table, /\| europlug \| 1\.5 mm \| \d\/2 \[\d+-\d+\] \| \d\/2 \[\d+-\d+\] \| \d\/2 \[\d+-\d+\] \(4 ep\) \|/);
  const png = await sharp(Buffer.from(curveSvg([r], 'test')))
    .png()
    .toBuffer();
  const meta = await sharp(png).metadata();
  assert.equal(meta.width, 640);
  assert.ok(lines.some((l) => /2 practice episodes: scenario II \d\/2/.test(l)));

  // --merge: one report from runs made side by side (here the same result filed under a second connector's name).
  const runA = join(fx.dir, 'runA'),
    runB = join(fx.dir, 'runB'),
    merged = join(fx.dir, 'merged');
  for (const [dir, res] of [
    [runA, r],
    [runB, { ...r, connector: 'dt12' }],
  ] as const) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ settings: {}, results: [res], wallClockS: 1 }));
  }
  assert.equal(await experimentMain(['--merge', `${runA},${runB}`, '--out', merged]), 0);
  const m = JSON.parse(readFileSync(join(merged, 'results.json'), 'utf8')) as { results: Array<{ connector: string }>; merged: Array<{ dir: string }> };
  assert.deepEqual(
    m.results.map((x) => x.connector),
    ['europlug', 'dt12'],
  );
  assert.deepEqual(
    m.merged.map((x) => x.dir),
    [runA, runB],
  );
  const md = readFileSync(join(merged, 'table.md'), 'utf8');
  assert.match(md, /\| europlug \| 1\.5 mm \|/);
  assert.match(md, /\| dt12 \| -1 mm \| \d\/2 \[\d+-\d+\] \| \d\/2 \[\d+-\d+\] \|/);
  assert.equal((await sharp(join(merged, 'curve.png')).metadata()).width, 640);
  // The same connector twice, a directory without results, and no --out are refused.
  assert.equal(await experimentMain(['--merge', `${runA},${runA}`, '--out', join(fx.dir, 'm2')]), 1);
  assert.equal(await experimentMain(['--merge', `${runA},${join(fx.dir, 'nothing')}`, '--out', join(fx.dir, 'm3')]), 1);
  assert.ok(!existsSync(join(fx.dir, 'm3', 'results.json')));
  assert.equal(await experimentMain(['--merge', runA]), 2);

  // --merge-seeds: per-seed rows, the mean and worst per connector, one plot with every seed.
  const s1 = join(fx.dir, 'seed1'),
    s2 = join(fx.dir, 'seed2'),
    seeds = join(fx.dir, 'seeds');
  for (const [dir, seed, res] of [
    [s1, 1, r],
    [s2, 2, { ...r, final: { ...r.final, II: 0 }, curve: r.curve.map((c) => ({ ...c, successes: 0 })) }],
  ] as const) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ settings: { seed }, results: [res], wallClockS: 1 }));
  }
  assert.equal(await experimentMain(['--merge-seeds', `${s1},${s2}`, '--out', seeds]), 0);
  const sm = readFileSync(join(seeds, 'seeds.md'), 'utf8');
  assert.match(sm, /\| europlug \| 1 \| /);
  assert.match(sm, /\| europlug \| 2 \| 0: 0, 2: 0, 4: 0 \| /);
  assert.match(sm, new RegExp(`\\| europlug \\| 2 \\| ${r.final.II}, 0 \\| ${(r.final.II / 2).toFixed(1)}/2 \\| 0/2 \\|`));
  assert.ok(((await sharp(join(seeds, 'seeds.png')).metadata()).width ?? 0) > 600);
});

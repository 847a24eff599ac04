/**
 * One declaration of the learning settings drives both the daemon's trainer and the experiment: the same config
 * file's `learning` and `practice` sections give the same trainer settings to `learningPlan` (npm start) and to the
 * experiment's options, and a flag overrides one of them for an experiment run only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { learningPlan } from '../../src/app/learning.ts';
import { experimentOptions } from '../../src/cli/experiment.ts';
import { loadDaemonConfig } from '../../src/config/load.ts';
import { trainerSettings } from '../../src/online/trainer.ts';
import { root, tempDir } from '../daemon/helpers.ts';

const pick = (t: ReturnType<typeof trainerSettings>) => trainerSettings(t);

test('the daemon and the experiment read the same learning settings from the config declaration', (t) => {
  const tmp = tempDir('settings-');
  t.after(tmp.cleanup);
  // The shipped config: npm start and the experiment agree, and the defaults are the measured results' settings.
  const shipped = loadDaemonConfig(join(root, 'config/daemon.yaml'));
  const daemon = learningPlan(shipped).trainer;
  assert.ok(daemon);
  const exp = experimentOptions(['--connectors', 'europlug']);
  assert.deepEqual(pick(exp.trainer as ReturnType<typeof trainerSettings>), pick(daemon));
  assert.equal(daemon.onlineFraction, 1);
  assert.equal(daemon.utd, 3);
  assert.equal(daemon.gemmThreads, null);
  assert.equal(learningPlan(shipped).rewardTune, false, 'labels do not fine-tune the reward unless labels.fineTune says so');
  assert.equal(exp.explorationNoise, shipped.practice.explorationNoise);
  assert.equal(exp.noiseCorrelation, shipped.practice.noiseCorrelation);
  assert.equal(exp.noiseTaperM, shipped.practice.noiseTaperM);
  assert.equal(exp.examEvery, shipped.practice.examEvery);
  assert.equal(exp.noiseFromClearance, shipped.practice.noiseFromClearance);
  assert.equal(exp.startCheckpoint, daemon.startCheckpoint);

  // A changed config file changes both.
  const file = join(tmp.dir, 'daemon.yaml');
  const text = readFileSync(join(root, 'config/daemon.yaml'), 'utf8')
    .replace('db: ../data/daemon.db', `db: ${join(tmp.dir, 'log.db')}`)
    .replace('modelsDir: ../models', `modelsDir: ${join(root, 'models')}`)
    .replace('calibrationDir: ../calibration', `calibrationDir: ${join(root, 'calibration')}`)
    .replace('onlineFraction: 1 ', 'onlineFraction: 0.3 ')
    .replace('utd: 3 ', 'utd: 5 ')
    .replace('utdLateAfter: 0 ', 'utdLateAfter: 40 ')
    .replace('utdLate: 2 ', 'utdLate: 1.5 ')
    .replace('examEvery: 0 ', 'examEvery: 5 ')
    .replace('warmupUpdates: 1600 ', 'warmupUpdates: 7 ')
    .replace('gemmThreads: null ', 'gemmThreads: 2 ')
    .replace('explorationNoise: 0.0005 ', 'explorationNoise: 0.002 ')
    .replace('noiseCorrelation: 0 ', 'noiseCorrelation: 0.5 ')
    .replace('noiseTaperM: 0 ', 'noiseTaperM: 0.008 ')
    .replace('noiseFromClearance: 0 ', 'noiseFromClearance: 1.5 ')
    .replace('fineTune: false ', 'fineTune: true ');
  writeFileSync(file, text);
  const cfg = loadDaemonConfig(file);
  const d2 = learningPlan(cfg).trainer;
  assert.equal(learningPlan(cfg).rewardTune, true);
  assert.ok(d2);
  const e2 = experimentOptions(['--config', file, '--connectors', 'europlug']);
  for (const [k, v] of [
    ['onlineFraction', 0.3],
    ['utd', 5],
    ['utdLateAfter', 40],
    ['utdLate', 1.5],
    ['warmupUpdates', 7],
    ['gemmThreads', 2],
  ] as const) {
    assert.equal(d2[k], v, `daemon ${k}`);
    assert.equal(e2.trainer[k], v, `experiment ${k}`);
  }
  assert.equal(e2.explorationNoise, 0.002);
  assert.deepEqual([cfg.practice.examEvery, e2.examEvery], [5, 5]);
  assert.deepEqual([cfg.practice.noiseFromClearance, e2.noiseFromClearance], [1.5, 1.5]);
  // An explicit --noise is that noise for every connector, unless the clearance rule is named too.
  assert.equal(experimentOptions(['--config', file, '--connectors', 'europlug', '--noise', '0.001']).noiseFromClearance, 0);
  assert.equal(experimentOptions(['--config', file, '--connectors', 'europlug', '--noise', '0.001', '--noise-from-clearance', '2']).noiseFromClearance, 2);
  assert.deepEqual([cfg.practice.noiseCorrelation, e2.noiseCorrelation, cfg.practice.noiseTaperM, e2.noiseTaperM], [0.5, 0.5, 0.008, 0.008]);
  // A flag overrides the file for the experiment run.
  const e3 = experimentOptions(['--config', file, '--connectors', 'europlug', '--utd', '4', '--warmup-updates', '0']);
  assert.equal(e3.trainer.utd, 4);
  assert.equal(e3.trainer.warmupUpdates, 0);
  const e4 = experimentOptions(['--config', file, '--connectors', 'europlug', '--noise-correlation', '0.9', '--noise-taper-mm', '10']);
  assert.deepEqual([e4.noiseCorrelation, e4.noiseTaperM], [0.9, 0.01]);
  // The evidence gate: on unless the file or the flag turns it off.
  assert.equal(e3.trainer.evidenceGate, true);
  assert.equal(experimentOptions(['--config', file, '--connectors', 'europlug', '--no-evidence-gate']).trainer.evidenceGate, false);
  assert.equal(e3.trainer.onlineFraction, 0.3);
});

test("the experiment runs in the daemon's regime unless asked to free-run", () => {
  // Each practice episode waits for the trainer (as a daemon whose trainer keeps up), so a run repeats exactly.
  assert.equal(experimentOptions(['--connectors', 'europlug']).syncEvery, 1);
  assert.equal(experimentOptions(['--connectors', 'europlug', '--sync-every', '25']).syncEvery, 25);
});

test("the experiment's x* error: horizontal magnitude, and a vertical component (what the height check must allow)", () => {
  const plain = experimentOptions(['--connectors', 'europlug']);
  assert.deepEqual([plain.offsetMm, plain.offsetZMm], [1.5, 0]);
  const low = experimentOptions(['--connectors', 'europlug', '--goal-error-z-mm=-3']);
  assert.deepEqual([low.offsetMm, low.offsetZMm], [1.5, -3]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_OUT, USAGE, UsageError, parseEvalArgs } from '../../src/cli/evaluate-args.ts';
import { CONTROLLER_NAMES } from '../../src/control/registry.ts';

test('defaults: both scenarios, research baselines, all connectors, 20 trials', () => {
  const a = parseEvalArgs([]);
  assert.deepEqual(a.scenarios, ['I', 'II']);
  assert.equal(a.controllers, null);
  assert.equal(a.connectors, null);
  assert.equal(a.trials, 20);
  assert.equal(a.episodeLength, 20);
  assert.equal(a.out, DEFAULT_OUT);
  assert.deepEqual(a.goalBias, [0, 0, 0]);
});

test('values are parsed and converted from mm to m', () => {
  const a = parseEvalArgs([
    '--controllers',
    'straight,p,spiral',
    '--connectors',
    'europlug,usb_a',
    '--scenario',
    'II',
    '--trials',
    '3',
    '--goal-error-vec-mm',
    '1.5,0',
    '--goal-noise-mm',
    '1',
    '--seed',
    '7',
    '--out',
    '-',
    '--no-progress',
    '--localize-bias-mm',
    '0,2,0.5',
  ]);
  assert.deepEqual(a.controllers, ['straight', 'p', 'spiral']);
  assert.deepEqual(a.connectors, ['europlug', 'usb_a']);
  assert.deepEqual(a.scenarios, ['II']);
  assert.equal(a.trials, 3);
  assert.ok(Math.abs(a.goalBias[0] - 0.0015) < 1e-15 && a.goalBias[1] === 0 && a.goalBias[2] === 0);
  assert.equal(a.goalNoise, 0.001);
  assert.equal(a.seed, 7);
  assert.equal(a.out, null);
  assert.equal(a.progress, false);
  assert.deepEqual(a.localizeBias, [0, 0.002, 0.0005]);
  assert.equal(parseEvalArgs(['--connectors', 'all']).connectors, null);
  assert.deepEqual(parseEvalArgs(['--goal-error-vec-mm=-1,2']).goalBias, [-0.001, 0.002, 0]);
  // One name, one meaning: a magnitude along (1,1,0)/sqrt2, as eval:policy, train-offline and the experiment take it.
  const g = parseEvalArgs(['--goal-error-mm', '1.5']).goalBias;
  assert.ok(Math.abs(g[0] - 0.0015 * Math.SQRT1_2) < 1e-15 && g[0] === g[1] && g[2] === 0);
});

test('bad input names the flag and the value', () => {
  const bad: Array<[string[], RegExp]> = [
    [['--controllers', 'straight,warp'], /--controllers: unknown controller\(s\) "warp"; known: p, /],
    [['--controllers', 'p,p'], /--controllers: "p" listed twice/],
    [['--connectors', 'a,,b'], /--connectors: empty name/],
    [['--scenario', 'III'], /--scenario: must be one of I, II, got "III"/],
    [['--trials', 'ten'], /--trials: "ten" is not a number/],
    [['--trials', '0'], /--trials: must be an integer in \[1, /],
    [['--trials', '2.5'], /--trials: must be an integer/],
    [['--goal-error-vec-mm', '1.5'], /--goal-error-vec-mm: expected X,Y or X,Y,Z in mm, got "1.5"/],
    [['--goal-error-vec-mm', '1,x'], /--goal-error-vec-mm: "x" is not a number/],
    [['--goal-error-vec-mm', '60,0'], /--goal-error-vec-mm: 60 mm is beyond \+-50 mm/],
    [['--goal-error-mm', '1,2'], /--goal-error-mm: one magnitude in mm along \(1,1,0\)\/sqrt2/],
    [['--goal-error-mm', '1', '--goal-error-vec-mm', '1,0'], /contradict/],
    [['--start-height-mm', '200'], /--start-height-mm: must be a number in \[0, 150\]/],
    [['--goal-noise-mm=-1'], /--goal-noise-mm: must be a number in \[0, 50\], got "-1"/],
    [['--goal-error-vec-mm', '-1,0'], /--goal-error-vec-mm.*use '--goal-error-vec-mm=-XYZ'/s],
    [['--seed=-3'], /--seed: must be an integer/],
    [['--seed', '1.5'], /--seed: must be an integer/],
    [['--frobnicate'], /unknown flag --frobnicate/],
    [['--trails', '3'], /unknown flag --trails \(did you mean --trials\?\)/],
    [['--trials'], /--trials/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(
      () => parseEvalArgs(argv),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      argv.join(' '),
    );
  }
});

test('usage lists every controller', () => {
  for (const n of CONTROLLER_NAMES) assert.ok(USAGE.includes(`  ${n} `), n);
  assert.equal(parseEvalArgs(['--help']).help, true);
});

test('a learned controller is fed what its card asks for, from the frame the daemon renders, or refused', async () => {
  const { renderedSize } = await import('../../src/cli/evaluate.ts');
  // Scripted controllers do not look: nothing rendered unless asked.
  assert.equal(renderedSize(parseEvalArgs(['--controllers', 'p'])), 0);
  // The shipped policy takes 32x32 made from the daemon's 64x64 frame (config/daemon.yaml).
  assert.equal(renderedSize(parseEvalArgs(['--controllers', 'policy,p'])), 64);
  assert.equal(renderedSize(parseEvalArgs(['--controllers', 'policy', '--image-size', '48'])), 48);
  assert.throws(() => renderedSize(parseEvalArgs(['--controllers', 'policy', '--image-size', '16'])), /needs a 32x32 image/);
  assert.throws(() => renderedSize(parseEvalArgs(['--controllers', 'policy', '--policy', 'models/nope.onnx'])), /nope/);
});

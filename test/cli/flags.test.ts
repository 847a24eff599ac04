/**
 * Every command line is a declared flag table (src/cli/flags.ts): --help lists every flag of it, and an unknown flag, a
 * bad value or a missing value is a usage error naming the flag, for every command (issue 10). The tables are checked
 * as data; three commands are also run as processes (exit 2 and the message on stderr).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { command, commandUsage, flagLeft, flagsOf, parseCommand, T, UsageError, type Command } from '../../src/cli/flags.ts';
import { fieldsOf } from '../../src/config/declare.ts';
import { LearningConfigSchema } from '../../src/config/schema.ts';
import { CAMPAIGN } from '../../src/cli/campaign.ts';
import { COLLECT } from '../../src/cli/collect.ts';
import { DEPTH_BANDS } from '../../src/cli/depth-bands.ts';
import { EVAL_POLICY } from '../../src/cli/eval-policy.ts';
import { EVAL_REWARD } from '../../src/cli/eval-reward.ts';
import { EVALUATE } from '../../src/cli/evaluate-args.ts';
import { EXPERIMENT } from '../../src/cli/experiment.ts';
import { EXPORT } from '../../src/cli/export.ts';
import { FLEET_LEARNER } from '../../src/cli/fleet-learner.ts';
import { IMPORT_BAG } from '../../src/cli/import-bag.ts';
import { LABEL_EXPERIMENT } from '../../src/cli/label-experiment.ts';
import { MODELS } from '../../src/cli/models.ts';
import { REPLAY } from '../../src/cli/replay.ts';
import { REWARD_TABLE } from '../../src/cli/reward-table.ts';
import { TRAIN_OFFLINE } from '../../src/cli/train-offline.ts';
import { TRAIN_REWARD } from '../../src/cli/train-reward.ts';
import { TRAINER } from '../../src/cli/trainer.ts';
import { VALIDATE } from '../../src/cli/validate.ts';
import { BENCHES, DAEMON_THREAD, ROS2_CAMERA } from '../../bench/commands.ts';

const COMMANDS: Command[] = [
  CAMPAIGN,
  COLLECT,
  DEPTH_BANDS,
  EVAL_POLICY,
  EVAL_REWARD,
  EVALUATE,
  EXPERIMENT,
  EXPORT,
  FLEET_LEARNER,
  IMPORT_BAG,
  LABEL_EXPERIMENT,
  MODELS,
  REPLAY,
  REWARD_TABLE,
  TRAIN_OFFLINE,
  TRAIN_REWARD,
  TRAINER,
  VALIDATE,
  // The benchmarks' tables (bench/commands.ts), parsed by the same code.
  ...BENCHES,
  ROS2_CAMERA,
];

/** The values every required flag needs so that parsing gets as far as the flag under test. */
function required(c: Command): string[] {
  return flagsOf(c.flags)
    .filter((f) => !f.optional)
    .flatMap((f) => [f.flag, f.type === 'integer' || f.type === 'number' ? '1' : f.type === 'enum' ? String((f.schema.enum as unknown[])[0]) : 'x']);
}

const usageError = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);

test('--help lists every flag of every command, with its value and help line', () => {
  for (const c of COMMANDS) {
    const help = commandUsage(c);
    assert.equal(parseCommand(c, ['--help']).help, true, c.name);
    for (const f of flagsOf(c.flags)) {
      assert.ok(help.includes(`  ${flagLeft(f)} `) || help.includes(`  ${flagLeft(f)}\n`), `${c.name}: ${flagLeft(f)} in --help`);
      assert.ok(f.description.length > 0, `${c.name} ${f.flag}: a help line`);
    }
    assert.match(help, /-h, --help/);
  }
});

test('an unknown flag, a bad value and a missing value are usage errors naming the flag, for every command', () => {
  for (const c of COMMANDS) {
    const base = required(c);
    assert.throws(() => parseCommand(c, [...base, '--no-such-flag']), usageError(/^unknown flag --no-such-flag/), c.name);
    const flags = flagsOf(c.flags);
    const num = flags.find((f) => f.type === 'integer' || f.type === 'number');
    if (num) {
      assert.throws(() => parseCommand(c, [...base, num.flag, 'abc']), usageError(new RegExp(`^${num.flag}: "abc" is not a number`)), `${c.name} ${num.flag}`);
      assert.throws(() => parseCommand(c, [...base, num.flag]), usageError(new RegExp(`^${num.flag} needs a value`)), `${c.name} ${num.flag} alone`);
    }
    const bounded = flags.find((f) => f.type === 'integer' && typeof f.schema.maximum === 'number');
    if (bounded) {
      const over = String((bounded.schema.maximum as number) + 1);
      assert.throws(() => parseCommand(c, [...base, bounded.flag, over]), usageError(new RegExp(`^${bounded.flag}: must be an integer in \\[`)), c.name);
    }
    const word = flags.find((f) => f.type === 'enum');
    if (word) assert.throws(() => parseCommand(c, [...base, word.flag, 'nonsense']), usageError(new RegExp(`^${word.flag}: must be one of `)), c.name);
  }
  // A near miss says which flag was meant.
  assert.throws(() => parseCommand(TRAIN_OFFLINE, ['--stpes', '3']), usageError(/unknown flag --stpes \(did you mean --steps\?\)/));
  // A required flag left out is named with what it is for.
  assert.throws(() => parseCommand(EXPORT, ['--db', 'x.db', '--out', 'x.mcap']), usageError(/^--session: the session id is required/));
});

test('every benchmark has a flag table, and the runner checks flags before running any', () => {
  const benchDir = join(import.meta.dirname, '../../bench');
  const files = readdirSync(benchDir).filter((f) => f.endsWith('.bench.ts'));
  assert.deepEqual(BENCHES.map((b) => `${b.name}.bench.ts`).sort(), files.sort());
  // What `npm run bench -- daemon-thread --help` prints is the table's usage.
  const help = commandUsage(DAEMON_THREAD);
  assert.match(help, /--block-ms MS +the main thread is blocked/);
  assert.match(help, /--modes LIST +the modes, in this order .*\(default\s+in-process,threaded-no-rt,threaded\)/);
  // sim takes --quick, store does not: refused before sim runs.
  const bad = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, 'index.ts'), 'sim', 'store', '--quick'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /^bench store: unknown flag --quick/m);
  assert.doesNotMatch(bad.stdout, /===/, 'nothing ran');
});

test('values are typed, checked and defaulted by the declaration', () => {
  const C = command({
    name: 't',
    usage: 't',
    flags: T.object({
      steps: T.integer({ minimum: 1, maximum: 10, default: 3, description: 'd' }),
      gain: T.number({ exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'd' }),
      offset: T.optional(T.number({ description: 'd' })),
      sets: T.array(T.enum(['a', 'b']), { uniqueItems: true, default: ['a'], description: 'd' }),
      resume: T.boolean({ description: 'd' }),
      progress: T.boolean({ default: true, description: 'd', cli: { flag: '--no-progress', sets: false } }),
      priority: T.nullable(T.integer({ minimum: -20, maximum: 19 }), { default: -5, description: 'd', cli: { nullWord: 'none' } }),
    }),
  });
  const d = parseCommand(C, []);
  assert.deepEqual(d.values, { steps: 3, gain: 0.5, sets: ['a'], resume: false, progress: true, priority: -5 });
  assert.equal(d.given.size, 0);
  const p = parseCommand(C, ['--steps', '7', '--gain=1', '--offset', '-2.5', '--sets', 'b,a', '--resume', '--no-progress', '--priority', 'none']);
  assert.deepEqual(p.values, { steps: 7, gain: 1, offset: -2.5, sets: ['b', 'a'], resume: true, progress: false, priority: null });
  assert.deepEqual([...p.given].sort(), ['gain', 'offset', 'priority', 'progress', 'resume', 'sets', 'steps']);
  for (const [argv, re] of [
    [['--steps', '0'], /^--steps: must be an integer in \[1, 10\], got "0"/],
    [['--steps', '2.5'], /^--steps: must be an integer/],
    [['--gain', '0'], /^--gain: must be a number in \(0, 1\], got "0"/],
    [['--sets', 'a,a'], /^--sets: "a" listed twice/],
    [['--sets', 'a,c'], /^--sets: must be one of a, b, got "c"/],
    [['--priority', 'never'], /^--priority: "never" is not a number/],
    [['--resume=yes'], /--resume/],
    [['stray'], /^unexpected argument 'stray'/],
  ] as const) {
    assert.throws(() => parseCommand(C, [...argv]), usageError(re), argv.join(' '));
  }
});

test("the trainer's settings are declared once: every command that sets one accepts what the daemon config accepts", () => {
  // The numeric settings of the config's learning section (paths and switches mean different things per command).
  const learning = fieldsOf(LearningConfigSchema).filter((l) => /number|integer/.test(JSON.stringify(l.schema.type)));
  const keys = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'type', 'description'];
  const pick = (s: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(keys.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
  const pathOf = (key: string): string => key.replace(/^shadowGate([A-Z])/, (_, c: string) => `shadowGate.${c.toLowerCase()}`);
  let compared = 0;
  for (const c of [TRAINER, FLEET_LEARNER, EXPERIMENT]) {
    for (const f of flagsOf(c.flags)) {
      const field = learning.find((l) => l.path === pathOf(f.key));
      if (!field) continue;
      assert.deepEqual(pick(f.schema), pick(field.schema), `${c.name} ${f.flag} is declared as learning.${field.path} is`);
      compared++;
    }
  }
  assert.equal(
    compared,
    12 + 12 + 15,
    'onlineFraction, utd, utdLateAfter, utdLate, batchSize, exportEvery, warmupUpdates, critics, targetCritics, criticPolyak, hindsightWeight, temperature (+ actorLr and the shadow gate in the experiment)',
  );
  // A ratio the daemon accepts (learning.utd > 0) is accepted by the trainer too (it was refused below 0.01).
  assert.equal(parseCommand(TRAINER, ['--db', 'x.db', '--utd', '0.005']).values.utd, 0.005);
});

test('the commands say so on stderr with exit 2, before doing anything', () => {
  const root = join(import.meta.dirname, '../..');
  for (const [script, argv, re] of [
    ['src/cli/train-offline.ts', ['--steps', 'many'], /train-offline: --steps: "many" is not a number/],
    ['src/cli/fleet-demo.ts', ['--arms', '0'], /fleet-demo: --arms: must be an integer in \[1, 64\], got "0"/],
    ['src/cli/ros2-sim-robot.ts', ['--camera-size', '64'], /sim-robot: unknown flag --camera-size/],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...argv], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${script}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

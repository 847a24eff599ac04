/**
 * The config declared once (issue 10): the schema the loader validates with, the TypeScript type, the defaults and the
 * command-line flags all come from src/config/schema.ts. These tests keep the shipped files and the declaration equal,
 * and (through the typechecker, which `npm test` runs) the derived types honest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonFlags, daemonUsage, parseDaemonArgs } from '../../src/cli/daemon-args.ts';
import { fieldsOf, T, type Static } from '../../src/config/declare.ts';
import { loadDaemonConfig } from '../../src/config/load.ts';
import { DaemonConfigSchema, OVERRIDES } from '../../src/config/schema.ts';
import { teardown } from '../teardown.ts';

const root = resolve(import.meta.dirname, '../..');
const shipped = join(root, 'config/daemon.yaml');

test('the shipped daemon.yaml says exactly what the declared defaults say', (t) => {
  const defer = teardown(t);
  const dir = mkdtempSync(join(tmpdir(), 'decl-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  // Only the fields without a default (paths); everything else comes from the declaration.
  const minimal = join(root, 'config', `.minimal-${process.pid}.yaml`);
  writeFileSync(minimal, 'db: ../data/daemon.db\nmodelsDir: ../models\ncalibrationDir: ../calibration\n');
  defer(() => rmSync(minimal, { force: true }));
  assert.deepEqual(loadDaemonConfig(minimal), loadDaemonConfig(shipped));
  // A section left out entirely gets its defaults too; one given in part keeps what it says.
  const partial = join(dir, 'p.yaml');
  writeFileSync(partial, 'db: x.db\nmodelsDir: m\ncalibrationDir: c\npractice: {episodeSteps: 7}\n');
  const cfg = loadDaemonConfig(partial);
  assert.equal(cfg.practice.episodeSteps, 7);
  assert.equal(cfg.practice.scenario, 'II');
  assert.equal(cfg.api.host, '127.0.0.1');
  assert.equal(cfg.backend.sim.shadows, false);
  // Fields without a default are required.
  writeFileSync(partial, 'modelsDir: m\ncalibrationDir: c\n');
  assert.throws(() => loadDaemonConfig(partial), /field 'db': is required/);
});

test('every flag comes from a field declaration, with its help line and default', () => {
  const flags = daemonFlags();
  assert.deepEqual(flags.map((f) => f.cli.flag).sort(), [
    '--calibration',
    '--control-cpu',
    '--control-warmup-ticks',
    '--critic-polyak',
    '--critics',
    '--db',
    '--episode-steps',
    '--estop-port',
    '--free-run',
    '--hindsight-weight',
    '--host',
    '--in-process',
    '--learning-checkpoint',
    '--learning-work-dir',
    '--models',
    '--no-evidence-gate',
    '--no-learning',
    '--offline-db',
    '--online-fraction',
    '--port',
    '--priority',
    '--shadow-gate-episodes',
    '--shadow-gate-margin',
    '--target-critics',
    '--temperature',
    '--tick-hz',
    '--utd',
    '--utd-late',
    '--utd-late-after',
    '--warmup-updates',
  ]);
  assert.deepEqual(new Set(flags.map((f) => f.path)), new Set(Object.values(OVERRIDES)), 'each override names a flagged field');
  const help = daemonUsage();
  for (const f of fieldsOf(DaemonConfigSchema)) {
    const flag = (f.schema.cli as { flag?: string } | undefined)?.flag;
    if (flag) assert.match(help, new RegExp(`\\n  ${flag}\\b`), `${flag} in --help`);
  }
  assert.match(help, /--port N +TCP port; 0 picks a free one \(api\.port, default 8750\)/);
  assert.match(help, /--free-run +[^]*?\(sets realtime: false\)/);
  assert.match(help, /--priority NICE\|none/);
  const a = parseDaemonArgs(['--free-run', '--priority', 'none', '--port', '0'], shipped);
  assert.deepEqual(a.overrides, { realtime: false, priority: null, port: 0 });
  assert.deepEqual(parseDaemonArgs(['--estop-port', 'auto'], shipped).overrides, { estopPort: null });
  assert.deepEqual(parseDaemonArgs(['--estop-port=-1'], shipped).overrides, { estopPort: -1 });
});

test('declared types: the static type of a declaration is what the validator accepts', () => {
  const S = T.object({
    a: T.number({ default: 3 }),
    b: T.optional(T.boolean()),
    c: T.nullable(T.integer()),
    v: T.tuple(T.number(), 3),
    e: T.enum(['x', 'y']),
    o: T.object({ z: T.string() }),
  });
  type X = Static<typeof S>;
  const ok: X = { a: 1, c: null, v: [1, 2, 3], e: 'x', o: { z: 's' } };
  // @ts-expect-error b is a boolean
  const badB: X = { ...ok, b: 3 };
  // @ts-expect-error v has exactly 3 items
  const badV: X = { ...ok, v: [1, 2] };
  // @ts-expect-error e is one of the words
  const badE: X = { ...ok, e: 'q' };
  // @ts-expect-error a field with a default is always there once loaded
  const badA: X = { c: null, v: [1, 2, 3], e: 'x', o: { z: 's' } };
  void [badB, badV, badE, badA];
  assert.deepEqual(S, {
    type: 'object',
    additionalProperties: false,
    required: ['c', 'v', 'e', 'o'],
    properties: {
      a: { type: 'number', default: 3 },
      b: { type: 'boolean' },
      c: { type: ['integer', 'null'] },
      v: { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 },
      e: { enum: ['x', 'y'] },
      o: { type: 'object', additionalProperties: false, required: ['z'], properties: { z: { type: 'string' } } },
    },
  });
});

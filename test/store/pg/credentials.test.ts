/** Where the fleet's credentials come from, and that no message shows them. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pgTarget, redact } from '../../../src/store/pg/credentials.ts';
import { parseRollout } from '../../../src/cli/fleet-learner.ts';
import { loadDaemonConfig } from '../../../src/config/load.ts';

test('a credentials file (URL or PG*= lines) wins over $DATABASE_URL, which wins over PG*; describe never shows the password', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cred-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: 'postgres://u1:s3cret-url@db1:5433/fleet1', PGHOST: 'h2', PGUSER: 'u2', PGPASSWORD: 'pw-env', PGDATABASE: 'd2' };
  const url = pgTarget({}, env);
  assert.equal(url.describe, 'u1@db1:5433/fleet1');
  assert.equal(url.source, '$DATABASE_URL');
  assert.equal(redact('could not connect to postgres://u1:s3cret-url@db1:5433/fleet1 (s3cret-url)', url), 'could not connect to *** (***)');
  const vars = pgTarget({}, { PGHOST: 'h2', PGPORT: '6000', PGUSER: 'u2', PGPASSWORD: 'pw-env', PGDATABASE: 'd2' });
  assert.equal(vars.describe, 'u2@h2:6000/d2');
  assert.deepEqual(vars.config, { host: 'h2', port: 6000, user: 'u2', password: 'pw-env', database: 'd2' });
  const f = join(dir, 'pg.env');
  writeFileSync(f, '# fleet\nexport PGHOST=h3\nPGUSER=u3\nPGPASSWORD="pw file"\nPGDATABASE=d3\n');
  const file = pgTarget({ credentialsFile: f }, env);
  assert.equal(file.describe, 'u3@h3:5432/d3');
  assert.equal(file.config.password, 'pw file');
  for (const x of [url, vars, file]) assert.ok(!JSON.stringify({ d: x.describe, s: x.source }).match(/s3cret|pw-env|pw file/));
  writeFileSync(f, 'postgres://u4:pw4@h4/d4\n');
  assert.equal(pgTarget({ credentialsFile: f }, env).describe, 'u4@h4:5432/d4');
  writeFileSync(f, 'PGPASSWORD=x\nNOT_A_KEY=y\n');
  assert.throws(
    () => pgTarget({ credentialsFile: f }, env),
    (e: Error) => e.message.includes(`${f}: line 2`) && !e.message.includes('x\n'),
  );
  assert.throws(() => pgTarget({ credentialsFile: join(dir, 'missing') }, env), /fleet.credentialsFile '.*missing': cannot read \(ENOENT\)/);
  assert.throws(
    () => pgTarget({}, { DATABASE_URL: 'mysql://a:topsecret@b/c' }),
    (e: Error) => /postgres:\/\/ URL/.test(e.message) && !e.message.includes('topsecret'),
  );
});

test('rollout flags; fleet.enabled needs a robotId', (t) => {
  assert.deepEqual(parseRollout('all'), { mode: 'all' });
  assert.deepEqual(parseRollout('connector:europlug,dt12'), { mode: 'connector', connectors: ['europlug', 'dt12'] });
  assert.deepEqual(parseRollout('arm:arm-1'), { mode: 'arm', robots: ['arm-1'] });
  assert.deepEqual(parseRollout('staged:arm-1:10:0.5'), { mode: 'staged', first: 'arm-1', episodes: 10, minSuccess: 0.5 });
  assert.throws(() => parseRollout('staged:arm-1:0:2'), /--rollout: 'staged:arm-1:0:2'/);
  const dir = mkdtempSync(join(tmpdir(), 'cred-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'd.yaml');
  writeFileSync(cfg, 'db: x.db\nmodelsDir: m\ncalibrationDir: c\nfleet: {enabled: true, credentialsFile: pg.env}\n');
  assert.throws(() => loadDaemonConfig(cfg), /field 'fleet.enabled': needs field 'robotId'/);
  writeFileSync(cfg, 'db: x.db\nmodelsDir: m\ncalibrationDir: c\nrobotId: arm-1\nfleet: {enabled: true, credentialsFile: pg.env}\n');
  const c = loadDaemonConfig(cfg);
  assert.equal(c.fleet.credentialsFile, join(dir, 'pg.env'));
  assert.equal(loadDaemonConfig(join(import.meta.dirname, '../../../config/daemon.yaml')).fleet.enabled, false, 'SQLite alone by default');
});

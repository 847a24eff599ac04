/** The replay command: arguments, the unknown-connector message and exit code, a run with its JSON result document. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { optionsFrom } from '../../src/cli/replay.ts';
import { root } from '../daemon/helpers.ts';
import { copyDb, logSession, type LoggedSession } from './helpers.ts';

function replay(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/replay.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('replay command', () => {
  let src: LoggedSession;
  before(async () => {
    src = await logSession({ count: 2, steps: 6 });
  });
  after(() => src?.cleanup());

  it('parses its options and names a bad one', () => {
    const o = optionsFrom([
      '--db',
      'x.db',
      '--session',
      '3',
      '--mode',
      'closed-loop',
      '--policy',
      'p-only',
      '--map-connector',
      'usb-c=square16,hdmi=dt04',
      '--goal-error-vec-mm',
      '1,0,-0.5',
      '--divergence-mm',
      '2',
    ]);
    assert.ok(o !== 'help');
    assert.deepEqual(o.mapConnector, { 'usb-c': 'square16', hdmi: 'dt04' });
    assert.deepEqual(o.goalError, [0.001, 0, -0.0005]);
    assert.deepEqual(o.thresholds, { divergenceMm: 2 });
    assert.throws(() => optionsFrom(['--db', 'x.db', '--session', '3', '--mode', 'sideways']), /--mode: must be one of open-loop, closed-loop/);
    assert.throws(() => optionsFrom(['--db', 'x.db', '--session', 'three', '--mode', 'open-loop']), /--session/);
    assert.throws(() => optionsFrom(['--db', 'x.db', '--session', '1', '--mode', 'open-loop', '--map-connector', 'usb-c']), /logged=defined/);
    assert.throws(() => optionsFrom(['--db', 'x.db', '--session', '1', '--mode', 'open-loop', '--frobnicate']), /unknown flag --frobnicate/);
  });

  it('an unknown connector: exit 2 with what is missing and the --map-connector to use; mapped, it runs and writes the result', () => {
    const db = copyDb(src.db, src.dir, 'cli-unknown.db');
    const raw = new Database(db);
    raw.prepare(`UPDATE episodes SET domain = 'rj45-x' WHERE session_id = ?`).run(src.sessionId);
    raw.close();
    const bad = replay(['--db', db, '--session', String(src.sessionId), '--mode', 'open-loop']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /connector 'rj45-x' .* has no definition in the simulator/);
    assert.match(bad.stderr, /--map-connector rj45-x=<defined>/);
    const out = join(src.dir, 'result.json');
    const ok = replay(['--db', db, '--session', String(src.sessionId), '--mode', 'open-loop', '--map-connector', 'rj45-x=square16', '--out', out, '--quiet']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /replay open-loop of session/);
    assert.match(ok.stdout, /rj45-x->square16/);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(doc.tool, 'replay');
    assert.equal(doc.episodes.length, 2);
    assert.equal(doc.episodes[0].start.kind, 'relative');
  });
});

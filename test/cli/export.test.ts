/**
 * The export and import:bag commands (main(argv), as `npm run export` / `npm run import:bag` call them): exit codes
 * and messages for bad input, and a round trip of a real daemon session through MCAP and back into a log.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as exportMain } from '../../src/cli/export.ts';
import { main as importMain } from '../../src/cli/import-bag.ts';
import { Store } from '../../src/store/index.ts';
import { tempDir } from '../daemon/helpers.ts';
import { loggedSession } from '../export/fixture.ts';

const tmp = tempDir('export-cli-');
after(() => tmp.cleanup());
const fx = await loggedSession(tmp.dir, { episodes: 2, steps: 5 });

/** Runs a CLI main with its output captured. */
async function run(
  main: (a: string[], io: { out: (s: string) => void; err: (s: string) => void }) => Promise<number>,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

test('export: mcap and npz by flag or extension; bad input exits 2 with a message naming what is wrong', async () => {
  const mcap = join(tmp.dir, 's.mcap');
  const ok = await run(exportMain, ['--db', fx.db, '--session', String(fx.sessionId), '--out', mcap, '--quiet']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).transitions, 10);
  const npz = join(tmp.dir, 's.data');
  assert.equal((await run(exportMain, ['--db', fx.db, '--session', '1', '--format', 'npz', '--out', npz, '--quiet'])).code, 0);
  assert.ok(existsSync(npz));

  const bad = async (args: string[], re: RegExp): Promise<void> => {
    const r = await run(exportMain, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  };
  await bad(['--db', fx.db, '--session', '4', '--out', join(tmp.dir, 'x.mcap')], /no session 4 \(its sessions are 1\)/);
  await bad(['--db', fx.db, '--session', '1', '--out', join(tmp.dir, 'no', 'x.mcap')], /directory .*no does not exist/);
  await bad(['--db', fx.db, '--session', '1', '--out', join(tmp.dir, 'x.bin')], /--format: must be mcap or npz/);
  await bad(['--db', fx.db, '--session', '1', '--format', 'csv', '--out', join(tmp.dir, 'x.csv')], /--format: must be one of mcap, npz, got "csv"/);
  await bad(['--db', fx.db, '--out', join(tmp.dir, 'x.mcap')], /--session: the session id is required/);
  await bad(['--db', fx.db, '--session', 'one', '--out', join(tmp.dir, 'x.mcap')], /--session/);
  await bad(['--db', fx.db, '--session', '1', '--episodes', '1,x', '--out', join(tmp.dir, 'x.mcap')], /--episodes/);
  await bad(['--db', join(tmp.dir, 'missing.db'), '--session', '1', '--out', join(tmp.dir, 'x.mcap')], /missing\.db: no such database/);
  const foreign = join(tmp.dir, 'notes.txt');
  writeFileSync(foreign, 'hello');
  await bad(['--db', foreign, '--session', '1', '--out', join(tmp.dir, 'x.mcap')], /refusing database .*notes\.txt/);
  await bad(['--db', fx.db, '--session', '1', '--out', join(tmp.dir, 'x.mcap'), '--bogus'], /bogus/);
  assert.ok(!existsSync(join(tmp.dir, 'x.mcap')));
});

test('import:bag: our own MCAP export imports back (episode markers, Bool labels, goal topic) with the logged observations', async () => {
  const mcap = join(tmp.dir, 'round.mcap');
  assert.equal((await run(exportMain, ['--db', fx.db, '--session', '1', '--out', mcap, '--quiet'])).code, 0);
  const db = join(tmp.dir, 'back.db');
  const r = await run(importMain, [
    '--bag',
    mcap,
    '--db',
    db,
    '--domain',
    'square16',
    '--goal-topic',
    '/goal',
    '--split',
    'marker:/episode',
    '--labels',
    'topic:/reward/ground_truth',
    '--no-rezero',
  ]);
  assert.equal(r.code, 0, r.err);
  const src = Store.openReadOnly(fx.db);
  const back = Store.openReadOnly(db);
  try {
    const a = src.listEpisodes({ sessionId: 1, order: 'asc' });
    const b = back.listEpisodes({ order: 'asc' });
    assert.equal(b.length, a.length);
    a.forEach((e, k) => {
      const ra = src.getEpisode(e.id, { transitions: true, images: true })!.transitions!;
      const rb = back.getEpisode(b[k]!.id, { transitions: true, images: true })!.transitions!;
      assert.equal(rb.length, ra.length, `episode ${k}: every tick, including the one that shares its log time with the end marker`);
      assert.equal(b[k]!.gtSuccess, e.gtSuccess);
      ra.forEach((t, i) => {
        assert.ok(Buffer.from(rb[i]!.image!.data).equals(Buffer.from(t.image!.data)), `episode ${k} step ${i}: image through PNG and back`);
        assert.deepEqual(rb[i]!.eePos, t.eePos);
        assert.deepEqual(rb[i]!.eeQuat, t.eeQuat);
        assert.deepEqual(rb[i]!.wrench, t.wrench);
        assert.deepEqual(rb[i]!.goal, t.goal);
      });
    });
  } finally {
    src.close();
    back.close();
  }
});

test('import:bag: bad arguments and a corrupt bag exit 2 naming the problem', async () => {
  const bad = async (args: string[], re: RegExp): Promise<void> => {
    const r = await run(importMain, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  };
  const db = join(tmp.dir, 'never.db');
  const junk = join(tmp.dir, 'junk.mcap');
  writeFileSync(junk, Buffer.alloc(4096, 7));
  await bad(['--bag', junk, '--db', db, '--domain', 'x', '--goal', '0,0,0', '--labels', 'final-z:0.01'], /junk\.mcap: not a readable indexed MCAP file/);
  await bad(['--bag', junk, '--db', db, '--domain', 'x', '--goal', '0,0,0'], /--labels: name the success-label source/);
  await bad(['--bag', junk, '--db', db, '--domain', 'x', '--goal', '0,0', '--labels', 'final-z:0.01'], /--goal: expected three comma-separated numbers/);
  await bad(
    ['--bag', junk, '--db', db, '--domain', 'x', '--goal', '0,0,0', '--labels', 'final-z:0.01', '--split', 'every:3'],
    /--split: expected gap:SECONDS or marker:\/TOPIC/,
  );
  await bad(['--bag', junk, '--db', db, '--goal', '0,0,0', '--labels', 'final-z:0.01'], /--domain: the connector name/);
  await bad(
    ['--bag', join(tmp.dir, 'absent.mcap'), '--db', db, '--domain', 'x', '--goal', '0,0,0', '--labels', 'final-z:0.01'],
    /absent\.mcap: does not exist/,
  );
  assert.ok(!existsSync(db));
});

/**
 * `npm run validate`: every problem in connector, split, config and calibration files, as file: field: why, and a
 * non-zero exit when there is one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/validate.ts';

const root = resolve(import.meta.dirname, '../..');

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(args, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

test('the shipped files are valid', async () => {
  const r = await run([]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /ok {4}config\/daemon\.yaml \(config\)/);
  assert.match(r.out, /ok {4}calibration \(calibration-dir\)/);
  assert.match(r.out, /ok {4}data\/connectors\/europlug\.json \(connector\)/);
  assert.match(r.out, /ok {4}data\/splits\/default\.json \(split\)/);
  assert.match(r.out, /\d+ checked, 0 with errors/);
});

test('each bad file is named with every field that is wrong and why; exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conn = join(dir, 'connectors');
  mkdirSync(conn);
  const europlug = JSON.parse(readFileSync(join(root, 'data/connectors/europlug.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(conn, 'nodepth.json'), JSON.stringify({ ...europlug, name: 'nodepth', depth_mm: undefined }));
  writeFileSync(join(conn, 'wide.json'), JSON.stringify({ ...europlug, name: 'wide', clearance_mm: 3 }));
  writeFileSync(join(conn, 'good.json'), JSON.stringify({ ...europlug, name: 'good' }));
  writeFileSync(join(conn, 'twin.json'), JSON.stringify({ ...europlug, name: 'good' }));
  const cfg = join(dir, 'config');
  mkdirSync(cfg);
  writeFileSync(
    join(cfg, 'daemon.yaml'),
    readFileSync(join(root, 'config/daemon.yaml'), 'utf8')
      .replace('tickHz: 10 ', 'tickHZ: 10 ')
      .replace('port: 8750', 'port: 99999')
      .replace('calibrationDir: ../calibration', `calibrationDir: ${join(root, 'calibration')}`),
  );
  const cal = join(dir, 'calibration');
  cpSync(join(root, 'calibration'), cal, { recursive: true });
  writeFileSync(
    join(cal, 'limits.yaml'),
    readFileSync(join(root, 'calibration/limits.yaml'), 'utf8')
      .replace('forceLimitN: 250', 'forceLimitN: 1e12')
      .replace('staleSensorMaxAgeS: 0.5', 'staleSensorMaxAgeS: 1'),
  );
  const splits = join(dir, 'splits');
  mkdirSync(splits);
  writeFileSync(join(splits, 'old.json'), JSON.stringify({ heldOut: ['dt12'], train: 'rest' }));
  const mystery = join(dir, 'mystery.json');
  writeFileSync(mystery, '{"colour": "red"}');

  const r = await run([conn, join(cfg, 'daemon.yaml'), cal, join(splits, 'old.json'), mystery]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /FAIL {2}.*nodepth\.json \(connector\): 1 problem\n +.*nodepth\.json: depth_mm is missing/);
  assert.match(r.out, /wide\.json: clearance_mm must be between 0\.3 and 1\.5, got 3/);
  assert.match(r.out, /twin\.json: name "good" is also used by .*good\.json/);
  // The config: all of its problems, not only the first.
  assert.match(r.out, /FAIL {2}.*daemon\.yaml \(config\): 2 problems/);
  assert.match(r.out, /daemon\.yaml: field 'tickHZ': unknown field \(did you mean 'tickHz'\?\)/);
  assert.match(r.out, /daemon\.yaml: field 'api\.port': must be <= 65535/);
  assert.match(r.out, /limits\.yaml: field 'forceLimitN': must be <= 500/);
  assert.match(r.out, /old\.json: train must list the training connectors by name: "rest" is no longer accepted/);
  assert.match(r.out, /mystery\.json: cannot tell what this file is/);
  // Both files of a name used twice are reported: which one was meant cannot be told.
  assert.match(r.out, /FAIL {2}.*good\.json \(connector\)/);
  assert.match(r.out, /8 checked, 8 with errors/);
});

test('a connector file with several problems gets all of them, one line each', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'validate-many-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conn = join(dir, 'connectors');
  mkdirSync(conn);
  writeFileSync(join(conn, 'sparse.json'), JSON.stringify({ name: 'sparse', family: 'block', parts: [{ shape: 'rect', size_mm: [10, 10] }] }));
  const r = await run([join(conn, 'sparse.json')]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /FAIL {2}.*sparse\.json \(connector\): 4 problems/);
  for (const field of ['clearance_mm', 'depth_mm', 'plug', 'socket']) assert.match(r.out, new RegExp(`\n +\\S*sparse\\.json: ${field} is missing`));
});

test('the npm script exits non-zero on a bad file and 2 on a missing one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'validate-cli-'));
  try {
    const bad = join(dir, 'limits.yaml');
    writeFileSync(bad, 'forceLimitN: 250\nmaxStepM: 0.01\nresidualBoundM: 0.005\nretractM: 0.01\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/validate.ts'), bad], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /limits\.yaml: field 'staleSensorMaxAgeS': is required/);
    const missing = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/validate.ts'), join(dir, 'nope.json')], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(missing.status, 2);
    assert.match(missing.stdout, /nope\.json: no such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a connector deeper or shallower than the shipped rewards' training connectors gets a note naming each reward; one inside none", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'validate-depth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conn = join(dir, 'connectors');
  mkdirSync(conn);
  const europlug = JSON.parse(readFileSync(join(root, 'data/connectors/europlug.json'), 'utf8')) as Record<string, unknown>;
  for (const mm of [3, 12, 28]) writeFileSync(join(conn, `d${mm}.json`), JSON.stringify({ ...europlug, name: `d${mm}`, depth_mm: mm }));
  const r = await run([conn]);
  assert.equal(r.code, 0, r.out); // a note, not an error: the file is a valid connector
  // The shipped rewards were trained on connectors 4-24 mm deep (models/*.onnx.json, data/connectors).
  assert.match(
    r.out,
    /ok {4}.*d28\.json \(connector\)\n +note: reward-depth\.onnx: d28 inserts 28 mm deep, outside the 4-24 mm of the 33 connectors .*part-inserted/,
  );
  assert.match(r.out, /note: reward\.onnx: d3 inserts 3 mm deep, .*seated plugs missed/);
  assert.doesNotMatch(r.out, /note: .*d12 inserts/);
});

// The evaluation CLI as a user runs it: a child process, real arguments, real MuJoCo cell, real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'src/cli/evaluate.ts');

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A connector directory with one small square connector (the file format of src/sim/connectors.ts). */
function connectorDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
  writeFileSync(
    join(dir, 'cube.json'),
    JSON.stringify({
      name: 'cube',
      family: 'square',
      clearance_mm: 1.0,
      depth_mm: 8,
      parts: [{ shape: 'rect', center_mm: [0, 0], size_mm: [10, 10], rotation_deg: 0 }],
      plug: { color: [0.2, 0.2, 0.2], texture: { kind: 'none' } },
      socket: { color: [0.9, 0.9, 0.85], texture: { kind: 'none' } },
    }),
  );
  return dir;
}

test('--help prints the usage and exits 0', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: npx tsx src\/cli\/evaluate.ts/);
  assert.match(r.stdout, /loc-spiral/);
});

test('bad arguments exit 2 with a message naming the flag', () => {
  const a = run(['--controllers', 'straight,teleport']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--controllers: unknown controller\(s\) "teleport"/);
  const b = run(['--trials', 'many']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--trials: "many" is not a number/);
});

test('an unknown connector exits 2 and lists the known ones', () => {
  const dir = connectorDir();
  try {
    const r = run(['--connector-dir', dir, '--connectors', 'cube,hdmi', '--out', '-', '--no-progress']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown connector "hdmi" \(known: cube\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a small run prints the table and writes JSON', () => {
  const dir = connectorDir();
  const out = join(dir, 'runs', 'eval.json');
  try {
    const r = run([
      '--connector-dir',
      dir,
      '--controllers',
      'straight,loc-straight',
      '--scenario',
      'II',
      '--trials',
      '2',
      '--seed',
      '5',
      '--out',
      out,
      '--no-progress',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /scenario II: start 10-20 mm from the socket; 2 trials per cell/);
    assert.match(r.stdout, /\ncube\s+\d\/2 \[\d+-\d+\]\s+\d\/2 \[\d+-\d+\]\n/);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(report.tool, 'evaluate');
    assert.equal(report.results.length, 1);
    const res = report.results[0];
    assert.deepEqual(res.controllers, ['straight', 'loc-straight']);
    assert.equal(res.records.length, 4);
    assert.equal(res.seed, 5);
    // Scenario II starts 10-20 mm off: straight down cannot go in.
    assert.equal(res.cells.find((c: { controller: string }) => c.controller === 'straight').successes, 0);
    for (const t of res.records) {
      const off = Math.hypot(t.startPos[0] - t.socketPos[0], t.startPos[1] - t.socketPos[1]);
      assert.ok(off > 0.008 && off < 0.022, `start offset ${off}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

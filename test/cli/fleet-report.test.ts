/**
 * The fleet demo's report from the arms' logs (src/cli/fleet-report.ts), which replaced two Python scripts: on a run
 * made by hand (real SQLite logs, exact halves on purpose) its tables are byte for byte what the scripts printed
 * (results/fleet-demo/success-windows.py and fault-stalls.py, run on this fixture before they were removed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { faultStallsMd, parseWindowsMd, pyFixed, readArmLogs, seedsTable, successWindows, successWindowsMd } from '../../src/cli/fleet-report.ts';
import { FAULTS, T0, writeRun } from './fleet-report-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleet-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeRun(dir);

// What the Python scripts printed on this run: success-windows.py DIR 30, fault-stalls.py DIR, success-windows.py DIR 7.
const PY_WINDOWS_30 = `| window (s) | arm-1 europlug | arm-2 dt12 |
|---|---|---|
| 0-30 | 0.62 (8 ep, 3 offline) | 0.38 (8 ep, 0 offline) |
| 30-60 | 0.50 (2 ep, 0 offline) | 0.50 (2 ep, 0 offline) |
| 60-90 | 1.00 (1 ep, 0 offline) | - |
`;
const PY_STALLS = `| fault (t s) | arm | episodes begun in the 60 s after | longest gap between episode starts there (s) | gaps over the run: median / p95 / max (s) | deadman trips there (per 60 s over the run) |
|---|---|---|---|---|---|
| pg (12) | arm-1 | 6 | 34.4 | 2.0 / 34.4 / 34.4 | 1 (0.9) |
| pg (12) | arm-2 | 5 | 32.2 | 2.2 / 32.2 / 32.2 | 0 (1.2) |
| learner (48) | arm-1 | 1 | 34.4 | 2.0 / 34.4 / 34.4 | 0 (0.9) |
| learner (48) | arm-2 | 2 | 32.2 | 2.2 / 32.2 / 32.2 | 0 (1.2) |
`;
const PY_WINDOWS_7 = `| window (s) | arm-1 europlug | arm-2 dt12 |
|---|---|---|
| 0-7 | 1.00 (4 ep, 3 offline) | 0.33 (3 ep, 0 offline) |
| 7-14 | 0.33 (3 ep, 0 offline) | 0.33 (3 ep, 0 offline) |
| 14-21 | 0.00 (1 ep, 0 offline) | 0.50 (2 ep, 0 offline) |
| 21-28 | - | - |
| 28-35 | 0.50 (2 ep, 0 offline) | - |
| 35-42 | - | - |
| 42-49 | - | - |
| 49-56 | - | 0.50 (2 ep, 0 offline) |
| 56-63 | - | - |
| 63-70 | 1.00 (1 ep, 0 offline) | - |
`;

test('numbers are formatted as Python formats them: an exact half goes to the even digit', () => {
  assert.deepEqual(
    [
      pyFixed(0.625, 2),
      pyFixed(0.375, 2),
      pyFixed(0.125, 2),
      pyFixed(2.25, 1),
      pyFixed(12.5, 0),
      pyFixed(47.5, 0),
      pyFixed(0.615, 2),
      pyFixed(1, 2),
      pyFixed(0, 1),
    ],
    ['0.62', '0.38', '0.12', '2.2', '12', '48', '0.61', '1.00', '0.0'],
  );
});

test('success windows and fault stalls from the arms logs are what the Python scripts printed', () => {
  const arms = readArmLogs(dir);
  assert.deepEqual(
    arms.map((a) => [a.name, a.episodes.length]),
    [
      ['arm-1', 12],
      ['arm-2', 10],
    ],
    'practice episodes only, arms in order',
  );
  assert.equal(successWindowsMd(successWindows(arms, 30)), PY_WINDOWS_30);
  assert.equal(successWindowsMd(successWindows(arms, 7)), PY_WINDOWS_7);
  assert.equal(faultStallsMd(arms, FAULTS, T0), PY_STALLS);
});

test('a recorded windows table reads back; over runs, each run, the mean and the worst per arm and window', () => {
  const w = parseWindowsMd(PY_WINDOWS_30);
  assert.equal(successWindowsMd(w), PY_WINDOWS_30, 'a round trip');
  const other = { ...w, windows: w.windows.map((x) => ({ ...x, cells: x.cells.map((c) => (c ? { ...c, rate: c.rate / 2 } : null)) })) };
  const t = seedsTable(
    [
      { label: 's1', ...w },
      { label: 's2', ...other },
    ],
    60,
  );
  assert.deepEqual(
    t.rows.map((r) => [r.arm, r.from, r.rates, Number(r.mean!.toFixed(9)), r.worst]),
    [
      ['arm-1 europlug', 0, [0.62, 0.31], 0.465, 0.31],
      ['arm-1 europlug', 30, [0.5, 0.25], 0.375, 0.25],
      ['arm-2 dt12', 0, [0.38, 0.19], 0.285, 0.19],
      ['arm-2 dt12', 30, [0.5, 0.25], 0.375, 0.25],
    ],
    'windows that start within the run (60 s) only',
  );
  assert.match(t.md, /\| arm-1 europlug \| 0-30 \| 0\.62 \| 0\.31 \| \*\*0\.46\*\* \| 0\.31 \|/);
});

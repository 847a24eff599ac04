// The evaluation against the real MuJoCo cell and the shipped connector files: the physics facts the research's
// baselines rest on, and the table's shape and contents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createController, needsPrivileged } from '../../src/control/registry.ts';
import { evaluate, formatTable, type EvalResult } from '../../src/eval/evaluate.ts';
import { simCellFactory } from '../../src/eval/sim-cells.ts';
import { loadConnectors, type ConnectorDef } from '../../src/sim/connectors.ts';
import type { Vec3, Scenario } from '../../src/core/types.ts';

// Two shipped connectors of different families, the roomiest of each (the test is about the loop, not about
// tight fits): clearance decides how much lateral error the physics forgives.
const all = loadConnectors();
const byClearance = [...all].sort((a, b) => b.clearance - a.clearance || (a.name < b.name ? -1 : 1));
const first = byClearance[0]!;
const second = byClearance.find((d) => d.family !== first.family)!;
const defs: ConnectorDef[] = [first, second];
const names = defs.map((d) => d.name);
const TRIALS = 3;

function run(controllers: string[], scenario: Scenario, o: { goalBias?: Vec3; centredStart?: boolean } = {}): Promise<EvalResult> {
  return evaluate({
    controllers: controllers.map((n) => ({ name: n, make: () => createController(n), privileged: needsPrivileged(n) })),
    connectors: names,
    scenario,
    trials: TRIALS,
    seed: 11,
    centredStart: o.centredStart ?? false,
    createCell: simCellFactory(defs, { imageSize: 0, nuisance: false, goalBias: o.goalBias ?? [0, 0, 0] }),
  });
}

const k = (r: EvalResult, conn: string, ctrl: string): number => r.cells.find((c) => c.connector === conn && c.controller === ctrl)!.successes;

test('scenario II: straight down never inserts; the table has a row per connector and a column per controller', async () => {
  const r = await run(['straight', 'p'], 'II');
  for (const n of names) assert.equal(k(r, n, 'straight'), 0, `${n}: straight down from 10-20 mm away`);
  const lines = formatTable(r).split('\n');
  assert.equal(lines.length, 3 + names.length + 1); // caption, header, rule, rows, total
  assert.deepEqual(lines[1]!.trim().split(/\s+/), ['connector', 'straight', 'p']);
  assert.match(lines[0]!, /start poses from seed \d+/);
  for (const [i, n] of names.entries()) {
    const cells = lines[3 + i]!.trim().split(/\s+/);
    assert.equal(cells[0], n);
    assert.equal(cells[1], `${k(r, n, 'straight')}/${TRIALS}`);
    assert.match(cells[2]!, /^\[\d+-\d+\]$/, 'each count is followed by its interval');
    assert.equal(cells[3], `${k(r, n, 'p')}/${TRIALS}`);
  }
  // Records carry the physics: a straight descent either ends blocked on the socket face with a clear contact
  // force, or, from far enough out, misses the socket block altogether and ends beside it.
  const straight = r.records.filter((t) => t.controller === 'straight');
  assert.equal(straight.length, names.length * TRIALS);
  for (const t of straight) {
    const blocked = t.depth < 0.002 && t.maxAbsFz > 5;
    const beside = t.lateralError > 0.005;
    assert.ok(!t.success && (blocked || beside), `${t.connector} trial ${t.trial}: depth ${t.depth}, lateral ${t.lateralError}, max |Fz| ${t.maxAbsFz}`);
    const off = Math.hypot(t.startPos[0] - t.socketPos[0], t.startPos[1] - t.socketPos[1]);
    assert.ok(off > 0.009 && off < 0.021, `start offset ${off}`);
  }
  // Every controller saw the same starts.
  const starts = (c: string) => r.records.filter((t) => t.controller === c).map((t) => t.startPos.join());
  assert.deepEqual(starts('straight'), starts('p'));
});

test('straight down and the P-controller insert with an exact goal, and fail with 2 mm of calibration error', async () => {
  const exact = await run(['straight', 'p'], 'I', { centredStart: true });
  for (const n of names) {
    for (const c of ['straight', 'p']) assert.ok(k(exact, n, c) >= TRIALS - 1, `${n}: ${c} ${k(exact, n, c)}/${TRIALS} with an exact goal`);
  }
  const biased = await run(['straight', 'p'], 'I', { centredStart: true, goalBias: [0.002, 0, 0] });
  for (const n of names) {
    assert.equal(k(biased, n, 'straight'), 0, `${n}: straight down 2 mm off`);
    assert.equal(k(biased, n, 'p'), 0, `${n}: P-controller to a goal 2 mm off`);
  }
  assert.match(formatTable(biased), /start centred over the goal x\*/);
});

test('wilsonInterval: the 95 % interval of k/n, honest at the ends', async () => {
  const { wilsonInterval, formatRate } = await import('../../src/eval/evaluate.ts');
  const [lo, hi] = wilsonInterval(10, 20);
  assert.ok(Math.abs(lo - 0.299) < 0.001 && Math.abs(hi - 0.701) < 0.001);
  assert.equal(wilsonInterval(0, 20)[0], 0);
  assert.ok(wilsonInterval(0, 20)[1] > 0.15 && wilsonInterval(0, 20)[1] < 0.17);
  assert.equal(formatRate(20, 20), '20/20 [84-100]');
});

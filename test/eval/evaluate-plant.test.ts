// The evaluation loop's bookkeeping on a kinematic point plant (fast, no physics); the same loop against the
// real MuJoCo cell is in evaluate.test.ts.
import { drawStartOffset } from '../../src/core/scenario.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Controller, ControlContext } from '../../src/control/controller.ts';
import { createController, needsPrivileged } from '../../src/control/registry.ts';
import { evaluate, formatTable, resetSeed, type EvalCell } from '../../src/eval/evaluate.ts';
import type { Observation, Vec3, Scenario } from '../../src/core/types.ts';
import { Rng } from '../../src/util/rng.ts';
import { HolePlant, obs } from '../control/helpers.ts';

/** A point-plant cell: starts drawn from the reset seed like the research's scenarios, exact goal. */
class PlantCell implements EvalCell {
  plant = new HolePlant([0, 0, 0.05], [0, 0, 0]);
  resets: number[] = [];
  constructor(readonly clearance: number) {}
  reset(o: { seed: number; scenario: Scenario }): Observation {
    this.resets.push(o.seed);
    const r = new Rng(o.seed);
    const [x, y] = drawStartOffset(r, o.scenario);
    this.plant = new HolePlant([x, y, 0.03], [0, 0, 0], 0.008, this.clearance);
    return this.observe();
  }
  observe(): Observation {
    return obs([...this.plant.pos], [0, 0, 0], this.plant.fz);
  }
  step(a: Vec3): Observation {
    this.plant.step(a);
    return this.observe();
  }
  groundTruth() {
    const p = this.plant.pos;
    return { success: this.plant.seated, depth: this.plant.surfaceZ - p[2], socketPos: [0, 0, 0] as Vec3, lateralError: Math.hypot(p[0], p[1]) };
  }
  dispose(): void {}
}

/** Records what it was told; moves straight down. */
class Spy implements Controller {
  readonly name = 'spy';
  sawPrivileged = false;
  starts: string[] = [];
  reset(ctx: ControlContext): void {
    if (ctx.privileged) this.sawPrivileged = true;
  }
  act(o: Observation, ctx: ControlContext): Vec3 {
    if (ctx.step === 0) this.starts.push(o.eePos.join(','));
    return [0, 0, -ctx.maxStep];
  }
}

test('every controller sees the same starts, the table has rows x columns of k/N, and only flagged ones get privileged', async () => {
  const spies: Spy[] = [];
  const cells: PlantCell[] = [];
  const mk = (name: string) => ({ name, make: () => createController(name), privileged: needsPrivileged(name) });
  const r = await evaluate({
    controllers: [
      mk('straight'),
      mk('localize'),
      mk('p'),
      {
        name: 'spyA',
        make: () => {
          const s = new Spy();
          spies.push(s);
          return s;
        },
      },
      {
        name: 'spyB',
        make: () => {
          const s = new Spy();
          spies.push(s);
          return s;
        },
        privileged: true,
      },
    ],
    connectors: ['wide', 'narrow'],
    scenario: 'I',
    trials: 6,
    seed: 3,
    createCell: async (name) => {
      const c = new PlantCell(name === 'wide' ? 0.015 : 0.0005);
      cells.push(c);
      return c;
    },
  });
  assert.equal(r.cells.length, 2 * 5);
  assert.equal(r.records.length, 2 * 5 * 6);
  // Same start per trial for every controller, different across trials.
  assert.deepEqual(spies[0]!.starts, spies[1]!.starts);
  assert.equal(new Set(spies[0]!.starts).size, 6);
  assert.equal(cells[0]!.resets[0], resetSeed(3, 'wide', 'I', 0));
  assert.equal(spies[0]!.sawPrivileged, false);
  assert.equal(spies[1]!.sawPrivileged, true);
  // Counts agree with the records; a 15 mm hole catches every straight descent from +-10 mm, a 0.5 mm one almost none.
  for (const c of r.cells) {
    const k = r.records.filter((x) => x.connector === c.connector && x.controller === c.controller && x.success).length;
    assert.equal(c.successes, k);
  }
  assert.equal(r.cells.find((c) => c.connector === 'wide' && c.controller === 'straight')!.successes, 6);
  assert.equal(r.cells.find((c) => c.connector === 'narrow' && c.controller === 'straight')!.successes, 0);
  assert.equal(r.cells.find((c) => c.connector === 'narrow' && c.controller === 'p')!.successes, 6);
  const table = formatTable(r).split('\n');
  assert.match(table[0]!, /scenario I: start within \+-10 mm/);
  assert.deepEqual(table[1]!.split(/\s+/), ['connector', 'straight', 'localize', 'p', 'spyA', 'spyB']);
  assert.deepEqual(table[3]!.split(/\s+/).slice(0, 2), ['wide', '6/6']);
  assert.deepEqual(table[4]!.split(/\s+/).slice(0, 2), ['narrow', '0/6']);
  assert.match(table[5]!, /^total\s+6\/12 \[25-75\] \(50%\)/);
  // The whole result survives JSON.
  assert.deepEqual(JSON.parse(JSON.stringify(r)).cells, r.cells);
});

test('a run is reproducible from its seed and changes with it', async () => {
  const run = (seed: number) =>
    evaluate({
      controllers: [
        { name: 'random', make: () => createController('random') },
        { name: 'spiral', make: () => createController('spiral') },
      ],
      connectors: ['a'],
      scenario: 'II',
      trials: 5,
      seed,
      createCell: async () => new PlantCell(0.0008),
    });
  const a = await run(1);
  const b = await run(1);
  const c = await run(2);
  const strip = (x: typeof a) => x.records.map((t) => [t.finalPos, t.success, t.maxAbsFz]);
  assert.deepEqual(strip(a), strip(b));
  assert.notDeepEqual(strip(a), strip(c));
});

test('bad evaluation options are refused', async () => {
  const base = {
    controllers: [{ name: 'p', make: () => createController('p') }],
    connectors: ['a'],
    scenario: 'I' as Scenario,
    createCell: async () => new PlantCell(0.001),
  };
  await assert.rejects(evaluate({ ...base, trials: 0 }), /trials must be a positive integer/);
  await assert.rejects(evaluate({ ...base, connectors: ['a', 'a'] }), /connector "a" listed twice/);
  await assert.rejects(evaluate({ ...base, scenario: 'III' as Scenario }), /scenario must be I or II/);
});

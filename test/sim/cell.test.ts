import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pControl } from '../../src/control/p-controller.ts';
import type { Observation, Vec3 } from '../../src/core/types.ts';
import { SimCell, SimError, type CellConfig } from '../../src/sim/cell.ts';
import { findConnector, loadConnectors, parseConnector, type ConnectorDef } from '../../src/sim/connectors.ts';

const all = loadConnectors();
const byName = (n: string): ConnectorDef => findConnector(all, n);

async function runP(cfg: CellConfig, seed: number, steps = 20): Promise<{ cell: SimCell; last: Observation; maxFz: number }> {
  const cell = await SimCell.create(cfg);
  let o = cell.reset({ seed, scenario: 'I' });
  let maxFz = -Infinity;
  for (let k = 0; k < steps; k++) {
    o = cell.step(pControl(o.eePos, o.goal));
    maxFz = Math.max(maxFz, o.wrench[2]);
  }
  return { cell, last: o, maxFz };
}

test('centred start, exact goal: the P-controller seats every connector family', async () => {
  for (const name of ['square16', 'europlug', 'dt12', 'round08', 'dshape14', 'nema515']) {
    const { cell, maxFz } = await runP({ connector: byName(name), imageSize: 0 }, 11);
    const gt = cell.groundTruth();
    assert.ok(gt.success, `${name}: not seated, depth ${(gt.depth * 1000).toFixed(2)} mm`);
    assert.ok(Math.abs(gt.depth - byName(name).depth) < 0.001);
    assert.ok(gt.lateralError < 0.0005, `${name}: lateral ${gt.lateralError}`);
    assert.ok(maxFz < 5, `${name}: a clean insertion should not press hard (max Fz ${maxFz.toFixed(1)} N)`);
    cell.dispose();
  }
});

test("the wrench is the last physics step's: with the sensors computed at every physics step it is bitwise the same", async () => {
  const cfg: CellConfig = { connector: byName('europlug'), imageSize: 0, goalBias: [0.002, 0, 0] };
  const lean = await SimCell.create(cfg);
  const every = await SimCell.create(cfg);
  // The reference keeps the compiled flags (sensors on) at every physics step: the cell's switch is made a no-op.
  (every as unknown as { sensorsOn(on: boolean): void }).sensorsOn = () => {};
  try {
    let a = lean.reset({ seed: 5, scenario: 'I' });
    let b = every.reset({ seed: 5, scenario: 'I' });
    let pressing = 0;
    for (let k = 0; k < 12; k++) {
      assert.deepEqual(a.wrench, b.wrench, `step ${k}: wrench ${a.wrench.join(' ')}, with the sensors at every physics step ${b.wrench.join(' ')}`);
      assert.deepEqual(a.eePos, b.eePos);
      if (a.wrench[2] > 5) pressing++;
      const act = pControl(a.eePos, a.goal);
      a = lean.step(act);
      b = every.step(act);
    }
    // The comparison must cover contact, where a stale reading would differ most.
    assert.ok(pressing >= 3, `only ${pressing} steps pressing on the face`);
  } finally {
    lean.dispose();
    every.dispose();
  }
});

test('a 2 mm goal error is blocked at the socket face with a large upward force on the wrist sensor', async () => {
  for (const name of ['square16', 'europlug']) {
    const { cell, last } = await runP({ connector: byName(name), imageSize: 0, goalBias: [0.002, 0, 0] }, 11);
    const gt = cell.groundTruth();
    assert.equal(gt.success, false, `${name} should be blocked`);
    assert.ok(gt.depth < 0.002, `${name}: went ${gt.depth} m deep`);
    assert.ok(last.wrench[2] > 10, `${name}: Fz ${last.wrench[2].toFixed(1)} N, expected a clear upward push`);
    assert.ok(last.wrench[2] < 200, `${name}: Fz ${last.wrench[2].toFixed(1)} N is not bounded`);
    cell.dispose();
  }
});

test('clearance matters: at a 0.5 mm goal error a 1.5 mm-clearance peg goes in, a 0.3 mm one is blocked', async () => {
  const peg = (clearance: number): ConnectorDef =>
    parseConnector(
      {
        name: 'peg',
        family: 'test',
        clearance_mm: clearance,
        depth_mm: 10,
        parts: [{ shape: 'rect', size_mm: [16, 16] }],
        plug: { color: [0.5, 0.5, 0.5] },
        socket: { color: [0.8, 0.8, 0.8] },
      },
      `inline(clearance ${clearance})`,
    );
  const results: Record<string, boolean> = {};
  for (const c of [0.3, 1.5]) {
    const { cell } = await runP({ connector: peg(c), imageSize: 0, goalBias: [0.0005, 0, 0] }, 5);
    results[c] = cell.groundTruth().success;
    cell.dispose();
  }
  assert.deepEqual(results, { '0.3': false, '1.5': true });
});

test('scenario II with straight-down motion never seats the plug', async () => {
  const cell = await SimCell.create({ connector: byName('round12'), imageSize: 0 });
  for (let s = 0; s < 3; s++) {
    cell.reset({ seed: 100 + s, scenario: 'II' });
    for (let k = 0; k < 15; k++) cell.step([0, 0, -0.005]);
    const gt = cell.groundTruth();
    assert.equal(gt.success, false);
    assert.ok(gt.lateralError >= 0.009, `lateral ${gt.lateralError}`);
  }
  cell.dispose();
});

test('resets: scenario ranges, start height and the goal with bias and noise', async () => {
  const def = byName('square16');
  const cell = await SimCell.create({ connector: def, imageSize: 0, startHeight: 0.03, goalBias: [0.001, -0.002, 0.0005], goalNoise: 0.001 });
  const sp = cell.socketPos();
  const top = cell.layout.socketTop;
  const goals: number[] = [];
  for (let s = 0; s < 12; s++) {
    for (const sc of ['I', 'II'] as const) {
      const o = cell.reset({ seed: s, scenario: sc });
      const dx = o.eePos[0] - sp[0];
      const dy = o.eePos[1] - sp[1];
      if (sc === 'I') assert.ok(Math.abs(dx) <= 0.0101 && Math.abs(dy) <= 0.0101, `I: ${dx}, ${dy}`);
      else assert.ok(Math.hypot(dx, dy) >= 0.0099 && Math.hypot(dx, dy) <= 0.0201, `II: r=${Math.hypot(dx, dy)}`);
      assert.ok(Math.abs(o.eePos[2] - (top + 0.03)) < 3e-4, `height ${o.eePos[2] - top}`);
      assert.ok(Math.abs(o.goal[0] - (sp[0] + 0.001)) <= 0.001 + 1e-12);
      assert.ok(Math.abs(o.goal[1] - (sp[1] - 0.002)) <= 0.001 + 1e-12);
      assert.equal(o.goal[2], sp[2] + 0.0005);
      assert.deepEqual(
        o.wrench.map((w) => Math.abs(w) < 1e-9),
        [true, true, true, true, true, true],
        'wrench is zeroed at reset',
      );
      goals.push(o.goal[0]);
    }
  }
  assert.ok(new Set(goals).size > 10, 'goal noise varies per episode');
  cell.dispose();
});

test('same seed gives bitwise the same observations; another seed does not', async () => {
  const cfg: CellConfig = { connector: byName('dsub'), imageSize: 32 };
  const a = await SimCell.create(cfg);
  const b = await SimCell.create(cfg);
  const actions: Vec3[] = [
    [0.003, -0.002, -0.004],
    [0, 0, -0.006],
    [-0.004, 0.004, -0.01],
    [0.01, 0, -0.01],
  ];
  const trace = (c: SimCell, seed: number): Observation[] => {
    const out = [c.reset({ seed, scenario: 'II' })];
    for (const u of actions) out.push(c.step(u));
    return out;
  };
  const ta = trace(a, 42);
  const tb = trace(b, 42);
  const ta2 = trace(a, 42); // the same cell again, after other episodes
  for (const t of [tb, ta2]) {
    t.forEach((o, i) => {
      const r = ta[i]!;
      assert.deepEqual(o.eePos, r.eePos);
      assert.deepEqual(o.wrench, r.wrench);
      assert.deepEqual(o.goal, r.goal);
      assert.equal(o.wrenchStamp, r.wrenchStamp);
      assert.ok(Buffer.from(o.image.data).equals(Buffer.from(r.image.data)), `image ${i} differs`);
    });
  }
  const other = trace(b, 43);
  assert.notDeepEqual(other[0]!.eePos, ta[0]!.eePos);
  a.dispose();
  b.dispose();
});

test('the image is not blank, has the right size, and changes when the arm moves', async () => {
  const cell = await SimCell.create({ connector: byName('round12') });
  const o0 = cell.reset({ seed: 3, scenario: 'I' });
  assert.equal(o0.image.width, 64);
  assert.equal(o0.image.height, 64);
  assert.equal(o0.image.data.length, 64 * 64 * 3);
  const px = o0.image.data;
  const mean = px.reduce((a, v) => a + v, 0) / px.length;
  const std = Math.sqrt(px.reduce((a, v) => a + (v - mean) ** 2, 0) / px.length);
  assert.ok(std > 15, `image is nearly uniform (std ${std.toFixed(1)})`);
  const meanDiff = (a: Uint8Array, b: Uint8Array): number => {
    let d = 0;
    for (let i = 0; i < a.length; i++) d += Math.abs(a[i]! - b[i]!);
    return d / a.length;
  };
  const still = cell.step([0, 0, 0]);
  const moved = cell.step([0.008, 0.008, -0.008]);
  const dStill = meanDiff(px, still.image.data);
  const dMoved = meanDiff(still.image.data, moved.image.data);
  assert.ok(dMoved > 1 && dMoved > 5 * dStill, `image barely changed: ${dMoved.toFixed(2)} moved vs ${dStill.toFixed(2)} still`);
  cell.dispose();
});

test("the wrist camera's cached plug layer renders exactly what a full ray cast renders", async () => {
  for (const name of ['dt12', 'roundkey']) {
    // A 1.5 mm goal error: the pins end up pressing on the face, partly over the holes.
    const cell = await SimCell.create({ connector: byName(name), goalBias: [0.0015, 0, 0] });
    let o = cell.reset({ seed: 4, scenario: 'I' });
    for (let k = 0; k < 12; k++) {
      o = cell.step(pControl(o.eePos, o.goal));
      assert.ok(Buffer.from(o.image.data).equals(Buffer.from(cell.renderReference().data)), `${name} step ${k}`);
    }
    cell.dispose();
  }
});

test('the fixed camera sees the plug go down into the socket', async () => {
  const cell = await SimCell.create({ connector: byName('round12'), camera: 'fixed', imageSize: 48, nuisance: false });
  let o = cell.reset({ seed: 3, scenario: 'I' });
  const first = o.image.data;
  assert.equal(first.length, 48 * 48 * 3);
  // The socket centre is in view, and the plug tip projects above it (smaller row index) before insertion.
  const s = cell.project([cell.socketPos()[0], cell.socketPos()[1], cell.layout.socketTop])!;
  const t = cell.project(o.eePos)!;
  assert.ok(s[0] > 0 && s[0] < 48 && s[1] > 0 && s[1] < 48, `socket at ${s.join(',')}`);
  assert.ok(t[1] < s[1], 'tip above the socket in the image');
  for (let k = 0; k < 20; k++) o = cell.step(pControl(o.eePos, o.goal));
  assert.ok(cell.groundTruth().success);
  let diff = 0;
  for (let i = 0; i < first.length; i++) diff += Math.abs(first[i]! - o.image.data[i]!);
  assert.ok(diff / first.length > 1, 'the fixed view changes as the arm moves');
  cell.dispose();
});

test('the wrist camera resolves at least 1 px per mm at the socket face at the start height', async () => {
  const cell = await SimCell.create({ connector: byName('square16'), nuisance: false });
  const o = cell.reset({ seed: 1, scenario: 'I' });
  const top = cell.layout.socketTop;
  const [x, y] = [o.eePos[0], o.eePos[1]];
  const a = cell.project([x, y, top])!;
  const bx = cell.project([x + 0.001, y, top])!;
  const by = cell.project([x, y + 0.001, top])!;
  const pxPerMmX = Math.hypot(bx[0] - a[0], bx[1] - a[1]);
  const pxPerMmY = Math.hypot(by[0] - a[0], by[1] - a[1]);
  assert.ok(pxPerMmX >= 1, `x: ${pxPerMmX.toFixed(2)} px/mm`);
  assert.ok(pxPerMmY >= 0.8, `y: ${pxPerMmY.toFixed(2)} px/mm`);
  // The point under the tip is in the image.
  assert.ok(a[0] >= 0 && a[0] < 64 && a[1] >= 0 && a[1] < 64, `socket point at ${a.join(',')}`);
  cell.dispose();
});

test('nuisance changes the picture between seeds but not the physics', async () => {
  const def = byName('square16');
  const on = await SimCell.create({ connector: def });
  const off = await SimCell.create({ connector: def, nuisance: false });
  const a1 = on.reset({ seed: 1, scenario: 'I' });
  const b1 = off.reset({ seed: 1, scenario: 'I' });
  assert.deepEqual(a1.eePos, b1.eePos);
  assert.ok(!Buffer.from(a1.image.data).equals(Buffer.from(b1.image.data)));
  on.dispose();
  off.dispose();
});

test('long run of random pressing: no NaN, no tunnelling, bounded forces', async () => {
  const def = byName('europlug');
  const cell = await SimCell.create({ connector: def, imageSize: 0 });
  const top = cell.layout.socketTop;
  const floorZ = top - def.depth;
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  let maxF = 0;
  let steps = 0;
  const forces: number[] = [];
  for (let ep = 0; ep < 50; ep++) {
    let o = cell.reset({ seed: ep, scenario: ep % 2 ? 'I' : 'II' });
    for (let k = 0; k < 45; k++, steps++) {
      // Mostly pressing down, wandering sideways, sometimes hard.
      const sp = cell.socketPos();
      const u: Vec3 = [(rnd() - 0.5) * 0.012 - 0.2 * (o.eePos[0] - sp[0]), (rnd() - 0.5) * 0.012 - 0.2 * (o.eePos[1] - sp[1]), -rnd() * 0.012 + 0.002];
      o = cell.step(u);
      for (const v of [...o.eePos, ...o.wrench, ...o.eeQuat]) assert.ok(Number.isFinite(v), `non-finite at step ${steps}`);
      maxF = Math.max(maxF, Math.hypot(o.wrench[0], o.wrench[1], o.wrench[2]));
      forces.push(Math.hypot(o.wrench[0], o.wrench[1], o.wrench[2]));
      // Never below the hole floors, and never through the face away from the holes.
      assert.ok(o.eePos[2] > floorZ - 0.001, `tip at ${o.eePos[2]} below the floor ${floorZ}`);
      const dx = Math.abs(o.eePos[0] - cell.socketPos()[0]);
      const dy = Math.abs(o.eePos[1] - cell.socketPos()[1]);
      const [hx, hy] = cell.layout.socketHalf;
      const onFace = dy > 0.004 && dx < hx - 0.002 && dy < hy - 0.002; // europlug holes lie on the x axis
      if (onFace) assert.ok(o.eePos[2] > top - 0.001, `tip through the face at (${dx}, ${dy}) m off-centre: z=${o.eePos[2]}`);
      assert.ok(o.eePos[2] > -0.001, 'tip through the table');
      // Orientation stays tip-down.
      assert.ok(o.eeQuat[0] > 0.995, `tilted: ${o.eeQuat.join(',')}`);
    }
  }
  assert.ok(steps >= 2000);
  // Driving a pin sideways into a hole's edge at speed gives impact spikes of a few hundred newtons (as on a
  // real arm); an unstable contact would give thousands. Typical pressing is tens of newtons.
  assert.ok(maxF < 1000, `force peaked at ${maxF.toFixed(0)} N`);
  forces.sort((a, b) => a - b);
  const p95 = forces[Math.floor(0.95 * forces.length)]!;
  assert.ok(p95 < 100, `95th percentile force ${p95.toFixed(0)} N`);
  cell.dispose();
});

test('the episode clock starts at 0 at reset and advances one control period per step', async () => {
  const cell = await SimCell.create({ connector: byName('square16'), imageSize: 0 });
  const o0 = cell.reset({ seed: 1, scenario: 'I' });
  assert.equal(o0.wrenchStamp, 0);
  const o1 = cell.step([0, 0, 0]);
  assert.ok(Math.abs(o1.wrenchStamp - 0.1) < 1e-9);
  assert.equal(o1.imageStamp, o1.wrenchStamp);
  assert.equal(cell.time(), o1.wrenchStamp);
  cell.step([0, 0, 0]);
  assert.ok(Math.abs(cell.time() - 0.2) < 1e-9);
  assert.equal(cell.reset({ seed: 2, scenario: 'I' }).wrenchStamp, 0);
  cell.dispose();
});

test('commands that would leave the workspace saturate at its box; the arm stays sane', async () => {
  const cell = await SimCell.create({ connector: byName('square16'), imageSize: 0 });
  cell.reset({ seed: 1, scenario: 'I' });
  const sp = cell.socketPos();
  for (const dir of [
    [1, 0, 0.3],
    [-1, 1, 0.5],
    [0, -1, 1],
  ] as const) {
    let o = cell.observe();
    for (let k = 0; k < 40; k++) o = cell.step([dir[0] * 0.01, dir[1] * 0.01, dir[2] * 0.01]);
    assert.ok(Math.abs(o.eePos[0] - sp[0]) <= 0.1205 && Math.abs(o.eePos[1] - sp[1]) <= 0.1205, `left the box: ${o.eePos.join(',')}`);
    assert.ok(o.eePos[2] <= cell.layout.socketTop + 0.1505);
    assert.ok(2 * Math.acos(Math.min(1, o.eeQuat[0])) < 0.01, 'tip still points down');
  }
  cell.dispose();
});

test('bad inputs fail loudly', async () => {
  await assert.rejects(SimCell.create({ connector: byName('square16'), imageSize: -1 }), /CellConfig\.imageSize/);
  await assert.rejects(SimCell.create({ connector: byName('square16'), maxStep: 1 }), /CellConfig\.maxStep/);
  const cell = await SimCell.create({ connector: byName('square16'), imageSize: 0 });
  assert.throws(() => cell.step([0, 0, 0]), SimError);
  cell.reset({ seed: 1, scenario: 'I' });
  assert.throws(() => cell.step([Number.NaN, 0, 0]), RangeError);
  assert.throws(() => cell.reset({ seed: 1, scenario: 'III' as 'I' }), RangeError);
  // Actions are clipped per axis to maxStep.
  const before = cell.observe().eePos;
  const after = cell.step([0.5, 0, 0]).eePos;
  assert.ok(Math.abs(after[0] - before[0] - 0.01) < 5e-4, `moved ${after[0] - before[0]}`);
  cell.dispose();
  assert.throws(() => cell.observe(), SimError);
});

test('shadows: the cached wrist render still equals a full ray cast, shadows only darken, and they show how deep an untextured plug is', async () => {
  const meanDiff = (a: Uint8Array, b: Uint8Array): number => {
    let d = 0;
    for (let i = 0; i < a.length; i++) d += Math.abs(a[i]! - b[i]!);
    return d / a.length;
  };
  // roundkey's socket face is untextured: once the pins are inside, only a shadow tells 4 mm above seated from seated.
  const depthPair = async (shadows: boolean): Promise<{ partial: Uint8Array; seated: Uint8Array; frames: Uint8Array[] }> => {
    const cell = await SimCell.create({ connector: byName('roundkey'), shadows });
    let o = cell.reset({ seed: 2, scenario: 'I' });
    let partial: Uint8Array | null = null;
    const frames: Uint8Array[] = [];
    for (let k = 0; k < 30 && !cell.groundTruth().success; k++) {
      o = cell.step(pControl(o.eePos, o.goal));
      frames.push(o.image.data);
      if (shadows) assert.ok(Buffer.from(o.image.data).equals(Buffer.from(cell.renderReference().data)), `step ${k}`);
      const togo = (o.eePos[2] - cell.socketPos()[2]) * 1000;
      if (togo > 2 && togo < 6) partial = o.image.data;
    }
    assert.ok(cell.groundTruth().success, 'seated');
    assert.ok(partial, 'passed through 2-6 mm above seated');
    const seated = o.image.data;
    cell.dispose();
    return { partial, seated, frames };
  };
  const off = await depthPair(false);
  const on = await depthPair(true);
  // Same physics, so frame k of both runs shows the same state: shadows may only darken a pixel, and some they do.
  assert.equal(on.frames.length, off.frames.length);
  let darker = 0;
  for (let k = 0; k < on.frames.length; k++) {
    const a = on.frames[k]!,
      b = off.frames[k]!;
    for (let i = 0; i < a.length; i++) {
      assert.ok(a[i]! <= b[i]!, `frame ${k} value ${i}: ${a[i]} with shadows > ${b[i]} without`);
      if (a[i]! < b[i]!) darker++;
    }
  }
  assert.ok(darker > 100, `only ${darker} values darkened`);
  const dOff = meanDiff(off.partial, off.seated);
  const dOn = meanDiff(on.partial, on.seated);
  assert.ok(dOff < 0.1, `without shadows partial and seated differ by ${dOff.toFixed(3)}`);
  assert.ok(dOn > 10 * Math.max(dOff, 0.02), `with shadows partial and seated differ by only ${dOn.toFixed(3)} (without: ${dOff.toFixed(3)})`);
});

test("a checker-textured socket face renders clean (no speckle from rounding on the texture's zero plane)", async () => {
  // Speckle = pixels unlike all four neighbours; a clean 8 mm checker at this scale has almost none.
  const isolated = (im: Uint8Array, n: number): number => {
    const px = (x: number, y: number): number => {
      const o = 3 * (y * n + x);
      return (im[o]! << 16) | (im[o + 1]! << 8) | im[o + 2]!;
    };
    let c = 0;
    for (let y = 1; y < n - 1; y++)
      for (let x = 1; x < n - 1; x++) {
        const v = px(x, y);
        if (v !== px(x - 1, y) && v !== px(x + 1, y) && v !== px(x, y - 1) && v !== px(x, y + 1)) c++;
      }
    return c;
  };
  const cell = await SimCell.create({ connector: byName('megablock') });
  let o = cell.reset({ seed: 1, scenario: 'I' });
  let worst = 0;
  for (let k = 0; k < 15; k++) {
    o = cell.step(pControl(o.eePos, o.goal));
    worst = Math.max(worst, isolated(o.image.data, 64));
  }
  cell.dispose();
  assert.ok(worst <= 3, `up to ${worst} isolated pixels in a frame (before the fix: 30-180)`);
});

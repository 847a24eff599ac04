/**
 * The simulated cell's figures: one 10 Hz control step (100 physics steps at 1 ms + IK + F/T + 64x64 image;
 * target median <= 3 ms, i.e. >= 33x real time per core), and separately physics only, image only and IK only;
 * the real-time factor; memory per cell (RSS and heap when creating N cells).
 * Run: npx tsx bench/sim.bench.ts [--quick]   (writes bench/results/sim.json)
 *
 * Each sample is timed twice: wall clock and this process's CPU time. The machine is shared, so wall-clock
 * percentiles include time the OS gave to other processes; CPU time is what the step itself costs.
 * The workload is realistic: P-controller episodes of 20 steps, half of them with a 2 mm goal error, so about
 * half the steps are in contact (pressing on the socket face) and half insert.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { pControl } from '../src/control/p-controller.ts';
import { SimCell } from '../src/sim/cell.ts';
import { findConnector, loadConnectors } from '../src/sim/connectors.ts';
import { benchArgs, SIM } from './commands.ts';
import { fmt, summarize, writeResults, type Summary } from './lib.ts';

const { quick } = benchArgs(SIM);
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const CONNECTORS = ['square16', 'europlug', 'dt12', 'round12'];
const STEPS = quick ? 200 : 1000;
const all = loadConnectors();

interface Timed {
  wall: Summary;
  cpu: Summary;
}

function timeBoth(fn: () => void, n: number): Timed {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    wall.push(t1 - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: summarize(wall), cpu: summarize(cpu) };
}

async function benchConnector(name: string): Promise<Record<string, unknown>> {
  const def = findConnector(all, name);
  const exact = await SimCell.create({ connector: def });
  const biased = await SimCell.create({ connector: def, goalBias: [0.002, 0, 0] });
  let cell = exact;
  let obs = cell.reset({ seed: 0, scenario: 'I' });
  let k = 0;
  let episode = 0;
  let successes = 0;
  const one = (): void => {
    obs = cell.step(pControl(obs.eePos, obs.goal));
    if (++k % 20 === 0) {
      if (cell.groundTruth().success) successes++;
      episode++;
      cell = episode % 2 ? biased : exact;
      obs = cell.reset({ seed: episode, scenario: 'I' });
    }
  };
  // Warm-up: V8 tiers wasm and JS up during the first seconds.
  const tw = performance.now();
  while (performance.now() - tw < (quick ? 1000 : 3000)) one();
  k = 0;
  successes = 0;
  episode = 0;
  const step = timeBoth(one, STEPS);
  const shares = stepShares(exact, biased, STEPS);
  const physics = timeBoth(() => cell.physicsSteps(100), STEPS / 2);
  const image = timeBoth(() => cell.render(), STEPS / 2);
  // IK as in a step: a new target 5 mm away, seeded with the current joints.
  const q = cell.jointPositions();
  const t = cell.tipTarget();
  const ik = timeBoth(() => cell.inverseKinematics([t[0] + 0.005, t[1] - 0.003, t[2] + 0.004], q, 30), STEPS / 2);
  const reference = timeBoth(() => cell.renderReference(), STEPS / 4);
  // Shadows (CellConfig.shadows) side by side with the plain render of the same state, half-way down to the socket.
  const pair = await Promise.all([false, true].map((shadows) => SimCell.create({ connector: def, shadows })));
  for (const c of pair) {
    let o = c.reset({ seed: 3, scenario: 'I' });
    for (let i = 0; i < 6; i++) o = c.step(pControl(o.eePos, o.goal));
  }
  const plainSame = timeBoth(() => pair[0]!.render(), STEPS / 4);
  const shadowed = timeBoth(() => pair[1]!.render(), STEPS / 4);
  for (const c of pair) c.dispose();
  const geoms = (cell as unknown as { model: { ngeom: number } }).model.ngeom;
  exact.dispose();
  biased.dispose();
  return {
    connector: name,
    geoms,
    step,
    physics100: physics,
    image64: image,
    image64FullCast: reference,
    image64SameState: plainSame,
    image64Shadows: shadowed,
    ik,
    stepShares: shares,
    insertedEpisodes: `${successes}/${Math.floor(STEPS / 20)}`,
  };
}

/**
 * Where a control step's time goes, measured inside the same workload (P-controller episodes, half of them pressing on
 * the face): the 100 mj_step calls, the image, the IK solve, and the rest (the joint trajectory and feed-forward in JS,
 * the observation). Wall-clock shares of the steps only (resets excluded); on a loaded machine preemption lands in
 * whichever part was running, in proportion to its length.
 */
function stepShares(exact: SimCell, biased: SimCell, n: number): Record<string, number> {
  type Inside = { mj: { mj_step: (m: unknown, d: unknown) => void }; ik: { solve: (...a: unknown[]) => unknown } };
  const mj = (exact as unknown as Inside).mj;
  const t = { total: 0, physics: 0, image: 0, ik: 0 };
  const timed =
    <A extends unknown[], R>(key: 'physics' | 'image' | 'ik', f: (...a: A) => R) =>
    (...a: A): R => {
      const t0 = performance.now();
      try {
        return f(...a);
      } finally {
        t[key] += performance.now() - t0;
      }
    };
  const stepFn = mj.mj_step;
  mj.mj_step = timed('physics', stepFn.bind(mj));
  const undo: Array<() => void> = [() => (mj.mj_step = stepFn)];
  for (const c of [exact, biased]) {
    const render = c.render.bind(c);
    const ik = (c as unknown as Inside).ik;
    const solve = ik.solve.bind(ik);
    c.render = timed('image', render);
    ik.solve = timed('ik', solve);
    undo.push(() => {
      delete (c as Partial<SimCell>).render;
      ik.solve = solve;
    });
  }
  let obs = exact.reset({ seed: 7, scenario: 'I' });
  for (let i = 0; i < n; i++) {
    const cell = Math.floor(i / 20) % 2 ? biased : exact;
    if (i % 20 === 0) {
      // A reset's settling steps, image and IK are not part of a control step.
      const keep = { ...t };
      obs = cell.reset({ seed: 1000 + i, scenario: 'I' });
      Object.assign(t, keep);
    }
    const t0 = performance.now();
    obs = cell.step(pControl(obs.eePos, obs.goal));
    t.total += performance.now() - t0;
  }
  for (const u of undo) u();
  const share = (x: number): number => x / t.total;
  return { physics: share(t.physics), image: share(t.image), ik: share(t.ik), rest: share(t.total - t.physics - t.image - t.ik) };
}

async function memoryPerCell(n: number): Promise<Record<string, number>> {
  const def = findConnector(all, 'europlug');
  // Load the module and create one cell first, so the shared module is not charged to the first cell.
  const first = await SimCell.create({ connector: def });
  first.reset({ seed: 0, scenario: 'I' });
  gc();
  const m0 = process.memoryUsage();
  const cells: SimCell[] = [];
  for (let i = 0; i < n; i++) {
    const c = await SimCell.create({ connector: def });
    c.reset({ seed: i, scenario: 'I' });
    cells.push(c);
  }
  gc();
  const m1 = process.memoryUsage();
  const result = measured();
  for (const c of cells) c.dispose();
  first.dispose();
  return result;
  function measured(): Record<string, number> {
    const mb = (x: number): number => x / n / 2 ** 20;
    // What MuJoCo allocates per cell inside the wasm heap: the model, and two MjData (simulation + IK scratch),
    // each a buffer plus its arena (contacts, constraint solver); most arena pages are never touched.
    const c0 = cells[0]! as unknown as { model: { nbuffer: number }; data: { nbuffer: number; narena: number } };
    const mujocoBytes = c0.model.nbuffer + 2 * (c0.data.nbuffer + c0.data.narena);
    return {
      mujocoAllocatedPerCellMB: mujocoBytes / 2 ** 20,
      cells: n,
      rssPerCellMB: mb(m1.rss - m0.rss),
      heapUsedPerCellMB: mb(m1.heapUsed - m0.heapUsed),
      externalPerCellMB: mb(m1.external - m0.external),
      arrayBuffersPerCellMB: mb(m1.arrayBuffers - m0.arrayBuffers),
    };
  }
}

/** Camera resolution at the socket face under the tip at the start height (px per mm, x and y). */
async function resolution(): Promise<{ pxPerMmX: number; pxPerMmY: number }> {
  const cell = await SimCell.create({ connector: findConnector(all, 'square16'), nuisance: false });
  const o = cell.reset({ seed: 1, scenario: 'I' });
  const z = cell.layout.socketTop;
  const a = cell.project([o.eePos[0], o.eePos[1], z])!;
  const bx = cell.project([o.eePos[0] + 0.001, o.eePos[1], z])!;
  const by = cell.project([o.eePos[0], o.eePos[1] + 0.001, z])!;
  cell.dispose();
  return { pxPerMmX: Math.hypot(bx[0] - a[0], bx[1] - a[1]), pxPerMmY: Math.hypot(by[0] - a[0], by[1] - a[1]) };
}

// Memory first, while the wasm heap is fresh (it never shrinks; later cells would reuse freed space).
const mem = await memoryPerCell(quick ? 4 : 16);
const perConnector: Record<string, unknown>[] = [];
for (const name of CONNECTORS) {
  const r = await benchConnector(name);
  perConnector.push(r);
  const s = r.step as Timed;
  const p = r.physics100 as Timed;
  const im = r.image64 as Timed;
  const ik = r.ik as Timed;
  const ref = r.image64FullCast as Timed;
  const sh = r.image64Shadows as Timed;
  const same = r.image64SameState as Timed;
  console.log(
    `${name.padEnd(9)} geoms ${String(r.geoms).padStart(3)} | step median ${fmt(s.wall.median)} p99 ${fmt(s.wall.p99)} (cpu median ${fmt(s.cpu.median)} p99 ${fmt(s.cpu.p99)})` +
      ` | shares of the step: ${Object.entries(r.stepShares as Record<string, number>)
        .map(([k, x]) => `${k} ${(100 * x).toFixed(0)} %`)
        .join(', ')}` +
      ` | physics x100 ${fmt(p.cpu.median)} cpu | image ${fmt(im.cpu.median)} cpu (full cast ${fmt(ref.cpu.median)}; with shadows ${fmt(sh.cpu.median)} vs ${fmt(same.cpu.median)} without, same state) | IK ${fmt(ik.cpu.median)} cpu | inserted ${String(r.insertedEpisodes)}`,
  );
}
const stepMedWall = summarize(perConnector.map((r) => (r.step as Timed).wall.median)).median;
const stepMedCpu = summarize(perConnector.map((r) => (r.step as Timed).cpu.median)).median;
const res = await resolution();
const figures = {
  steps: STEPS,
  controlPeriodMs: 100,
  stepMedianWallMs: stepMedWall,
  stepMedianCpuMs: stepMedCpu,
  realTimeFactorWall: 100 / stepMedWall,
  realTimeFactorCpu: 100 / stepMedCpu,
  targetMedianMs: 3,
  perConnector,
  memory: mem,
  cameraResolution: res,
};
console.log(
  `control step (median over connectors): ${fmt(stepMedWall)} wall, ${fmt(stepMedCpu)} cpu -> ${(100 / stepMedWall).toFixed(0)}x real time (wall), ${(100 / stepMedCpu).toFixed(0)}x (cpu)`,
);
console.log(
  `memory per cell (${mem.cells} cells): RSS ${mem.rssPerCellMB!.toFixed(2)} MB, JS heap ${mem.heapUsedPerCellMB!.toFixed(3)} MB, external ${mem.externalPerCellMB!.toFixed(2)} MB; MuJoCo allocates ${mem.mujocoAllocatedPerCellMB!.toFixed(2)} MB (model + 2 MjData incl. arenas)`,
);
console.log(`wrist camera at the start height: ${res.pxPerMmX.toFixed(2)} px/mm (x), ${res.pxPerMmY.toFixed(2)} px/mm (y) at the socket face`);
console.log(`wrote ${writeResults('sim', figures)}`);

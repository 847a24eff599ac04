// The contact filter's proof, checked directly against MuJoCo's own distance (mj_geomDistance, the narrow phase's
// GJK on the same geoms). test/sim/contact-filter.test.ts compares outputs with the filter on and off, which only
// fails once a pair the filter switched off actually penetrates; a bound that is too loose by less than the motion
// of the episode passes it. Here, at every physics step of the sampled episodes (reset, then expert, face-pressing
// and random steps), for every plug-socket pair the filter has switched off (read from the collision bits, as MuJoCo
// reads them):
// - at the rebuild that switched it off, MuJoCo confirms its distance is at least the clearance the rebuild proved,
//   less MuJoCo's own tolerance (TOLERANCE);
// - at every later step it stays off, the joints' motion bound since that rebuild is below that confirmed distance
//   (so the pair cannot touch however the plug moved), the bound covers the geom's actual displacement, and for the
//   pairs within 2 mm MuJoCo's distance at the pose it collided at is >= 0.
// A pair's rebuild and motion are those of its tier: the last full rebuild for a far pair, the last rebuild for a near one.
// Checked to fail with the support skipping every other outline vertex (dshape14, header2x4, hex14: claims 0.5-3.5 um
// too large), with the filter held 3x longer than proven (all five), and with the far tier held 3x longer (all five).
// CONNECTORS=a,b,... picks others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import { pControl } from '../../src/control/p-controller.ts';
import { SimCell } from '../../src/sim/cell.ts';
import { CONTACT_FILTER, type ContactFilter, type StepPoses } from '../../src/sim/contact-filter.ts';
import { loadConnectors } from '../../src/sim/connectors.ts';
import type { Mujoco } from '../../src/sim/mujoco.ts';

/** The cell's private parts this test audits (a test-only view; the cell exposes no MuJoCo handles). */
interface CellInternals {
  mj: Mujoco;
  model: InstanceType<Mujoco['MjModel']>;
  data: InstanceType<Mujoco['MjData']>;
  contacts: ContactFilter;
}

/**
 * Distances beyond this are reported as this; it is the filter's largest motion bound (maxRadius). A larger distmax
 * is not safe: with 0.05, MuJoCo 3.5.1's wasm mj_geomDistance returned 0 for mesh pairs 8-22 mm apart (0.01 reported
 * them as beyond 0.01).
 */
const DISTMAX = CONTACT_FILTER.maxRadius;

/**
 * How far MuJoCo's distance may fall short of a proved clearance: float32 mesh vertices and GJK's tolerance. The
 * correct filter's claims exceed MuJoCo's distance by at most 0.043 um on these episodes; every other outline vertex
 * skipped, by 0.5-3.5 um. Tighter than the filter's own epsilon (10 um), under which such an error would hide.
 */
const TOLERANCE = 5e-7;

interface Audit {
  filteredSteps: number;
  pairSteps: number;
  rebuildPairs: number;
  /** The smallest claimed clearance, and the confirmed true distance at the rebuild, less the motion bound at a step. */
  claimSlack: number;
  motionSlack: number;
  /** Pair-steps whose distance at the pose collided at was checked. */
  nearSteps: number;
  /** MuJoCo distances that a second query contradicted (see atLeast). */
  spurious: number;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Policy = 'expert' | 'press' | 'random';

async function audit(name: string, episodes: [number, 'I' | 'II', Policy][]): Promise<Audit> {
  const def = loadConnectors().find((d) => d.name === name);
  assert.ok(def, `no connector ${name}`);
  const cell = await SimCell.create({ connector: def, imageSize: 0, goalNoise: 0.002 });
  const { mj, model, data, contacts: f } = cell as unknown as CellInternals;
  const nM = f.moverGeom.length;
  const nP = f.geom.length;
  const contype = Int32Array.from(model.geom_contype as Int32Array);
  // As compiled: create() has not stepped, so no pair is switched off yet.
  const compiled = Int32Array.from(model.geom_conaffinity as Int32Array);
  const refDist = new Float64Array(nP * nM).fill(NaN);
  /** Per pair, the mover's centre at the rebuild that proved it. */
  const refCentre = new Float64Array(3 * nP * nM);
  const qpre = new Float64Array(model.nq);
  const a: Audit = { filteredSteps: 0, pairSteps: 0, rebuildPairs: 0, claimSlack: Infinity, motionSlack: Infinity, nearSteps: 0, spurious: 0 };
  let where = '';
  // Whether MuJoCo's distance between prism j and mover i is at least x (0 < x): x if so, else the distance below x
  // it reports. A distance below the cap is taken only when a query capped just above it agrees; otherwise (a
  // spurious 0, see DISTMAX) a larger cap is tried. NaN: no two queries agreed.
  const atLeast = (j: number, i: number, x: number): number => {
    const g1 = f.geom[j]!;
    const g2 = f.moverGeom[i]!;
    for (const s of [1, 1.03, 1.1, 1.25, 1.5, 2]) {
      const cap = x * s;
      const r = mj.mj_geomDistance(model, data, g1, g2, cap, null);
      if (r >= cap) return x;
      const check = mj.mj_geomDistance(model, data, g1, g2, r + 1e-4, null);
      if (Math.abs(check - r) < 1e-6) return Math.min(r, x);
      a.spurious++;
    }
    return NaN;
  };
  const geomName = (g: number): string => mj.mj_id2name(model, mj.mjtObj.mjOBJ_GEOM.value, g) ?? String(g);
  const pair = (j: number, i: number): string => `${geomName(f.geom[j]!)} / ${geomName(f.moverGeom[i]!)}`;
  const state = (): string => `${name} ${where}, q ${Array.from(qpre, (x) => x.toFixed(6)).join(' ')}`;

  const before = f.beforeStep.bind(f);
  const after = f.afterStep.bind(f);
  f.beforeStep = (q: Float64Array): void => {
    qpre.set(q);
    before(q);
  };
  f.afterStep = (q: Float64Array, poses: StepPoses): void => {
    // mjData holds the poses this step collided at (qpre), with the collision bits it collided with.
    const aff = model.geom_conaffinity as Int32Array;
    const xpos = data.geom_xpos as Float64Array;
    const { qref, qfar } = f.proof();
    const mNear = f.motion(qpre, qref);
    const mFar = f.motion(qpre, qfar, true);
    let filtered = false;
    for (let j = 0; j < nP; j++) {
      const gp = f.geom[j]!;
      for (let i = 0; i < nM; i++) {
        const gm = f.moverGeom[i]!;
        const was = (contype[gm]! & compiled[gp]!) !== 0 || (contype[gp]! & compiled[gm]!) !== 0;
        const is = (contype[gm]! & aff[gp]!) !== 0 || (contype[gp]! & aff[gm]!) !== 0;
        if (!was || is) continue;
        filtered = true;
        a.pairSteps++;
        const k = j * nM + i;
        const m = f.far[k] === 1 ? mFar : mNear;
        assert.ok(!Number.isNaN(f.clearance[k]!), `${state()}: ${pair(j, i)} is off without a proved clearance`);
        const d0 = refDist[k]!;
        a.motionSlack = Math.min(a.motionSlack, d0 - m);
        a.claimSlack = Math.min(a.claimSlack, f.clearance[k]! - m);
        assert.ok(d0 > m, `${state()}: ${pair(j, i)} is off while the motion bound ${m} since the rebuild reaches the distance MuJoCo confirmed there, ${d0}`);
        const moved = Math.hypot(xpos[3 * gm]! - refCentre[3 * k]!, xpos[3 * gm + 1]! - refCentre[3 * k + 1]!, xpos[3 * gm + 2]! - refCentre[3 * k + 2]!);
        assert.ok(moved <= m + 1e-9, `${state()}: ${pair(j, i)}: the geom moved ${moved}, beyond the motion bound ${m}`);
        // The pairs within 2 mm at the rebuild, at the pose collided at: a negative distance is a penetration (a
        // spurious 0 passes, which is safe: the claims are checked above). The farther ones are covered by d0 > m.
        if (d0 >= 0.002) continue;
        a.nearSteps++;
        const d = mj.mj_geomDistance(model, data, f.geom[j]!, gm, 1e-3, null);
        assert.ok(d >= 0, `${state()}: ${pair(j, i)} is off at a pose where MuJoCo's distance is ${d}`);
      }
    }
    if (filtered) a.filteredSteps++;
    const rebuilds = f.stats.rebuilds;
    const full = f.stats.fullRebuilds;
    after(q, poses);
    if (f.stats.rebuilds === rebuilds) return;
    // Rebuilt from these poses: every clearance it proved (all, or the near tier's) against MuJoCo's distance at them.
    const all = f.stats.fullRebuilds !== full;
    for (let j = 0; j < nP; j++) {
      for (let i = 0; i < nM; i++) {
        const k = j * nM + i;
        if (!all && f.far[k] === 1) continue;
        for (let c = 0; c < 3; c++) refCentre[3 * k + c] = xpos[3 * f.moverGeom[i]! + c]!;
        const c = f.clearance[k]!;
        if (Number.isNaN(c)) {
          refDist[k] = NaN;
          continue;
        }
        // What the proof claims, less MuJoCo's own tolerance: then refDist is a distance MuJoCo confirms.
        const claim = Math.min(c, DISTMAX) - TOLERANCE;
        const d = atLeast(j, i, claim);
        refDist[k] = d;
        a.rebuildPairs++;
        assert.ok(d >= claim, `${state()}: the rebuild proved ${pair(j, i)} ${c} apart, MuJoCo's distance is ${d}`);
      }
    }
  };

  try {
    for (const [seed, scenario, policy] of episodes) {
      const rand = mulberry32(seed * 7919 + 17);
      let o = cell.reset({ seed, scenario });
      const side: Vec3 = [0.01 * (rand() - 0.5), 0.01 * (rand() - 0.5), -0.01];
      for (let k = 0; k < 12; k++) {
        where = `seed ${seed} scenario ${scenario} ${policy} step ${k}`;
        let act: Vec3;
        if (policy === 'expert') act = k < 7 ? pControl(o.eePos, o.goal) : [0, 0, -0.01];
        else if (policy === 'press') act = k < 4 ? [0, 0, -0.01] : side;
        else act = [0.02 * (rand() - 0.5), 0.02 * (rand() - 0.5), 0.02 * (rand() - 0.6)];
        o = cell.step(act);
      }
    }
  } finally {
    cell.dispose();
  }
  return a;
}

const EPISODES: [number, 'I' | 'II', Policy][] = [
  [1, 'I', 'expert'],
  [3, 'II', 'press'],
  [4, 'I', 'random'],
];

for (const name of (process.env.CONNECTORS ?? 'round12,roundkey,dshape14,header2x4,hex14').split(',')) {
  test(`${name}: every pair the contact filter switches off is as far apart as its proof claims, by MuJoCo's distance`, async () => {
    const a = await audit(name, EPISODES);
    // The audit must have audited: many filtered steps and pairs, some of them close.
    assert.ok(a.filteredSteps > 100, `${name}: only ${a.filteredSteps} filtered steps`);
    assert.ok(a.rebuildPairs > 100, `${name}: only ${a.rebuildPairs} proved pairs`);
    console.log(
      `${name}: ${a.filteredSteps} filtered steps, ${a.pairSteps} pair-steps (${a.nearSteps} within 2 mm), ${a.rebuildPairs} proved pairs; smallest clearance less motion bound: claimed ${a.claimSlack}, confirmed ${a.motionSlack}; ${a.spurious} contradicted distance queries`,
    );
  });
}

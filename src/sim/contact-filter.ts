/**
 * The contact filter of the cell: a socket collision geom is switched off for a plug geom (a pin or the housing) while
 * the two provably cannot touch. MuJoCo then runs its midphase and narrow phase (GJK between a pin and a piece) only for
 * the pairs that might touch; with everything off, the plug's body pairs leave the broadphase. The contacts, their
 * order, and with them every trajectory stay bitwise the same: a pair that is off could only have produced nothing (the
 * geoms have no margin, so only a penetrating pair makes a contact).
 *
 * MuJoCo's contact filter callback is not in the wasm bindings, so the switch is each socket geom's conaffinity: every
 * pin has a bit of its own and the housing another (mjcf.ts), and a socket geom accepts the bits of the plug geoms near it.
 *
 * Why a pair that is off cannot touch, from the pose the last physics step collided at (joint positions qref):
 * - A socket geom is a convex prism: an outline extruded over a z range, so an intersection of half-spaces (the table:
 *   everything below its top). The distance of any convex set from it is at least its signed distance from each of
 *   those half-spaces.
 * - A quick bound: a plug geom lies within its `radius` of a segment (a capsule round it, mjcf.ts), and the segment's
 *   signed distance from a half-space is the smaller of its ends' (an affine function is smallest at an end); less the
 *   radius. A box round all the plug geoms gives one bound for the whole plug at once.
 * - The exact one, for pairs near by that bound: a plug geom is itself a prism along its segment (its outline, or a
 *   cylinder), so its signed distance from a half-space is its support in the half-space's normal (`support`).
 * - Turning joint k by dq_k moves a point by at most |dq_k| times its distance from the joint's axis. At qref that
 *   distance is at most r_k (the plug origin's distance from the axis, plus plugRadius); on the way to q the later joints
 *   can add at most sum_{m>k} |dq_m| reach_m (mjcf.ts). So no point moves farther than
 *   sum_k |dq_k| (r_k + sum_{m>k} |dq_m| reach_m).
 * - While that bound stays below the smallest clearance of the pairs that are off, less `epsilon` for rounding, none
 *   of them can touch. It is checked before every physics step. When it fails, every pair is on for that step, and the
 *   filter is rebuilt from the pose the step collided at (MuJoCo's own poses, left in mjData by mj_step).
 * - Two tiers, each its own proof of the above: a full rebuild proves every pair; those it finds `far` apart or more stay
 *   off, against the motion since it (qfar), until the next full rebuild. The others (near) are proved again, alone, at
 *   every rebuild, against the motion since the last one (qref). Most rebuilds are then near ones, over a few pairs.
 */
import type { CellContactGeometry } from './mjcf.ts';
import type { Mujoco } from './mujoco.ts';

export interface ContactFilterConfig {
  /** A pair is switched off only when its clearance exceeds this (m). Smaller switches more off but rebuilds more often. */
  minClearance: number;
  /** Allowance for rounding: the MJCF's 0.1 um, float32 mesh vertices, the narrow phase's tolerances (m). */
  epsilon: number;
  /** The filter is rebuilt at the latest after the plug may have moved this far (m). */
  maxRadius: number;
  /** Pairs whose quick bound (z range, bounding circle) is below this get the half-space bound too (m). */
  near: number;
  /** A full rebuild leaves pairs at least this far apart off until the next full one; the rest are proved at every rebuild (m). */
  far: number;
}

export const CONTACT_FILTER: ContactFilterConfig = { minClearance: 1e-4, epsilon: 1e-5, maxRadius: 0.02, near: 1e-3, far: 2e-3 };

type Model = InstanceType<Mujoco['MjModel']>;

/**
 * Counts since creation: steps run, steps with every near pair on (unfiltered), rebuilds (fullRebuilds of them full), and
 * the plug-socket pairs that were off at each rebuild (a near rebuild counts the far pairs it leaves off too).
 */
export interface ContactFilterStats {
  steps: number;
  unfiltered: number;
  rebuilds: number;
  fullRebuilds: number;
  pairsOff: number;
  pairs: number;
}

/** MuJoCo's poses after a step (those it collided at): the plug body's, and every joint's anchor and axis. */
export interface StepPoses {
  xpos: Float64Array;
  xmat: Float64Array;
  xanchor: Float64Array;
  xaxis: Float64Array;
}

export class ContactFilter {
  private readonly nMovers: number;
  private readonly nPrisms: number;
  private readonly nq: number;
  /** The prisms' geom ids, and the movers'. */
  readonly geom: Int32Array;
  readonly moverGeom: Int32Array;
  /** Per prism: its compiled conaffinity (all on), and what it is now. */
  private readonly allOn: Int32Array;
  private readonly affinity: Int32Array;
  /** Per prism: z0, z1, centre x, y and radius of the outline's bounding circle. */
  private readonly box: Float64Array;
  /** Per prism: the outline's bounding box, x0, x1, y0, y1. */
  private readonly bbox: Float64Array;
  /** Per prism, edges from edgeStart: outward normal x, y and offset d (n.p - d is the signed distance). */
  private readonly edges: Float64Array;
  private readonly edgeStart: Int32Array;
  /**
   * Per edge: its normal's index among the distinct normals (many pieces share them); the top and bottom faces come
   * after those. A rebuild computes each mover's support in each such direction once (`supports`, stamped `rebuildNo`).
   */
  private readonly edgeDir: Int32Array;
  private readonly nDirs: number;
  private readonly supports: Float64Array;
  private readonly supportStamp: Int32Array;
  private rebuildNo = 0;
  /** Per mover: its segment's ends in the plug's frame (6), its radius, its bit. */
  private readonly local: Float64Array;
  private readonly radii: Float64Array;
  private readonly bits: Int32Array;
  private readonly moverBits: number;
  /** Per mover: its outline's vertices from polyStart (x, y in the plug's frame); none for a cylinder. */
  private readonly poly: Float64Array;
  private readonly polyStart: Int32Array;
  /** Per mover, its segment's ends in the socket's frame at qref. */
  private readonly ends: Float64Array;
  private readonly reach: Float64Array;
  /** Per joint: the farthest a mover point lies from its axis at qref, and at qfar. */
  private readonly axisDist: Float64Array;
  private readonly axisDistFar: Float64Array;
  private readonly qref: Float64Array;
  private readonly qfar: Float64Array;
  private readonly qpre: Float64Array;
  /** The near tier holds while the motion bound since qref is below this, the far tier since qfar; negative: not built. */
  private radius = -1;
  private farRadius = -1;
  /** Per prism: the movers (bits) of its near pairs, which every rebuild proves; the others are far or not accepted. */
  private readonly nearMask: Int32Array;
  /** A near (stale) or full (staleFar) rebuild is due after this step. */
  private stale = true;
  private staleFar = true;
  /** Every pair on (the compiled conaffinity); else the far pairs are off at least. */
  private on = true;
  /** Far pairs off as of the last full rebuild (counted into stats.pairsOff at every near rebuild). */
  private farOff = 0;
  /**
   * Per pair (prism j, mover i at j * movers + i): the clearance the rebuild that switched it off proved at its pose, NaN
   * for a pair left on; `far` says which tier (1: at the last full rebuild, qfar; 0: at the last rebuild, qref). Kept for
   * test/sim/contact-filter-bound.test.ts, which checks each against MuJoCo's own distance.
   */
  readonly clearance: Float64Array;
  readonly far: Uint8Array;
  private view: Int32Array | null = null;
  /**
   * The bodies holding prisms (the socket's, the world's for the table): each one's body_conaffinity, the OR over its
   * geoms that MuJoCo's broadphase filters body pairs by (canCollide2), is kept the OR of its geoms' current
   * conaffinity. With every pair of a body off, its pairs with the plug's bodies then never reach the midphase (whose
   * box tree walk found nothing to collide, every geom pair being filtered out): the same contacts in the same order.
   * Per such body: the OR of its other geoms' conaffinity, and its prisms (indices into `geom`) from bodyPrismStart.
   */
  private readonly bodies: Int32Array;
  private readonly bodyBase: Int32Array;
  private readonly bodyPrismStart: Int32Array;
  private readonly bodyPrisms: Int32Array;
  private bodyView: Int32Array | null = null;
  enabled = true;
  readonly stats: ContactFilterStats = { steps: 0, unfiltered: 0, rebuilds: 0, fullRebuilds: 0, pairsOff: 0, pairs: 0 };

  constructor(
    mj: Mujoco,
    private readonly model: Model,
    private readonly geo: CellContactGeometry,
    private readonly plugBody: number,
    private readonly cfg: ContactFilterConfig = CONTACT_FILTER,
  ) {
    const id = (name: string): number => {
      const g = mj.mj_name2id(model, mj.mjtObj.mjOBJ_GEOM.value, name);
      if (g < 0) throw new Error(`the cell model lacks geom ${name}`);
      return g;
    };
    this.nq = geo.reach.length;
    if (model.njnt !== this.nq || model.nq !== this.nq) throw new Error('the contact filter expects one hinge per arm joint and nothing else');
    this.nMovers = geo.movers.length;
    this.nPrisms = geo.prisms.length;
    this.geom = Int32Array.from(geo.prisms, (p) => id(p.geom));
    this.moverGeom = Int32Array.from(geo.movers, (p) => id(p.geom));
    this.bits = Int32Array.from(geo.movers, (p) => p.bit);
    this.moverBits = geo.movers.reduce((m, p) => m | p.bit, 0);
    const aff = this.conaffinity();
    this.allOn = Int32Array.from(this.geom, (g) => aff[g]!);
    const geomBody = model.geom_bodyid as Int32Array;
    const bodies = [...new Set(Array.from(this.geom, (g) => geomBody[g]!))];
    this.bodies = Int32Array.from(bodies);
    this.bodyBase = Int32Array.from(bodies, (b) => {
      let base = 0;
      for (let g = 0; g < model.ngeom; g++) if (geomBody[g] === b && !this.geom.includes(g)) base |= aff[g]!;
      return base;
    });
    const members = bodies.map((b) => Array.from(this.geom.keys()).filter((j) => geomBody[this.geom[j]!] === b));
    this.bodyPrismStart = Int32Array.from([0, ...members.map((_, k) => members.slice(0, k + 1).flat().length)]);
    this.bodyPrisms = Int32Array.from(members.flat());
    this.affinity = Int32Array.from(this.allOn);
    this.box = new Float64Array(5 * this.nPrisms);
    this.bbox = Float64Array.from(
      geo.prisms.flatMap((p) => {
        const xs = p.outline.map((a) => a[0]);
        const ys = p.outline.map((a) => a[1]);
        return [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      }),
    );
    this.edgeStart = new Int32Array(this.nPrisms + 1);
    const edges: number[] = [];
    geo.prisms.forEach((p, j) => {
      const o = p.outline;
      let area = 0;
      let cx = 0;
      let cy = 0;
      for (let k = 0; k < o.length; k++) {
        const a = o[k]!;
        const b = o[(k + 1) % o.length]!;
        area += a[0] * b[1] - b[0] * a[1];
        cx += a[0] / o.length;
        cy += a[1] / o.length;
      }
      const r = Math.max(...o.map((a) => Math.hypot(a[0] - cx, a[1] - cy)));
      this.box.set([p.z[0], p.z[1], cx, cy, r], 5 * j);
      this.edgeStart[j] = edges.length / 3;
      const s = area > 0 ? 1 : -1;
      for (let k = 0; k < o.length; k++) {
        const a = o[k]!;
        const b = o[(k + 1) % o.length]!;
        const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
        if (len < 1e-12) continue;
        // Outward normal: right of the edge for a counter-clockwise outline.
        const nx = (s * (b[1] - a[1])) / len;
        const ny = (s * -(b[0] - a[0])) / len;
        edges.push(nx, ny, nx * a[0] + ny * a[1]);
      }
    });
    this.edgeStart[this.nPrisms] = edges.length / 3;
    this.edges = Float64Array.from(edges);
    const dirs = new Map<string, number>();
    this.edgeDir = Int32Array.from({ length: edges.length / 3 }, (_, e) => {
      const key = Array.from(Float64Array.of(edges[3 * e]!, edges[3 * e + 1]!), (x) => (Object.is(x, -0) ? '-0' : String(x))).join();
      if (!dirs.has(key)) dirs.set(key, dirs.size);
      return dirs.get(key)!;
    });
    this.nDirs = dirs.size + 2;
    this.supports = new Float64Array(this.nDirs * geo.movers.length);
    this.supportStamp = new Int32Array(this.nDirs * geo.movers.length);
    this.local = Float64Array.from(geo.movers.flatMap((p) => [...p.from, ...p.to]));
    this.radii = Float64Array.from(geo.movers, (p) => p.radius);
    this.polyStart = new Int32Array(this.nMovers + 1);
    const poly: number[] = [];
    geo.movers.forEach((p, i) => {
      this.polyStart[i] = poly.length / 2;
      for (const v of p.outline ?? []) poly.push(v[0], v[1]);
    });
    this.polyStart[this.nMovers] = poly.length / 2;
    this.poly = Float64Array.from(poly);
    this.ends = new Float64Array(6 * this.nMovers);
    this.reach = Float64Array.from(geo.reach);
    this.axisDist = Float64Array.from(geo.reach);
    this.axisDistFar = Float64Array.from(geo.reach);
    this.qref = new Float64Array(this.nq);
    this.qfar = new Float64Array(this.nq);
    this.qpre = new Float64Array(this.nq);
    this.nearMask = new Int32Array(this.nPrisms);
    this.clearance = new Float64Array(this.nPrisms * this.nMovers).fill(NaN);
    this.far = new Uint8Array(this.nPrisms * this.nMovers);
  }

  /**
   * The proofs in force: the joint positions each tier was built at, and the motion bounds they hold below (negative:
   * none).
   */
  proof(): { qref: Float64Array; radius: number; qfar: Float64Array; farRadius: number } {
    return { qref: this.qref, radius: this.on ? -1 : this.radius, qfar: this.qfar, farRadius: this.on ? -1 : this.farRadius };
  }

  /** The model's geom_conaffinity, re-fetched when wasm memory grew (a cached view is then detached). */
  private conaffinity(): Int32Array {
    if (this.view === null || this.view.length === 0) this.view = this.model.geom_conaffinity as Int32Array;
    return this.view;
  }

  /**
   * The bound on how far any mover point moved between joint positions `from` and q (m), with the axis distances of
   * the near tier's pose (qref), or of the far tier's (qfar) when `far`.
   */
  motion(q: Float64Array, from: Float64Array, far = false): number {
    const axisDist = far ? this.axisDistFar : this.axisDist;
    let b = 0;
    let tail = 0;
    for (let k = this.nq - 1; k >= 0; k--) {
      const d = Math.abs(q[k]! - from[k]!);
      b += d * (axisDist[k]! + tail);
      tail += d * this.reach[k]!;
    }
    return b;
  }

  private write(a: Int32Array): void {
    const view = this.conaffinity();
    for (let j = 0; j < this.nPrisms; j++) view[this.geom[j]!] = a[j]!;
    this.writeBodies();
  }

  /** Each prism body's body_conaffinity: the OR of its geoms' conaffinity as they are now. */
  private writeBodies(): void {
    const view = this.conaffinity();
    if (this.bodyView === null || this.bodyView.length === 0) this.bodyView = this.model.body_conaffinity as Int32Array;
    for (let k = 0; k < this.bodies.length; k++) {
      let or = this.bodyBase[k]!;
      for (let i = this.bodyPrismStart[k]!; i < this.bodyPrismStart[k + 1]!; i++) or |= view[this.geom[this.bodyPrisms[i]!]!]!;
      this.bodyView[this.bodies[k]!] = or;
    }
  }

  /** Every pair on until the next full rebuild. */
  private allPairsOn(): void {
    if (!this.on) this.write(this.allOn);
    this.on = true;
    this.stale = true;
    this.staleFar = true;
    this.radius = -1;
    this.farRadius = -1;
  }

  /** Every pair on until the next rebuild: before MuJoCo collides outside a step (mj_forward). */
  invalidate(): void {
    this.allPairsOn();
  }

  /** Before mj_step, with the joint positions it will collide at. */
  beforeStep(q: Float64Array): void {
    if (!this.enabled) {
      this.allPairsOn();
      return;
    }
    this.stats.steps++;
    for (let k = 0; k < this.nq; k++) this.qpre[k] = q[k]!;
    if (this.on) {
      this.stats.unfiltered++;
      return;
    }
    if (this.motion(q, this.qfar, true) >= this.farRadius) {
      this.allPairsOn();
      this.stats.unfiltered++;
    } else if (!this.stale && this.motion(q, this.qref) >= this.radius) {
      // The far pairs stay off; every near pair is on for this step.
      const view = this.conaffinity();
      for (let j = 0; j < this.nPrisms; j++) view[this.geom[j]!] = this.affinity[j]! | this.nearMask[j]!;
      this.writeBodies();
      this.stale = true;
      this.stats.unfiltered++;
    }
  }

  /**
   * After mj_step, whose poses in mjData are those it collided at (qpre). Rebuild from them when a tier is off, or when
   * two more steps like the last one could leave it (a guess at the next step, not part of the proof): the far tier
   * with every pair, the near tier alone.
   */
  afterStep(q: Float64Array, poses: StepPoses): void {
    if (!this.enabled) return;
    const step = 2 * this.motion(q, this.qpre);
    if (this.staleFar || this.motion(q, this.qfar, true) + step >= this.farRadius) this.rebuild(poses, true);
    else if (this.stale || this.motion(q, this.qref) + step >= this.radius) this.rebuild(poses, false);
  }

  /**
   * The smallest w . y over mover i's points y (plug frame): its outline's vertices, or its circle, at either end of
   * its segment. Exact for a convex geom, so a half-space's signed distance to the whole geom.
   */
  private support(i: number, wx: number, wy: number, wz: number): number {
    const l = this.local;
    const za = l[6 * i + 2]!;
    const zb = l[6 * i + 5]!;
    let m = Math.min(wz * za, wz * zb);
    const p0 = this.polyStart[i]!;
    const p1 = this.polyStart[i + 1]!;
    if (p0 === p1) return m + wx * l[6 * i]! + wy * l[6 * i + 1]! - this.radii[i]! * Math.sqrt(wx * wx + wy * wy);
    let best = Infinity;
    for (let k = p0; k < p1; k++) best = Math.min(best, wx * this.poly[2 * k]! + wy * this.poly[2 * k + 1]!);
    m += best;
    return m;
  }

  /**
   * Mover i's support (as `support`) along direction `dir`: an edge normal (nx, ny, 0) of the socket's frame, or the
   * world's z (dir nDirs - 2: the top face) or -z (nDirs - 1: the bottom), turned into the plug's frame by the plug
   * body b's xmat. Computed once per rebuild.
   */
  private supportAlong(i: number, dir: number, nx: number, ny: number, xmat: Float64Array, b: number): number {
    const k = i * this.nDirs + dir;
    if (this.supportStamp[k] === this.rebuildNo) return this.supports[k]!;
    const r = 9 * b;
    let w: number;
    if (dir === this.nDirs - 2) w = this.support(i, xmat[r + 6]!, xmat[r + 7]!, xmat[r + 8]!);
    else if (dir === this.nDirs - 1) w = this.support(i, -xmat[r + 6]!, -xmat[r + 7]!, -xmat[r + 8]!);
    else w = this.support(i, xmat[r]! * nx + xmat[r + 3]! * ny, xmat[r + 1]! * nx + xmat[r + 4]! * ny, xmat[r + 2]! * nx + xmat[r + 5]! * ny);
    this.supports[k] = w;
    this.supportStamp[k] = this.rebuildNo;
    return w;
  }

  /**
   * Prove the pairs from MuJoCo's poses of the step just run (at qpre): every pair (`full`), or the near ones alone. A
   * full rebuild sorts the pairs into the tiers.
   */
  private rebuild({ xpos, xmat, xanchor, xaxis }: StepPoses, full: boolean): void {
    const { ends, box, edges, edgeStart, radii, bits, local, nearMask } = this;
    const { minClearance, near, far } = this.cfg;
    const nM = this.nMovers;
    const b = this.plugBody;
    const o = this.geo.socketOrigin;
    this.rebuildNo++;
    this.qref.set(this.qpre);
    if (full) this.qfar.set(this.qpre);
    for (let i = 0; i < 2 * nM; i++) {
      const x = local[3 * i]!;
      const y = local[3 * i + 1]!;
      const z = local[3 * i + 2]!;
      for (let c = 0; c < 3; c++) {
        ends[3 * i + c] = xpos[3 * b + c]! + xmat[9 * b + 3 * c]! * x + xmat[9 * b + 3 * c + 1]! * y + xmat[9 * b + 3 * c + 2]! * z - o[c]!;
      }
    }
    // Each joint axis's distance from the plug's origin (|(p - anchor) x axis|), plus the plug's radius.
    for (let k = 0; k < this.nq; k++) {
      const dx = xpos[3 * b]! - xanchor[3 * k]!;
      const dy = xpos[3 * b + 1]! - xanchor[3 * k + 1]!;
      const dz = xpos[3 * b + 2]! - xanchor[3 * k + 2]!;
      const ax = xaxis[3 * k]!;
      const ay = xaxis[3 * k + 1]!;
      const az = xaxis[3 * k + 2]!;
      const cx = dy * az - dz * ay;
      const cy = dz * ax - dx * az;
      const cz = dx * ay - dy * ax;
      this.axisDist[k] = Math.sqrt(cx * cx + cy * cy + cz * cz) + this.geo.plugRadius;
    }
    if (full) this.axisDistFar.set(this.axisDist);
    // The box round every mover, for a first bound against a whole prism at once.
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    let zlo = Infinity;
    let zhi = -Infinity;
    for (let i = 0; i < 2 * nM; i++) {
      const rho = radii[i >> 1]!;
      x0 = Math.min(x0, ends[3 * i]! - rho);
      x1 = Math.max(x1, ends[3 * i]! + rho);
      y0 = Math.min(y0, ends[3 * i + 1]! - rho);
      y1 = Math.max(y1, ends[3 * i + 1]! + rho);
      zlo = Math.min(zlo, ends[3 * i + 2]! - rho);
      zhi = Math.max(zhi, ends[3 * i + 2]! + rho);
    }
    let smallest = this.cfg.maxRadius;
    let farthest = this.cfg.maxRadius;
    let off = 0;
    let farOff = 0;
    const proved = this.clearance;
    const tier = this.far;
    for (let j = 0; j < this.nPrisms; j++) {
      const accepts = this.allOn[j]!;
      // The movers to prove here: all that the prism accepts, or the near ones.
      const prove = full ? accepts & this.moverBits : nearMask[j]!;
      if (prove === 0) continue;
      const z0 = box[5 * j]!;
      const z1 = box[5 * j + 1]!;
      const cx = box[5 * j + 2]!;
      const cy = box[5 * j + 3]!;
      const r = box[5 * j + 4]!;
      // Movers left on, and near movers (the far ones keep their bits off).
      let mask = 0;
      let nearBits = full ? 0 : prove;
      // The gap between the movers' box and the prism's along the widest-apart axis bounds every mover's clearance.
      const gap = Math.max(this.bbox[4 * j]! - x1, x0 - this.bbox[4 * j + 1]!, this.bbox[4 * j + 2]! - y1, y0 - this.bbox[4 * j + 3]!, z0 - zhi, zlo - z1);
      for (let i = 0; i < nM; i++) {
        if ((prove & bits[i]!) === 0) continue;
        this.stats.pairs++;
        const k = j * nM + i;
        let clearance = gap;
        if (gap <= near) {
          const ax = ends[6 * i]!;
          const ay = ends[6 * i + 1]!;
          const az = ends[6 * i + 2]!;
          const bx = ends[6 * i + 3]!;
          const by = ends[6 * i + 4]!;
          const bz = ends[6 * i + 5]!;
          // Quick bounds: the z range, and the outline's bounding circle against the segment's xy midpoint and half length.
          let lb = Math.max(z0 - Math.max(az, bz), Math.min(az, bz) - z1);
          const half = 0.5 * Math.sqrt((bx - ax) ** 2 + (by - ay) ** 2);
          const mx = 0.5 * (ax + bx) - cx;
          const my = 0.5 * (ay + by) - cy;
          lb = Math.max(lb, Math.sqrt(mx * mx + my * my) - half - r);
          clearance = lb - radii[i]!;
          if (clearance < near) {
            // The prism's faces, each against the geom itself (its support in the face's normal, in the plug's frame).
            const px = xpos[3 * b]! - o[0];
            const py = xpos[3 * b + 1]! - o[1];
            const pz = xpos[3 * b + 2]! - o[2];
            for (let e = edgeStart[j]!, end = edgeStart[j + 1]!; e < end; e++) {
              const nx = edges[3 * e]!;
              const ny = edges[3 * e + 1]!;
              clearance = Math.max(clearance, nx * px + ny * py - edges[3 * e + 2]! + this.supportAlong(i, this.edgeDir[e]!, nx, ny, xmat, b));
            }
            // Above the top (z <= z1) and below the bottom (z >= z0).
            clearance = Math.max(clearance, pz - z1 + this.supportAlong(i, this.nDirs - 2, 0, 0, xmat, b));
            clearance = Math.max(clearance, z0 - pz + this.supportAlong(i, this.nDirs - 1, 0, 0, xmat, b));
          }
        }
        if (clearance <= minClearance) {
          mask |= bits[i]!;
          nearBits |= bits[i]!;
          proved[k] = NaN;
          tier[k] = 0;
          continue;
        }
        proved[k] = clearance;
        off++;
        if (full && clearance >= far) {
          tier[k] = 1;
          farOff++;
          farthest = Math.min(farthest, clearance);
        } else {
          tier[k] = 0;
          nearBits |= bits[i]!;
          smallest = Math.min(smallest, clearance);
        }
      }
      this.affinity[j] = mask | (accepts & ~this.moverBits);
      nearMask[j] = nearBits;
    }
    this.write(this.affinity);
    this.on = false;
    this.stale = false;
    this.radius = smallest - this.cfg.epsilon;
    if (full) {
      this.staleFar = false;
      this.farRadius = farthest - this.cfg.epsilon;
      this.farOff = farOff;
      this.stats.fullRebuilds++;
    } else {
      off += this.farOff;
      this.stats.pairs += this.farOff;
    }
    this.stats.rebuilds++;
    this.stats.pairsOff += off;
  }
}

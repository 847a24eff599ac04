/**
 * The wrist camera's world pass cast in JavaScript against the static view model (table, socket block, hole markers),
 * with the result of mj_multiRay bit for bit: the same geoms in the same order, and per geom the same arithmetic as
 * MuJoCo 3.5's engine_ray.c (ray_plane, ray_box, ray_cylinder, mj_rayMesh with its bounding volume tree, float32 mesh
 * vertices), so distances, normals and the winning geom are identical. What it saves: the embind copy of every ray
 * direction into a C++ vector, and per ray MuJoCo's two atan2 for its bounding-angle culling.
 *
 * Culling differs, but only where it cannot change a result: instead of MuJoCo's per-geom bounding angles, a geom is
 * skipped for a chunk of consecutive rays when the chunk's cone of directions clears the geom's own bounding sphere
 * (the sphere its intersection function tests first) by more than CULL_MARGIN. MuJoCo's bounding angles only ever skip
 * geoms a ray cannot hit, so both give the nearest hit among all geoms; test/sim/view-rays.test.ts checks the two
 * casts pixel for pixel on every connector. MuJoCo's per-body bounding sphere test is repeated exactly. Shortcuts that
 * skip tests whose outcome is proven by a margin (box and cylinder faces turned to the camera, thin mesh slabs: MeshSlab)
 * give the same hit as the full tests.
 */
import type { Vec3 } from '../core/types.ts';
import type { Mujoco } from './mujoco.ts';

type Model = InstanceType<Mujoco['MjModel']>;
type Data = InstanceType<Mujoco['MjData']>;

/** engine's mjMINVAL (mjtnum.h). */
const MINVAL = 1e-15;
/** Culling chunks: a TILES x TILES grid over the image (8 x 8 pixels each at 64 x 64). */
const TILES = 8;
/** Angle (rad) by which a chunk's cone must clear a geom's bounding sphere to skip it: far above rounding (~1e-8 rad). */
const CULL_MARGIN = 1e-6;
/**
 * Shortcut bounds (box and cylinder faces turned to the camera): how far inside the face's edges (m) the hit must be, and
 * the least |cosine| between ray and face normal. Points of the other faces' tests then miss by >= 1e-8 m, far above
 * rounding (~1e-17 m here).
 */
const FACE_MARGIN = 1e-7;
const GRAZE = 0.1;
/** A face lies above a plane when all its corners are at least this high over it (m). */
const ABOVE = 1e-6;
/**
 * Thin mesh slabs (the hole markers' prisms): a ray whose crossing of the face turned to the camera lies this far (m)
 * inside one of its triangles, or this far beyond the slab's outline, takes the shortcut (MeshSlab); float32 vertices
 * are off their plane by ~1e-9 m.
 */
const SLAB_MARGIN = 1e-6;

const PLANE = 0,
  CYLINDER = 5,
  BOX = 6,
  MESH = 7;

/** Scratch: the local ray direction of the last box test, and the normal of the last primitive test. */
const LV = new Float64Array(3);
const NRM = new Float64Array(3);
const B0 = new Float64Array(3);
const B1 = new Float64Array(3);
const TRI = new Float64Array(9);
const TRN = new Float64Array(3);
/** Set by box()/cylinder(): 1 when their hit was a shortcut face that lies above every plane geom (see single()). */
const SHORT = new Uint8Array(1);
/**
 * The ray being cast: its origin (the camera, per frame) and direction, set by cast() and read by the per-ray tests.
 * Passed as arguments, these doubles were boxed (a heap allocation) at every call V8 does not inline, several per ray,
 * which made the world pass one of the control thread's largest allocators.
 */
const ORG = new Float64Array(3);
const RAY = new Float64Array(3);
/** Likewise the distance of a hit: plane(), box(), cylinder() and mesh() put it here and return 1 (-1: no hit). */
const DIST = new Float64Array(1);

/** ray_quad's smallest non-negative root of a x^2 + 2 b x + c = 0 (-1 if none). */
function rayQuad(a: number, b: number, c: number): number {
  let det = b * b - a * c;
  if (det < 0 || a < MINVAL) return -1;
  det = Math.sqrt(det);
  const x0 = (-b - det) / a;
  if (x0 >= 0) return x0;
  const x1 = (-b + det) / a;
  return x1 >= 0 ? x1 : -1;
}

/** ray_sphere without a normal for the ray in ORG, RAY: centre c (at co), squared radius sqr[so]. */
function raySphere(c: Float64Array, co: number, sqr: Float64Array, so: number): number {
  const distSqr = sqr[so]!;
  const p0 = ORG[0]!,
    p1 = ORG[1]!,
    p2 = ORG[2]!,
    v0 = RAY[0]!,
    v1 = RAY[1]!,
    v2 = RAY[2]!;
  const d0 = p0 - c[co]!,
    d1 = p1 - c[co + 1]!,
    d2 = p2 - c[co + 2]!;
  const a = v0 * v0 + v1 * v1 + v2 * v2;
  const b = v0 * d0 + v1 * d1 + v2 * d2;
  const cc = d0 * d0 + d1 * d1 + d2 * d2 - distSqr;
  return rayQuad(a, b, cc);
}

/** mju_mulMatVec3(NRM, mat, (n0, n1, n2)). */
function rotateNormal(mat: Float64Array, mo: number, n0: number, n1: number, n2: number): void {
  NRM[0] = mat[mo]! * n0 + mat[mo + 1]! * n1 + mat[mo + 2]! * n2;
  NRM[1] = mat[mo + 3]! * n0 + mat[mo + 4]! * n1 + mat[mo + 5]! * n2;
  NRM[2] = mat[mo + 6]! * n0 + mat[mo + 7]! * n1 + mat[mo + 8]! * n2;
}

/** mju_normalize3 in place on a (3 numbers at o). */
function normalize3(a: Float64Array, o: number): void {
  const norm = Math.sqrt(a[o]! * a[o]! + a[o + 1]! * a[o + 1]! + a[o + 2]! * a[o + 2]!);
  if (norm < MINVAL) {
    a[o] = 1;
    a[o + 1] = 0;
    a[o + 2] = 0;
  } else {
    const inv = 1 / norm;
    a[o] = a[o]! * inv;
    a[o + 1] = a[o + 1]! * inv;
    a[o + 2] = a[o + 2]! * inv;
  }
}

/**
 * A mesh that is a thin convex prism (two parallel faces, the outline's walls between them), for mesh()'s shortcut. A
 * ray from outside that crosses a face's plane inside one of its triangles by SLAB_MARGIN, steeply (GRAZE), enters
 * there: every other triangle of that face misses it by about that margin, and any wall or the far face it meets lies
 * farther along it. So mj_rayMesh's answer is that triangle's ray_triangle, if the tree walk reaches its leaf (every node
 * on its path passes the slab test, checked per ray). A ray that crosses the slab's whole thickness outside the outline
 * by the margin meets nothing. Any other ray walks the tree in full.
 */
interface MeshSlab {
  /** The local axis across the slab, and the two along it (the face's 2D coordinates). */
  axis: number;
  u: number;
  v: number;
  /** The two faces' planes along `axis`: [low, high]. */
  level: [number, number];
  /** The outline's edges: outward unit normal (u, v) and offset, 3 per edge. */
  outline: Float64Array;
  /** Per face (0: low, 1: high): its triangles' face ids, 3 inward unit edge lines each (9 numbers), and tree paths. */
  faces: [SlabFace, SlabFace];
}
interface SlabFace {
  tri: Int32Array;
  edges: Float64Array;
  /** Per triangle, its leaf's path from the root: nodes pathStart[t]..pathStart[t + 1] in `path`. */
  pathStart: Int32Array;
  path: Int32Array;
}

export class ViewRays {
  private readonly ngeom: number;
  private readonly type: Int32Array;
  private readonly size: Float64Array;
  private readonly xpos: Float64Array;
  private readonly xmat: Float64Array;
  private readonly rbound: Float64Array;
  /** Squared radius of the sphere each geom's intersection function tests first (0: none, never culled). */
  private readonly sphereSqr: Float64Array;
  private readonly visible: Uint8Array;
  /** Bodies in order: first geom, geom count, and the bounding sphere (centre, squared radius) or -1. */
  private readonly bodyGeomAdr: Int32Array;
  private readonly bodyGeomNum: Int32Array;
  private readonly bodyId: Int32Array;
  private readonly bodyHasBvh: Uint8Array;
  private readonly bodyCenter: Float64Array;
  private readonly bodySqr: Float64Array;
  // Meshes (MuJoCo's arrays, copied once: the view model never changes).
  private readonly dataid: Int32Array;
  private readonly meshBvhAdr: Int32Array;
  private readonly meshFaceAdr: Int32Array;
  private readonly meshVertAdr: Int32Array;
  private readonly meshVert: Float32Array;
  private readonly meshFace: Int32Array;
  private readonly bvhAabb: Float64Array;
  private readonly bvhChild: Int32Array;
  private readonly bvhNodeId: Int32Array;
  private readonly stack = new Int32Array(64);
  /** Per geom: its mesh as a thin slab (mesh()'s shortcut), or null. */
  private readonly slabs: (MeshSlab | null)[];
  /** Per frame: 1 = geom eliminated (cutoff), and per chunk the geoms left to test. */
  private readonly elim: Uint8Array;
  private readonly live: Int32Array;
  private readonly gdir: Float64Array;
  private readonly gang: Float64Array;
  /** Per frame: the camera's position, and in each geom's frame (ray_map's lpnt, the same for every ray). */
  private px = 0;
  private py = 0;
  private pz = 0;
  private readonly lpos: Float64Array;
  /** Per frame: ray_sphere's dif = pnt - pos and c = dif.dif - r^2 for each geom's own bounding sphere. */
  private readonly dpos: Float64Array;
  private readonly dsq: Float64Array;
  /** Per frame and geom axis: the side (+-1) of the face turned to the camera (0: the camera is within the slab). */
  private readonly front: Int8Array;
  /** That face's world normal (9 per geom), and 1 when it lies above every plane geom. */
  private readonly faceNrm: Float64Array;
  private readonly cover: Uint8Array;
  private readonly planes: Int32Array;
  /** Per chunk and body: 1 = every ray of the chunk passes the body's bounding sphere (or it has none), 0 = test per ray. */
  private readonly bodyTest: Uint8Array;

  constructor(model: Model, data: Data) {
    const ng = (this.ngeom = model.ngeom);
    const nb = model.nbody;
    this.type = Int32Array.from(model.geom_type as Int32Array);
    this.size = Float64Array.from(model.geom_size as Float64Array);
    this.xpos = Float64Array.from(data.geom_xpos as Float64Array);
    this.xmat = Float64Array.from(data.geom_xmat as Float64Array);
    this.rbound = Float64Array.from(model.geom_rbound as Float64Array);
    const rgba = model.geom_rgba as Float32Array;
    const matid = model.geom_matid as Int32Array;
    this.visible = new Uint8Array(ng);
    this.sphereSqr = new Float64Array(ng);
    for (let g = 0; g < ng; g++) {
      if (matid[g]! >= 0) throw new Error(`view model geom ${g} has a material: the analytic world pass does not handle materials`);
      this.visible[g] = rgba[4 * g + 3] === 0 ? 0 : 1;
      const t = this.type[g]!,
        s = this.size;
      if (t === BOX || t === MESH) this.sphereSqr[g] = s[3 * g]! * s[3 * g]! + s[3 * g + 1]! * s[3 * g + 1]! + s[3 * g + 2]! * s[3 * g + 2]!;
      else if (t === CYLINDER) this.sphereSqr[g] = s[3 * g]! * s[3 * g]! + s[3 * g + 1]! * s[3 * g + 1]!;
      else if (t === PLANE) this.sphereSqr[g] = 0;
      else throw new Error(`view model geom ${g} has type ${t}: the analytic world pass handles planes, boxes, cylinders and meshes`);
    }
    this.bodyGeomAdr = Int32Array.from(model.body_geomadr as Int32Array);
    this.bodyGeomNum = Int32Array.from(model.body_geomnum as Int32Array);
    this.bodyId = Int32Array.from(model.geom_bodyid as Int32Array);
    const bvhadr = model.body_bvhadr as Int32Array;
    this.bvhAabb = Float64Array.from(model.bvh_aabb as Float64Array);
    const xipos = data.xipos as Float64Array;
    this.bodyHasBvh = new Uint8Array(nb);
    this.bodyCenter = new Float64Array(3 * nb);
    this.bodySqr = new Float64Array(nb);
    for (let b = 0; b < nb; b++) {
      const a = bvhadr[b]!;
      if (a === -1) continue;
      this.bodyHasBvh[b] = 1;
      const box = this.bvhAabb;
      // mju_singleRay: center = pos + xipos, ssz = |size|^2
      for (let k = 0; k < 3; k++) this.bodyCenter[3 * b + k] = box[6 * a + k]! + xipos[3 * b + k]!;
      this.bodySqr[b] = box[6 * a + 3]! * box[6 * a + 3]! + box[6 * a + 4]! * box[6 * a + 4]! + box[6 * a + 5]! * box[6 * a + 5]!;
    }
    this.dataid = Int32Array.from(model.geom_dataid as Int32Array);
    this.meshBvhAdr = Int32Array.from(model.mesh_bvhadr as Int32Array);
    this.meshFaceAdr = Int32Array.from(model.mesh_faceadr as Int32Array);
    this.meshVertAdr = Int32Array.from(model.mesh_vertadr as Int32Array);
    this.meshVert = Float32Array.from(model.mesh_vert as Float32Array);
    this.meshFace = Int32Array.from(model.mesh_face as Int32Array);
    this.bvhChild = Int32Array.from(model.bvh_child as Int32Array);
    this.bvhNodeId = Int32Array.from(model.bvh_nodeid as Int32Array);
    this.elim = new Uint8Array(ng);
    this.live = new Int32Array(ng + 1);
    this.gdir = new Float64Array(3 * ng);
    this.gang = new Float64Array(ng);
    this.lpos = new Float64Array(3 * ng);
    this.dpos = new Float64Array(3 * ng);
    this.dsq = new Float64Array(ng);
    this.front = new Int8Array(3 * ng);
    this.faceNrm = new Float64Array(9 * ng);
    this.cover = new Uint8Array(3 * ng);
    this.bodyTest = new Uint8Array(nb);
    const planes: number[] = [];
    for (let g = 0; g < ng; g++) {
      if (this.type[g] !== PLANE) continue;
      // Planes are tested after the other geoms (single()); that needs them outside the per-body sphere test.
      if (this.bodyHasBvh[this.bodyId[g]!] === 1) throw new Error(`view model plane ${g} is in a body with a bounding volume`);
      planes.push(g);
    }
    this.planes = Int32Array.from(planes);
    this.slabs = Array.from({ length: ng }, (_, g) => (this.type[g] === MESH ? this.meshSlab(this.dataid[g]!) : null));
  }

  /** Mesh m as a thin slab (MeshSlab), or null when it is not one. */
  private meshSlab(m: number): MeshSlab | null {
    const va = this.meshVertAdr[m]!,
      fa = this.meshFaceAdr[m]!;
    const nv = (m + 1 < this.meshVertAdr.length ? this.meshVertAdr[m + 1]! : this.meshVert.length / 3) - va;
    const nf = (m + 1 < this.meshFaceAdr.length ? this.meshFaceAdr[m + 1]! : this.meshFace.length / 3) - fa;
    const vert = (i: number, k: number): number => this.meshVert[3 * (va + i) + k]!;
    const ext = [0, 1, 2].map((k) => {
      let lo = Infinity,
        hi = -Infinity;
      for (let i = 0; i < nv; i++) {
        lo = Math.min(lo, vert(i, k));
        hi = Math.max(hi, vert(i, k));
      }
      return [lo, hi] as [number, number];
    });
    const span = ext.map(([lo, hi]) => hi - lo);
    const axis = span.indexOf(Math.min(...span));
    const u = axis === 0 ? 1 : 0,
      v = axis === 2 ? 1 : 2;
    const [lo, hi] = ext[axis]!;
    // Thin: every vertex on one of two levels, far apart against the margin, and far thinner than wide.
    const side = (i: number): number => (Math.abs(vert(i, axis) - lo) <= 1e-8 ? 0 : Math.abs(vert(i, axis) - hi) <= 1e-8 ? 1 : -1);
    if (!(hi - lo > 100 * SLAB_MARGIN) || hi - lo > 0.1 * Math.min(span[u]!, span[v]!)) return null;
    for (let i = 0; i < nv; i++) if (side(i) < 0) return null;
    // The outline: the convex hull of the high face's vertices in (u, v) (monotone chain), counter-clockwise.
    const pts = Array.from({ length: nv }, (_, i) => i)
      .filter((i) => side(i) === 1)
      .map((i) => [vert(i, u), vert(i, v)] as [number, number])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const crossZ = (o: number[], a: number[], b: number[]): number => (a[0]! - o[0]!) * (b[1]! - o[1]!) - (a[1]! - o[1]!) * (b[0]! - o[0]!);
    const half = (list: [number, number][]): [number, number][] => {
      const h: [number, number][] = [];
      for (const p of list) {
        while (h.length >= 2 && crossZ(h[h.length - 2]!, h[h.length - 1]!, p) <= 0) h.pop();
        h.push(p);
      }
      return h.slice(0, -1);
    };
    const hull = [...half(pts), ...half([...pts].reverse())];
    if (hull.length < 3) return null;
    const outline: number[] = [];
    for (let k = 0; k < hull.length; k++) {
      const a = hull[k]!,
        b = hull[(k + 1) % hull.length]!;
      const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
      const nu = (b[1] - a[1]) / len,
        nvv = -(b[0] - a[0]) / len;
      outline.push(nu, nvv, nu * a[0] + nvv * a[1]);
    }
    // Each leaf's path from the root.
    const bvh = this.meshBvhAdr[m]!;
    const parent = new Map<number, number>();
    const leaf = new Map<number, number>();
    const walk = [0];
    while (walk.length > 0) {
      const node = walk.pop()!;
      const fid = this.bvhNodeId[bvh + node]!;
      if (fid !== -1) leaf.set(fid, node);
      for (let i = 0; i < 2; i++) {
        const ch = this.bvhChild[2 * (bvh + node) + i]!;
        if (ch !== -1) {
          parent.set(ch, node);
          walk.push(ch);
        }
      }
    }
    const face = (level: number): SlabFace => {
      const tri: number[] = [],
        edges: number[] = [],
        pathStart = [0],
        path: number[] = [];
      for (let f = 0; f < nf; f++) {
        const ids = [0, 1, 2].map((i) => this.meshFace[3 * (fa + f) + i]!);
        if (!ids.every((i) => side(i) === level)) continue;
        const p = ids.map((i) => [vert(i, u), vert(i, v)] as [number, number]);
        const area = crossZ(p[0]!, p[1]!, p[2]!);
        if (Math.abs(area) < 1e-12) continue; // a sliver no ray can be inside of by the margin
        const s = area > 0 ? 1 : -1;
        for (let k = 0; k < 3; k++) {
          const a = p[k]!,
            b = p[(k + 1) % 3]!;
          const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
          // Inward unit normal: left of the edge for a counter-clockwise triangle.
          const nu = (-s * (b[1] - a[1])) / len,
            nvv = (s * (b[0] - a[0])) / len;
          edges.push(nu, nvv, nu * a[0] + nvv * a[1]);
        }
        const nodes: number[] = [];
        for (let node: number | undefined = leaf.get(f); node !== undefined; node = parent.get(node)) nodes.push(node);
        if (leaf.get(f) === undefined) return { tri: new Int32Array(0), edges: new Float64Array(0), pathStart: new Int32Array(1), path: new Int32Array(0) };
        path.push(...nodes.reverse());
        pathStart.push(path.length);
        tri.push(f);
      }
      return { tri: Int32Array.from(tri), edges: Float64Array.from(edges), pathStart: Int32Array.from(pathStart), path: Int32Array.from(path) };
    };
    return { axis, u, v, level: [lo, hi], outline: Float64Array.from(outline), faces: [face(0), face(1)] };
  }

  /** Chunks of the last prepared ray set: rays in chunk order, chunk starts, unit axis (3 per chunk), half-angle (rad). */
  private order = new Int32Array(0);
  private chunkStart = new Int32Array(1);
  private chunkAxis = new Float64Array(0);
  private chunkCone = new Float64Array(0);
  private prepared: Float64Array | null = null;
  private preparedCount = -1;

  /**
   * Chunks of `vec`'s n rays (given in the camera frame, looking along -z) for culling: the rays grouped by a TILES x
   * TILES grid over their image-plane coordinates, each chunk with its bounding cone. Computed once per ray set (the
   * wrist camera's world rays are the same pixels, in the same camera frame, for a whole episode). Rays not in front of
   * the camera (z >= 0) go in chunks of consecutive rays.
   */
  private prepare(vec: Float64Array, n: number): void {
    let u0 = Infinity,
      u1 = -Infinity,
      v0 = Infinity,
      v1 = -Infinity;
    let ahead = true;
    for (let q = 0; q < n; q++) {
      const z = vec[3 * q + 2]!;
      if (!(z < 0)) {
        ahead = false;
        break;
      }
      const u = vec[3 * q]! / -z,
        v = vec[3 * q + 1]! / -z;
      u0 = Math.min(u0, u);
      u1 = Math.max(u1, u);
      v0 = Math.min(v0, v);
      v1 = Math.max(v1, v);
    }
    const key = new Int32Array(n);
    let nk: number;
    if (ahead && n > 0) {
      const du = (u1 - u0) / TILES || 1,
        dv = (v1 - v0) / TILES || 1;
      for (let q = 0; q < n; q++) {
        const z = -vec[3 * q + 2]!;
        const i = Math.min(TILES - 1, Math.floor((vec[3 * q]! / z - u0) / du)),
          j = Math.min(TILES - 1, Math.floor((vec[3 * q + 1]! / z - v0) / dv));
        key[q] = j * TILES + i;
      }
      nk = TILES * TILES;
    } else {
      for (let q = 0; q < n; q++) key[q] = Math.floor(q / 64);
      nk = Math.ceil(n / 64);
    }
    // Counting sort by key: rays of a chunk stay in ascending order.
    const count = new Int32Array(nk + 1);
    for (let q = 0; q < n; q++) count[key[q]! + 1]!++;
    for (let k = 0; k < nk; k++) count[k + 1]! += count[k]!;
    const start = Int32Array.from(count);
    const order = new Int32Array(n);
    for (let q = 0; q < n; q++) order[count[key[q]!]!++] = q;
    const axis = new Float64Array(3 * nk),
      cone = new Float64Array(nk);
    for (let c = 0; c < nk; c++) {
      let ax = 0,
        ay = 0,
        az = 0;
      for (let k = start[c]!; k < start[c + 1]!; k++) {
        const q = order[k]!;
        ax += vec[3 * q]!;
        ay += vec[3 * q + 1]!;
        az += vec[3 * q + 2]!;
      }
      const al = Math.sqrt(ax * ax + ay * ay + az * az);
      if (!(al > 0)) {
        cone[c] = Math.PI;
        continue;
      }
      ax /= al;
      ay /= al;
      az /= al;
      let cosMin = 1;
      for (let k = start[c]!; k < start[c + 1]!; k++) {
        const q = order[k]!;
        const vx = vec[3 * q]!,
          vy = vec[3 * q + 1]!,
          vz = vec[3 * q + 2]!;
        cosMin = Math.min(cosMin, (vx * ax + vy * ay + vz * az) / Math.sqrt(vx * vx + vy * vy + vz * vz));
      }
      axis[3 * c] = ax;
      axis[3 * c + 1] = ay;
      axis[3 * c + 2] = az;
      // acos is ill-conditioned near 1 (error ~1e-8 rad there): CULL_MARGIN covers it.
      cone[c] = Math.acos(Math.max(-1, Math.min(1, cosMin)));
    }
    this.order = order;
    this.chunkStart = start;
    this.chunkAxis = axis;
    this.chunkCone = cone;
  }

  /**
   * mj_multiRay(model, data, pnt, vec, all groups, flg_static 1, bodyexclude -1, ..., n, cutoff): per ray the geom hit
   * (-1 none), its distance (-1 none) and the surface normal (world; 0 when none). `local` (the same n rays in the
   * camera's frame, R = world-from-camera) only steers culling: pass the same array while the ray set is unchanged,
   * and its chunk cones are reused.
   */
  cast(
    pnt: Vec3,
    R: ArrayLike<number>,
    local: Float64Array,
    vec: Float64Array,
    n: number,
    cutoff: number,
    gid: Int32Array,
    dist: Float64Array,
    nrm: Float64Array,
  ): void {
    if (this.prepared !== local || this.preparedCount !== n) {
      this.prepare(local, n);
      this.prepared = local;
      this.preparedCount = n;
    }
    const p0 = pnt[0],
      p1 = pnt[1],
      p2 = pnt[2];
    const ng = this.ngeom,
      xpos = this.xpos;
    // mju_multiRayPrepare: geoms of bodies with a bounding volume are dropped when beyond cutoff.
    const nb = this.bodyGeomAdr.length;
    for (let b = 0; b < nb; b++) {
      const a = this.bodyGeomAdr[b]!;
      for (let g = a; g < a + this.bodyGeomNum[b]!; g++) {
        let e = this.visible[g] === 0 ? 1 : 0;
        if (!e && this.bodyHasBvh[b] === 1) {
          const d0 = xpos[3 * g]! - p0,
            d1 = xpos[3 * g + 1]! - p1,
            d2 = xpos[3 * g + 2]! - p2;
          if (Math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) > cutoff + this.rbound[g]!) e = 1;
        }
        this.elim[g] = e;
      }
    }
    this.px = p0;
    this.py = p1;
    this.pz = p2;
    ORG[0] = p0;
    ORG[1] = p1;
    ORG[2] = p2;
    this.framePoses(p0, p1, p2);
    // Each geom's bounding sphere seen from the camera, in the camera's frame: unit direction and angular radius + margin.
    const gdir = this.gdir,
      gang = this.gang;
    for (let g = 0; g < ng; g++) {
      const r2 = this.sphereSqr[g]!;
      const wx = xpos[3 * g]! - p0,
        wy = xpos[3 * g + 1]! - p1,
        wz = xpos[3 * g + 2]! - p2;
      const w2 = wx * wx + wy * wy + wz * wz;
      // No culling for planes, or when the camera is at or inside the sphere.
      if (this.elim[g] === 1 || r2 === 0 || !(w2 > r2 * 1.000001)) {
        gang[g] = -1;
        continue;
      }
      const w = Math.sqrt(w2);
      gdir[3 * g] = (R[0]! * wx + R[3]! * wy + R[6]! * wz) / w;
      gdir[3 * g + 1] = (R[1]! * wx + R[4]! * wy + R[7]! * wz) / w;
      gdir[3 * g + 2] = (R[2]! * wx + R[5]! * wy + R[8]! * wz) / w;
      gang[g] = Math.asin(Math.sqrt(r2 / w2)) + CULL_MARGIN;
    }
    const live = this.live,
      axis = this.chunkAxis,
      cone = this.chunkCone;
    const order = this.order,
      start = this.chunkStart;
    for (let c = 0; c + 1 < start.length; c++) {
      const c0 = start[c]!,
        c1 = start[c + 1]!;
      if (c0 === c1) continue;
      const ax = axis[3 * c]!,
        ay = axis[3 * c + 1]!,
        az = axis[3 * c + 2]!,
        th = cone[c]!;
      let nl = 0;
      for (let g = 0; g < ng; g++) {
        if (this.elim[g] === 1) continue;
        const ga = gang[g]!;
        if (ga >= 0 && th < Math.PI) {
          const cs = ax * gdir[3 * g]! + ay * gdir[3 * g + 1]! + az * gdir[3 * g + 2]!;
          if (Math.acos(Math.max(-1, Math.min(1, cs))) > th + ga) continue;
        }
        live[nl++] = g;
      }
      // Bodies whose bounding sphere every ray of the chunk passes, with margin (the camera outside the sphere, the cone
      // inside its angular radius; or the camera well inside it).
      const bt = this.bodyTest;
      for (let b = 0; b < nb; b++) {
        // No bounding volume: no sphere test (mju_singleRay).
        bt[b] = this.bodyHasBvh[b] === 0 ? 1 : 0;
        if (bt[b] === 1) continue;
        const r2 = this.bodySqr[b]!;
        const wx = this.bodyCenter[3 * b]! - p0,
          wy = this.bodyCenter[3 * b + 1]! - p1,
          wz = this.bodyCenter[3 * b + 2]! - p2;
        const w2 = wx * wx + wy * wy + wz * wz;
        if (w2 < r2 * 0.999999) bt[b] = 1;
        else if (w2 > r2 * 1.000001 && th < Math.PI) {
          const w = Math.sqrt(w2);
          // The cone axis is in the camera frame: bring w there.
          const cx = (R[0]! * wx + R[3]! * wy + R[6]! * wz) / w,
            cy = (R[1]! * wx + R[4]! * wy + R[7]! * wz) / w,
            cz = (R[2]! * wx + R[5]! * wy + R[8]! * wz) / w;
          const ang = Math.acos(Math.max(-1, Math.min(1, ax * cx + ay * cy + az * cz)));
          if (ang + th + CULL_MARGIN < Math.asin(Math.sqrt(r2 / w2))) bt[b] = 1;
        }
      }
      // Most chunks see one box (the socket block) besides planes: its top-face shortcut inline, as box() takes it.
      let only = -1;
      for (let k = 0; k < nl; k++) {
        const g = live[k]!;
        if (this.type[g] === PLANE) continue;
        only = only === -1 && this.type[g] === BOX ? g : -2;
      }
      if (only >= 0 && (this.front[3 * only + 2] === 0 || this.cover[3 * only + 2] === 0 || bt[this.bodyId[only]!] === 0)) only = -1;
      for (let k = c0; k < c1; k++) {
        const q = order[k]!;
        RAY[0] = vec[3 * q]!;
        RAY[1] = vec[3 * q + 1]!;
        RAY[2] = vec[3 * q + 2]!;
        if (only >= 0 && this.topFace(only, q, gid, dist, nrm)) continue;
        this.single(live, nl, bt, q, gid, dist, nrm);
      }
    }
  }

  /**
   * Per frame: ray_map's local camera position for every geom (the same arithmetic as per ray), and for boxes and
   * cylinders the faces turned to the camera, their normals (mju_mulMatVec3 of the local +-1 axis, as the engine) and
   * whether they lie above every plane.
   */
  private framePoses(p0: number, p1: number, p2: number): void {
    const xpos = this.xpos,
      mat = this.xmat,
      size = this.size;
    for (let g = 0; g < this.ngeom; g++) {
      const s = 3 * g,
        mo = 9 * g;
      const d0 = p0 - xpos[s]!,
        d1 = p1 - xpos[s + 1]!,
        d2 = p2 - xpos[s + 2]!;
      const l0 = mat[mo]! * d0 + mat[mo + 3]! * d1 + mat[mo + 6]! * d2;
      const l1 = mat[mo + 1]! * d0 + mat[mo + 4]! * d1 + mat[mo + 7]! * d2;
      const l2 = mat[mo + 2]! * d0 + mat[mo + 5]! * d1 + mat[mo + 8]! * d2;
      this.dpos[s] = d0;
      this.dpos[s + 1] = d1;
      this.dpos[s + 2] = d2;
      this.dsq[g] = d0 * d0 + d1 * d1 + d2 * d2 - this.sphereSqr[g]!;
      this.lpos[s] = l0;
      this.lpos[s + 1] = l1;
      this.lpos[s + 2] = l2;
      const t = this.type[g]!;
      this.front[s] = this.front[s + 1] = this.front[s + 2] = 0;
      if (t !== BOX && t !== MESH && t !== CYLINDER) continue;
      // The half extents of the box (a cylinder: its bounding box; only its caps take the shortcut).
      const e0 = size[s]!,
        e1 = t === CYLINDER ? size[s]! : size[s + 1]!,
        e2 = t === CYLINDER ? size[s + 1]! : size[s + 2]!;
      const l = [l0, l1, l2],
        e = [e0, e1, e2];
      for (let i = t === CYLINDER ? 2 : 0; i < 3; i++) {
        const li = l[i]!,
          ei = e[i]!;
        // Meshes take no shortcut (their box is only a bounding test): front stays 0.
        if (t === MESH || !(Math.abs(li) > ei)) continue;
        const f = li > 0 ? 1 : -1;
        this.front[s + i] = f;
        const n = [0, 0, 0];
        n[i] = f;
        const o = 9 * g + 3 * i;
        this.faceNrm[o] = mat[mo]! * n[0]! + mat[mo + 1]! * n[1]! + mat[mo + 2]! * n[2]!;
        this.faceNrm[o + 1] = mat[mo + 3]! * n[0]! + mat[mo + 4]! * n[1]! + mat[mo + 5]! * n[2]!;
        this.faceNrm[o + 2] = mat[mo + 6]! * n[0]! + mat[mo + 7]! * n[1]! + mat[mo + 8]! * n[2]!;
        // Corners of the face (for a cap, of its bounding square) against every plane.
        let above = this.planes.length > 0 ? 1 : 0;
        for (let c = 0; c < 4 && above; c++) {
          const loc = [0, 0, 0];
          loc[i] = f * ei;
          const j = i === 0 ? 1 : 0,
            k = i === 2 ? 1 : 2;
          loc[j] = (c & 1 ? 1 : -1) * e[j]!;
          loc[k] = (c & 2 ? 1 : -1) * e[k]!;
          const wx = xpos[s]! + mat[mo]! * loc[0]! + mat[mo + 1]! * loc[1]! + mat[mo + 2]! * loc[2]!;
          const wy = xpos[s + 1]! + mat[mo + 3]! * loc[0]! + mat[mo + 4]! * loc[1]! + mat[mo + 5]! * loc[2]!;
          const wz = xpos[s + 2]! + mat[mo + 6]! * loc[0]! + mat[mo + 7]! * loc[1]! + mat[mo + 8]! * loc[2]!;
          for (const pg of this.planes) {
            const po = 3 * pg,
              pm = 9 * pg;
            const h = mat[pm + 2]! * (wx - xpos[po]!) + mat[pm + 5]! * (wy - xpos[po + 1]!) + mat[pm + 8]! * (wz - xpos[po + 2]!);
            if (!(h > ABOVE)) above = 0;
          }
        }
        this.cover[s + i] = above;
      }
    }
  }

  /**
   * mju_singleRay over the geoms in live[0..nl) (ascending, so bodies come in MuJoCo's order). Planes are tested last
   * (a tie goes to the lower geom index, as in MuJoCo's order), and not at all when a face that lies above every plane
   * (coverFace) was hit first: the plane's hit would be farther by a margin no rounding can close.
   */
  private single(live: Int32Array, nl: number, bodyTest: Uint8Array, q: number, gid: Int32Array, dist: Float64Array, nrm: Float64Array): void {
    let best = -1,
      bg = -1,
      n0 = 0,
      n1 = 0,
      n2 = 0;
    let body = -1,
      bodyHit = true,
      covered = false,
      planes = false;
    for (let k = 0; k < nl; k++) {
      const g = live[k]!;
      // Body bounding sphere, as mju_singleRay tests it (once per body; the chunk may have settled it).
      const b = this.bodyId[g]!;
      if (b !== body) {
        body = b;
        bodyHit = bodyTest[b] === 1 || raySphere(this.bodyCenter, 3 * b, this.bodySqr, b) >= 0;
      }
      if (!bodyHit) continue;
      const t = this.type[g]!;
      if (t === PLANE) {
        planes = true;
        continue;
      }
      SHORT[0] = 0;
      let hit: number;
      if (t === BOX) hit = this.box(g);
      else if (t === CYLINDER) hit = this.cylinder(g);
      else hit = this.mesh(g);
      const d = hit >= 0 ? DIST[0]! : -1;
      if (d >= 0 && (d < best || best < 0)) {
        best = d;
        bg = g;
        n0 = NRM[0]!;
        n1 = NRM[1]!;
        n2 = NRM[2]!;
      }
      if (d >= 0 && SHORT[0] === 1) covered = true;
    }
    if (planes && !covered) {
      for (let k = 0; k < nl; k++) {
        const g = live[k]!;
        if (this.type[g] !== PLANE) continue;
        const d = this.plane(g) >= 0 ? DIST[0]! : -1;
        if (d >= 0 && (best < 0 || d < best || (d === best && g < bg))) {
          best = d;
          bg = g;
          n0 = NRM[0]!;
          n1 = NRM[1]!;
          n2 = NRM[2]!;
        }
      }
    }
    gid[q] = bg;
    dist[q] = best;
    nrm[3 * q] = n0;
    nrm[3 * q + 1] = n1;
    nrm[3 * q + 2] = n2;
  }

  /** ray_plane; the camera's local position is the frame's (LPOS), as ray_map computes it for every ray. */
  private plane(g: number): number {
    const v0 = RAY[0]!,
      v1 = RAY[1]!,
      v2 = RAY[2]!;
    const mat = this.xmat,
      mo = 9 * g,
      size = this.size,
      lp = this.lpos;
    const w0 = mat[mo]! * v0 + mat[mo + 3]! * v1 + mat[mo + 6]! * v2,
      w1 = mat[mo + 1]! * v0 + mat[mo + 4]! * v1 + mat[mo + 7]! * v2,
      w2 = mat[mo + 2]! * v0 + mat[mo + 5]! * v1 + mat[mo + 8]! * v2;
    if (w2 > -MINVAL) return -1;
    const l0 = lp[3 * g]!,
      l1 = lp[3 * g + 1]!,
      l2 = lp[3 * g + 2]!;
    const x = -l2 / w2;
    if (x < 0) return -1;
    const a = l0 + x * w0,
      b = l1 + x * w1;
    const s0 = size[3 * g]!,
      s1 = size[3 * g + 1]!;
    if ((s0 <= 0 || Math.abs(a) <= s0) && (s1 <= 0 || Math.abs(b) <= s1)) {
      NRM[0] = mat[mo + 2]!;
      NRM[1] = mat[mo + 5]!;
      NRM[2] = mat[mo + 8]!;
      DIST[0] = x;
      return 1;
    }
    return -1;
  }

  /**
   * ray_box with geom g's pose and size (also mj_rayMesh's bounding box test), unrolled. Leaves the local ray direction
   * in LV. Shortcut, same result: a ray that meets a face turned to the camera at least FACE_MARGIN inside its edges, and
   * not at a grazing angle, enters the box there. The engine's tests of the other faces then either reject (their
   * points lie at least FACE_MARGIN * GRAZE outside) or find a farther hit, and its bounding sphere test passes, so its
   * answer is that face: the same division on the same numbers, and the face's normal.
   */
  private box(g: number): number {
    const v0 = RAY[0]!,
      v1 = RAY[1]!,
      v2 = RAY[2]!;
    const size = this.size,
      s = 3 * g,
      mat = this.xmat,
      mo = 9 * g,
      lp = this.lpos,
      front = this.front;
    const m0 = mat[mo]!,
      m1 = mat[mo + 1]!,
      m2 = mat[mo + 2]!,
      m3 = mat[mo + 3]!,
      m4 = mat[mo + 4]!,
      m5 = mat[mo + 5]!,
      m6 = mat[mo + 6]!,
      m7 = mat[mo + 7]!,
      m8 = mat[mo + 8]!;
    const l0 = lp[s]!,
      l1 = lp[s + 1]!,
      l2 = lp[s + 2]!;
    const w0 = m0 * v0 + m3 * v1 + m6 * v2,
      w1 = m1 * v0 + m4 * v1 + m7 * v2,
      w2 = m2 * v0 + m5 * v1 + m8 * v2;
    LV[0] = w0;
    LV[1] = w1;
    LV[2] = w2;
    const s0 = size[s]!,
      s1 = size[s + 1]!,
      s2 = size[s + 2]!;
    // ray_sphere's discriminant first (the same numbers: d = pnt - pos and |d|^2 - |size|^2 are per frame): most rays
    // miss most boxes, and det < 0 is the engine's rejection too.
    const va = v0 * v0 + v1 * v1 + v2 * v2,
      vb = v0 * this.dpos[s]! + v1 * this.dpos[s + 1]! + v2 * this.dpos[s + 2]!,
      vc = this.dsq[g]!;
    if (vb * vb - va * vc < 0) return -1;
    let sol: number;
    let f = front[s + 2]!;
    if (f !== 0 && f * w2 <= -GRAZE) {
      sol = (f * s2 - l2) / w2;
      if (Math.abs(l0 + sol * w0) <= s0 - FACE_MARGIN && Math.abs(l1 + sol * w1) <= s1 - FACE_MARGIN) {
        DIST[0] = sol;
        return this.faceHit(g, 2);
      }
    }
    f = front[s]!;
    if (f !== 0 && f * w0 <= -GRAZE) {
      sol = (f * s0 - l0) / w0;
      if (Math.abs(l1 + sol * w1) <= s1 - FACE_MARGIN && Math.abs(l2 + sol * w2) <= s2 - FACE_MARGIN) {
        DIST[0] = sol;
        return this.faceHit(g, 0);
      }
    }
    f = front[s + 1]!;
    if (f !== 0 && f * w1 <= -GRAZE) {
      sol = (f * s1 - l1) / w1;
      if (Math.abs(l0 + sol * w0) <= s0 - FACE_MARGIN && Math.abs(l2 + sol * w2) <= s2 - FACE_MARGIN) {
        DIST[0] = sol;
        return this.faceHit(g, 1);
      }
    }
    // ray_sphere(pos, NULL, |size|^2, pnt, vec) < 0: reject
    if (rayQuad(va, vb, vc) < 0) return -1;
    let x = -1,
      n0 = 0,
      n1 = 0,
      n2 = 0;
    if (Math.abs(w0) > MINVAL) {
      sol = (-s0 - l0) / w0;
      if (sol >= 0 && Math.abs(l1 + sol * w1) <= s1 && Math.abs(l2 + sol * w2) <= s2 && (x < 0 || sol < x)) {
        x = sol;
        n0 = -1;
      }
      sol = (s0 - l0) / w0;
      if (sol >= 0 && Math.abs(l1 + sol * w1) <= s1 && Math.abs(l2 + sol * w2) <= s2 && (x < 0 || sol < x)) {
        x = sol;
        n0 = 1;
      }
    }
    if (Math.abs(w1) > MINVAL) {
      sol = (-s1 - l1) / w1;
      if (sol >= 0 && Math.abs(l0 + sol * w0) <= s0 && Math.abs(l2 + sol * w2) <= s2 && (x < 0 || sol < x)) {
        x = sol;
        n0 = 0;
        n1 = -1;
      }
      sol = (s1 - l1) / w1;
      if (sol >= 0 && Math.abs(l0 + sol * w0) <= s0 && Math.abs(l2 + sol * w2) <= s2 && (x < 0 || sol < x)) {
        x = sol;
        n0 = 0;
        n1 = 1;
      }
    }
    if (Math.abs(w2) > MINVAL) {
      sol = (-s2 - l2) / w2;
      if (sol >= 0 && Math.abs(l0 + sol * w0) <= s0 && Math.abs(l1 + sol * w1) <= s1 && (x < 0 || sol < x)) {
        x = sol;
        n0 = 0;
        n1 = 0;
        n2 = -1;
      }
      sol = (s2 - l2) / w2;
      if (sol >= 0 && Math.abs(l0 + sol * w0) <= s0 && Math.abs(l1 + sol * w1) <= s1 && (x < 0 || sol < x)) {
        x = sol;
        n0 = 0;
        n1 = 0;
        n2 = 1;
      }
    }
    // normal = mat * n_local (n_local: one entry +-1, the rest 0, as the engine multiplies it)
    if (x >= 0) {
      NRM[0] = m0 * n0 + m1 * n1 + m2 * n2;
      NRM[1] = m3 * n0 + m4 * n1 + m5 * n2;
      NRM[2] = m6 * n0 + m7 * n1 + m8 * n2;
    }
    if (x < 0) return -1;
    DIST[0] = x;
    return 1;
  }

  /**
   * box()'s shortcut on box g's front face along z for one ray, when it is the only non-plane geom the ray can meet and
   * that face lies above every plane: writes ray q's result and returns true, or false (then cast the ray in full).
   */
  private topFace(g: number, q: number, gid: Int32Array, dist: Float64Array, nrm: Float64Array): boolean {
    const v0 = RAY[0]!,
      v1 = RAY[1]!,
      v2 = RAY[2]!;
    const s = 3 * g,
      mo = 9 * g,
      mat = this.xmat,
      lp = this.lpos;
    // The bounding sphere's discriminant, as box() (the engine rejects when it is negative).
    const va = v0 * v0 + v1 * v1 + v2 * v2,
      vb = v0 * this.dpos[s]! + v1 * this.dpos[s + 1]! + v2 * this.dpos[s + 2]!;
    if (vb * vb - va * this.dsq[g]! < 0) return false;
    const f = this.front[s + 2]!;
    const w2 = mat[mo + 2]! * v0 + mat[mo + 5]! * v1 + mat[mo + 8]! * v2;
    if (!(f * w2 <= -GRAZE)) return false;
    const w0 = mat[mo]! * v0 + mat[mo + 3]! * v1 + mat[mo + 6]! * v2,
      w1 = mat[mo + 1]! * v0 + mat[mo + 4]! * v1 + mat[mo + 7]! * v2;
    const sol = (f * this.size[s + 2]! - lp[s + 2]!) / w2;
    if (!(Math.abs(lp[s]! + sol * w0) <= this.size[s]! - FACE_MARGIN && Math.abs(lp[s + 1]! + sol * w1) <= this.size[s + 1]! - FACE_MARGIN)) return false;
    const o = 9 * g + 6;
    gid[q] = g;
    dist[q] = sol;
    nrm[3 * q] = this.faceNrm[o]!;
    nrm[3 * q + 1] = this.faceNrm[o + 1]!;
    nrm[3 * q + 2] = this.faceNrm[o + 2]!;
    return true;
  }

  /** A shortcut hit on geom g's front face along `axis`: its normal (computed per frame as the engine does) and cover. */
  private faceHit(g: number, axis: number): number {
    const o = 9 * g + 3 * axis;
    NRM[0] = this.faceNrm[o]!;
    NRM[1] = this.faceNrm[o + 1]!;
    NRM[2] = this.faceNrm[o + 2]!;
    SHORT[0] = this.cover[3 * g + axis]!;
    return 1;
  }

  /** ray_cylinder, with the same shortcut as box() for the cap turned to the camera. */
  private cylinder(g: number): number {
    const v0 = RAY[0]!,
      v1 = RAY[1]!,
      v2 = RAY[2]!;
    const size = this.size,
      s = 3 * g,
      mat = this.xmat,
      mo = 9 * g,
      lp = this.lpos;
    const l0 = lp[s]!,
      l1 = lp[s + 1]!,
      l2 = lp[s + 2]!;
    const w0 = mat[mo]! * v0 + mat[mo + 3]! * v1 + mat[mo + 6]! * v2,
      w1 = mat[mo + 1]! * v0 + mat[mo + 4]! * v1 + mat[mo + 7]! * v2,
      w2 = mat[mo + 2]! * v0 + mat[mo + 5]! * v1 + mat[mo + 8]! * v2;
    const r = size[s]!,
      h = size[s + 1]!;
    const va = v0 * v0 + v1 * v1 + v2 * v2,
      vb = v0 * this.dpos[s]! + v1 * this.dpos[s + 1]! + v2 * this.dpos[s + 2]!,
      vc = this.dsq[g]!;
    if (vb * vb - va * vc < 0) return -1;
    const f = this.front[s + 2]!;
    if (f !== 0 && f * w2 <= -GRAZE) {
      const sol = (f * h - l2) / w2;
      const a = l0 + sol * w0,
        b = l1 + sol * w1;
      const ri = r - FACE_MARGIN;
      if (ri > 0 && a * a + b * b <= ri * ri) {
        DIST[0] = sol;
        return this.faceHit(g, 2);
      }
    }
    if (rayQuad(va, vb, vc) < 0) return -1;
    let x = -1,
      type = 0;
    if (Math.abs(w2) > MINVAL) {
      for (let side = -1; side <= 1; side += 2) {
        const sol = (side * h - l2) / w2;
        if (sol >= 0) {
          const a = l0 + sol * w0,
            b = l1 + sol * w1;
          if (a * a + b * b <= r * r) {
            if (x < 0 || sol < x) {
              x = sol;
              type = side;
            }
          }
        }
      }
    }
    const a = w0 * w0 + w1 * w1;
    const b = w0 * l0 + w1 * l1;
    const c = l0 * l0 + l1 * l1 - r * r;
    const sol = rayQuad(a, b, c);
    if (sol >= 0 && Math.abs(l2 + sol * w2) <= h) {
      if (x < 0 || sol < x) {
        x = sol;
        type = 0;
      }
    }
    if (x >= 0) {
      if (type === 0) {
        TRN[0] = l0 + w0 * x;
        TRN[1] = l1 + w1 * x;
        TRN[2] = 0;
        normalize3(TRN, 0);
        rotateNormal(mat, mo, TRN[0], TRN[1], TRN[2]);
      } else rotateNormal(mat, mo, 0, 0, type);
    }
    if (x < 0) return -1;
    DIST[0] = x;
    return 1;
  }

  /** mj_rayMesh: the bounding box, then mju_rayTree over the mesh's bounding volume tree in MuJoCo's stack order. */
  private mesh(g: number): number {
    // The mesh's own shortcut hits are not final: only its triangles are.
    const hit = this.box(g);
    SHORT[0] = 0;
    if (hit < 0) return -1;
    const meshid = this.dataid[g]!;
    const bvhadr = this.meshBvhAdr[meshid]!;
    const po = 3 * g;
    const l0 = this.lpos[po]!,
      l1 = this.lpos[po + 1]!,
      l2 = this.lpos[po + 2]!,
      w0 = LV[0]!,
      w1 = LV[1]!,
      w2 = LV[2]!;
    const xmat = this.xmat,
      mo = 9 * g;
    // Basis of the plane normal to the ray.
    B0[0] = 1;
    B0[1] = 1;
    B0[2] = 1;
    if (Math.abs(w0) >= Math.abs(w1) && Math.abs(w0) >= Math.abs(w2)) B0[0] = 0;
    else if (Math.abs(w1) >= Math.abs(w2)) B0[1] = 0;
    else B0[2] = 0;
    const scl = -(w0 * B0[0] + w1 * B0[1] + w2 * B0[2]) / (w0 * w0 + w1 * w1 + w2 * w2);
    B1[0] = B0[0] + scl * w0;
    B1[1] = B0[1] + scl * w1;
    B1[2] = B0[2] + scl * w2;
    normalize3(B1, 0);
    const c0 = B1[1] * w2 - B1[2] * w1,
      c1 = B1[2] * w0 - B1[0] * w2,
      c2 = B1[0] * w1 - B1[1] * w0;
    B0[0] = c0;
    B0[1] = c1;
    B0[2] = c2;
    normalize3(B0, 0);
    const slab = this.slabs[g];
    if (slab) {
      const short = this.slabRay(slab, meshid, bvhadr, l0, l1, l2, w0, w1, w2);
      if (short === 0) return -1;
      if (short === 1) {
        rotateNormal(xmat, mo, TRN[0]!, TRN[1]!, TRN[2]!);
        return 1;
      }
    }
    let x = -1,
      m0 = 0,
      m1 = 0,
      m2 = 0;
    const stack = this.stack;
    let ns = 0;
    stack[ns++] = 0;
    const child = this.bvhChild,
      nodeid = this.bvhNodeId;
    const faceAdr = this.meshFaceAdr[meshid]!,
      vertAdr = this.meshVertAdr[meshid]!;
    const vert = this.meshVert,
      face = this.meshFace;
    while (ns > 0) {
      const node = stack[--ns]!;
      if (!slab3(this.bvhAabb, 6 * (bvhadr + node), l0, l1, l2, w0, w1, w2)) continue;
      const fid = nodeid[bvhadr + node]!;
      if (fid !== -1) {
        const f = fid + faceAdr;
        for (let i = 0; i < 3; i++) {
          const vi = 3 * (face[3 * f + i]! + vertAdr);
          TRI[3 * i] = vert[vi]!;
          TRI[3 * i + 1] = vert[vi + 1]!;
          TRI[3 * i + 2] = vert[vi + 2]!;
        }
        const sol = rayTriangle(l0, l1, l2, w0, w1, w2);
        if (sol >= 0 && (x < 0 || sol < x)) {
          x = sol;
          m0 = TRN[0]!;
          m1 = TRN[1]!;
          m2 = TRN[2]!;
        }
        continue;
      }
      for (let i = 0; i < 2; i++) {
        const ch = child[2 * (bvhadr + node) + i]!;
        if (ch !== -1) {
          if (ns >= stack.length) throw new Error(`mesh bounding volume tree deeper than ${stack.length} in geom ${g}`);
          stack[ns++] = ch;
        }
      }
    }
    if (x >= 0) rotateNormal(xmat, mo, m0, m1, m2);
    if (x < 0) return -1;
    DIST[0] = x;
    return 1;
  }

  /**
   * MeshSlab's shortcut for the local ray (l, w), with mesh()'s basis in B0, B1: 1 = a hit (its distance in DIST, its
   * local normal in TRN), 0 = no hit, -1 = not settled (walk the tree).
   */
  private slabRay(slab: MeshSlab, meshid: number, bvhadr: number, l0: number, l1: number, l2: number, w0: number, w1: number, w2: number): number {
    const { axis, u, v } = slab;
    const la = axis === 0 ? l0 : axis === 1 ? l1 : l2,
      wa = axis === 0 ? w0 : axis === 1 ? w1 : w2;
    const lu = u === 0 ? l0 : l1,
      wu = u === 0 ? w0 : w1,
      lv = v === 2 ? l2 : l1,
      wv = v === 2 ? w2 : w1;
    const [lo, hi] = slab.level;
    // The face turned to the ray's origin, crossed steeply.
    const level = la > hi + SLAB_MARGIN ? 1 : la < lo - SLAB_MARGIN ? 0 : -1;
    if (level < 0 || !(Math.abs(wa) >= GRAZE * Math.sqrt(w0 * w0 + w1 * w1 + w2 * w2)) || (level === 1) !== wa < 0) return -1;
    const t = ((level === 1 ? hi : lo) - la) / wa;
    const pu = lu + t * wu,
      pv = lv + t * wv;
    // Beyond the outline by more than the ray's drift across the slab: no hit.
    const drift = ((hi - lo) * Math.sqrt(wu * wu + wv * wv)) / Math.abs(wa);
    const out = slab.outline;
    let worst = -Infinity;
    for (let k = 0; k < out.length; k += 3) worst = Math.max(worst, out[k]! * pu + out[k + 1]! * pv - out[k + 2]!);
    if (worst > drift + SLAB_MARGIN) return 0;
    if (!(worst <= -SLAB_MARGIN)) return -1;
    const face = slab.faces[level === 1 ? 1 : 0];
    const e = face.edges;
    for (let k = 0; k < face.tri.length; k++) {
      const o = 9 * k;
      if (
        !(e[o]! * pu + e[o + 1]! * pv - e[o + 2]! >= SLAB_MARGIN) ||
        !(e[o + 3]! * pu + e[o + 4]! * pv - e[o + 5]! >= SLAB_MARGIN) ||
        !(e[o + 6]! * pu + e[o + 7]! * pv - e[o + 8]! >= SLAB_MARGIN)
      )
        continue;
      // The tree walk reaches this leaf only if every node on its path passes the slab test.
      for (let i = face.pathStart[k]!; i < face.pathStart[k + 1]!; i++)
        if (!slab3(this.bvhAabb, 6 * (bvhadr + face.path[i]!), l0, l1, l2, w0, w1, w2)) return -1;
      const f = face.tri[k]! + this.meshFaceAdr[meshid]!,
        vertAdr = this.meshVertAdr[meshid]!;
      for (let i = 0; i < 3; i++) {
        const vi = 3 * (this.meshFace[3 * f + i]! + vertAdr);
        TRI[3 * i] = this.meshVert[vi]!;
        TRI[3 * i + 1] = this.meshVert[vi + 1]!;
        TRI[3 * i + 2] = this.meshVert[vi + 2]!;
      }
      const sol = rayTriangle(l0, l1, l2, w0, w1, w2);
      if (!(sol >= 0)) return -1;
      DIST[0] = sol;
      return 1;
    }
    return -1;
  }
}

/** mju_raySlab against node box a (centre, half size at box[a..a+6]) for the local ray (l, w). */
function slab3(box: Float64Array, a: number, l0: number, l1: number, l2: number, w0: number, w1: number, w2: number): boolean {
  let tmin = 0,
    tmax = Infinity;
  for (let d = 0; d < 3; d++) {
    const lo = box[a + d]! - box[a + 3 + d]!,
      hi = box[a + d]! + box[a + 3 + d]!;
    const src = d === 0 ? l0 : d === 1 ? l1 : l2;
    const inv = 1.0 / (d === 0 ? w0 : d === 1 ? w1 : w2);
    const t1 = (lo - src) * inv;
    const t2 = (hi - src) * inv;
    const minval = t1 < t2 ? t1 : t2;
    const maxval = t1 < t2 ? t2 : t1;
    tmin = tmin > minval ? tmin : minval;
    tmax = tmax < maxval ? tmax : maxval;
  }
  return tmin < tmax;
}

/** ray_triangle on the vertices in TRI (local frame), with the plane basis B0, B1; the normal into TRN when it returns. */
function rayTriangle(l0: number, l1: number, l2: number, w0: number, w1: number, w2: number): number {
  TRN[0] = 0;
  TRN[1] = 0;
  TRN[2] = 0;
  const v = TRI;
  // planar[i] = (b0 . (v[i] - lpnt), b1 . (v[i] - lpnt))
  const d00 = v[0]! - l0,
    d01 = v[1]! - l1,
    d02 = v[2]! - l2;
  const d10 = v[3]! - l0,
    d11 = v[4]! - l1,
    d12 = v[5]! - l2;
  const d20 = v[6]! - l0,
    d21 = v[7]! - l1,
    d22 = v[8]! - l2;
  const b00 = B0[0]!,
    b01 = B0[1]!,
    b02 = B0[2]!,
    b10 = B1[0]!,
    b11 = B1[1]!,
    b12 = B1[2]!;
  const p00 = b00 * d00 + b01 * d01 + b02 * d02,
    p01 = b10 * d00 + b11 * d01 + b12 * d02;
  const p10 = b00 * d10 + b01 * d11 + b02 * d12,
    p11 = b10 * d10 + b11 * d11 + b12 * d12;
  const p20 = b00 * d20 + b01 * d21 + b02 * d22,
    p21 = b10 * d20 + b11 * d21 + b12 * d22;
  if ((p00 > 0 && p10 > 0 && p20 > 0) || (p00 < 0 && p10 < 0 && p20 < 0) || (p01 > 0 && p11 > 0 && p21 > 0) || (p01 < 0 && p11 < 0 && p21 < 0)) return -1;
  const A0 = p00 - p20,
    A1 = p10 - p20,
    A2 = p01 - p21,
    A3 = p11 - p21;
  const bb0 = -p20,
    bb1 = -p21;
  const det = A0 * A3 - A1 * A2;
  if (Math.abs(det) < MINVAL) return -1;
  const t0 = (A3 * bb0 - A1 * bb1) / det;
  const t1 = (-A2 * bb0 + A0 * bb1) / det;
  if (t0 < 0 || t1 < 0 || t0 + t1 > 1) return -1;
  const e00 = v[0]! - v[6]!,
    e01 = v[1]! - v[7]!,
    e02 = v[2]! - v[8]!;
  const e10 = v[3]! - v[6]!,
    e11 = v[4]! - v[7]!,
    e12 = v[5]! - v[8]!;
  const f0 = l0 - v[6]!,
    f1 = l1 - v[7]!,
    f2 = l2 - v[8]!;
  const n0 = e01 * e12 - e02 * e11,
    n1 = e02 * e10 - e00 * e12,
    n2 = e00 * e11 - e01 * e10;
  const denom = w0 * n0 + w1 * n1 + w2 * n2;
  if (Math.abs(denom) < MINVAL) return -1;
  const x = -(f0 * n0 + f1 * n1 + f2 * n2) / denom;
  TRN[0] = n0;
  TRN[1] = n1;
  TRN[2] = n2;
  normalize3(TRN, 0);
  return x;
}

/**
 * Ray-cast RGB camera: one mj_multiRay call per frame (all rays from the camera centre; the wrist view's per-frame world
 * pass is cast in JavaScript by view-rays.ts, bitwise the same), shaded with the
 * hit geom's colour, a Lambert term from the hit normal, and an optional procedural texture
 * (stripes/checker) evaluated in the frame of the object it belongs to (plug or socket), so patterns move
 * with the plug. No OpenGL needed; ~1 ms for 64x64.
 */
import type { RgbImage, Vec3 } from '../core/types.ts';
import { axisAngleMatrix } from '../core/rotation.ts';
import type { TextureDef } from './connectors.ts';
import type { Mujoco } from './mujoco.ts';
import { ViewRays } from './view-rays.ts';

/** Empty results for a frame whose every pixel sees the solid attached layer (no world pass). */
const NO_INTS = new Int32Array(0);
const NO_NUMS = new Float64Array(0);

/** Fraction of a period added before flooring the checker coordinates (see surface()). */
const CHECKER_NUDGE = 1e-6;

type Model = InstanceType<Mujoco['MjModel']>;
type Data = InstanceType<Mujoco['MjData']>;

/** A pose: position and row-major world-from-camera rotation whose columns are (right, up, backward). */
export interface CameraPose {
  pos: Vec3;
  /** Row-major 3x3; column 0 = image right, column 1 = image up, column 2 = -viewing direction. */
  R: Float64Array;
}

export interface TextureFrame {
  /** Origin and row-major world-from-local rotation of the frame the pattern is painted in. */
  origin: Vec3;
  R: ArrayLike<number>;
  tex: TextureDef;
}

export interface Shading {
  /** Unit vector towards the light (world). */
  light: Vec3;
  ambient: number;
  background: Vec3;
  /**
   * Position of a lamp (world) that casts shadows: a world hit it cannot see gets only the ambient term. Null: no
   * shadows. The Lambert term keeps using `light`, so put the lamp far along it (then the two agree).
   */
  lamp: Vec3 | null;
}

/** Rays in groups per pass (mjNGROUP = 6). */
export type Groups = [number, number, number, number, number, number];

/**
 * What a camera rigidly attached to a body sees of that body: fixed for as long as the mounting is fixed
 * (one episode), so it is ray-cast once and only shaded per frame. Pixels that see "solid" attached geoms
 * (ones that always stay above the socket face, like the plug housing and gripper) need no other ray: the
 * world below the face cannot occlude them. Pixels that see the pins or nothing are re-cast every frame
 * against the environment, and the nearer hit wins: the result equals a full render.
 */
interface AttachedLayer {
  /** Per pixel: 0 = sees nothing attached, 1 = solid attached (final), 2 = attached but occludable. */
  kind: Uint8Array;
  dist: Float64Array;
  /** Colour after texture, per pixel RGB in [0,1]. */
  color: Float64Array;
  /** Surface normal in the camera frame (facing the camera). */
  normal: Float64Array;
  /** Pixels cast against the environment every frame. */
  envIdx: Int32Array;
  gid: InstanceType<Mujoco['IntBuffer']>;
  dist2: InstanceType<Mujoco['DoubleBuffer']>;
  nrm2: InstanceType<Mujoco['DoubleBuffer']>;
  /** The analytic world pass's results (view-rays.ts), one per pixel of envIdx. */
  wgid: Int32Array;
  wdist: Float64Array;
  wnrm: Float64Array;
  /** Camera-frame directions of the envIdx rays, packed (what the analytic pass culls with). */
  envLocal: Float64Array;
}

/** A static model of the visible world, with its own colour and texture tables. */
export interface EnvView {
  model: Model;
  data: Data;
  color: Float64Array;
  tex: Int8Array;
  /** The same ray cast as mj_multiRay on this model, in JavaScript (view-rays.ts). */
  rays: ViewRays;
}

/** Scratch for facingNormal's result (one per module: rendering is synchronous, one pixel at a time). */
const FACING = new Float64Array(3);
/**
 * Scratch for a hit point handed to surface(): a double passed as an argument to a call V8 does not inline is boxed
 * (a heap allocation per pixel), and these per-pixel calls made rendering the control thread's largest allocator.
 */
const HIT = new Float64Array(3);

/**
 * The surface normal hit by ray q, turned to face the camera (the ray cast gives a geom's outward normal, which faces
 * away on a hit from inside or behind), into out[0..2]. Small and monomorphic, so V8 inlines it in the per-pixel loops.
 */
function facingNormal(nrm: Float64Array, q: number, dx: number, dy: number, dz: number, out: Float64Array): void {
  const nx = nrm[3 * q]!,
    ny = nrm[3 * q + 1]!,
    nz = nrm[3 * q + 2]!;
  const flip = nx * dx + ny * dy + nz * dz > 0;
  out[0] = flip ? -nx : nx;
  out[1] = flip ? -ny : ny;
  out[2] = flip ? -nz : nz;
}

export class RayCamera {
  readonly n: number;
  private readonly local: Float64Array; // ray directions in the camera frame (x right, y up, z backward)
  private readonly world: Float64Array;
  private readonly gid: InstanceType<Mujoco['IntBuffer']>;
  private readonly dist: InstanceType<Mujoco['DoubleBuffer']>;
  private readonly nrm: InstanceType<Mujoco['DoubleBuffer']>;
  /** Geom groups the rays see in a plain render (group 3 = arm links, 5 = hidden collision pieces). */
  groups: Groups = [1, 1, 1, 1, 1, 1];
  /** Per geom: RGB in [0,1] and texture slot (-1 none, else index into the frames passed to render). */
  readonly geomColor: Float64Array;
  readonly geomTex: Int8Array;
  /** Rays ignore geoms farther than this (m). */
  cutoff = 2;
  /** Geom groups that can cast shadows. */
  shadowGroups: Groups = [1, 1, 1, 0, 1, 0];
  /**
   * Per geom of the camera's model: 1 = shadows fall on it. renderAttached shades the attached layer without
   * shadows, so a cell clears this for the attached geoms and render() then agrees with it.
   */
  readonly shadowReceiver: Uint8Array;
  private layer: AttachedLayer | null = null;
  private envView: EnvView | null = null;
  /**
   * Cast the world pass against the view model in JavaScript (view-rays.ts: bitwise mj_multiRay's result, without its
   * embind copy and per-ray bounding angles); false: through mj_multiRay (for tests and benchmarks).
   */
  analyticWorld = true;
  private readonly shadowDir: Float64Array;
  private readonly lampDist: Float64Array;
  private readonly shadowed: Uint8Array;

  /**
   * Cast the world pass of renderAttached against a separate static model of what is visible of the world
   * (same coordinates). Its geom colours start from the view model's rgba; adjust them in the returned view.
   */
  setEnvView(model: Model, data: Data): EnvView {
    const ng = model.ngeom;
    const rgba = model.geom_rgba as Float32Array;
    const color = new Float64Array(3 * ng);
    for (let g = 0; g < ng; g++) for (let k = 0; k < 3; k++) color[3 * g + k] = rgba[4 * g + k]!;
    this.envView = { model, data, color, tex: new Int8Array(ng).fill(-1), rays: new ViewRays(model, data) };
    return this.envView;
  }

  constructor(
    private readonly mj: Mujoco,
    private readonly model: Model,
    readonly width: number,
    readonly height: number,
    fovYDeg: number,
  ) {
    this.n = width * height;
    this.local = new Float64Array(3 * this.n);
    this.world = new Float64Array(3 * this.n);
    const t = Math.tan((fovYDeg * Math.PI) / 360);
    const aspect = width / height;
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const k = 3 * (i * width + j);
        const x = ((2 * (j + 0.5)) / width - 1) * t * aspect;
        const y = (1 - (2 * (i + 0.5)) / height) * t;
        // Unit-length rays keep mj_multiRay's distances in metres.
        const norm = Math.hypot(x, y, 1);
        this.local[k] = x / norm;
        this.local[k + 1] = y / norm;
        this.local[k + 2] = -1 / norm;
      }
    }
    this.gid = new mj.IntBuffer(this.n);
    this.dist = new mj.DoubleBuffer(this.n);
    this.nrm = new mj.DoubleBuffer(3 * this.n);
    this.shadowDir = new Float64Array(3 * this.n);
    this.lampDist = new Float64Array(this.n);
    this.shadowed = new Uint8Array(this.n);
    const ng = model.ngeom;
    this.shadowReceiver = new Uint8Array(ng).fill(1);
    this.geomColor = new Float64Array(3 * ng);
    this.geomTex = new Int8Array(ng).fill(-1);
    const rgba = model.geom_rgba as Float32Array;
    for (let g = 0; g < ng; g++) {
      this.geomColor[3 * g] = rgba[4 * g]!;
      this.geomColor[3 * g + 1] = rgba[4 * g + 1]!;
      this.geomColor[3 * g + 2] = rgba[4 * g + 2]!;
    }
  }

  /** World ray directions for the listed pixels (all when idx is null), packed from the start of `world`. */
  private rotate(R: ArrayLike<number>, idx: Int32Array | null): number {
    const { local, world } = this;
    const m = idx ? idx.length : this.n;
    for (let q = 0; q < m; q++) {
      const k = 3 * (idx ? idx[q]! : q);
      const x = local[k]!,
        y = local[k + 1]!,
        z = local[k + 2]!;
      world[3 * q] = R[0]! * x + R[1]! * y + R[2]! * z;
      world[3 * q + 1] = R[3]! * x + R[4]! * y + R[5]! * z;
      world[3 * q + 2] = R[6]! * x + R[7]! * y + R[8]! * z;
    }
    return m;
  }

  /** Base colour of geom g at the world hit point in HIT, after its texture. */
  private surface(g: number, frames: readonly TextureFrame[], out: Float64Array, o: number, color = this.geomColor, tex = this.geomTex): void {
    out[o] = color[3 * g]!;
    out[o + 1] = color[3 * g + 1]!;
    out[o + 2] = color[3 * g + 2]!;
    const slot = tex[g]!;
    const fr = slot >= 0 ? frames[slot] : undefined;
    if (!fr || fr.tex.kind === 'none') return;
    // Hit point in the texture's frame: R^T (hit - origin)
    const px = HIT[0]! - fr.origin[0],
      py = HIT[1]! - fr.origin[1],
      pz = HIT[2]! - fr.origin[2];
    const Rt = fr.R;
    const ux = Rt[0]! * px + Rt[3]! * py + Rt[6]! * pz;
    const uy = Rt[1]! * px + Rt[4]! * py + Rt[7]! * pz;
    const uz = Rt[2]! * px + Rt[5]! * py + Rt[8]! * pz;
    const per = fr.tex.period;
    let alt: boolean;
    if (fr.tex.kind === 'stripes') {
      // The stripe direction's cosine and sine, once per texture slot and angle (they were two calls per pixel).
      if (!Object.is(this.stripeAngle[slot], fr.tex.angle)) {
        this.stripeAngle[slot] = fr.tex.angle;
        this.stripeCos[slot] = Math.cos(fr.tex.angle);
        this.stripeSin[slot] = Math.sin(fr.tex.angle);
      }
      const v = ux * this.stripeCos[slot]! + uy * this.stripeSin[slot]! + 0.5 * uz;
      alt = (Math.floor(v / (per / 2)) & 1) === 1;
    } else {
      // The socket face lies exactly on the plane uz = 0 of its frame: without the nudge, rounding noise in the hit
      // point (~1e-17 m) flips floor() between -1 and 0 from pixel to pixel and the face comes out speckled.
      alt = ((Math.floor(ux / per + CHECKER_NUDGE) + Math.floor(uy / per + CHECKER_NUDGE) + Math.floor(uz / per + CHECKER_NUDGE)) & 1) === 1;
    }
    if (alt) {
      out[o] = fr.tex.color2[0];
      out[o + 1] = fr.tex.color2[1];
      out[o + 2] = fr.tex.color2[2];
    }
  }

  private readonly rgb = new Float64Array(3);
  /** Per texture slot: the stripe angle last seen (NaN: none) and its cosine and sine. */
  private readonly stripeAngle = new Float64Array(128).fill(NaN);
  private readonly stripeCos = new Float64Array(128);
  private readonly stripeSin = new Float64Array(128);

  /** Shade one environment/plain hit into img at pixel p (q = index of the ray in the packed arrays; its range dist[q]). */
  private shadeHit(
    img: Uint8Array,
    p: number,
    q: number,
    g: number,
    dist: Float64Array,
    nrm: Float64Array,
    pose: CameraPose,
    shade: Shading,
    frames: readonly TextureFrame[],
    view: EnvView | null = null,
    shadowed = false,
  ): void {
    const w = this.world;
    const d = dist[q]!;
    const dx = w[3 * q]!,
      dy = w[3 * q + 1]!,
      dz = w[3 * q + 2]!;
    facingNormal(nrm, q, dx, dy, dz, FACING);
    const nx = FACING[0]!,
      ny = FACING[1]!,
      nz = FACING[2]!;
    const lam = shadowed ? 0 : Math.max(0, nx * shade.light[0] + ny * shade.light[1] + nz * shade.light[2]);
    const bright = shade.ambient + (1 - shade.ambient) * lam;
    HIT[0] = pose.pos[0] + d * dx;
    HIT[1] = pose.pos[1] + d * dy;
    HIT[2] = pose.pos[2] + d * dz;
    if (view) this.surface(g, frames, this.rgb, 0, view.color, view.tex);
    else this.surface(g, frames, this.rgb, 0);
    const o = 3 * p;
    img[o] = Math.min(255, Math.round(255 * this.rgb[0]! * bright));
    img[o + 1] = Math.min(255, Math.round(255 * this.rgb[1]! * bright));
    img[o + 2] = Math.min(255, Math.round(255 * this.rgb[2]! * bright));
  }

  /**
   * Shadow test for rays q in `rays` (indices into the packed primary arrays) that hit at distances dist[q]:
   * one mj_multiRay from the lamp to every hit point (a single call needs a single origin, hence a point lamp);
   * a hit point is in shadow when something lies between it and the lamp. Writes this.shadowed[q].
   */
  private castShadows(data: Data, pose: CameraPose, lamp: Vec3, rays: Int32Array, count: number, dist: Float64Array): void {
    const w = this.world,
      sd = this.shadowDir,
      far = this.lampDist;
    for (let k = 0; k < count; k++) {
      const q = rays[k]!;
      const d = dist[q]!;
      const hx = pose.pos[0] + d * w[3 * q]! - lamp[0];
      const hy = pose.pos[1] + d * w[3 * q + 1]! - lamp[1];
      const hz = pose.pos[2] + d * w[3 * q + 2]! - lamp[2];
      const l = Math.hypot(hx, hy, hz);
      sd[3 * k] = hx / l;
      sd[3 * k + 1] = hy / l;
      sd[3 * k + 2] = hz / l;
      far[k] = l;
    }
    this.shadowed.fill(0);
    if (count === 0) return;
    let cutoff = 0;
    for (let k = 0; k < count; k++) cutoff = Math.max(cutoff, far[k]!);
    // mj_multiRay wants output buffers of exactly `count` rays, and the count changes every frame.
    const gid = new this.mj.IntBuffer(count);
    const dist2 = new this.mj.DoubleBuffer(count);
    const nrm2 = new this.mj.DoubleBuffer(3 * count);
    try {
      this.mj.mj_multiRay(
        this.model,
        data,
        lamp,
        sd.subarray(0, 3 * count) as unknown as number[],
        this.shadowGroups,
        1,
        -1,
        gid,
        dist2,
        nrm2,
        count,
        cutoff + 0.01,
      );
      const sg = gid.GetView() as Int32Array;
      const sdv = dist2.GetView() as Float64Array;
      // 0.2 mm: the surface the point lies on must not shadow itself.
      for (let k = 0; k < count; k++) if (sg[k]! >= 0 && sdv[k]! < far[k]! - 2e-4) this.shadowed[rays[k]!] = 1;
    } finally {
      gid.delete();
      dist2.delete();
      nrm2.delete();
    }
  }

  /** Shade pixel p of the attached layer: its cached colour, lit through its cached normal turned by the camera's R. */
  private shadeCached(img: Uint8Array, p: number, L: AttachedLayer, R: ArrayLike<number>, shade: Shading): void {
    const normal = L.normal,
      color = L.color;
    const nx0 = normal[3 * p]!,
      ny0 = normal[3 * p + 1]!,
      nz0 = normal[3 * p + 2]!;
    const nx = R[0]! * nx0 + R[1]! * ny0 + R[2]! * nz0;
    const ny = R[3]! * nx0 + R[4]! * ny0 + R[5]! * nz0;
    const nz = R[6]! * nx0 + R[7]! * ny0 + R[8]! * nz0;
    const light = shade.light;
    const bright = shade.ambient + (1 - shade.ambient) * Math.max(0, nx * light[0] + ny * light[1] + nz * light[2]);
    const o = 3 * p;
    img[o] = Math.min(255, Math.round(255 * color[o]! * bright));
    img[o + 1] = Math.min(255, Math.round(255 * color[o + 1]! * bright));
    img[o + 2] = Math.min(255, Math.round(255 * color[o + 2]! * bright));
  }

  private background(img: Uint8Array, p: number, shade: Shading): void {
    img[3 * p] = shade.background[0];
    img[3 * p + 1] = shade.background[1];
    img[3 * p + 2] = shade.background[2];
  }

  /** Axial depth (m) of a hit at range d along pixel p's ray: what an RGB-D camera reports (z, not range). */
  private axial(p: number, d: number): number {
    return -d * this.local[3 * p + 2]!;
  }

  /**
   * Plain render: every pixel cast against every geom in `groups`. With `depth` (width*height), also the exact axial
   * depth of every pixel (m; 0 where the ray hits nothing), from the same ray cast: no extra ray.
   */
  render(data: Data, pose: CameraPose, shade: Shading, frames: readonly TextureFrame[], out?: Uint8Array, depth?: Float32Array): RgbImage {
    const n = this.rotate(pose.R, null);
    // flg_static=1: include the world's static geoms (table, socket); bodyexclude=-1: none.
    this.mj.mj_multiRay(this.model, data, pose.pos, this.world as unknown as number[], this.groups, 1, -1, this.gid, this.dist, this.nrm, n, this.cutoff);
    const gid = this.gid.GetView() as Int32Array;
    const dist = this.dist.GetView() as Float64Array;
    const nrm = this.nrm.GetView() as Float64Array;
    const img = out ?? new Uint8Array(3 * n);
    const lamp = shade.lamp;
    if (lamp) {
      const rays = new Int32Array(n);
      let c = 0;
      for (let p = 0; p < n; p++) if (gid[p]! >= 0 && this.shadowReceiver[gid[p]!] === 1) rays[c++] = p;
      this.castShadows(data, pose, lamp, rays, c, dist);
    }
    for (let p = 0; p < n; p++) {
      const g = gid[p]!;
      if (g < 0) this.background(img, p, shade);
      else this.shadeHit(img, p, p, g, dist, nrm, pose, shade, frames, null, lamp !== null && this.shadowed[p] === 1);
    }
    if (depth) for (let p = 0; p < n; p++) depth[p] = gid[p]! < 0 ? 0 : this.axial(p, dist[p]!);
    return { width: this.width, height: this.height, data: img };
  }

  /** Forget the attached layer (call when the camera's mounting changes, e.g. jitter at reset). */
  invalidateLayer(): void {
    if (this.layer) {
      this.layer.gid.delete();
      this.layer.dist2.delete();
      this.layer.nrm2.delete();
    }
    this.layer = null;
  }

  /**
   * Render for a camera rigidly mounted on a body: `attachedGroups` are that body's geoms (cast once per
   * mounting), `solid(g)` tells which of them can never be occluded by `envGroups` geoms. `depth`: as in render().
   */
  renderAttached(
    data: Data,
    pose: CameraPose,
    shade: Shading,
    frames: readonly TextureFrame[],
    attachedGroups: Groups,
    envGroups: Groups,
    solid: (geom: number) => boolean,
    out?: Uint8Array,
    depth?: Float32Array,
  ): RgbImage {
    const n = this.n;
    const R = pose.R;
    let L = this.layer;
    if (!L) {
      this.rotate(R, null);
      this.mj.mj_multiRay(this.model, data, pose.pos, this.world as unknown as number[], attachedGroups, 1, -1, this.gid, this.dist, this.nrm, n, this.cutoff);
      const gid = this.gid.GetView() as Int32Array;
      const dist = this.dist.GetView() as Float64Array;
      const nrm = this.nrm.GetView() as Float64Array;
      const kind = new Uint8Array(n);
      const ldist = new Float64Array(n);
      const color = new Float64Array(3 * n);
      const normal = new Float64Array(3 * n);
      const env: number[] = [];
      for (let p = 0; p < n; p++) {
        const g = gid[p]!;
        if (g < 0) {
          env.push(p);
          continue;
        }
        const d = dist[p]!;
        const dx = this.world[3 * p]!,
          dy = this.world[3 * p + 1]!,
          dz = this.world[3 * p + 2]!;
        HIT[0] = pose.pos[0] + d * dx;
        HIT[1] = pose.pos[1] + d * dy;
        HIT[2] = pose.pos[2] + d * dz;
        this.surface(g, frames, color, 3 * p);
        facingNormal(nrm, p, dx, dy, dz, FACING);
        const nx = FACING[0]!,
          ny = FACING[1]!,
          nz = FACING[2]!;
        // camera frame normal: R^T n
        normal[3 * p] = R[0]! * nx + R[3]! * ny + R[6]! * nz;
        normal[3 * p + 1] = R[1]! * nx + R[4]! * ny + R[7]! * nz;
        normal[3 * p + 2] = R[2]! * nx + R[5]! * ny + R[8]! * nz;
        ldist[p] = d;
        if (solid(g)) kind[p] = 1;
        else {
          kind[p] = 2;
          env.push(p);
        }
      }
      const m = Math.max(1, env.length);
      L = {
        kind,
        dist: ldist,
        color,
        normal,
        envIdx: Int32Array.from(env),
        gid: new this.mj.IntBuffer(m),
        dist2: new this.mj.DoubleBuffer(m),
        nrm2: new this.mj.DoubleBuffer(3 * m),
        wgid: new Int32Array(m),
        wdist: new Float64Array(m),
        wnrm: new Float64Array(3 * m),
        envLocal: Float64Array.from(env.flatMap((p) => [this.local[3 * p]!, this.local[3 * p + 1]!, this.local[3 * p + 2]!])),
      };
      this.layer = L;
    }
    const img = out ?? new Uint8Array(3 * n);
    const m = L.envIdx.length;
    let egid: Int32Array = NO_INTS,
      edist: Float64Array = NO_NUMS,
      enrm: Float64Array = NO_NUMS;
    const view = this.envView;
    if (m > 0) {
      this.rotate(R, L.envIdx);
      // The world pass runs on the static view model when there is one (same coordinates, far fewer geoms).
      if (view && this.analyticWorld) view.rays.cast(pose.pos, R, L.envLocal, this.world, m, this.cutoff, L.wgid, L.wdist, L.wnrm);
      else if (view)
        this.mj.mj_multiRay(
          view.model,
          view.data,
          pose.pos,
          this.world.subarray(0, 3 * m) as unknown as number[],
          [1, 1, 1, 1, 1, 1],
          1,
          -1,
          L.gid,
          L.dist2,
          L.nrm2,
          m,
          this.cutoff,
        );
      else
        this.mj.mj_multiRay(
          this.model,
          data,
          pose.pos,
          this.world.subarray(0, 3 * m) as unknown as number[],
          envGroups,
          1,
          -1,
          L.gid,
          L.dist2,
          L.nrm2,
          m,
          this.cutoff,
        );
      if (view && this.analyticWorld) {
        egid = L.wgid;
        edist = L.wdist;
        enrm = L.wnrm;
      } else {
        egid = L.gid.GetView() as Int32Array;
        edist = L.dist2.GetView() as Float64Array;
        enrm = L.nrm2.GetView() as Float64Array;
      }
    }
    // Attached pixels: shade the cached surface with the current orientation (the body may tilt a little).
    const layer = L;
    for (let p = 0; p < n; p++) if (layer.kind[p] === 1) this.shadeCached(img, p, layer, R, shade);
    // Depth: the attached layer's cached range (the mounting is rigid), else no return, until the world pass below.
    if (depth) for (let p = 0; p < n; p++) depth[p] = layer.kind[p] === 0 ? 0 : this.axial(p, layer.dist[p]!);
    // Shadows fall on the world (cast against the full model: the plug and gripper are what shade the socket);
    // the attached layer is lit as cached.
    // Ray q shows the world when it hit something nearer than any attached surface behind the same pixel.
    const envIdx = layer.envIdx,
      kind = layer.kind,
      ldist = layer.dist;
    const lamp = shade.lamp;
    if (lamp && m > 0) {
      const rays = new Int32Array(m);
      let c = 0;
      for (let q = 0; q < m; q++) {
        const p = envIdx[q]!;
        if (egid[q]! >= 0 && (kind[p] !== 2 || edist[q]! < ldist[p]!)) rays[c++] = q;
      }
      this.castShadows(data, pose, lamp, rays, c, edist);
    }
    for (let q = 0; q < m; q++) {
      const p = envIdx[q]!;
      const g = egid[q]!;
      const d = edist[q]!;
      if (g >= 0 && (kind[p] !== 2 || d < ldist[p]!)) {
        this.shadeHit(img, p, q, g, edist, enrm, pose, shade, frames, view, lamp !== null && this.shadowed[q] === 1);
        if (depth) depth[p] = this.axial(p, d);
      } else if (kind[p] === 2) this.shadeCached(img, p, layer, R, shade);
      else this.background(img, p, shade);
    }
    return { width: this.width, height: this.height, data: img };
  }

  /**
   * Each pixel's ray cast on its own with mj_ray, which tests every geom of `model` in `groups` (mj_multiRay skips a body
   * whose bounding sphere a ray misses): per pixel the axial depth (m, 0 where nothing is hit). Slow; for tests.
   */
  castEach(model: Model, data: Data, pose: CameraPose, groups: Groups): Float64Array {
    this.rotate(pose.R, null);
    const out = new Float64Array(this.n);
    const gid = new this.mj.IntBuffer(1);
    const nrm = new this.mj.DoubleBuffer(3);
    try {
      for (let p = 0; p < this.n; p++) {
        const vec = [this.world[3 * p]!, this.world[3 * p + 1]!, this.world[3 * p + 2]!];
        const d = this.mj.mj_ray(model, data, pose.pos, vec, groups, 1, -1, gid, nrm);
        out[p] = d >= 0 && d <= this.cutoff ? this.axial(p, d) : 0;
      }
    } finally {
      gid.delete();
      nrm.delete();
    }
    return out;
  }

  dispose(): void {
    this.invalidateLayer();
    this.gid.delete();
    this.dist.delete();
    this.nrm.delete();
  }
}

/** Look-at rotation (row-major world-from-camera, columns right/up/backward). */
export function lookAt(eye: Vec3, target: Vec3, upHint: Vec3): Float64Array {
  const f = norm([target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]]);
  let r = cross(f, upHint);
  if (Math.hypot(...r) < 1e-9) r = cross(f, [1, 0, 0]);
  r = norm(r);
  const u = cross(r, f);
  // columns: r, u, -f
  return Float64Array.from([r[0], u[0], -f[0], r[1], u[1], -f[1], r[2], u[2], -f[2]]);
}

export function norm(a: Vec3): Vec3 {
  const l = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / l, a[1] / l, a[2] / l];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** Row-major 3x3 product a*b. */
export function matMul3(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const o = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) o[3 * i + j] = a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!;
  return o;
}

/** Rotation matrix (row-major) for a rotation vector (axis * angle). */
export function rotVec(w: Vec3): Float64Array {
  const th = Math.hypot(w[0], w[1], w[2]);
  if (th < 1e-12) return Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  return Float64Array.from(axisAngleMatrix([w[0] / th, w[1] / th, w[2] / th], th));
}

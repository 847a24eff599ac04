/**
 * Ray-cast RGB camera: one mj_multiRay call per frame (all rays from the camera centre), shaded with the
 * hit geom's colour, a Lambert term from the hit normal, and an optional procedural texture
 * (stripes/checker) evaluated in the frame of the object it belongs to (plug or socket), so patterns move
 * with the plug. No OpenGL needed; ~1 ms for 64x64.
 */
import type { RgbImage, Vec3 } from '../robot/types.ts';
import type { TextureDef } from './connectors.ts';
import type { Mujoco } from './mujoco.ts';

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
}

export class RayCamera {
  readonly n: number;
  private readonly local: Float64Array; // ray directions in the camera frame (x right, y up, z backward)
  private readonly world: Float64Array;
  private readonly gid: InstanceType<Mujoco['IntBuffer']>;
  private readonly dist: InstanceType<Mujoco['DoubleBuffer']>;
  private readonly nrm: InstanceType<Mujoco['DoubleBuffer']>;
  /** Geom groups the rays see (group 3 = arm links: never in view of the wrist camera, costly to test). */
  groups = [1, 1, 1, 1, 1, 1];
  /** Per geom: RGB in [0,1] and texture slot (-1 none, else index into the frames passed to render). */
  readonly geomColor: Float64Array;
  readonly geomTex: Int8Array;
  /** Rays ignore geoms farther than this (m). */
  cutoff = 2;

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
    const ng = model.ngeom;
    this.geomColor = new Float64Array(3 * ng);
    this.geomTex = new Int8Array(ng).fill(-1);
    const rgba = model.geom_rgba as Float32Array;
    for (let g = 0; g < ng; g++) {
      this.geomColor[3 * g] = rgba[4 * g]!;
      this.geomColor[3 * g + 1] = rgba[4 * g + 1]!;
      this.geomColor[3 * g + 2] = rgba[4 * g + 2]!;
    }
  }

  render(data: Data, pose: CameraPose, shade: Shading, frames: readonly TextureFrame[], out?: Uint8Array): RgbImage {
    const { n, local, world } = this;
    const R = pose.R;
    for (let k = 0; k < 3 * n; k += 3) {
      const x = local[k]!, y = local[k + 1]!, z = local[k + 2]!;
      world[k] = R[0]! * x + R[1]! * y + R[2]! * z;
      world[k + 1] = R[3]! * x + R[4]! * y + R[5]! * z;
      world[k + 2] = R[6]! * x + R[7]! * y + R[8]! * z;
    }
    // flg_static=1: include the world's static geoms (table, socket); bodyexclude=-1: none.
    this.mj.mj_multiRay(this.model, data, pose.pos as unknown as number[], world as unknown as number[], this.groups, 1, -1, this.gid, this.dist, this.nrm, n, this.cutoff);
    const gid = this.gid.GetView() as Int32Array;
    const dist = this.dist.GetView() as Float64Array;
    const nrm = this.nrm.GetView() as Float64Array;
    const img = out ?? new Uint8Array(3 * n);
    const [lx, ly, lz] = shade.light;
    const amb = shade.ambient;
    const [bgR, bgG, bgB] = shade.background;
    for (let p = 0; p < n; p++) {
      const g = gid[p]!;
      const o = 3 * p;
      if (g < 0) {
        img[o] = bgR;
        img[o + 1] = bgG;
        img[o + 2] = bgB;
        continue;
      }
      const dx = world[o]!, dy = world[o + 1]!, dz = world[o + 2]!;
      let nx = nrm[o]!, ny = nrm[o + 1]!, nz = nrm[o + 2]!;
      if (nx * dx + ny * dy + nz * dz > 0) {
        nx = -nx;
        ny = -ny;
        nz = -nz;
      }
      const lam = Math.max(0, nx * lx + ny * ly + nz * lz);
      const bright = amb + (1 - amb) * lam;
      let r = this.geomColor[3 * g]!, gg = this.geomColor[3 * g + 1]!, b = this.geomColor[3 * g + 2]!;
      const slot = this.geomTex[g]!;
      const fr = slot >= 0 ? frames[slot] : undefined;
      if (fr && fr.tex.kind !== 'none') {
        const d = dist[p]!;
        // Hit point in the texture's frame: R^T (hit - origin)
        const hx = pose.pos[0] + d * dx - fr.origin[0];
        const hy = pose.pos[1] + d * dy - fr.origin[1];
        const hz = pose.pos[2] + d * dz - fr.origin[2];
        const Rt = fr.R;
        const ux = Rt[0]! * hx + Rt[3]! * hy + Rt[6]! * hz;
        const uy = Rt[1]! * hx + Rt[4]! * hy + Rt[7]! * hz;
        const uz = Rt[2]! * hx + Rt[5]! * hy + Rt[8]! * hz;
        const per = fr.tex.period;
        let alt: boolean;
        if (fr.tex.kind === 'stripes') {
          const s = ux * Math.cos(fr.tex.angle) + uy * Math.sin(fr.tex.angle) + 0.5 * uz;
          alt = (Math.floor(s / (per / 2)) & 1) === 1;
        } else {
          alt = ((Math.floor(ux / per) + Math.floor(uy / per) + Math.floor(uz / per)) & 1) === 1;
        }
        if (alt) {
          r = fr.tex.color2[0];
          gg = fr.tex.color2[1];
          b = fr.tex.color2[2];
        }
      }
      img[o] = Math.min(255, Math.round(255 * r * bright));
      img[o + 1] = Math.min(255, Math.round(255 * gg * bright));
      img[o + 2] = Math.min(255, Math.round(255 * b * bright));
    }
    return { width: this.width, height: this.height, data: img };
  }

  dispose(): void {
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
  const [x, y, z] = [w[0] / th, w[1] / th, w[2] / th];
  const c = Math.cos(th), s = Math.sin(th), C = 1 - c;
  return Float64Array.from([
    c + x * x * C, x * y * C - z * s, x * z * C + y * s,
    y * x * C + z * s, c + y * y * C, y * z * C - x * s,
    z * x * C - y * s, z * y * C + x * s, c + z * z * C,
  ]);
}

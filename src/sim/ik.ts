/**
 * Damped-least-squares inverse kinematics for the tool tip (position + orientation), with a null-space
 * pull towards a nominal posture (the arm has one redundant degree of freedom).
 *
 * It runs on its own scratch MjData so that solving never disturbs the simulation state; MuJoCo supplies
 * forward kinematics (mj_kinematics + mj_comPos) and the site Jacobian (mj_jacSite, written into the
 * module's own DoubleBuffers: plain typed arrays are silently not written).
 */
import type { Vec3 } from '../core/types.ts';
import { DataViews, type Mujoco } from './mujoco.ts';

type Model = InstanceType<Mujoco['MjModel']>;
type Data = InstanceType<Mujoco['MjData']>;

export interface IkOptions {
  /** Damping lambda (m): trades accuracy near singularities for bounded joint steps. */
  damping: number;
  /** Gain of the null-space pull towards the nominal posture, per iteration. */
  nullGain: number;
  /** Max joint change per iteration (rad). */
  maxDq: number;
  /** Stop when the position error is below this (m) and the orientation error below tolRot (rad). */
  tolPos: number;
  tolRot: number;
  maxIter: number;
}

export const DEFAULT_IK: IkOptions = { damping: 0.01, nullGain: 0.05, maxDq: 0.2, tolPos: 1e-5, tolRot: 1e-4, maxIter: 30 };

export interface IkResult {
  q: Float64Array;
  posErr: number;
  rotErr: number;
  iterations: number;
}

/** Solves 6x6 symmetric positive definite A x = b in place (Cholesky); A is row-major, overwritten. */
export function cholSolve6(A: Float64Array, b: Float64Array): void {
  const n = 6;
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j]!;
    for (let k = 0; k < j; k++) s -= A[j * n + k]! ** 2;
    const d = Math.sqrt(Math.max(s, 1e-18));
    A[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j]!;
      for (let k = 0; k < j; k++) t -= A[i * n + k]! * A[j * n + k]!;
      A[i * n + j] = t / d;
    }
  }
  for (let i = 0; i < n; i++) {
    let t = b[i]!;
    for (let k = 0; k < i; k++) t -= A[i * n + k]! * b[k]!;
    b[i] = t / A[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let t = b[i]!;
    for (let k = i + 1; k < n; k++) t -= A[k * n + i]! * b[k]!;
    b[i] = t / A[i * n + i]!;
  }
}

export class TipIk {
  private readonly nv: number;
  private readonly jacp: InstanceType<Mujoco['DoubleBuffer']>;
  private readonly jacr: InstanceType<Mujoco['DoubleBuffer']>;
  private readonly J: Float64Array;
  private readonly A = new Float64Array(36);
  private readonly e = new Float64Array(6);
  private readonly dq0: Float64Array;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly views: DataViews;

  constructor(
    private readonly mj: Mujoco,
    private readonly model: Model,
    private readonly scratch: Data,
    private readonly siteId: number,
    /** Desired tip orientation as a row-major 3x3 world rotation (fixed: tip pointing down). */
    private readonly Rd: Float64Array,
    readonly nominal: Float64Array,
    readonly opt: IkOptions = DEFAULT_IK,
  ) {
    this.nv = model.nv;
    this.views = new DataViews(scratch);
    this.jacp = new mj.DoubleBuffer(3 * this.nv);
    this.jacr = new mj.DoubleBuffer(3 * this.nv);
    this.J = new Float64Array(6 * this.nv);
    this.dq0 = new Float64Array(this.nv);
    const range = model.jnt_range as Float64Array;
    this.lo = new Float64Array(this.nv);
    this.hi = new Float64Array(this.nv);
    for (let i = 0; i < this.nv; i++) {
      this.lo[i] = range[2 * i]!;
      this.hi[i] = range[2 * i + 1]!;
    }
  }

  /** Forward kinematics of q on the scratch data: tip position (world). */
  forward(q: ArrayLike<number>): Vec3 {
    const qpos = this.views.get('qpos');
    for (let i = 0; i < this.nv; i++) qpos[i] = q[i]!;
    this.mj.mj_kinematics(this.model, this.scratch);
    const p = this.views.get('site_xpos');
    const s = 3 * this.siteId;
    return [p[s]!, p[s + 1]!, p[s + 2]!];
  }

  /** Solve for joint angles putting the tip at `target` with the fixed orientation, starting from `q0`. */
  solve(target: Vec3, q0: ArrayLike<number>, maxIter = this.opt.maxIter): IkResult {
    const { nv, J, A, e, dq0 } = this;
    const q = Float64Array.from({ length: nv }, (_, i) => q0[i]!);
    let posErr: number;
    let rotErr: number;
    let it = 0;
    const lam2 = this.opt.damping ** 2;
    for (; ; it++) {
      this.views.get('qpos').set(q);
      this.mj.mj_kinematics(this.model, this.scratch);
      const xp = this.views.get('site_xpos');
      const xm = this.views.get('site_xmat');
      const s = 3 * this.siteId;
      const m = 9 * this.siteId;
      e[0] = target[0] - xp[s]!;
      e[1] = target[1] - xp[s + 1]!;
      e[2] = target[2] - xp[s + 2]!;
      // Orientation error 0.5 * sum_i (r_i x rd_i) over the columns of current and desired rotations.
      let ex = 0,
        ey = 0,
        ez = 0;
      for (let c = 0; c < 3; c++) {
        const rx = xm[m + c]!,
          ry = xm[m + 3 + c]!,
          rz = xm[m + 6 + c]!;
        const dx = this.Rd[c]!,
          dy = this.Rd[3 + c]!,
          dz = this.Rd[6 + c]!;
        ex += ry * dz - rz * dy;
        ey += rz * dx - rx * dz;
        ez += rx * dy - ry * dx;
      }
      e[3] = 0.5 * ex;
      e[4] = 0.5 * ey;
      e[5] = 0.5 * ez;
      posErr = Math.hypot(e[0], e[1], e[2]);
      rotErr = Math.hypot(e[3], e[4], e[5]);
      if ((posErr < this.opt.tolPos && rotErr < this.opt.tolRot) || it >= maxIter) break;

      this.mj.mj_comPos(this.model, this.scratch);
      this.mj.mj_jacSite(this.model, this.scratch, this.jacp, this.jacr, this.siteId);
      const jp = this.jacp.GetView() as Float64Array;
      const jr = this.jacr.GetView() as Float64Array;
      J.set(jp, 0);
      J.set(jr, 3 * nv);
      // Secondary task: drift towards the nominal posture inside the null space.
      // Near the solution drop the pull: with damping it would leave a small residual task error.
      const pull = posErr > 1e-3 || rotErr > 1e-2 ? this.opt.nullGain : 0;
      for (let i = 0; i < nv; i++) dq0[i] = pull * (this.nominal[i]! - q[i]!);
      // rhs = e - J dq0; A = J J^T + lambda^2 I
      for (let r = 0; r < 6; r++) {
        let t = 0;
        for (let i = 0; i < nv; i++) t += J[r * nv + i]! * dq0[i]!;
        e[r] = e[r]! - t;
        for (let c = 0; c <= r; c++) {
          let a = 0;
          for (let i = 0; i < nv; i++) a += J[r * nv + i]! * J[c * nv + i]!;
          A[r * 6 + c] = a + (r === c ? lam2 : 0);
          A[c * 6 + r] = A[r * 6 + c]!;
        }
      }
      cholSolve6(A, e);
      let maxAbs = 0;
      const dq = new Float64Array(nv);
      for (let i = 0; i < nv; i++) {
        let t = dq0[i]!;
        for (let r = 0; r < 6; r++) t += J[r * nv + i]! * e[r]!;
        dq[i] = t;
        maxAbs = Math.max(maxAbs, Math.abs(t));
      }
      const scale = maxAbs > this.opt.maxDq ? this.opt.maxDq / maxAbs : 1;
      for (let i = 0; i < nv; i++) q[i] = Math.min(this.hi[i]!, Math.max(this.lo[i]!, q[i]! + scale * dq[i]!));
    }
    return { q, posErr, rotErr, iterations: it };
  }

  dispose(): void {
    this.jacp.delete();
    this.jacr.delete();
  }
}

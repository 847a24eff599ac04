/**
 * Scripted collectors of hard negatives for the reward classifier: states the expert's prior data never shows but a
 * learning policy reaches, which a reward must not call seated.
 * - `FacePress`: the plug pressed on the socket face beside the holes (a goal 1.5-6 mm off the true centre-line);
 * - `SeatLift`: a plug seated, then lifted a few mm and pressed home again, in turns (a last action that unseats it).
 * Both read the true socket pose (`ctx.privileged`), like the expert: they are for prior data only, never a baseline.
 * Labels come from the simulator's ground truth as for every prior episode, so a press that slides into the hole is
 * labelled seated, not assumed negative.
 */
import type { Observation, Vec3 } from '../core/types.ts';
import { checkNumber, clipAction, limitXY, type ControlContext, type Controller } from './controller.ts';

export interface FacePressConfig {
  /** Lateral offset of the aim point from the socket centre-line (m), uniform in [min, max] per episode. */
  offsetMin: number;
  offsetMax: number;
  /** Horizontal distance to the aim point (m) within which the plug moves down. */
  alignTolerance: number;
  /** Aim this far (m) below the seated tip height: on the face, that is the pressing force. */
  pressDepth: number;
  /** While pressing, each step moves laterally by up to this much (m) per axis, so the pressed pose varies. */
  wander: number;
}

export const DEFAULT_FACE_PRESS_CONFIG: FacePressConfig = {
  offsetMin: 0.0015,
  offsetMax: 0.006,
  alignTolerance: 0.0005,
  pressDepth: 0.004,
  wander: 0.0005,
};

function socketOf(ctx: ControlContext, who: string): Vec3 {
  const s = ctx.privileged?.socketPos;
  if (!s) throw new Error(`${who}: needs ctx.privileged.socketPos (the instrumented socket pose)`);
  return s;
}

export class FacePress implements Controller {
  readonly name: string;
  readonly config: FacePressConfig;
  /** This episode's lateral offset of the aim point from the socket centre-line (m, x and y). */
  offset: [number, number] = [0, 0];

  constructor(config: Partial<FacePressConfig> = {}, name = 'face-press') {
    this.config = { ...DEFAULT_FACE_PRESS_CONFIG, ...config };
    const c = this.config;
    checkNumber('FacePress', 'offsetMin', c.offsetMin, 0, 0.05);
    checkNumber('FacePress', 'offsetMax', c.offsetMax, c.offsetMin, 0.05);
    checkNumber('FacePress', 'alignTolerance', c.alignTolerance, 0, 0.01);
    checkNumber('FacePress', 'pressDepth', c.pressDepth, 0, 0.05);
    checkNumber('FacePress', 'wander', c.wander, 0, 0.01);
    this.name = name;
  }

  reset(ctx: ControlContext): void {
    socketOf(ctx, 'FacePress');
    const r = ctx.rng.uniform(this.config.offsetMin, this.config.offsetMax);
    const a = ctx.rng.uniform(0, 2 * Math.PI);
    this.offset = [r * Math.cos(a), r * Math.sin(a)];
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const s = socketOf(ctx, 'FacePress');
    const c = this.config;
    // Draw every step, whatever the branch, so the random stream does not depend on the state.
    const jx = ctx.rng.uniform(-c.wander, c.wander);
    const jy = ctx.rng.uniform(-c.wander, c.wander);
    const x = obs.eePos;
    const ex = s[0] + this.offset[0] - x[0];
    const ey = s[1] + this.offset[1] - x[1];
    if (Math.hypot(ex, ey) <= c.alignTolerance) return clipAction([ex + jx, ey + jy, Math.min(0, s[2] - c.pressDepth - x[2])], ctx.maxStep);
    const [dx, dy] = limitXY(ex, ey, ctx.maxStep);
    return clipAction([dx, dy, 0], ctx.maxStep);
  }
}

export interface SeatLiftConfig {
  /** Horizontal distance to the centre-line (m) within which the plug moves down (the expert's 1 mm). */
  alignTolerance: number;
  /** Aim this far (m) below the seated tip height when pressing home. */
  pressDepth: number;
  /** The tip counts as home within this height (m) of the seated position (the ground truth's 1 mm). */
  homeTolerance: number;
  /** Each lift raises the tip this far above seated (m), uniform in [min, max] per lift. */
  liftMin: number;
  liftMax: number;
  /** Steps held at each end (seated, lifted), uniform in [1, holdMax]. */
  holdMax: number;
}

export const DEFAULT_SEAT_LIFT_CONFIG: SeatLiftConfig = {
  alignTolerance: 0.001,
  pressDepth: 0.002,
  homeTolerance: 0.001,
  liftMin: 0.001,
  liftMax: 0.004,
  holdMax: 2,
};

export class SeatLift implements Controller {
  readonly name: string;
  readonly config: SeatLiftConfig;
  private phase: 'insert' | 'lifted' = 'insert';
  private hold = 0;
  private liftTo = 0;

  constructor(config: Partial<SeatLiftConfig> = {}, name = 'seat-lift') {
    this.config = { ...DEFAULT_SEAT_LIFT_CONFIG, ...config };
    const c = this.config;
    checkNumber('SeatLift', 'alignTolerance', c.alignTolerance, 0, 0.01);
    checkNumber('SeatLift', 'pressDepth', c.pressDepth, 0, 0.05);
    checkNumber('SeatLift', 'homeTolerance', c.homeTolerance, 0, 0.01);
    checkNumber('SeatLift', 'liftMin', c.liftMin, 0, 0.05);
    checkNumber('SeatLift', 'liftMax', c.liftMax, c.liftMin, 0.05);
    checkNumber('SeatLift', 'holdMax', c.holdMax, 1, 100);
    this.name = name;
  }

  reset(ctx: ControlContext): void {
    socketOf(ctx, 'SeatLift');
    this.phase = 'insert';
    this.hold = 0;
    this.liftTo = 0;
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const s = socketOf(ctx, 'SeatLift');
    const c = this.config;
    // Both draws every step, so the random stream does not depend on the branch taken.
    const holdDraw = 1 + ctx.rng.int(Math.floor(c.holdMax));
    const liftDraw = ctx.rng.uniform(c.liftMin, c.liftMax);
    const x = obs.eePos;
    const ex = s[0] - x[0];
    const ey = s[1] - x[1];
    if (this.phase === 'lifted') {
      if (this.hold > 0) {
        this.hold--;
        return clipAction([ex, ey, s[2] + this.liftTo - x[2]], ctx.maxStep);
      }
      this.phase = 'insert';
    }
    if (Math.hypot(ex, ey) > c.alignTolerance) {
      const [dx, dy] = limitXY(ex, ey, ctx.maxStep);
      return clipAction([dx, dy, 0], ctx.maxStep);
    }
    if (x[2] - s[2] <= c.homeTolerance) {
      // Home: hold pressed for a few steps, then lift.
      if (this.hold === 0) this.hold = holdDraw;
      this.hold--;
      if (this.hold === 0) {
        this.phase = 'lifted';
        this.liftTo = liftDraw;
        this.hold = holdDraw;
        return clipAction([ex, ey, s[2] + this.liftTo - x[2]], ctx.maxStep);
      }
    }
    return clipAction([ex, ey, Math.min(0, s[2] - c.pressDepth - x[2])], ctx.maxStep);
  }
}

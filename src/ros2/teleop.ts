/**
 * Operator takeover input from ROS: geometry_msgs/Twist as the `spacenav` driver publishes it, or sensor_msgs/Joy with
 * a configured mapping (dead-man button). `current()` is the operator's relative move for one control period while a
 * takeover holds, else null; a takeover lapses when its stream goes quiet for `timeout` s or the dead-man is released,
 * so a crashed teleop node cannot keep driving. Every start and end is reported with its source (for the intervention
 * log). It is a TakeoverInput (core/takeover.ts): the daemon polls it every control tick and executes its move in place
 * of the policy's (step limit and safety filter still apply), logging each such step as an intervention.
 */
import { performance } from 'node:perf_hooks';
import type { TakeoverCommand, TakeoverContext, TakeoverInput } from '../core/takeover.ts';
import type { Vec3 } from '../core/types.ts';
import { velocityFromJoy, velocityFromTwist } from './convert.ts';
import type { TeleopConfig } from './config.ts';
import { QOS_SENSOR, type Closable, type Ros2Transport } from './transport.ts';

export interface TakeoverTransition {
  active: boolean;
  source: string;
  /** Backend-independent monotonic time (s). */
  at: number;
}

export class TeleopInput implements TakeoverInput {
  readonly name = 'ros2-teleop';
  private readonly subs: Closable[] = [];
  private velocity: Vec3 | null = null;
  private source = '';
  private lastAt = -Infinity;
  private active = false;
  private readonly listeners = new Set<(t: TakeoverTransition) => void>();
  /** Messages that failed the mapping (missing axis, non-finite): ignored, counted. */
  errors = 0;
  lastError: string | null = null;

  constructor(
    transport: Ros2Transport,
    private readonly cfg: TeleopConfig,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {
    if (cfg.twist) {
      const topic = cfg.twist;
      this.subs.push(
        transport.subscribe(topic, 'geometry_msgs/msg/Twist', QOS_SENSOR, (m) => this.input(`ros2:${topic}`, () => velocityFromTwist(m, cfg.twistScale))),
      );
    }
    if (cfg.joy) {
      const topic = cfg.joy;
      this.subs.push(
        transport.subscribe(topic, 'sensor_msgs/msg/Joy', QOS_SENSOR, (m) => this.input(`ros2:${topic}`, () => velocityFromJoy(m, cfg.joyMapping))),
      );
    }
  }

  private input(source: string, read: () => Vec3 | null): void {
    let v: Vec3 | null;
    try {
      v = read();
    } catch (e) {
      this.errors++;
      this.lastError = (e as Error).message;
      return;
    }
    this.velocity = v;
    this.source = source;
    this.lastAt = this.now();
    this.update();
  }

  private update(): void {
    const holding = this.velocity !== null && this.now() - this.lastAt <= this.cfg.timeout;
    if (holding !== this.active) {
      this.active = holding;
      const t = { active: holding, source: this.source, at: this.now() };
      for (const l of this.listeners) l(t);
    }
  }

  /** The operator's move for one control period (m), or null when no takeover holds. Call once per tick. */
  current(period: number): { delta: Vec3; source: string } | null {
    this.update();
    if (!this.active || !this.velocity) return null;
    const v = this.velocity;
    return { delta: [v[0] * period, v[1] * period, v[2] * period], source: this.source };
  }

  /** TakeoverInput: the operator's move for this tick while the stream is fresh, else null. */
  poll(ctx: TakeoverContext): TakeoverCommand | null {
    return this.current(ctx.period);
  }

  onTransition(l: (t: TakeoverTransition) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  close(): void {
    for (const s of this.subs) s.close();
  }
}

/**
 * The robot backend a replay hands the real Daemon: the simulated cell (SimBackend), except that an episode starts
 * where the log's did (see source.ts) instead of where the daemon's own seed would put it, and the simulator's ground
 * truth is kept after every command for the reward audit (height above seated).
 */
import type { EpisodeSpec, EstopListener, EstopSignal, RobotBackend } from '../robot/backend.ts';
import type { SimBackend } from '../robot/sim-backend.ts';
import type { BackendSensors, GroundTruth, Observation, Vec3 } from '../core/types.ts';
import type { PlannedStart } from './source.ts';

/** How a start was actually rebuilt (for the result document). */
export interface RebuiltStart {
  kind: PlannedStart['kind'];
  seed: number;
  /** Start tip and x* in the cell (m). */
  tip: Vec3;
  goal: Vec3;
  /** Distance of the rebuilt start from the logged one, relative to x* (m). */
  startErrorM: number;
  note: string | null;
}

/** Ground truth of the observation after a command (what the reward of that step judges). */
export interface StepTruth {
  success: boolean;
  /** Tip height above its seated position (m). */
  aboveSeatedM: number;
}

const same = (a: Vec3, b: Vec3): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const norm = (a: Vec3): number => Math.hypot(a[0], a[1], a[2]);

export class ReplayBackend implements RobotBackend {
  readonly kind = 'replay' as const;
  private planned: PlannedStart | null = null;
  /** Commands since the last start: the step the daemon is at. */
  step = 0;
  /** Starts so far (a controller that keeps per-episode state notices a new one by this). */
  episodes = 0;
  truths: StepTruth[] = [];
  rebuilt: RebuiltStart | null = null;

  constructor(readonly sim: SimBackend) {}

  /** The start the next moveToStart rebuilds. */
  plan(p: PlannedStart): void {
    this.planned = p;
    this.rebuilt = null;
  }

  async moveToStart(spec: EpisodeSpec): Promise<void> {
    const p = this.planned;
    if (!p) throw new Error('replay backend: no planned start (the replay runner plans one before every episode)');
    const domain = spec.domain ?? p.domain;
    const reset = { seed: p.seed, scenario: p.scenario, domain };
    await this.sim.moveToStartAt(reset, {});
    let note: string | null = null;
    let kind = p.kind;
    if (kind === 'seeded') {
      const o = this.sim.observe();
      if (!same(o.eePos, p.tip)) {
        note = `the seeded reset put the tip ${(norm(sub(o.eePos, p.tip)) * 1000).toFixed(3)} mm from the logged start (other cell settings?): placed it where the log says`;
        kind = 'cell';
      } else if (!same(o.goal, p.goal)) {
        // The calibration moved x* (socket offset or a fixed goal): publish the logged x* itself.
        await this.sim.moveToStartAt(reset, { goal: p.goal });
        note = 'x* as logged (the session calibration moved it from the simulator goal)';
      }
    }
    if (kind === 'cell') {
      await this.sim.moveToStartAt(reset, { tip: p.tip, goal: p.goal });
    } else if (kind === 'relative') {
      const seated = this.sim.simCell.socketPos();
      const goal = add(seated, p.goalError ?? [0, 0, 0]);
      await this.sim.moveToStartAt(reset, { tip: add(goal, sub(p.tip, p.goal)), goal });
      note = `${p.mapped ? `connector '${p.loggedDomain}' replayed as '${p.domain}'; ` : ''}start rebuilt relative to x*, x* error ${fmtMm(p.goalError ?? [0, 0, 0])} mm (assumed)`;
    }
    const o = this.sim.observe();
    this.rebuilt = { kind, seed: p.seed, tip: o.eePos, goal: o.goal, startErrorM: norm(sub(sub(o.eePos, o.goal), sub(p.tip, p.goal))), note };
    this.step = 0;
    this.truths = [];
    this.episodes++;
  }

  observe(): Observation {
    return this.sim.observe();
  }

  command(delta: Vec3): void {
    this.sim.command(delta);
    this.step++;
    const g = this.sim.simCell.groundTruth();
    this.truths.push({ success: g.success, aboveSeatedM: this.sim.simCell.config.connector.depth - g.depth });
  }

  stop(): void {
    this.sim.stop();
  }

  retract(dz: number): Promise<void> {
    return this.sim.retract(dz);
  }

  estopEngaged(): EstopSignal {
    return this.sim.estopEngaged();
  }

  onEstop(listener: EstopListener): () => void {
    return this.sim.onEstop(listener);
  }

  zeroWrench(): void {
    this.sim.zeroWrench();
  }

  clock(): number {
    return this.sim.clock();
  }

  groundTruth(): GroundTruth {
    return this.sim.groundTruth();
  }

  sensors(): BackendSensors {
    return this.sim.sensors();
  }

  domains(): string[] {
    return this.sim.domains();
  }

  dispose(): void {
    this.sim.dispose();
  }
}

function fmtMm(v: Vec3): string {
  return `[${v.map((x) => (x * 1000).toFixed(2)).join(', ')}]`;
}

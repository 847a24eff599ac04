/**
 * The RobotBackend seam: everything the daemon needs from a robot, and nothing more.
 * Like a ros2_control hardware interface, the daemon talks only to this, so the same loop drives the MuJoCo cell,
 * a ROS 2 arm, or a test fake. Units as in types.ts (metres, newtons, seconds); frames: robot base, z up.
 */
import type { BackendSensors, GroundTruth, Observation, Scenario, Vec3 } from '../core/types.ts';

export type BackendKind = 'sim' | 'mock' | 'ros2' | 'replay';

/** Where an engaged e-stop comes from, as the robot reports it (e.g. Sawyer's `estop_source`). */
export interface EstopSignal {
  engaged: boolean;
  /** Free text naming the source, e.g. 'button', 'sim-button', 'robot'; null when not engaged. */
  source: string | null;
}

/** What the daemon asks for when it resets the arm for an episode. */
export interface EpisodeSpec {
  /** Seed for the start pose (sim: start position, nuisance; real robot: jitter of the start pose). */
  seed: number;
  /** Start distribution: I within +-10 mm of the socket, II 10-20 mm away. */
  scenario: Scenario;
  /** Connector / domain label; a sim backend may switch its connector, a real one just records it. */
  domain?: string;
}

export type EstopListener = (signal: EstopSignal) => void;

/** A backend's sensors (none beyond colour, wrench and pose when it does not say). */
export function sensorsOf(backend: Pick<RobotBackend, 'sensors'>): BackendSensors {
  return backend.sensors?.() ?? { depth: false };
}

export interface RobotBackend {
  readonly kind: BackendKind;
  /** Latest synchronised observation, with sensor stamps on the backend clock. Must be cheap (no waiting). */
  observe(): Observation;
  /** Relative end-effector move for one control period. The daemon has already made it safe. */
  command(delta: Vec3): void;
  /** Move to the start pose of an episode (sim: reset the cell; real arm: move above the socket). */
  moveToStart(spec: EpisodeSpec): Promise<void>;
  /** Hold position now. Must be idempotent and must not throw. */
  stop(): void;
  /** Move straight up by dz (m, > 0), e.g. after a force-limit trip. */
  retract(dz: number): Promise<void>;
  /** The robot's own e-stop state (hardware button, controller fault). */
  estopEngaged(): EstopSignal;
  /** Subscribe to e-stop changes; returns an unsubscribe function. */
  onEstop(listener: EstopListener): () => void;
  /** Tare the wrist force/torque sensor (in free air, at episode start). */
  zeroWrench(): void;
  /** Backend clock (s): the clock of observation stamps. */
  clock(): number;
  /** Simulation only, evaluation only. */
  groundTruth?(): GroundTruth;
  /** What it observes beyond colour, wrench and pose (a depth camera); absent: nothing more. Fixed for its lifetime:
   *  models are checked against it before they may drive (policy/inputs.ts unmetSensors). */
  sensors?(): BackendSensors;
  /** Domains (connectors) this backend can switch to by itself; absent: any label is accepted (a real cell records it). */
  domains?(): string[];
  /** Release resources. */
  dispose(): void;
}

/** Small helper for backends: an e-stop signal source with listeners. */
export class EstopSource {
  private state: EstopSignal = { engaged: false, source: null };
  private readonly listeners = new Set<EstopListener>();

  get(): EstopSignal {
    return { ...this.state };
  }

  set(engaged: boolean, source: string | null): void {
    const next = { engaged, source: engaged ? source : null };
    if (next.engaged === this.state.engaged && next.source === this.state.source) return;
    this.state = next;
    for (const l of this.listeners) l({ ...next });
  }

  on(listener: EstopListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

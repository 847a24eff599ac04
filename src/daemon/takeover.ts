/**
 * Takeover sources the daemon owns, and the bookkeeping of interventions (core/takeover.ts is the seam).
 *
 * `LeasedTakeover`: a command held for a lease (REST `POST /teleop`). The operator's client renews it as it streams;
 * one that stops sending lapses when its lease runs out (default two control periods, at most MAX_LEASE_S), and the
 * policy resumes: a stale command never keeps moving the arm.
 *
 * `TakeoverTracker`: which source holds the arm now, since when, and how many steps each episode and the daemon were
 * driven by an operator; it reports each start and end once, with the source.
 */
import type { TakeoverCommand, TakeoverContext, TakeoverInput } from '../core/takeover.ts';
import type { Vec3 } from '../core/types.ts';

export type { TakeoverCommand, TakeoverContext, TakeoverInput };

/** Longest lease a REST takeover may ask for (s): beyond it a silent client would hold the arm too long. */
export const MAX_LEASE_S = 1;
/** Largest operator move a REST command may ask for per tick, per axis (m): the step limit's hard bound
 *  (calibration maxStepM <= 0.05); the daemon's step limit then applies as to any action. */
export const MAX_TELEOP_DELTA_M = 0.05;

export interface TakeoverRequest {
  /** Relative move per control tick (m, base frame). */
  delta: Vec3;
  /** How long the command holds without renewal (s); default two control periods. */
  leaseS?: number;
  /** Recorded with the interventions; default 'rest'. */
  source?: string;
}

export class LeasedTakeover implements TakeoverInput {
  readonly name = 'rest';
  private cmd: TakeoverCommand | null = null;
  private until = -Infinity;

  /** `now` in ms (the daemon's clock). */
  constructor(private readonly now: () => number) {}

  /** Holds `delta` until now + leaseS; validated by the caller (Daemon.takeover). */
  hold(delta: Vec3, leaseS: number, source: string): number {
    this.cmd = { delta: [delta[0], delta[1], delta[2]], source };
    this.until = this.now() + leaseS * 1000;
    return this.until;
  }

  release(): boolean {
    const was = this.holding();
    this.cmd = null;
    this.until = -Infinity;
    return was;
  }

  holding(): boolean {
    return this.cmd !== null && this.now() <= this.until;
  }

  /** ms left on the lease, or null when none holds. */
  remainingMs(): number | null {
    return this.holding() ? this.until - this.now() : null;
  }

  poll(_ctx: TakeoverContext): TakeoverCommand | null {
    if (!this.holding()) {
      this.cmd = null; // lapsed: forget it, so nothing stale can come back
      return null;
    }
    return this.cmd;
  }
}

export interface TakeoverStatus {
  /** An operator drove the last control tick. */
  active: boolean;
  source: string | null;
  /** Wall clock (ms) when the current takeover began. */
  since: number | null;
  /** Intervention steps in the open episode, and since the daemon started. */
  episodeSteps: number;
  totalSteps: number;
  /** Takeovers begun since the daemon started. */
  takeovers: number;
  /** The sources polled every control tick. */
  inputs: string[];
  /** The REST lease: held, and ms left. */
  rest: { holding: boolean; remainingMs: number | null };
}

export interface TakeoverChange {
  active: boolean;
  source: string;
  episodeId: number;
  step: number;
}

export class TakeoverTracker {
  active = false;
  source: string | null = null;
  since: number | null = null;
  episodeSteps = 0;
  totalSteps = 0;
  takeovers = 0;

  /** Records what drove this tick; returns the change to report, if any. */
  step(cmd: TakeoverCommand | null, episodeId: number, step: number): TakeoverChange | null {
    if (cmd) {
      this.episodeSteps++;
      this.totalSteps++;
    }
    const src = cmd?.source ?? null;
    if (cmd && (!this.active || src !== this.source)) {
      // A switch between two sources is reported as the new one's start (the old one's end is implied).
      this.active = true;
      this.source = src;
      this.since = Date.now();
      this.takeovers++;
      return { active: true, source: src as string, episodeId, step };
    }
    if (!cmd && this.active) {
      const was = this.source as string;
      this.end();
      return { active: false, source: was, episodeId, step };
    }
    return null;
  }

  /** Episode over (or the arm stopped): a takeover ends with it. */
  end(): void {
    this.active = false;
    this.source = null;
    this.since = null;
  }

  newEpisode(): void {
    this.episodeSteps = 0;
  }
}

/**
 * x* refined from the daemon's own seated insertions (the "touch-up" of a taught pose). A plug that seats ends with
 * its tip in the socket, so where a practice episode judged seated ended, laterally, measures the socket's true
 * position to within the fit's play. Per connector, the correction added to the calibrated x* is the per-axis median
 * of the lateral offsets (final tip minus calibrated x*) of its latest `window` seated practice episodes, once there
 * are `episodes` of them. The median ignores a minority of wrong judgements; the height check already refuses a plug
 * resting on the socket's face; an operator's label moves an episode in or out. Lateral only: a seated plug's depth
 * is where the press stopped, not a property of the socket.
 *
 * A correction beyond `maxM` is refused (x* is then too far off to touch up: recalibrate), said once per connector.
 */
import type { Vec3 } from '../core/types.ts';
import { median } from '../util/stats.ts';

export interface GoalRefineConfig {
  /** Seated practice episodes of a connector before its x* moves; 0: off. */
  episodes: number;
  /** The median is over this many of the connector's latest seated practice episodes (>= episodes). */
  window: number;
  /** The largest lateral correction (m) applied; beyond it, none. */
  maxM: number;
}

/** A seated practice ending: the episode and its lateral offset (m) from the calibrated x*. */
export interface SeatedEnding {
  episodeId: number;
  dx: number;
  dy: number;
}

export interface GoalCorrection {
  /** Lateral (x, y) correction (m) added to the calibrated x*. */
  dx: number;
  dy: number;
  /** The seated endings behind it, oldest first. */
  endings: SeatedEnding[];
}

export type GoalRefineNews =
  | { kind: 'moved'; domain: string; correction: GoalCorrection; previous: { dx: number; dy: number } | null }
  | { kind: 'withdrawn'; domain: string; previous: { dx: number; dy: number } }
  | { kind: 'refused'; domain: string; dx: number; dy: number; maxM: number };

/** Practice endings of any outcome kept, so that an operator's later "seated" label can add one. */
const KEPT_ENDINGS = 64;

export function validateGoalRefineConfig(cfg: GoalRefineConfig): void {
  if (!(Number.isInteger(cfg.episodes) && cfg.episodes >= 0)) throw new RangeError(`goal refinement episodes must be an integer >= 0, got ${cfg.episodes}`);
  if (!(Number.isInteger(cfg.window) && cfg.window >= Math.max(1, cfg.episodes)))
    throw new RangeError(`goal refinement window must be an integer >= max(1, episodes) (${cfg.episodes}), got ${cfg.window}`);
  if (!(cfg.maxM > 0)) throw new RangeError(`goal refinement maxM must be > 0, got ${cfg.maxM}`);
}

export class GoalRefiner {
  private readonly seated = new Map<string, SeatedEnding[]>();
  private readonly current = new Map<string, { dx: number; dy: number }>();
  private readonly refusedOnce = new Set<string>();
  /** Recent practice endings of every outcome, by episode id (oldest first). */
  private readonly endings = new Map<number, { domain: string } & SeatedEnding>();

  constructor(readonly cfg: GoalRefineConfig) {
    validateGoalRefineConfig(cfg);
  }

  get enabled(): boolean {
    return this.cfg.episodes > 0;
  }

  /** The connector's correction and the endings behind it, or null (off, too few seated episodes, or refused). */
  correction(domain: string): GoalCorrection | null {
    const c = this.current.get(domain);
    return c ? { ...c, endings: this.endingsOf(domain) } : null;
  }

  /** The connector's seated endings, oldest first (what the median is over). */
  endingsOf(domain: string): SeatedEnding[] {
    return (this.seated.get(domain) ?? []).map((e) => ({ ...e }));
  }

  /** x* for the connector: the calibrated one plus its correction. */
  refine(domain: string | undefined, goal: Vec3): Vec3 {
    const c = domain === undefined ? undefined : this.current.get(domain);
    return c ? [goal[0] + c.dx, goal[1] + c.dy, goal[2]] : goal;
  }

  /** Every connector's correction (m) and how many seated endings it stands on, for status. */
  summary(): Record<string, { dxM: number; dyM: number; episodes: number }> {
    const out: Record<string, { dxM: number; dyM: number; episodes: number }> = {};
    for (const [d, c] of this.current) out[d] = { dxM: c.dx, dyM: c.dy, episodes: this.seated.get(d)?.length ?? 0 };
    return out;
  }

  /**
   * A practice episode ended with the tip at `tip`, the calibrated (uncorrected) x* being `calibrated`; `seated`: its
   * judgement. Returns what changed, if anything, for the event log.
   */
  addEnding(domain: string, episodeId: number, tip: Vec3, calibrated: Vec3, seated: boolean): GoalRefineNews | null {
    if (!this.enabled || ![...tip, ...calibrated].every(Number.isFinite)) return null;
    const e = { episodeId, dx: tip[0] - calibrated[0], dy: tip[1] - calibrated[1] };
    this.endings.set(episodeId, { domain, ...e });
    for (const id of this.endings.keys()) if (this.endings.size > KEPT_ENDINGS) this.endings.delete(id);
    if (!seated) return null;
    const list = this.seated.get(domain) ?? [];
    list.push(e);
    if (list.length > this.cfg.window) list.shift();
    this.seated.set(domain, list);
    return this.update(domain);
  }

  /** An operator's label of a practice episode: a failure takes its ending out of the median, a success puts it in. */
  label(episodeId: number, success: boolean): GoalRefineNews | null {
    const e = this.endings.get(episodeId);
    if (!this.enabled || !e) return null;
    const list = this.seated.get(e.domain) ?? [];
    const at = list.findIndex((s) => s.episodeId === episodeId);
    if (success === at >= 0) return null; // already in (or out of) the median
    if (success) {
      list.push({ episodeId, dx: e.dx, dy: e.dy });
      list.sort((a, b) => a.episodeId - b.episodeId);
      if (list.length > this.cfg.window) list.shift();
    } else list.splice(at, 1);
    this.seated.set(e.domain, list);
    return this.update(e.domain);
  }

  /** Seated endings read back from the log (a restart): each connector's, oldest first. */
  restore(domain: string, endings: readonly SeatedEnding[]): GoalRefineNews | null {
    if (!this.enabled) return null;
    const ok = endings.filter((e) => Number.isFinite(e.dx) && Number.isFinite(e.dy)).slice(-this.cfg.window);
    this.seated.set(
      domain,
      ok.map((e) => ({ ...e })),
    );
    return this.update(domain);
  }

  /** Forget a connector's seated endings and correction (after the socket was moved or recalibrated), or every one's. */
  reset(domain?: string): string[] {
    const gone = [...this.current.keys()].filter((d) => domain === undefined || d === domain);
    for (const m of [this.seated, this.current]) {
      if (domain === undefined) m.clear();
      else m.delete(domain);
    }
    if (domain === undefined) this.refusedOnce.clear();
    else this.refusedOnce.delete(domain);
    return gone;
  }

  private update(domain: string): GoalRefineNews | null {
    const list = this.seated.get(domain) ?? [];
    const previous = this.current.get(domain) ?? null;
    if (list.length < this.cfg.episodes) {
      this.current.delete(domain);
      return previous ? { kind: 'withdrawn', domain, previous } : null;
    }
    const dx = median(list.map((o) => o.dx));
    const dy = median(list.map((o) => o.dy));
    if (Math.hypot(dx, dy) > this.cfg.maxM) {
      this.current.delete(domain);
      if (this.refusedOnce.has(domain)) return null;
      this.refusedOnce.add(domain);
      return { kind: 'refused', domain, dx, dy, maxM: this.cfg.maxM };
    }
    this.current.set(domain, { dx, dy });
    return { kind: 'moved', domain, correction: { dx, dy, endings: this.endingsOf(domain) }, previous };
  }
}

/**
 * Shadow validation of a candidate policy (an optional swap gate, off by default): before a trainer export may drive,
 * replay it closed loop in the simulated cell from the most recent logged starts, beside the policy driving now from
 * the same starts, and refuse it when its simulated success rate (ground truth) is below the driving policy's by more
 * than a margin. The figures are the reason. Both replays run in a worker thread (jobs.ts replayInWorker), never on the
 * daemon's event loop, and write their sessions to a scratch log (the daemon's log keeps the swap event with figures).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../store/index.ts';
import { replayInWorker } from './jobs.ts';
import type { ReplayResult } from './run.ts';

export interface ShadowGateConfig {
  /** Most recent logged episodes whose starts are replayed (from the newest session that has ended episodes). */
  episodes: number;
  /** Refuse when candidate success < driving success - margin (rates in [0, 1]). */
  margin: number;
}

export interface ShadowSide {
  policy: string;
  /** Simulated ground-truth success rate over the replayed starts (the outcome rate where no ground truth). */
  successRate: number;
  outSessionId: number;
}

export interface ShadowVerdict {
  ok: boolean;
  reason: string;
  sourceSessionId: number | null;
  episodes: number;
  candidate: ShadowSide | null;
  current: ShadowSide | null;
  margin: number;
  ms: number;
}

/** The newest non-replay session with ended episodes, and its most recent `n` ended episode ids (oldest first). */
export function recentStarts(db: string, n: number): { sessionId: number; episodes: number[] } | null {
  const s = Store.openReadOnly(db);
  try {
    for (let offset = 0; ; offset += 50) {
      const sessions = s.listSessions({ limit: 50, offset });
      if (sessions.length === 0) return null;
      for (const session of sessions) {
        if (session.backend === 'replay' || session.episodeCount === 0) continue;
        const eps = s
          .listEpisodes({ sessionId: session.id, limit: 4 * n + 50 })
          .filter((e) => e.endedAt !== null && e.transitionCount > 0 && (e.kind === 'practice' || e.kind === 'eval'));
        if (eps.length > 0)
          return {
            sessionId: session.id,
            episodes: eps
              .slice(0, n)
              .map((e) => e.id)
              .reverse(),
          };
      }
    }
  } finally {
    s.close();
  }
}

const rate = (r: ReplayResult): number => r.overall.replay.gtSuccessRate ?? r.overall.replay.successRate;

/**
 * Runs the gate. `candidate` and `current` are what a closed-loop replay accepts: an .onnx path, a registered
 * version, 'p-only' (also 'baseline:<name>'). Never throws: a replay that cannot run refuses with its error.
 */
export async function shadowGate(o: { db: string; candidate: string; current: string; cfg: ShadowGateConfig; reward?: string }): Promise<ShadowVerdict> {
  const t0 = performance.now();
  const base = { sourceSessionId: null, episodes: 0, candidate: null, current: null, margin: o.cfg.margin };
  const starts = recentStarts(o.db, o.cfg.episodes);
  // Nothing logged yet: nothing to judge by, so the gate cannot refuse (the probe validation still applies).
  if (!starts) return { ...base, ok: true, reason: 'shadow gate: no logged episodes to replay yet; not judged', ms: performance.now() - t0 };
  const dir = mkdtempSync(join(tmpdir(), 'shadow-gate-'));
  try {
    const opts = (policy: string) => ({
      db: o.db,
      sessionId: starts.sessionId,
      episodes: starts.episodes,
      mode: 'closed-loop' as const,
      policy,
      outDb: join(dir, 'gate.db'),
      ...(o.reward ? { reward: o.reward } : {}),
    });
    const [cur, cand] = await replayInWorker([opts(o.current), opts(o.candidate)]);
    const side = (r: ReplayResult, policy: string): ShadowSide => ({ policy: r.policy ?? policy, successRate: rate(r), outSessionId: r.out.sessionId });
    const current = side(cur!, o.current);
    const candidate = side(cand!, o.candidate);
    const n = starts.episodes.length;
    const figures = `candidate ${candidate.policy} ${(100 * candidate.successRate).toFixed(0)}% vs driving ${current.policy} ${(100 * current.successRate).toFixed(0)}% simulated success over the ${n} most recent logged starts of session ${starts.sessionId} (margin ${(100 * o.cfg.margin).toFixed(0)} points)`;
    const ok = !(candidate.successRate < current.successRate - o.cfg.margin);
    return {
      ok,
      reason: `shadow gate ${ok ? 'passed' : 'refused'}: ${figures}`,
      sourceSessionId: starts.sessionId,
      episodes: n,
      candidate,
      current,
      margin: o.cfg.margin,
      ms: performance.now() - t0,
    };
  } catch (e) {
    return {
      ...base,
      sourceSessionId: starts.sessionId,
      episodes: starts.episodes.length,
      ok: false,
      reason: `shadow gate could not replay: ${(e as Error).message}`,
      ms: performance.now() - t0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

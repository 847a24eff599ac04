/**
 * Hot-swap of trainer-exported policies into a running daemon, and automatic rollback.
 *
 * offer(path): load (PolicyModel builds and warms its onnxruntime session on the thread pool, off the tick) ->
 * validate on recently logged observations (validate.ts) -> record -> daemon.setPolicy, which applies the swap at the
 * next episode boundary (default) or between two ticks. The control loop never awaits any of this. Every swap and
 * every rejection is an event with its reason (the daemon itself records the moment the swap lands: kind 'swap').
 * The previous policy is disposed once the daemon has let go of it (its session released), so sessions do not pile up.
 *
 * Automatic rollback (optional): after each judged episode, if the learned success rate of the current version over
 * its last K episodes is below the previous version's by more than a margin, the previous version is re-activated.
 */
import { readFileSync } from 'node:fs';
import { sha256Hex, readCard, cardPathFor } from '../policy/card.ts';
import type { DaemonEvent, DaemonLog, ResidualPolicy } from '../daemon/interfaces.ts';
import type { DaemonControl, EpisodeSummary } from '../daemon/types.ts';
import { loadPolicyFile } from '../daemon/models.ts';
import type { Store } from '../store/index.ts';
import { DEFAULT_SWAP_VALIDATION, probeSet, unfedRefusal, validatePolicy, type SwapValidationConfig, type ValidationResult } from './validate.ts';
import type { BackendSensors } from '../core/types.ts';

export interface SwapConfig {
  validation: SwapValidationConfig;
  /** When the new policy takes over: at the next episode boundary (default) or between two ticks. */
  at: 'episode-boundary' | 'between-ticks';
  /** Automatic rollback: off when null. */
  autoRollback: null | {
    /** Episodes of the current version judged before it is compared (and the previous version's last K). */
    k: number;
    /** Roll back when current rate < previous rate - margin. */
    margin: number;
  };
  /** Shadow validation, e.g. src/replay/shadow.ts (app/learning.ts wires it): replay the candidate closed loop in the
   *  simulator from the most recent logged starts beside the driving policy, and refuse it when it does worse by more
   *  than a margin. Off when null. */
  shadow: null | ShadowGate;
}

/** A gate a candidate must pass before it may drive: `current` is the driving version ('p-only' for none). */
export type ShadowGate = (o: { db: string; candidate: string; current: string }) => Promise<{ ok: boolean; reason: string; ms: number }>;

export const DEFAULT_SWAP: SwapConfig = { validation: DEFAULT_SWAP_VALIDATION, at: 'episode-boundary', autoRollback: null, shadow: null };

export interface SwapOutcome {
  accepted: boolean;
  version: string | null;
  modelId: number | null;
  validation: ValidationResult | null;
  reason: string;
  /** ms from offer() to the swap request (load + validation). The swap lands at the next boundary. */
  prepareMs: number;
  /** Resolves when the new policy is driving (ms since offer), or null if superseded/rejected. */
  live: Promise<number | null>;
}

export interface SwapStats {
  offered: number;
  swaps: number;
  rejected: number;
  flagged: number;
  rollbacks: number;
  lastPrepareMs: number | null;
  lastLiveMs: number | null;
  lastRejection: string | null;
  /** Shadow gate: candidates it refused, and how long the last gate took (ms). */
  shadowRefused: number;
  lastShadowMs: number | null;
}

/** What validation decided about a loaded candidate policy. */
export interface SwapVerdict {
  ok: boolean;
  reason: string;
  /** null when validation itself could not run (e.g. the log could not be read). */
  validation: ValidationResult | null;
}

/**
 * Validates a loaded candidate on recently logged observations against the policy driving now, and records the verdict
 * the same way for every path that swaps a policy in (trainer hot-swap here, REST activation/rollback in the API):
 * the result on the model row, a 'swap_flagged' event for a flagged but accepted version, a 'swap_rejected' event for
 * a refused one. Never throws for a bad model; the caller disposes a refused candidate.
 */
export async function validateCandidate(o: {
  store: Store;
  event: (e: DaemonEvent) => void;
  candidate: ResidualPolicy;
  current: ResidualPolicy | null;
  modelId: number;
  path: string;
  cfg: SwapValidationConfig;
  /** What the robot observes (the daemon's status().sensors): a policy it cannot feed is refused before the probes. */
  sensors: BackendSensors;
}): Promise<SwapVerdict> {
  const { store, candidate, modelId, path } = o;
  const version = candidate.version;
  const rejected = (reason: string, validation: ValidationResult | null): SwapVerdict => {
    o.event({ kind: 'swap_rejected', message: `policy ${version} rejected: ${reason}`, data: { path, version, modelId, validation } });
    return { ok: false, reason, validation };
  };
  const unmet = unfedRefusal(candidate, o.sensors);
  if (unmet) {
    store.setModelValidation(modelId, unmet);
    return rejected(unmet.reason, unmet);
  }
  let validation: ValidationResult;
  try {
    validation = await validatePolicy(candidate, o.current, probeSet(store, o.cfg.probeCount), o.cfg);
  } catch (e) {
    return rejected(`validation failed: ${(e as Error).message}`, null);
  }
  store.setModelValidation(modelId, validation);
  if (!validation.ok) return rejected(validation.reason, validation);
  if (validation.flagged) o.event({ kind: 'swap_flagged', message: `policy ${version} flagged: ${validation.reason}`, data: { version, modelId, validation } });
  return { ok: true, reason: validation.reason, validation };
}

export class SwapManager {
  readonly stats: SwapStats = {
    offered: 0,
    swaps: 0,
    rejected: 0,
    flagged: 0,
    rollbacks: 0,
    lastPrepareMs: null,
    lastLiveMs: null,
    lastRejection: null,
    shadowRefused: 0,
    lastShadowMs: null,
  };
  private readonly cfg: SwapConfig;
  private readonly loadPolicy: (path: string) => Promise<ResidualPolicy>;
  /** Judged episodes per policy version (learned outcome), newest last; for automatic rollback. */
  private readonly history = new Map<string, boolean[]>();
  /** Versions in the order they went live (for "previous version"). */
  private readonly liveOrder: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly onEpisode: (e: EpisodeSummary) => void;

  constructor(
    private readonly daemon: DaemonControl,
    private readonly store: Store,
    private readonly log: DaemonLog,
    cfg: Partial<SwapConfig> = {},
    loadPolicy?: (path: string) => Promise<ResidualPolicy>,
  ) {
    this.cfg = { ...DEFAULT_SWAP, ...cfg, validation: { ...DEFAULT_SWAP.validation, ...cfg.validation } };
    this.loadPolicy = loadPolicy ?? loadPolicyFile;
    const v = daemon.policyVersion;
    if (v) this.liveOrder.push(v);
    this.onEpisode = (e) => this.episodeDone(e);
    daemon.on('episode', this.onEpisode);
  }

  close(): void {
    this.daemon.off('episode', this.onEpisode);
  }

  /** Offers serialise: one model loads and validates at a time (bounded memory, ordered versions). */
  offer(path: string, o: { by?: string; reason?: string } = {}): Promise<SwapOutcome> {
    const p = this.queue.then(() => this.doOffer(path, o));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async doOffer(path: string, o: { by?: string; reason?: string }): Promise<SwapOutcome> {
    const t0 = performance.now();
    this.stats.offered++;
    // record = false: validateCandidate has already recorded the rejection event.
    const reject = (version: string | null, modelId: number | null, reason: string, validation: ValidationResult | null, record = true): SwapOutcome => {
      this.stats.rejected++;
      this.stats.lastRejection = reason;
      if (record)
        this.log.event({ kind: 'swap_rejected', message: `policy ${version ?? path} rejected: ${reason}`, data: { path, version, modelId, validation } });
      return { accepted: false, version, modelId, validation, reason, prepareMs: performance.now() - t0, live: Promise.resolve(null) };
    };
    let candidate: ResidualPolicy;
    try {
      candidate = await this.loadPolicy(path);
    } catch (e) {
      return reject(null, null, `does not load: ${(e as Error).message}`, null);
    }
    const version = candidate.version;
    let modelId: number | null;
    try {
      modelId =
        this.store.findModel('policy', version)?.id ??
        this.store.registerModel({ kind: 'policy', version, path, card: readCard(cardPathFor(path)), sha256: sha256Hex(readFileSync(path)) });
    } catch (e) {
      await candidate.dispose?.();
      return reject(version, null, `cannot register: ${(e as Error).message}`, null);
    }
    const verdict = await validateCandidate({
      store: this.store,
      event: (e) => this.log.event(e),
      candidate,
      current: this.daemon.models().policy,
      modelId,
      path,
      cfg: this.cfg.validation,
      sensors: this.daemon.status().sensors,
    });
    if (!verdict.ok || !verdict.validation) {
      await candidate.dispose?.();
      return reject(version, modelId, verdict.reason, verdict.validation, false);
    }
    const validation = verdict.validation;
    if (this.cfg.shadow) {
      // The driving policy by its registered version (the gate replays it from the same starts).
      const gate = await this.cfg.shadow({ db: this.store.file, candidate: path, current: this.daemon.policyVersion ?? 'p-only' });
      this.stats.lastShadowMs = gate.ms;
      this.log.event({ kind: gate.ok ? 'shadow_gate' : 'swap_rejected', message: `policy ${version}: ${gate.reason}`, data: { path, version, modelId, gate } });
      if (!gate.ok) {
        this.stats.shadowRefused++;
        await candidate.dispose?.();
        return reject(version, modelId, gate.reason, validation, false);
      }
    }
    if (validation.flagged) this.stats.flagged++;
    this.store.activateModel(modelId, { by: o.by ?? 'trainer', reason: o.reason ?? validation.reason });
    const prepareMs = performance.now() - t0;
    this.stats.lastPrepareMs = prepareMs;
    const live = this.daemon.setPolicy(candidate, { at: this.cfg.at }).then(async (old) => {
      // setPolicy resolves with the policy that stopped driving; a superseded candidate comes back as itself.
      if (old === candidate) {
        await candidate.dispose?.();
        return null;
      }
      await old?.dispose?.();
      this.stats.swaps++;
      this.liveOrder.push(version);
      const ms = performance.now() - t0;
      this.stats.lastLiveMs = ms;
      return ms;
    });
    return { accepted: true, version, modelId, validation, reason: validation.reason, prepareMs, live };
  }

  // ------------------------------------------------------------------ automatic rollback

  private episodeDone(e: EpisodeSummary): void {
    if (!e.policyVersion || (e.outcome !== 'success' && e.outcome !== 'failure') || e.learnedSuccessProb === null) return;
    const h = this.history.get(e.policyVersion) ?? [];
    h.push(e.outcome === 'success');
    this.history.set(e.policyVersion, h);
    const ar = this.cfg.autoRollback;
    if (!ar || e.policyVersion !== this.daemon.policyVersion) return;
    const idx = this.liveOrder.lastIndexOf(e.policyVersion);
    const prev = idx > 0 ? this.liveOrder[idx - 1] : undefined;
    if (!prev || prev === e.policyVersion) return;
    const ph = this.history.get(prev) ?? [];
    if (h.length < ar.k || ph.length < ar.k) return;
    const rate = (xs: boolean[]): number => xs.slice(-ar.k).filter(Boolean).length / ar.k;
    const cur = rate(h);
    const before = rate(ph);
    if (cur < before - ar.margin) {
      const m = this.store.findModel('policy', prev);
      if (!m) return;
      this.history.set(e.policyVersion, []); // one rollback per evidence window
      this.stats.rollbacks++;
      const reason = `automatic rollback: learned success ${cur.toFixed(2)} over the last ${ar.k} episodes of ${e.policyVersion} < ${before.toFixed(2)} of ${prev} - margin ${ar.margin}`;
      this.log.event({ kind: 'rollback', message: reason, data: { from: e.policyVersion, to: prev } });
      void this.loadPolicy(m.path).then(
        (p) => {
          this.store.activateModel(m.id, { by: 'auto-rollback', action: 'rollback', reason });
          void this.daemon.setPolicy(p, { at: this.cfg.at }).then((old) => (old !== p ? old?.dispose?.() : undefined));
        },
        (err: unknown) => this.log.event({ kind: 'swap_rejected', message: `automatic rollback to ${prev} failed: ${(err as Error).message}` }),
      );
    }
  }

  /** For status: the version list and rates per version (learned outcomes). */
  summary(): SwapStats & { versions: Array<{ version: string; episodes: number; learnedSuccessRate: number | null }> } {
    const versions = [...this.history.entries()].map(([version, h]) => ({
      version,
      episodes: h.length,
      learnedSuccessRate: h.length ? h.filter(Boolean).length / h.length : null,
    }));
    return { ...this.stats, versions };
  }
}

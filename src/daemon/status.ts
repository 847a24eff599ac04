/**
 * The daemon's status snapshot (`Daemon.status()`: `/status`, the event stream, the dashboard), assembled from what the
 * loop holds at that moment. Pure: it reads its sources and copies what the loop changes later (the practice run, the
 * attached sections), so a snapshot never moves after it is taken.
 */
import type { BackendSensors, Vec3 } from '../core/types.ts';
import type { LabelRequest } from './labels.ts';
import type { LatchState } from './safety.ts';
import type { TakeoverStatus, TakeoverTracker } from './takeover.ts';
import type { DaemonState, DaemonStatus, DaemonWarning, EpisodeSummary, PracticeRun, TimingStatus, TripRecord } from './types.ts';

/** Open label requests shown in a snapshot (the newest). */
const OPEN_LABELS_SHOWN = 20;

/** What a snapshot is made of, read from the loop by `Daemon.status()`. */
export interface StatusSources {
  state: DaemonState;
  backendKind: string;
  /** What the robot observes besides colour and wrench (depth). */
  sensors: BackendSensors;
  config: { tickHz: number; realtime: boolean; labels: { budget: number } };
  run: PracticeRun | null;
  episode: { id: number; index: number; step: number; steps: number; domain: string; scenario: string } | null;
  lastEpisode: EpisodeSummary | null;
  recent: DaemonStatus['recent'];
  exams: DaemonStatus['exams'];
  goalRefinement: DaemonStatus['goalRefinement'];
  estop: LatchState;
  backendEstop: { engaged: boolean; source: string | null };
  lastTrip: TripRecord | null;
  timing: TimingStatus;
  /** The driving policy (null: the P-controller alone), and the swap waiting for an episode boundary. */
  policy: { version: string } | null;
  pendingSwap: { slot: { model: { version: string } } | null } | null;
  policyFaults: number;
  reward: { version: string } | null;
  labelBudget: { judged: number; requested: number; skipped: number };
  /** This run's unanswered label requests, oldest first. */
  openLabelRequests: Iterable<LabelRequest>;
  lastPose: Vec3 | null;
  takeover: TakeoverStatus;
  warnings: readonly DaemonWarning[];
  extras: Record<string, unknown>;
}

export function buildStatus(s: StatusSources): DaemonStatus {
  const ep = s.episode;
  return {
    state: s.state,
    backend: s.backendKind,
    sensors: s.sensors,
    tickHz: s.config.tickHz,
    realtime: s.config.realtime,
    practice: s.run ? { ...s.run } : null,
    episode: ep ? { id: ep.id, index: ep.index, step: ep.step, steps: ep.steps, domain: ep.domain, scenario: ep.scenario } : null,
    lastEpisode: s.lastEpisode,
    recent: s.recent,
    exams: s.exams,
    goalRefinement: s.goalRefinement,
    safety: { estop: s.estop, backendEstop: s.backendEstop, lastTrip: s.lastTrip },
    timing: s.timing,
    policy: {
      version: s.policy?.version ?? null,
      mode: s.policy ? 'residual' : 'p-only',
      pendingSwap: s.pendingSwap ? (s.pendingSwap.slot?.model.version ?? 'p-only') : null,
      faults: s.policyFaults,
    },
    reward: { version: s.reward?.version ?? null },
    labels: {
      budget: s.config.labels.budget,
      judged: s.labelBudget.judged,
      requested: s.labelBudget.requested,
      skipped: s.labelBudget.skipped,
      open: [...s.openLabelRequests].slice(-OPEN_LABELS_SHOWN),
    },
    lastPose: s.lastPose,
    takeover: s.takeover,
    warnings: [...s.warnings],
    extra: { ...s.extras },
  };
}

/** The takeover section: the tracker's counts, every source polled (REST first), the REST lease. */
export function takeoverStatus(
  t: TakeoverTracker,
  inputs: readonly { name: string }[],
  rest: { holding(): boolean; remainingMs(): number | null },
): TakeoverStatus {
  return {
    active: t.active,
    source: t.source,
    since: t.since,
    episodeSteps: t.episodeSteps,
    totalSteps: t.totalSteps,
    takeovers: t.takeovers,
    inputs: ['rest', ...inputs.map((i) => i.name)],
    rest: { holding: rest.holding(), remainingMs: rest.remainingMs() },
  };
}

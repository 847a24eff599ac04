/** The API's shapes, imported from the daemon's own source (type-only: nothing from the server is bundled). */
export type { DaemonStatus, EpisodeSummary, DaemonState } from '../../src/daemon/types.ts';
export type { LiveStep } from '../../src/api/dashboard.ts';
export type { EpisodeRecord, SessionRecord, ModelRecord, ActivationRecord, EventRecord, TransitionRecord } from '../../src/store/types.ts';
export type { LearningView } from '../../src/app/learning.ts';
export type { ValidationResult } from '../../src/swap/validate.ts';

import type { ActivationRecord, ModelRecord, TransitionRecord } from '../../src/store/types.ts';

/** GET /models */
export interface ModelsReply {
  models: ModelRecord[];
  active: { policy: string | null; reward: string | null };
  driving: { policy: string | null; reward: string | null };
  activations: ActivationRecord[];
}

/** GET /episodes/:id: transitions carry an image URL instead of pixels. */
export type EpisodeTransition = Omit<TransitionRecord, 'image'> & { image: null; imageUrl: string };

/** GET /connectors */
export interface ConnectorsReply {
  connectors: Array<{ name: string; family: string; heldOut: boolean | null }>;
  note: string | null;
}

export type { ClassifierAudit } from '../../src/replay/audit.ts';
import type { ReplayJob } from '../../src/replay/jobs.ts';
import type { OverallComparison } from '../../src/replay/compare.ts';

/** GET /replays: a job without its result document, with its overall figures once done. */
export type ReplayJobView = Omit<ReplayJob, 'result'> & { url: string; overall: OverallComparison | null };
/** GET /replays/:id */
export type ReplayJobFull = ReplayJob & { url: string };

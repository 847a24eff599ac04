/** Messages between TransitionWriter (main thread) and writer-worker.ts. */
import type { RewardUpdate, TransitionInput } from './types.ts';

export interface WorkerConfig {
  file: string;
  maxBatch: number;
  busyTimeoutMs: number;
  synchronous: 'NORMAL' | 'FULL';
}

export type QueuedItem = { type: 'row'; seq: number; t: TransitionInput } | { type: 'rewards'; seq: number; episodeId: number; updates: RewardUpdate[] };

export type ToWorker = { type: 'batch'; items: QueuedItem[] } | { type: 'close' };

export interface CommittedTransition {
  /** Writer sequence number returned by nothing; useful only for ordering. */
  seq: number;
  /** Row id in transitions. */
  id: number;
  episodeId: number;
  step: number;
}

export type ToMain =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'done'; lastSeq: number; items: number; committed: CommittedTransition[]; failed: { seq: number; message: string }[] }
  | { type: 'closed' };

/** Messages between TransitionWriter (main thread) and writer-worker.ts. */
import type { EpisodeEnd, RewardUpdate, TransitionInput } from './types.ts';

/**
 * Faults and delays the tests inject into the worker, to make the moments that matter deterministic. Never set in
 * production (TransitionWriterOptions.testHooks).
 */
export interface WriterTestHooks {
  /** Sleep this long inside each write transaction, after its statements and before its COMMIT. */
  holdBeforeCommitMs?: number;
  /** The thread exits (code 70, as if it crashed) when a row with this step arrives, before committing it. */
  exitAtStep?: number;
}

export interface WorkerConfig {
  file: string;
  maxBatch: number;
  busyTimeoutMs: number;
  synchronous: 'NORMAL' | 'FULL';
  testHooks?: WriterTestHooks;
}

export type QueuedItem =
  | { type: 'row'; seq: number; t: TransitionInput }
  | { type: 'rewards'; seq: number; episodeId: number; updates: RewardUpdate[] }
  /** An episode's end, committed in order after (and in the same transaction as, when batched) its transitions. */
  | { type: 'end'; seq: number; episodeId: number; end: EpisodeEnd };

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
  | { type: 'done'; lastSeq: number; items: number; committed: CommittedTransition[]; ended: number[]; failed: { seq: number; message: string }[] }
  | { type: 'closed' };

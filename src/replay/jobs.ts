/**
 * Replays as background jobs (for REST): each runs in a worker thread (worker.ts), so the simulator's physics never
 * runs on the daemon's event loop, one job at a time (the machine's cores belong to the control loop first). A job
 * reports progress (episodes done of total) and, when done, the result document (run.ts ReplayResult).
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/worker.ts';
import type { ReplayOptions, ReplayResult } from './run.ts';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** What a job runs: ReplayOptions without the in-process parts (callbacks, loaded models). */
export type JobOptions = Omit<ReplayOptions, 'onProgress' | 'signal' | 'policyModel' | 'rewardModel'>;

export interface ReplayJob {
  id: number;
  state: JobState;
  options: JobOptions;
  progress: { done: number; total: number | null };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Failure message (an unreplayable session says what is missing). */
  error: string | null;
  result: ReplayResult | null;
}

export type WorkerMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'result'; result: ReplayResult }
  | { type: 'batch'; results: ReplayResult[] }
  | { type: 'error'; message: string };

export class ReplayJobs extends EventEmitter {
  private readonly jobs = new Map<number, ReplayJob>();
  private readonly queue: number[] = [];
  private counter = 0;
  private active: { id: number; worker: Worker } | null = null;
  private closed = false;

  /** Jobs kept (oldest finished ones dropped beyond this). */
  constructor(private readonly keep = 100) {
    super();
  }

  submit(options: JobOptions): ReplayJob {
    if (this.closed) throw new Error('replay jobs are shut down');
    const job: ReplayJob = {
      id: ++this.counter,
      state: 'queued',
      options,
      progress: { done: 0, total: null },
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      error: null,
      result: null,
    };
    this.jobs.set(job.id, job);
    this.queue.push(job.id);
    this.prune();
    this.pump();
    return job;
  }

  get(id: number): ReplayJob | null {
    return this.jobs.get(id) ?? null;
  }

  list(): ReplayJob[] {
    return [...this.jobs.values()].reverse();
  }

  /** Cancels a queued job, or asks a running one to stop after its current episode (its session keeps what ran). */
  cancel(id: number): ReplayJob | null {
    const job = this.jobs.get(id);
    if (!job) return null;
    if (job.state === 'queued') {
      this.queue.splice(this.queue.indexOf(id), 1);
      this.finish(job, 'cancelled', null);
    } else if (job.state === 'running' && this.active?.id === id) {
      this.active.worker.postMessage({ type: 'cancel' });
    }
    return job;
  }

  /** Resolves when the job leaves queued/running. */
  whenDone(id: number): Promise<ReplayJob> {
    const job = this.jobs.get(id);
    if (!job) return Promise.reject(new Error(`no replay job ${id}`));
    if (job.state !== 'queued' && job.state !== 'running') return Promise.resolve(job);
    return new Promise((resolve) => {
      const on = (j: ReplayJob): void => {
        if (j.id !== id) return;
        this.off('finished', on);
        resolve(j);
      };
      this.on('finished', on);
    });
  }

  /** Stops the running worker (its replay session stays open-ended in the log, closed by the next daemon start). */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of this.queue.splice(0)) this.finish(this.jobs.get(id)!, 'cancelled', 'shut down');
    const a = this.active;
    if (a) {
      a.worker.postMessage({ type: 'cancel' });
      const done = this.whenDone(a.id);
      const timer = setTimeout(() => void a.worker.terminate(), 10_000);
      await done;
      clearTimeout(timer);
    }
  }

  private pump(): void {
    if (this.active || this.closed) return;
    const id = this.queue.shift();
    if (id === undefined) return;
    const job = this.jobs.get(id)!;
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    const worker = startWorker(new URL('./worker.ts', import.meta.url), job.options);
    this.active = { id, worker };
    let settled = false;
    // A worker whose native handles (onnxruntime) keep it alive after its answer is ended, not waited for.
    const reap = (): void => void setTimeout(() => void worker.terminate(), 5000).unref();
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') job.progress = { done: m.done, total: m.total };
      else if (m.type === 'result') {
        settled = true;
        job.progress = { done: m.result.episodes.length, total: job.progress.total ?? m.result.episodes.length };
        this.finish(job, m.result.aborted ? 'cancelled' : 'done', null, m.result);
        reap();
      } else if (m.type === 'error') {
        settled = true;
        this.finish(job, 'failed', m.message);
        reap();
      }
    });
    worker.on('error', (e) => {
      if (!settled) this.finish(job, 'failed', `replay worker failed: ${e.message}`);
      settled = true;
    });
    worker.on('exit', (code) => {
      if (!settled) this.finish(job, 'failed', `replay worker exited with code ${code}`);
      settled = true;
      this.active = null;
      this.pump();
    });
  }

  private finish(job: ReplayJob, state: JobState, error: string | null, result: ReplayResult | null = null): void {
    if (job.state !== 'queued' && job.state !== 'running') return;
    job.state = state;
    job.error = error;
    job.result = result;
    job.finishedAt = new Date().toISOString();
    this.emit('finished', job);
  }

  private prune(): void {
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= this.keep) break;
      if (j.state !== 'queued' && j.state !== 'running') this.jobs.delete(id);
    }
  }
}

/** Replays one after another in one worker thread (off the calling event loop); rejects with the first error. */
export function replayInWorker(batch: JobOptions[]): Promise<ReplayResult[]> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(new URL('./worker.ts', import.meta.url), { batch });
    let settled = false;
    const done = (f: () => void): void => {
      if (settled) return;
      settled = true;
      f();
      void setTimeout(() => void worker.terminate(), 5000).unref();
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'batch') done(() => resolve(m.results));
      else if (m.type === 'error') done(() => reject(new Error(m.message)));
    });
    worker.on('error', (e) => done(() => reject(e)));
    worker.on('exit', (code) => done(() => reject(new Error(`replay worker exited with code ${code}`))));
  });
}

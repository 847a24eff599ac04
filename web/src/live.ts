/**
 * The page's live model: status, control steps, the newest camera frame, episodes and faults, all from the one
 * server-sent stream /live (the daemon sends at most 5 step batches and 5 frames a second).
 * Components re-render at most once per animation frame however fast data comes.
 */
import { getJson, notify } from './api.ts';
import type { DaemonStatus, EpisodeSummary, LearningView, LiveStep } from './types.ts';

const KEEP_STEPS = 240;
/** Page renders per second at most. */
const RENDER_HZ = 5;
const CHANNEL = 'insertion-daemon/live';
const KEEP_LOSSES = 600;
const KEEP_TIMING = 300;

/** The newest camera frame as the policy saw it (from the /live stream's `frame` events). */
export interface Frame {
  seq: number;
  episodeId: number;
  step: number;
  width: number;
  height: number;
  /** base64 of width*height*3 bytes, RGB */
  rgb: string;
}

export interface TimingSample {
  t: number;
  /** The daemon's compute of the newest control tick, and the window's p99 (ms). */
  computeLast: number;
  computeP99: number;
  jitterLast: number;
}

export interface LossSample {
  t: number;
  updates: number;
  vLoss: number | null;
  qLoss: number | null;
  piLoss: number | null;
  updatesPerSec: number | null;
}

/** Figures a test or a benchmark reads from the page (window.__dashboard). */
export interface PageFigures {
  /** ms from navigation start to the first status event / the first live camera frame shown. */
  firstStatusMs: number | null;
  firstFrameMs: number | null;
  frames: number;
  stepBatches: number;
  /** Whether this tab streams /live for the browser ('leader'), hears it from the tab that does, or streams alone. */
  streamRole: 'leader' | 'follower' | 'own' | null;
  /** Wall clock (ms since epoch) when the e-stop button sent its request. */
  estopSentAt: number | null;
}

declare global {
  interface Window {
    __dashboard?: PageFigures;
  }
}

export class LiveModel {
  status: DaemonStatus | null = null;
  connected = false;
  steps: LiveStep[] = [];
  frame: Frame | null = null;
  /** Bumped on every finished episode (and swap-relevant status change): lists refetch. */
  episodeTick = 0;
  lastEpisode: EpisodeSummary | null = null;
  losses: LossSample[] = [];
  timing: TimingSample[] = [];
  readonly figures: PageFigures = { firstStatusMs: null, firstFrameMs: null, frames: 0, stepBatches: 0, estopSentAt: null, streamRole: null };
  private subs = new Set<() => void>();
  private raf = 0;
  private renderTimer: ReturnType<typeof setTimeout> | null = null;
  private lastRender = 0;
  private source: EventSource | null = null;
  private channel: BroadcastChannel | null = null;
  private readonly stopper = new AbortController();
  private lastPolicy: string | null | undefined = undefined;

  constructor() {
    window.__dashboard = this.figures;
  }

  /**
   * One event stream per browser, not per tab: the tab holding the Web Lock opens /live and re-broadcasts every message
   * to its sibling tabs (BroadcastChannel); when it closes, another tab takes the lock and the stream over. (A browser
   * allows 6 connections per host across all its tabs; a stream per tab would starve the 6th tab.) Where Web Locks are
   * missing (a plain-http address other than localhost is not a secure context), each tab opens its own stream.
   */
  start(): void {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    if (!locks || typeof BroadcastChannel === 'undefined') {
      this.figures.streamRole = 'own';
      this.openStream();
      return;
    }
    this.figures.streamRole = 'follower';
    this.channel = new BroadcastChannel(CHANNEL);
    this.channel.onmessage = (e: MessageEvent<{ type: string; data: string }>) => {
      if (this.source === null) this.handle(e.data.type, e.data.data);
    };
    // Until a message arrives from the tab that streams, fill in from REST.
    void getJson<DaemonStatus>('/status').then(
      (st) => (this.status ? undefined : this.onStatus(st)),
      () => undefined,
    );
    void this.backfill();
    void locks
      .request(CHANNEL, { signal: this.stopper.signal }, () => {
        this.figures.streamRole = 'leader';
        this.openStream();
        return new Promise<void>((release) => this.stopper.signal.addEventListener('abort', () => release()));
      })
      .catch(() => undefined); // aborted on stop
  }

  stop(): void {
    this.stopper.abort();
    this.source?.close();
    this.source = null;
    this.channel?.close();
  }

  private openStream(): void {
    const es = new EventSource('/live');
    this.source = es;
    const relay = (type: string, data: string): void => {
      this.handle(type, data);
      this.channel?.postMessage({ type, data });
    };
    es.addEventListener('open', () => relay('conn', 'true'));
    // EventSource reconnects by itself; the header shows the gap meanwhile.
    es.addEventListener('error', () => relay('conn', 'false'));
    for (const type of ['hello', 'status', 'steps', 'frame', 'episode', 'fault'])
      es.addEventListener(type, (e) => relay(type, (e as MessageEvent<string>).data));
  }

  private handle(type: string, data: string): void {
    switch (type) {
      case 'conn':
        this.connected = data === 'true';
        this.changed();
        break;
      case 'hello':
        void this.backfill();
        break;
      case 'status':
        this.onStatus(JSON.parse(data) as DaemonStatus);
        break;
      case 'steps':
        this.figures.stepBatches++;
        this.connected = true;
        this.addSteps(JSON.parse(data) as LiveStep[]);
        break;
      case 'frame':
        this.frame = JSON.parse(data) as Frame;
        this.changed();
        break;
      case 'episode':
        this.lastEpisode = JSON.parse(data) as EpisodeSummary;
        this.episodeTick++;
        this.changed();
        break;
      case 'fault':
        notify('warn', `Fault: ${(JSON.parse(data) as { message: string }).message}`);
        break;
    }
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  /**
   * Re-renders at most RENDER_HZ times a second (a person reads no faster, and each render costs the browser CPU that,
   * on the daemon's own machine, the control loop competes for), at once for an urgent change (the state).
   */
  private changed(urgent = false): void {
    if (this.raf) return;
    const run = (): void => {
      this.renderTimer = null;
      this.raf = requestAnimationFrame(() => {
        this.raf = 0;
        this.lastRender = performance.now();
        for (const s of this.subs) s();
      });
    };
    if (urgent) {
      if (this.renderTimer) clearTimeout(this.renderTimer);
      run();
      return;
    }
    if (this.renderTimer) return;
    this.renderTimer = setTimeout(run, Math.max(0, this.lastRender + 1000 / RENDER_HZ - performance.now()));
  }

  private onStatus(s: DaemonStatus): void {
    if (this.figures.firstStatusMs === null) this.figures.firstStatusMs = performance.now();
    const urgent = this.status?.state !== s.state;
    this.status = s;
    this.connected = true;
    if (this.lastPolicy !== undefined && this.lastPolicy !== s.policy.version) this.episodeTick++;
    this.lastPolicy = s.policy.version;
    const tm = s.timing;
    if (s.state === 'running' || s.state === 'scoring') {
      this.timing = [
        ...this.timing.slice(-(KEEP_TIMING - 1)),
        { t: Date.now() / 1000, computeLast: tm.computeMs.last, computeP99: tm.computeMs.p99, jitterLast: tm.jitterMs.last },
      ];
    }
    const l = s.extra['learning'] as LearningView | undefined;
    if (l?.trainer) {
      const losses = (l.trainer.losses ?? null) as { vLoss?: number; qLoss?: number; piLoss?: number } | null;
      const last = this.losses[this.losses.length - 1];
      if (!last || last.updates !== l.trainer.updates) {
        // A new array (not a push): the learning panel re-renders only when it changes.
        this.losses = [
          ...this.losses.slice(-(KEEP_LOSSES - 1)),
          {
            t: Date.now() / 1000,
            updates: l.trainer.updates,
            vLoss: losses?.vLoss ?? null,
            qLoss: losses?.qLoss ?? null,
            piLoss: losses?.piLoss ?? null,
            updatesPerSec: l.trainer.updatesPerSec,
          },
        ];
      }
    }
    this.changed(urgent);
  }

  private async backfill(): Promise<void> {
    try {
      const r = await getJson<{ seq: number; steps: LiveStep[] }>('/live/steps');
      this.addSteps(r.steps);
    } catch {
      // the stream fills in soon enough
    }
  }

  private addSteps(batch: LiveStep[]): void {
    const lastSeq = this.steps[this.steps.length - 1]?.seq ?? 0;
    const fresh = batch.filter((s) => s.seq > lastSeq);
    if (fresh.length === 0) return;
    this.steps = this.steps.concat(fresh);
    if (this.steps.length > KEEP_STEPS) this.steps = this.steps.slice(this.steps.length - KEEP_STEPS);
    this.changed();
  }
}

/**
 * The page's live model: status from /events (server-sent, throttled by the daemon), control steps from /live (batches
 * of at most 10 per second), and the newest camera frame from /live/frame.png (one request in flight at most).
 * Components re-render at most once per animation frame however fast data comes.
 */
import { getJson, notify } from './api.ts';
import type { DaemonStatus, EpisodeSummary, LearningView, LiveStep } from './types.ts';

const KEEP_STEPS = 240;
const KEEP_LOSSES = 600;

export interface Frame {
  url: string;
  seq: number;
  episodeId: number;
  step: number;
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
  readonly figures: PageFigures = { firstStatusMs: null, firstFrameMs: null, frames: 0, stepBatches: 0, estopSentAt: null };
  private subs = new Set<() => void>();
  private raf = 0;
  private events: EventSource | null = null;
  private live: EventSource | null = null;
  private frameBusy = false;
  private frameWanted = false;
  private lastPolicy: string | null | undefined = undefined;

  constructor() {
    window.__dashboard = this.figures;
  }

  start(): void {
    this.events = new EventSource('/events');
    this.events.addEventListener('open', () => {
      this.connected = true;
      this.changed();
    });
    this.events.addEventListener('error', () => {
      // EventSource reconnects by itself; the header shows the gap meanwhile.
      this.connected = false;
      this.changed();
    });
    this.events.addEventListener('status', (e) => this.onStatus(JSON.parse((e as MessageEvent<string>).data) as DaemonStatus));
    this.events.addEventListener('episode', (e) => {
      this.lastEpisode = JSON.parse((e as MessageEvent<string>).data) as EpisodeSummary;
      this.episodeTick++;
      this.changed();
    });
    this.events.addEventListener('fault', (e) => {
      const m = (JSON.parse((e as MessageEvent<string>).data) as { message: string }).message;
      notify('warn', `Fault: ${m}`);
    });
    this.live = new EventSource('/live');
    this.live.addEventListener('hello', () => void this.backfill());
    this.live.addEventListener('steps', (e) => {
      this.figures.stepBatches++;
      this.addSteps(JSON.parse((e as MessageEvent<string>).data) as LiveStep[]);
    });
  }

  stop(): void {
    this.events?.close();
    this.live?.close();
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  private changed(): void {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      for (const s of this.subs) s();
    });
  }

  private onStatus(s: DaemonStatus): void {
    if (this.figures.firstStatusMs === null) this.figures.firstStatusMs = performance.now();
    this.status = s;
    this.connected = true;
    if (this.lastPolicy !== undefined && this.lastPolicy !== s.policy.version) this.episodeTick++;
    this.lastPolicy = s.policy.version;
    const l = s.extra['learning'] as LearningView | undefined;
    if (l?.trainer) {
      const losses = (l.trainer.losses ?? null) as { vLoss?: number; qLoss?: number; piLoss?: number } | null;
      const last = this.losses[this.losses.length - 1];
      if (!last || last.updates !== l.trainer.updates) {
        this.losses.push({ t: Date.now() / 1000, updates: l.trainer.updates, vLoss: losses?.vLoss ?? null, qLoss: losses?.qLoss ?? null, piLoss: losses?.piLoss ?? null, updatesPerSec: l.trainer.updatesPerSec });
        if (this.losses.length > KEEP_LOSSES) this.losses.splice(0, this.losses.length - KEEP_LOSSES);
      }
    }
    this.changed();
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
    this.wantFrame();
    this.changed();
  }

  /** One frame request at a time; a request asked for meanwhile runs right after (newest frame only). */
  private wantFrame(): void {
    if (this.frameBusy) {
      this.frameWanted = true;
      return;
    }
    this.frameBusy = true;
    this.frameWanted = false;
    void this.loadFrame().finally(() => {
      this.frameBusy = false;
      if (this.frameWanted) this.wantFrame();
    });
  }

  private async loadFrame(): Promise<void> {
    try {
      const res = await fetch('/live/frame.png', { cache: 'no-store' });
      if (!res.ok) return;
      const seq = Number(res.headers.get('x-live-seq'));
      if (this.frame && seq <= this.frame.seq) {
        await res.arrayBuffer();
        return;
      }
      const url = URL.createObjectURL(await res.blob());
      // Decoded before it is shown, so the figure means "on screen".
      const img = new Image();
      img.src = url;
      await img.decode();
      const old = this.frame;
      this.frame = { url, seq, episodeId: Number(res.headers.get('x-episode-id')), step: Number(res.headers.get('x-step')) };
      this.figures.frames++;
      if (this.figures.firstFrameMs === null) this.figures.firstFrameMs = performance.now();
      this.changed();
      // The old URL may still be on screen until the next render.
      if (old) setTimeout(() => URL.revokeObjectURL(old.url), 1000);
    } catch {
      // next step tries again
    }
  }
}

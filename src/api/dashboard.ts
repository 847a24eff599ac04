/**
 * The operator's dashboard: the page built from web/ (Vite, into dist/web) served at `/` with its assets, and the live
 * per-step view the page needs that /status does not carry: the wrench, the P and residual actions, the predicted reward
 * of every control step, and the camera frame as the policy saw it.
 *
 * The per-step data comes from a LiveTap, a DaemonLog wrapper the app puts between the loop and the real log. On the
 * tick it only keeps a reference to the transition the loop built anyway; everything a page costs (JSON, base64 of the
 * frame, socket writes) happens after the tick, coalesced to at most `liveHz` batches per second and serialised once for
 * every open page, so five pages cost the control loop about what one does.
 *
 * Routes (all reads, no token): GET / (the page, or a 503 page that says how to build it), /assets/*, /favicon.svg,
 * /live (server-sent status, step batches, episodes, faults: one stream per page), /live/steps, /live/frame.png, /event-log, /connectors.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type {} from '@fastify/swagger'; // its route-schema fields (summary, tags, hide)
import { encodePng } from '../robot/image-codec.ts';
import { eventStreams, sseEvent } from './sse.ts';
import type { DaemonEvent, DaemonLog, EpisodeBegin, EpisodeFinish, TickTransition } from '../daemon/interfaces.ts';
import type { DaemonControl, DaemonStatus } from '../daemon/types.ts';
import type { Store } from '../store/index.ts';
import { loadConnectors } from '../sim/connectors.ts';
import { loadSplit } from '../data/splits.ts';
import { DIGEST_FILE, webSourceDigest } from '../../web/source-digest.ts';

/** Where `npm run build:web` writes the page (relative to the repository root). */
export const DEFAULT_WEB_DIR = resolve(import.meta.dirname, '../../dist/web');
/** The page's sources (web/), whose digest each build records beside itself (web/source-digest.ts). */
export const DEFAULT_WEB_SOURCES = resolve(import.meta.dirname, '../../web');

/**
 * Whether the built page matches its sources: 'missing' (no index.html), 'stale' (built from other sources than
 * web/ holds now, or with no record of them: the daemon would serve the old page), 'fresh', or 'unknown' (no sources
 * beside it, as in an install without web/). The test helper ensureWebBuilt rebuilds on the same rule; the daemon only
 * says so, as a build needs the dev tools.
 */
export function dashboardBuild(
  webDir = DEFAULT_WEB_DIR,
  sourcesDir = DEFAULT_WEB_SOURCES,
): { state: 'missing' | 'stale' | 'fresh' | 'unknown'; note: string | null } {
  if (!existsSync(join(webDir, 'index.html')))
    return { state: 'missing', note: `the dashboard is not built (no ${join(webDir, 'index.html')}): run npm run build:web` };
  if (!existsSync(sourcesDir)) return { state: 'unknown', note: null };
  const stamp = join(webDir, DIGEST_FILE);
  const built = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : null;
  if (built === webSourceDigest(sourcesDir)) return { state: 'fresh', note: null };
  return {
    state: 'stale',
    note: `the dashboard in ${webDir} is stale (${built === null ? 'it has no record of its sources' : `built from other sources than ${sourcesDir} holds now`}): it serves the old page; run npm run build:web`,
  };
}

/** One control step as the page sees it (no image: the newest frame is fetched from /live/frame.png). */
export interface LiveStep {
  /** Increases by one per logged step over the daemon's life; the page asks for frames by it. */
  seq: number;
  episodeId: number;
  step: number;
  wrench: number[];
  eePos: number[];
  goal: number[];
  actionP: number[];
  actionResidual: number[];
  actionExecuted: number[];
  rewardProb: number | null;
  gtSuccess: boolean | null;
  done: boolean;
  policyVersion: string | null;
}

/** Steps kept for a page that opens mid-episode (a 20-step episode is 20). */
const RING = 240;

/** Passes everything to the real log; remembers the newest transitions for the dashboard. */
export class LiveTap implements DaemonLog {
  private readonly ring: Array<{ seq: number; t: TickTransition } | undefined> = new Array<{ seq: number; t: TickTransition } | undefined>(RING);
  private seqNo = 0;
  private readonly listeners = new Set<() => void>();
  private scheduled = false;

  constructor(readonly inner: DaemonLog) {}

  beginEpisode(e: EpisodeBegin): number | Promise<number> {
    return this.inner.beginEpisode(e);
  }

  transition(t: TickTransition): void {
    this.inner.transition(t);
    // On the tick: a counter and a reference, nothing else. Listeners hear about it after the tick.
    this.seqNo++;
    this.ring[this.seqNo % RING] = { seq: this.seqNo, t };
    if (this.listeners.size > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        for (const l of this.listeners) l();
      });
    }
  }

  endEpisode(id: number, end: EpisodeFinish): void {
    this.inner.endEpisode(id, end);
  }

  event(e: DaemonEvent): void {
    this.inner.event(e);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get seq(): number {
    return this.seqNo;
  }

  /** Steps with seq > `after`, oldest first, at most `max` (the newest ones). */
  stepsAfter(after: number, max = RING): LiveStep[] {
    const from = Math.max(after + 1, this.seqNo - Math.min(max, RING) + 1, 1);
    const out: LiveStep[] = [];
    for (let s = from; s <= this.seqNo; s++) {
      const e = this.ring[s % RING];
      if (e && e.seq === s) out.push(toLive(e.seq, e.t));
    }
    return out;
  }

  /** The newest transition (with its observation image), or null before the first step. */
  latest(): { seq: number; t: TickTransition } | null {
    const e = this.ring[this.seqNo % RING];
    return e && e.seq === this.seqNo ? e : null;
  }

  /** Called (after the tick that logged them) whenever new steps exist; returns the unsubscribe. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

const r6 = (v: number): number => Math.round(v * 1e6) / 1e6;

function toLive(seq: number, t: TickTransition): LiveStep {
  return {
    seq,
    episodeId: t.episodeId,
    step: t.step,
    wrench: t.obs.wrench.map((v) => Math.round(v * 1e4) / 1e4),
    eePos: t.obs.eePos.map(r6),
    goal: t.obs.goal.map(r6),
    actionP: t.actionP.map(r6),
    actionResidual: t.actionResidual.map(r6),
    actionExecuted: t.actionExecuted.map(r6),
    rewardProb: t.rewardProb,
    gtSuccess: t.gtSuccess,
    done: t.done,
    policyVersion: t.policyVersion,
  };
}

export interface DashboardOptions {
  daemon: DaemonControl;
  store: Store;
  live: LiveTap;
  /** The built page; default DEFAULT_WEB_DIR. */
  webDir?: string;
  /** Max step batches per second (all pages share each batch). Default 5. */
  liveHz?: number;
  /** Max camera frames per second on /live. Default 5. */
  frameHz?: number;
  /** Max status events per second on /live. Default 5. */
  statusHz?: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

function notBuiltPage(dir: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>insertion-daemon: dashboard not built</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1c2430}code{background:#eef1f5;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>The dashboard is not built</h1>
<p>The daemon is running and its API answers (<a href="/status">/status</a>, <a href="/openapi.json">/openapi.json</a>), but the page's files are missing from <code>${dir}</code>.</p>
<p>Build them with <code>npm run build:web</code> (<code>npm ci</code> and <code>npm test</code> do it too), then reload this page. No restart is needed.</p>
</body></html>`;
}

/** Registers the dashboard's routes on the API (call before listen). */
export async function registerDashboard(app: FastifyInstance, o: DashboardOptions): Promise<void> {
  const dir = resolve(o.webDir ?? DEFAULT_WEB_DIR);
  const live = o.live;
  const hide = { hide: true } as const;

  const sendFile = async (reply: FastifyReply, rel: string, immutable: boolean): Promise<FastifyReply> => {
    const file = resolve(dir, rel);
    if (!file.startsWith(dir + sep)) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no file ${rel}` });
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no file ${rel} in ${dir} (npm run build:web)` });
    }
    // Vite names assets by content hash, so they may be cached forever; index.html must not be.
    return reply
      .type(TYPES[extname(file)] ?? 'application/octet-stream')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(body);
  };

  app.get('/', { schema: { summary: "The operator's dashboard (HTML)", tags: ['dashboard'] } }, async (_req, reply) => {
    const index = join(dir, 'index.html');
    const ok = await stat(index).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!ok) return reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(notBuiltPage(dir));
    return sendFile(reply, 'index.html', false);
  });
  app.get('/assets/*', { schema: hide }, async (req, reply) => sendFile(reply, join('assets', (req.params as { '*': string })['*']), true));
  app.get('/favicon.svg', { schema: hide }, async (_req, reply) => sendFile(reply, 'favicon.svg', false));

  app.get(
    '/live/steps',
    {
      schema: {
        summary: 'The newest logged control steps (wrench, P / residual / executed action, predicted reward), oldest first',
        tags: ['dashboard'],
        querystring: { type: 'object', additionalProperties: false, properties: { after: { type: 'integer', minimum: 0 } } },
      },
    },
    async (req) => ({ seq: live.seq, steps: live.stepsAfter((req.query as { after?: number }).after ?? 0) }),
  );

  // One PNG per step however many pages ask (they ask for the newest; older ones are never wanted again).
  let frameCache: { seq: number; png: Promise<Buffer> } | null = null;
  app.get(
    '/live/frame.png',
    { schema: { summary: 'The newest camera frame as the policy saw it (PNG); headers x-live-seq, x-episode-id, x-step', tags: ['dashboard'] } },
    async (_req, reply) => {
      const e = live.latest();
      if (!e) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no control step logged yet: start practice' });
      if (frameCache?.seq !== e.seq) {
        const img = e.t.obs.image;
        // Copied now: the preprocessor may reuse its buffer on a later tick while sharp encodes on its own thread.
        const pixels = Buffer.from(img.data);
        frameCache = { seq: e.seq, png: encodePng({ width: img.width, height: img.height, data: pixels }, { compressionLevel: 3, adaptiveFiltering: false }) };
      }
      const png = await frameCache.png;
      return reply
        .type('image/png')
        .header('cache-control', 'no-store')
        .header('x-live-seq', String(e.seq))
        .header('x-episode-id', String(e.t.episodeId))
        .header('x-step', String(e.t.step))
        .send(png);
    },
  );

  // One stream per page carries everything live (a browser allows 6 connections per host, shared by all its tabs; the
  // page shares one stream between its tabs too, see web/src/live.ts). Each message is serialised once for all pages.
  const clients = new Set<(chunk: string) => void>();
  const broadcast = (event: string, data: unknown): void => {
    if (clients.size === 0) return;
    const chunk = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of clients) c(chunk);
  };

  // Steps: batched, at most liveHz batches per second; frames at most frameHz.
  const stepGapMs = 1000 / (o.liveHz ?? 5);
  const frameGapMs = 1000 / (o.frameHz ?? 5) - 20; // a batch may come a little early; do not skip its frame for that
  let lastFrameSent = 0;
  let sentSeq = live.seq;
  let lastStepFlush = 0;
  let stepTimer: NodeJS.Timeout | null = null;
  const flushSteps = (): void => {
    stepTimer = null;
    lastStepFlush = Date.now();
    const steps = live.stepsAfter(sentSeq, 50);
    if (steps.length === 0) return;
    sentSeq = live.seq;
    broadcast('steps', steps);
    // The newest camera frame rides along as raw RGB (base64): a page draws it on a canvas with no PNG to encode here
    // or to fetch and decode there (a frame fetch per page cost the browser more than everything else it does).
    const e = live.latest();
    if (e && Date.now() - lastFrameSent >= frameGapMs) {
      lastFrameSent = Date.now();
      const img = e.t.obs.image;
      broadcast('frame', {
        seq: e.seq,
        episodeId: e.t.episodeId,
        step: e.t.step,
        width: img.width,
        height: img.height,
        rgb: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).toString('base64'),
      });
    }
  };
  const onSteps = (): void => {
    if (!stepTimer) stepTimer = setTimeout(flushSteps, Math.max(0, lastStepFlush + stepGapMs - Date.now()));
  };

  // Status: at most statusHz per second, and the newest always goes out (a page must see the final 'idle').
  const statusGapMs = 1000 / (o.statusHz ?? 5);
  let lastStatus = 0;
  let statusTimer: NodeJS.Timeout | null = null;
  let latestStatus: DaemonStatus | null = null;
  const flushStatus = (): void => {
    statusTimer = null;
    lastStatus = Date.now();
    if (latestStatus) broadcast('status', latestStatus);
  };
  const onStatus = (st: DaemonStatus): void => {
    latestStatus = st;
    if (!statusTimer) statusTimer = setTimeout(flushStatus, Math.max(0, lastStatus + statusGapMs - Date.now()));
  };
  const onEpisode = (e: unknown): void => broadcast('episode', e);
  const onFault = (m: string): void => broadcast('fault', { message: m });

  let unsubscribeSteps: (() => void) | null = null;
  const attach = (): void => {
    sentSeq = live.seq;
    unsubscribeSteps = live.subscribe(onSteps);
    o.daemon.on('status', onStatus);
    o.daemon.on('episode', onEpisode);
    o.daemon.on('fault', onFault);
  };
  const detach = (): void => {
    unsubscribeSteps?.();
    unsubscribeSteps = null;
    o.daemon.off('status', onStatus);
    o.daemon.off('episode', onEpisode);
    o.daemon.off('fault', onFault);
    if (stepTimer) clearTimeout(stepTimer);
    if (statusTimer) clearTimeout(statusTimer);
    stepTimer = statusTimer = null;
  };

  const openStream = eventStreams(app);

  app.get(
    '/live',
    {
      schema: {
        summary:
          'Server-sent events for the dashboard: `hello` {seq}, `status` (at most 5/s), `steps` (batches of new control steps, ' +
          'at most 5/s), `frame` (the newest camera frame as base64 RGB, at most 5/s), `episode`, `fault`',
        tags: ['dashboard'],
      },
    },
    (req, reply) => {
      const res = openStream(req, reply, () => {
        if (clients.delete(write) && clients.size === 0) detach();
      });
      res.write(`${sseEvent('hello', { seq: live.seq })}${sseEvent('status', o.daemon.status())}`);
      const write = (chunk: string): void => {
        res.write(chunk);
      };
      if (clients.size === 0) attach();
      clients.add(write);
    },
  );

  // The practice form's choices: the simulated cell's connectors and whether training saw them. Read once, on first ask.
  let connectors: { connectors: Array<{ name: string; family: string; heldOut: boolean | null }>; note: string | null } | null = null;
  app.get(
    '/connectors',
    { schema: { summary: 'Connectors the simulated cell can load (practice `domain`), with the default split', tags: ['dashboard'] } },
    async () => {
      if (!connectors) {
        try {
          const defs = loadConnectors();
          let held: Set<string> | null = null;
          try {
            held = new Set(loadSplit(defs).heldOut);
          } catch {
            // no split file: membership unknown
          }
          connectors = { connectors: defs.map((d) => ({ name: d.name, family: d.family, heldOut: held ? held.has(d.name) : null })), note: null };
        } catch (e) {
          connectors = { connectors: [], note: (e as Error).message };
        }
      }
      return connectors;
    },
  );

  app.get(
    '/event-log',
    {
      schema: {
        summary: 'Logged events (swaps, validations, rejections, rollbacks, trips, e-stops, practice, trainer), newest first',
        tags: ['dashboard'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: { type: 'string', minLength: 1, maxLength: 100 },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            afterId: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { kind?: string; limit?: number; afterId?: number };
      return o.store.listEvents({ ...(q.kind ? { kind: q.kind } : {}), ...(q.afterId !== undefined ? { afterId: q.afterId } : {}), limit: q.limit ?? 100 });
    },
  );
}

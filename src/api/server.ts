/**
 * The daemon's REST front door (fastify). Reads (status, sessions, episodes, models, images) are open; every route
 * that moves the arm or changes state needs `Authorization: Bearer <token>`, except the e-stop: stopping the arm
 * must never be blocked by a missing credential (like a physical e-stop button), and it can only make things safer.
 * The token is checked first (onRequest, before the body is parsed or validated), in constant time, on every route
 * that is not a read unless OPEN_STATE_CHANGING_ROUTES lists it; a server without a token refuses all of them.
 * Binds 127.0.0.1 by default (config api.host); any other address is warned about at startup and in /status.
 *
 * Bodies, params and query strings are validated by JSON schema: unknown fields are refused (not silently stripped),
 * bodies are never type-coerced ("5" is not a count), and errors come back as 400 with the offending field named.
 * The OpenAPI document is served at /openapi.json; /events streams status as server-sent events.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { requestValidatorCompiler } from '../config/request-validator.ts';
import { encodePng } from '../robot/image-codec.ts';
import { eventStreams, sseEvent } from './sse.ts';
import type { DaemonControl, DaemonStatus, PracticeRequest } from '../daemon/types.ts';
import type { ResidualPolicy, RewardScorer } from '../daemon/interfaces.ts';
import type { Store } from '../store/index.ts';
import type { ModelRecord } from '../store/types.ts';
import { validateCandidate } from '../swap/manager.ts';
import { offerReward } from '../swap/reward.ts';
import { DEFAULT_SWAP_VALIDATION, type SwapValidationConfig } from '../swap/validate.ts';
import { MAX_LEASE_S, MAX_TELEOP_DELTA_M } from '../daemon/takeover.ts';

export interface ApiOptions {
  daemon: DaemonControl;
  /** The log (the daemon's writable store; reads go through it too). */
  store: Store;
  /** Bearer token; null refuses every state-changing route (and says how to set one). */
  token: string | null;
  /** Environment variable the token comes from, for error messages. */
  tokenEnv?: string;
  /** Loads a registered model file for activation (off the control path). */
  loadPolicy: (path: string) => Promise<ResidualPolicy>;
  loadReward?: (path: string) => Promise<RewardScorer>;
  /** Probe validation of a policy before activation/rollback, as the trainer's hot-swaps get it. Default
   *  DEFAULT_SWAP_VALIDATION (the daemon app passes its residual bound from the calibration). */
  swapValidation?: SwapValidationConfig;
  /** Max status events per second per SSE client. Default 5. */
  sseRateHz?: number;
  /** fastify's logger option (default off). */
  logger?: FastifyServerOptions['logger'];
}

/** Routes that change state but need no token: the e-stop can only make things safer and must never be blocked. */
export const OPEN_STATE_CHANGING_ROUTES: ReadonlySet<string> = new Set(['/estop']);

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

/** The warning for an API bound where other machines can reach it, or null for loopback. */
export function exposureWarning(host: string): string | null {
  if (isLoopbackHost(host)) return null;
  const all = ['0.0.0.0', '::', '0:0:0:0:0:0:0:0'].includes(host.trim());
  return (
    `WARNING: the API listens on ${host}${all ? ' (every network interface)' : ''}, not on loopback: anyone who can reach ` +
    `this port can e-stop the arm, and anyone who also has the token can move it. Bind 127.0.0.1 (api.host / --host) ` +
    `and tunnel (ssh -L) unless this network is trusted.`
  );
}

// Upper bounds: larger numbers are not exact in JavaScript and overflow SQLite's LIMIT/OFFSET (a 500 before).
const id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const idParams = { type: 'object', additionalProperties: false, required: ['id'], properties: { id } } as const;
const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    order: { enum: ['asc', 'desc'] },
  },
} as const;
const bearer = [{ bearer: [] as string[] }];

/** Constant time in the content and the length of the offered token: both are hashed to 32 bytes first. */
function tokensEqual(offered: string, expected: string): boolean {
  const digest = (t: string): Buffer => createHash('sha256').update(t, 'utf8').digest();
  return timingSafeEqual(digest(offered), digest(expected));
}

/** The HTTP server (fastify stays inside src/api/). */
export type ApiServer = FastifyInstance;

export async function buildApi(opts: ApiOptions): Promise<ApiServer> {
  const { daemon, store } = opts;
  const app = Fastify({ logger: opts.logger ?? false });

  // Two validators: params/query strings arrive as text and are coerced; bodies must already have the right types.
  const compileCoerced = requestValidatorCompiler(true);
  const compileStrict = requestValidatorCompiler(false);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? compileStrict : compileCoerced)(schema));
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (req.routeOptions.url === '/estop') {
      void reply.code(200).send({ engaged: true, note: `body ignored: ${err.message}`, safety: daemon.status().safety });
      return;
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    void reply.code(status).send({ statusCode: status, error: status < 500 ? 'Bad Request' : 'Internal Server Error', message: err.message });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'insertion-daemon', description: 'Control daemon: practice episodes, safety, log and models.', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  const requireToken = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (opts.token === null) {
      return reply
        .code(401)
        .send({ statusCode: 401, error: 'Unauthorized', message: `no API token configured: set ${opts.tokenEnv ?? 'DAEMON_TOKEN'} and restart` });
    }
    const h = req.headers.authorization;
    if (!h || !h.startsWith('Bearer ')) {
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'missing bearer token (Authorization: Bearer <token>)' });
    }
    if (!tokensEqual(h.slice(7), opts.token)) {
      return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'wrong bearer token' });
    }
  };

  // The token check runs first (onRequest: before the body is parsed or validated, so an unauthenticated caller learns
  // nothing about the schema), and on every route that is not a plain read, unless it is listed as open: a route added
  // later is protected without anyone remembering to.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((m) => m === 'GET' || m === 'HEAD') || OPEN_STATE_CHANGING_ROUTES.has(route.url)) return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [requireToken, ...existing];
    if (route.schema && !route.schema.hide) route.schema = { ...route.schema, security: bearer };
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/status', { schema: { summary: 'Daemon state, episode, tick timing, safety and policy', tags: ['daemon'] } }, async () => daemon.status());

  app.post(
    '/practice/start',
    {
      schema: {
        summary: 'Start practising: `count` episodes on a connector (domain) and scenario',
        tags: ['practice'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['count'],
          properties: {
            count: { type: 'integer', minimum: 1, maximum: 100000 },
            domain: { type: 'string', minLength: 1, maxLength: 200 },
            scenario: { enum: ['I', 'II'] },
            explorationNoise: { type: 'number', minimum: 0, maximum: 0.05 },
            noiseCorrelation: { type: 'number', minimum: 0, maximum: 1 },
            // Bounded like ids: beyond 2^53 an 'integer' is no longer exact (-1.8e308 passed as one, issue 12 campaign).
            seed: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
            kind: { enum: ['practice', 'eval'] },
          },
        },
      },
    },
    async (req, reply) => {
      const r = daemon.startPractice(req.body as PracticeRequest);
      if (!r.ok && r.reason.startsWith('unknown domain'))
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `body/domain: ${r.reason}` });
      if (!r.ok) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: r.reason });
      return reply.code(202).send({ accepted: true, run: r.run });
    },
  );

  app.post('/practice/stop', { schema: { summary: 'Stop practising at the next safe point', tags: ['practice'] } }, async () => daemon.stopPractice());

  app.post(
    '/estop',
    {
      // Engaged on arrival, before the body is parsed or validated: no malformed request can stop an e-stop.
      onRequest: async (req) => {
        daemon.estop(`REST from ${req.ip}`);
      },
      schema: {
        summary:
          'Engage the e-stop: holds the arm now, ends the episode, latches. No token needed; any body is accepted ' +
          '(an optional JSON `{"detail": "..."}` is recorded as a note). With the control loop in its own thread, the ' +
          'same POST /estop is also answered on its own port (`extra.api.estopUrl` in /status; api.estopPort, default ' +
          'this port + 1) by a thread that does nothing else, so it lands while this server is busy.',
        tags: ['safety'],
      },
    },
    async (req) => {
      const detail = (req.body as { detail?: unknown } | undefined)?.detail;
      if (typeof detail === 'string' && detail.length > 0) {
        store.recordEvent({ kind: 'estop_note', message: detail.slice(0, 500), data: { ip: req.ip } });
      }
      return { engaged: true, safety: daemon.status().safety };
    },
  );

  app.post('/estop/reset', { schema: { summary: 'Reset the e-stop latch (refused while its source is engaged)', tags: ['safety'] } }, async (_req, reply) => {
    const r = daemon.resetEstop();
    if (!r.ok) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: r.reason });
    return { reset: true, state: daemon.currentState };
  });

  // Operator takeover (human intervention): a bounded move per control tick, held for a short lease the client renews as
  // it streams (a SpaceMouse bridge, a gamepad page); a client that goes quiet loses the arm within a tick or two.
  app.post(
    '/teleop',
    {
      schema: {
        summary:
          'Take over from the policy: `delta` (m per control tick, base frame, each axis within +-0.05; the step limit ' +
          "and the safety filter still apply) replaces the policy's action until `leaseS` (default two ticks, at most 1 s) " +
          'runs out without renewal. Every step it drives is logged as an intervention. Refused while the e-stop is latched.',
        tags: ['teleop'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['delta'],
          properties: {
            delta: { type: 'array', minItems: 3, maxItems: 3, items: { type: 'number', minimum: -MAX_TELEOP_DELTA_M, maximum: MAX_TELEOP_DELTA_M } },
            leaseS: { type: 'number', exclusiveMinimum: 0, maximum: MAX_LEASE_S },
            source: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_:./-]+$' },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { delta: [number, number, number]; leaseS?: number; source?: string };
      const r = daemon.takeover({
        delta: body.delta,
        ...(body.leaseS !== undefined ? { leaseS: body.leaseS } : {}),
        source: body.source ? `rest:${body.source}` : 'rest',
      });
      if (!r.ok) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: r.reason });
      return reply.code(202).send({ holding: true, leaseS: r.leaseS, inEpisode: r.active, takeover: daemon.status().takeover });
    },
  );

  app.post('/teleop/release', { schema: { summary: 'End the REST takeover now: the policy drives from the next tick', tags: ['teleop'] } }, async () =>
    daemon.releaseTakeover(),
  );

  app.post(
    '/goal-refinement/reset',
    {
      schema: {
        summary:
          "Forget x*'s refinement from seated practice (practice.refineGoalEpisodes) for one connector, or for every one when " +
          'no domain is given: after the socket was moved or recalibrated. x* is the calibrated one until new seated episodes.',
        tags: ['calibration'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { domain: { type: 'string', minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (req) => {
      const body = (req.body ?? {}) as { domain?: string };
      return { ...daemon.resetGoalRefinement(body.domain ?? null, 'api'), goalRefinement: daemon.status().goalRefinement };
    },
  );

  app.get('/sessions', { schema: { summary: 'Sessions, newest first', tags: ['log'], querystring: listQuery } }, async (req) =>
    store.listSessions(req.query as object),
  );

  app.get('/sessions/:id', { schema: { summary: 'One session', tags: ['log'], params: idParams } }, async (req, reply) => {
    const s = store.getSession((req.params as { id: number }).id);
    return s ?? reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no session ${(req.params as { id: number }).id}` });
  });

  app.get(
    '/episodes',
    {
      schema: {
        summary: 'Episodes, newest first',
        tags: ['log'],
        querystring: {
          ...listQuery,
          properties: { ...listQuery.properties, sessionId: id, domain: { type: 'string', minLength: 1 }, kind: { enum: ['practice', 'eval', 'prior'] } },
        },
      },
    },
    async (req) => store.listEpisodes(req.query as object),
  );

  app.get(
    '/episodes/:id',
    { schema: { summary: 'One episode with its transitions (images as URLs)', tags: ['log'], params: idParams } },
    async (req, reply) => {
      const eid = (req.params as { id: number }).id;
      const ep = store.getEpisode(eid, { transitions: true, images: false });
      if (!ep) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no episode ${eid}` });
      return {
        ...ep,
        label: store.episodeLabel(eid),
        transitions: (ep.transitions ?? []).map((t) => ({ ...t, image: null, imageUrl: `/transitions/${t.id}/image.png` })),
      };
    },
  );

  app.post(
    '/episodes/:id/label',
    {
      schema: {
        summary:
          "Label an episode's outcome (operator): overrides the learned reward of its transitions for learning, answers its " +
          'label request, and is used to fine-tune the reward classifier. A later label of the same episode replaces it.',
        tags: ['labels'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['success'],
          properties: { success: { type: 'boolean' }, note: { type: 'string', maxLength: 500 } },
        },
      },
    },
    async (req, reply) => {
      const eid = (req.params as { id: number }).id;
      const body = req.body as { success: boolean; note?: string };
      const ep = store.getEpisode(eid);
      if (!ep) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no episode ${eid}` });
      if (ep.endedAt === null)
        return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `episode ${eid} has not ended yet: label it once it has` });
      if (ep.kind === 'prior')
        return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `episode ${eid} is prior data, labelled by ground truth` });
      const label = store.labelEpisode({ episodeId: eid, success: body.success, note: body.note ?? null, by: 'api' });
      const { answeredRequest } = daemon.noteLabel(eid, body.success, 'api', body.note ?? null);
      return reply.code(201).send({ label, answeredRequest });
    },
  );

  app.get(
    '/label-requests',
    {
      schema: {
        summary: "The daemon's requests for outcome labels (newest first) with the label each got, if any; `open=true`: unanswered only",
        tags: ['labels'],
        querystring: { ...listQuery, properties: { ...listQuery.properties, open: { type: 'boolean' } } },
      },
    },
    async (req) => {
      const q = req.query as { open?: boolean; limit?: number; offset?: number; order?: 'asc' | 'desc' };
      const events = store.listEvents({
        kind: 'label_request',
        limit: q.open ? 10_000 : (q.limit ?? 100),
        offset: q.open ? 0 : (q.offset ?? 0),
        order: q.order ?? 'desc',
      });
      const rows = events.map((e) => ({
        ...(e.data as object),
        eventId: e.id,
        sessionId: e.sessionId,
        label: e.episodeId === null ? null : store.episodeLabel(e.episodeId),
      }));
      if (!q.open) return rows;
      return rows.filter((r) => r.label === null).slice(q.offset ?? 0, (q.offset ?? 0) + (q.limit ?? 100));
    },
  );

  app.get(
    '/transitions/:id/image.png',
    { schema: { summary: 'The logged camera image (policy input) as PNG', tags: ['log'], params: idParams } },
    async (req, reply) => {
      const tid = (req.params as { id: number }).id;
      const t = store.getTransition(tid, { images: true });
      if (!t || !t.image) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no image for transition ${tid}` });
      const png = await encodePng(t.image);
      return reply.type('image/png').send(png);
    },
  );

  app.get(
    '/models',
    {
      schema: {
        summary: 'Registered models and the active version of each kind',
        tags: ['models'],
        querystring: { type: 'object', additionalProperties: false, properties: { kind: { type: 'string' } } },
      },
    },
    async (req) => {
      const kind = (req.query as { kind?: string }).kind;
      return {
        models: store.listModels(kind),
        active: { policy: store.activeModel('policy')?.version ?? null, reward: store.activeModel('reward')?.version ?? null },
        driving: { policy: daemon.policyVersion, reward: daemon.status().reward.version },
        activations: store.listActivations(kind, 50),
      };
    },
  );

  const activate = async (
    m: ModelRecord,
    action: 'activate' | 'rollback',
    reason: string | null,
    at: 'episode-boundary' | 'between-ticks' | undefined,
    reply: FastifyReply,
  ) => {
    if (m.kind === 'policy') {
      let p: ResidualPolicy;
      try {
        p = await opts.loadPolicy(m.path); // loads and warms the session off the control path
      } catch (e) {
        store.recordEvent({ kind: 'swap_rejected', message: `policy ${m.version}: ${(e as Error).message}` });
        return reply.code(422).send({ statusCode: 422, error: 'Unprocessable Entity', message: `model ${m.version} refused: ${(e as Error).message}` });
      }
      // The same probe validation and records as a trainer hot-swap; the current policy drives meanwhile.
      const verdict = await validateCandidate({
        store,
        event: (e) => store.recordEvent({ kind: e.kind, message: e.message, data: e.data ?? null }),
        candidate: p,
        current: daemon.models().policy,
        modelId: m.id,
        path: m.path,
        cfg: opts.swapValidation ?? DEFAULT_SWAP_VALIDATION,
        sensors: daemon.status().sensors,
      });
      if (!verdict.ok) {
        await p.dispose?.();
        return reply.code(422).send({
          statusCode: 422,
          error: 'Unprocessable Entity',
          message: `model ${m.version} refused by validation: ${verdict.reason}`,
          validation: verdict.validation,
        });
      }
      store.activateModel(m.id, { by: 'api', action, reason: reason ?? verdict.reason });
      const swapped = daemon.setPolicy(p, at ? { at } : {});
      void swapped.then((old) => old?.dispose?.());
      return reply.code(202).send({
        activated: m.version,
        kind: m.kind,
        action,
        takesEffect: at ?? 'config default',
        pendingSwap: daemon.status().policy.pendingSwap,
        validation: verdict.validation,
      });
    }
    if (m.kind === 'reward') {
      if (!opts.loadReward) return reply.code(501).send({ statusCode: 501, error: 'Not Implemented', message: 'reward model activation not available' });
      let r: RewardScorer;
      try {
        r = await opts.loadReward(m.path);
      } catch (e) {
        store.recordEvent({ kind: 'swap_rejected', message: `reward ${m.version}: ${(e as Error).message}` });
        return reply.code(422).send({ statusCode: 422, error: 'Unprocessable Entity', message: `model ${m.version} refused: ${(e as Error).message}` });
      }
      // The same validation and records as a label-tuned version from the trainer (src/swap/reward.ts).
      const v = await offerReward({
        daemon,
        store,
        event: (e) => store.recordEvent({ kind: e.kind, message: e.message, data: e.data ?? null }),
        candidate: r,
        modelId: m.id,
        by: 'api',
        reason,
      });
      if (!v.ok) {
        await r.dispose?.();
        return reply
          .code(422)
          .send({ statusCode: 422, error: 'Unprocessable Entity', message: `model ${m.version} refused by validation: ${v.reason}`, validation: v });
      }
      return reply.code(202).send({ activated: m.version, kind: m.kind, action, validation: v });
    }
    return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `models of kind '${m.kind}' do not drive the daemon` });
  };

  app.post(
    '/models/:id/activate',
    {
      schema: {
        summary:
          'Activate a registered model (policy: validated on recently logged observations, 422 if refused, then swapped in ' +
          'at the next episode boundary unless `at` says between-ticks)',
        tags: ['models'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { reason: { type: 'string', maxLength: 500 }, at: { enum: ['episode-boundary', 'between-ticks'] } },
        },
      },
    },
    async (req, reply) => {
      const mid = (req.params as { id: number }).id;
      const body = (req.body ?? {}) as { reason?: string; at?: 'episode-boundary' | 'between-ticks' };
      const m = store.getModel(mid);
      if (!m) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no model ${mid}` });
      return activate(m, 'activate', body.reason ?? null, body.at, reply);
    },
  );

  app.post(
    '/models/rollback',
    {
      schema: {
        summary: 'Roll back to an earlier version: `toId`, or the version active before the current one (a policy is validated as on activation)',
        tags: ['models'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['kind'],
          properties: {
            kind: { enum: ['policy', 'reward'] },
            toId: id,
            reason: { type: 'string', maxLength: 500 },
            at: { enum: ['episode-boundary', 'between-ticks'] },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { kind: 'policy' | 'reward'; toId?: number; reason?: string; at?: 'episode-boundary' | 'between-ticks' };
      let target: ModelRecord | null;
      if (body.toId !== undefined) {
        target = store.getModel(body.toId);
        if (!target || target.kind !== body.kind)
          return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no ${body.kind} model ${body.toId}` });
      } else {
        const current = store.activeModel(body.kind);
        const previous = store.listActivations(body.kind, 1000).find((a) => a.modelId !== null && a.modelId !== current?.id && a.action !== 'deactivate');
        target = previous?.modelId != null ? store.getModel(previous.modelId) : null;
        if (!target) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `no earlier ${body.kind} version to roll back to` });
      }
      return activate(target, 'rollback', body.reason ?? null, body.at, reply);
    },
  );

  const openStream = eventStreams(app);

  app.get(
    '/events',
    {
      schema: {
        summary: 'Server-sent events: `status` (throttled), `episode`, `fault`, `takeover` (an operator takeover began or ended), `label_request`',
        tags: ['daemon'],
      },
    },
    (req, reply) => {
      const res = openStream(req, reply, () => {
        if (trailing) clearTimeout(trailing);
        daemon.off('status', onStatus);
        daemon.off('episode', onEpisode);
        daemon.off('fault', onFault);
        daemon.off('takeover', onTakeover);
        daemon.off('labelRequest', onLabelRequest);
      });
      const send = (event: string, data: unknown): void => {
        res.write(sseEvent(event, data));
      };
      const minGapMs = 1000 / (opts.sseRateHz ?? 5);
      let lastSent = 0;
      let trailing: NodeJS.Timeout | null = null;
      let latest: DaemonStatus | null = null;
      const onStatus = (s: DaemonStatus): void => {
        latest = s;
        const now = Date.now();
        if (now - lastSent >= minGapMs) {
          lastSent = now;
          send('status', s);
        } else if (!trailing) {
          // Throttled, but the newest state always goes out (a client must see the final 'idle').
          trailing = setTimeout(
            () => {
              trailing = null;
              lastSent = Date.now();
              if (latest) send('status', latest);
            },
            minGapMs - (now - lastSent),
          );
        }
      };
      const onEpisode = (e: unknown): void => send('episode', e);
      const onFault = (m: string): void => send('fault', { message: m });
      const onTakeover = (c: unknown): void => send('takeover', c);
      const onLabelRequest = (r: unknown): void => send('label_request', r);
      daemon.on('status', onStatus);
      daemon.on('episode', onEpisode);
      daemon.on('fault', onFault);
      daemon.on('takeover', onTakeover);
      daemon.on('labelRequest', onLabelRequest);
      send('status', daemon.status());
    },
  );

  await (await import('./replay.ts')).registerReplayRoutes(app, { store, requireToken }); // replay jobs (src/replay): POST/GET /replays
  return app;
}

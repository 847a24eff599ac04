/**
 * REST routes of replay (src/replay/README.md): a replay of a session of the daemon's own log runs as a background job
 * (a worker thread, one at a time) with progress and a result document; it writes its own session into the same log,
 * tagged as a replay of its source, and never changes the source rows.
 *
 *   POST /replays             {sessionId, mode, episodes?, policy?, reward?, mapConnector?, goalErrorMm?, divergenceMm?, divergenceN?}
 *                             -> 202 {id, state, ...}; 422 with the reason when the session cannot be replayed
 *                             (e.g. a connector the simulator does not define, and how to map it)
 *   GET  /replays             jobs, newest first (without result documents)
 *   GET  /replays/:id         one job: state, progress {done, total}, error, and the result document once done
 *   POST /replays/:id/cancel  queued: dropped; running: stops after the current episode
 */
import { existsSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Vec3 } from '../core/types.ts';
import { BASELINE_PREFIX, checkBaseline } from '../replay/baseline.ts';
import { ReplayJobs, type JobOptions, type ReplayJob } from '../replay/jobs.ts';
import { planStarts, readSource, ReplaySourceError } from '../replay/source.ts';
import { loadConnectors } from '../sim/connectors.ts';
import type { Store } from '../store/index.ts';

export interface ReplayRouteOptions {
  store: Store;
  requireToken: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Default: a job runner of its own, shut down with the server. */
  jobs?: ReplayJobs;
}

const idParams = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const;
const bearer = [{ bearer: [] as string[] }];

interface ReplayBody {
  sessionId: number;
  mode: 'open-loop' | 'closed-loop';
  episodes?: number[];
  policy?: string;
  reward?: string;
  mapConnector?: Record<string, string>;
  goalErrorMm?: [number, number, number];
  divergenceMm?: number;
  divergenceN?: number;
}

/** A job as listed: without its result document (which can be large), with a link to it. */
function brief(j: ReplayJob): Omit<ReplayJob, 'result'> & { url: string; overall: unknown } {
  const { result, ...rest } = j;
  return { ...rest, url: `/replays/${j.id}`, overall: result?.overall ?? null };
}

export async function registerReplayRoutes(app: FastifyInstance, o: ReplayRouteOptions): Promise<ReplayJobs> {
  const jobs = o.jobs ?? new ReplayJobs();
  if (!o.jobs) app.addHook('onClose', async () => jobs.close());
  const db = o.store.file;

  app.post(
    '/replays',
    {
      preHandler: o.requireToken,
      schema: {
        summary: 'Replay a logged session in the simulated cell (open loop: the logged commands; closed loop: a policy), as a background job',
        tags: ['replay'],
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sessionId', 'mode'],
          properties: {
            sessionId: { type: 'integer', minimum: 1 },
            mode: { enum: ['open-loop', 'closed-loop'] },
            episodes: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, maxItems: 100000 },
            policy: {
              type: 'string',
              minLength: 1,
              maxLength: 1000,
              description: "closed loop: a registered policy version, an .onnx path, 'p-only', or 'baseline:<name>'",
            },
            reward: { type: 'string', minLength: 1, maxLength: 1000, description: 'reward classifier for the audit: a registered version or an .onnx path' },
            mapConnector: {
              type: 'object',
              additionalProperties: { type: 'string', minLength: 1 },
              description: 'logged connector -> connector the simulator defines',
            },
            goalErrorMm: { type: 'array', items: { type: 'number', minimum: -50, maximum: 50 }, minItems: 3, maxItems: 3 },
            divergenceMm: { type: 'number', exclusiveMinimum: 0 },
            divergenceN: { type: 'number', exclusiveMinimum: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as ReplayBody;
      const bad = (message: string, code = 422) =>
        reply.code(code).send({ statusCode: code, error: code === 400 ? 'Bad Request' : 'Unprocessable Entity', message });
      if (b.mode === 'closed-loop' && b.policy === undefined)
        return bad("closed loop needs 'policy': a registered policy version, an .onnx path, or 'p-only'", 400);
      if (b.mode === 'open-loop' && b.policy !== undefined) return bad("open loop executes the logged commands: 'policy' applies to closed loop only", 400);
      for (const [kind, v] of [
        ['policy', b.policy],
        ['reward', b.reward],
      ] as const) {
        if (v === undefined || (kind === 'policy' && v === 'p-only')) continue;
        if (kind === 'policy' && v.startsWith(BASELINE_PREFIX)) {
          try {
            checkBaseline(v.slice(BASELINE_PREFIX.length));
            continue;
          } catch (e) {
            return bad((e as Error).message);
          }
        }
        if (v.endsWith('.onnx') ? !existsSync(v) : !o.store.findModel(kind, v))
          return bad(`${kind} '${v}' is neither an existing .onnx file nor a ${kind} version registered in the log`);
      }
      const goalError = b.goalErrorMm ? (b.goalErrorMm.map((x) => x / 1000) as Vec3) : undefined;
      // Checked here, read-only, so an unreplayable session is refused at once with what is missing.
      try {
        planStarts(
          readSource(db, b.sessionId, b.episodes),
          loadConnectors().map((c) => c.name),
          b.mapConnector,
          goalError ?? null,
        );
      } catch (e) {
        if (e instanceof ReplaySourceError) return bad(e.message.replace(/--map-connector (\S+)=<defined>/, '"mapConnector": {"$1": "<defined>"}'));
        throw e;
      }
      const opts: JobOptions = {
        db,
        sessionId: b.sessionId,
        mode: b.mode,
        ...(b.episodes ? { episodes: b.episodes } : {}),
        ...(b.policy !== undefined ? { policy: b.policy } : {}),
        ...(b.reward !== undefined ? { reward: b.reward } : {}),
        ...(b.mapConnector ? { mapConnector: b.mapConnector } : {}),
        ...(goalError ? { goalError } : {}),
        thresholds: {
          ...(b.divergenceMm !== undefined ? { divergenceMm: b.divergenceMm } : {}),
          ...(b.divergenceN !== undefined ? { divergenceN: b.divergenceN } : {}),
        },
      };
      const job = jobs.submit(opts);
      return reply.code(202).send(brief(job));
    },
  );

  app.get('/replays', { schema: { summary: 'Replay jobs, newest first', tags: ['replay'] } }, async () => jobs.list().map(brief));

  app.get(
    '/replays/:id',
    { schema: { summary: 'One replay job: state, progress and (when done) the result document', tags: ['replay'], params: idParams } },
    async (req, reply) => {
      const id = (req.params as { id: number }).id;
      const j = jobs.get(id);
      return j ? { ...j, url: `/replays/${id}` } : reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no replay job ${id}` });
    },
  );

  app.post(
    '/replays/:id/cancel',
    {
      preHandler: o.requireToken,
      schema: { summary: 'Cancel a replay job (a running one stops after its current episode)', tags: ['replay'], security: bearer, params: idParams },
    },
    async (req, reply) => {
      const id = (req.params as { id: number }).id;
      const j = jobs.cancel(id);
      return j ? brief(j) : reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no replay job ${id}` });
    },
  );
  return jobs;
}

/**
 * A daemon in a fleet (config `fleet.enabled`): its log is shipped to the fleet's PostgreSQL by a worker thread
 * (ShipperThread: the control loop never waits on the network), and the fleet learner's versions are taken through
 * the daemon's own validation and swap path (SwapManager: probe validation on this arm's logged observations, swap at
 * an episode boundary), as the rollout of each version says. Each decision goes back to PostgreSQL
 * (fleet_model_status: accepted / rejected with the reason / live / skipped, with this arm's episodes and learned
 * successes on the version, which a staged rollout waits on). `/status` shows `extra.fleet` with the target as
 * user@host:port/database only: credentials never appear in it or in the log.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { FleetConfig } from '../config/schema.ts';
import type { EpisodeSummary, RunningDaemon } from '../daemon/types.ts';
import { cardPathFor } from '../policy/card.ts';
import { FleetStore, ShipperThread, pgTarget, redact, type FleetModel, type PgTarget, type ShipperStats } from '../store/pg/index.ts';
import { SwapManager } from '../swap/manager.ts';
import type { SwapValidationConfig } from '../swap/validate.ts';
import type { DaemonApp } from './daemon-app.ts';

export interface FleetView {
  robotId: string;
  target: string;
  source: string;
  shipper: ShipperStats;
  versions: {
    connected: boolean;
    seen: number;
    taken: number;
    rejected: number;
    skipped: number;
    waiting: number;
    live: string | null;
    lastError: string | null;
  };
}

export interface Fleet {
  view(): FleetView;
  swaps: SwapManager | null;
  /** Resolves a version's id once this arm has decided about it (tests). */
  decided(modelId: number): Promise<'accepted' | 'rejected' | 'skipped'>;
  close(): Promise<void>;
}

export interface FleetOptions {
  /** The arm's fleet section (its sampling weights are the learner's business). */
  config: Omit<FleetConfig, 'sampling'>;
  robotId: string;
  env?: NodeJS.ProcessEnv;
  /** Where fetched versions are written (default `<db>.fleet-models/`). */
  modelDir?: string;
  /** How often pending staged versions and a lost LISTEN are retried (default 2000 ms). */
  retryMs?: number;
  /** Overrides of the app's probe validation for fleet versions (default: the app's, as for REST activation). */
  swapValidation?: Partial<SwapValidationConfig>;
}

export function startFleet(app: DaemonApp<RunningDaemon>, o: FleetOptions): Fleet {
  const target: PgTarget = pgTarget({ credentialsFile: o.config.credentialsFile }, o.env ?? process.env);
  const daemon = app.daemon;
  const db = app.log.store.file;
  const robotId = o.robotId;
  const shipper = new ShipperThread({ db, robotId, target, batch: o.config.shipBatch, intervalMs: o.config.shipIntervalMs });
  const modelDir = o.modelDir ?? `${db}.fleet-models`;
  const retryMs = o.retryMs ?? 2000;
  const swaps = o.config.takeVersions
    ? new SwapManager(daemon, app.log.store, app.log, { validation: { ...app.swapValidation, ...o.swapValidation }, at: 'episode-boundary' })
    : null;
  const v = { connected: false, seen: 0, taken: 0, rejected: 0, skipped: 0, waiting: 0, live: null as string | null, lastError: null as string | null };
  let fleet: FleetStore | null = null;
  let unlisten: (() => Promise<void>) | null = null;
  let lastSeen = 0;
  let first = true;
  let closed = false;
  const waiting = new Map<number, FleetModel>();
  const liveIds = new Map<string, number>();
  const perVersion = new Map<string, { episodes: number; successes: number }>();
  const decisions = new Map<number, 'accepted' | 'rejected' | 'skipped'>();
  const waiters = new Map<number, Array<(d: 'accepted' | 'rejected' | 'skipped') => void>>();
  let busy: Promise<void> = Promise.resolve();

  const decide = (id: number, d: 'accepted' | 'rejected' | 'skipped'): void => {
    decisions.set(id, d);
    for (const w of waiters.get(id) ?? []) w(d);
    waiters.delete(id);
  };
  const note = (e: unknown): void => {
    v.lastError = redact((e as Error).message, target);
  };
  const status = (s: Parameters<FleetStore['setModelStatus']>[0]): void => {
    void fleet?.setModelStatus(s).catch(note);
  };
  const connector = (): string => daemon.status().practice?.domain ?? app.log.store.listEpisodes({ limit: 1 })[0]?.domain ?? '';

  /** 'take' | 'skip' | 'wait' for a version under its rollout. */
  const eligibility = async (m: FleetModel): Promise<'take' | 'skip' | 'wait'> => {
    const r = m.rollout;
    if (r.mode === 'all') return 'take';
    if (r.mode === 'arm') return r.robots.includes(robotId) ? 'take' : 'skip';
    if (r.mode === 'connector') return r.connectors.includes(connector()) ? 'take' : 'wait';
    if (r.first === robotId) return 'take';
    const s = (await fleet!.modelStatus(m.id)).find((x) => x.robotId === r.first);
    if (s?.state === 'rejected') return 'skip';
    if (s?.state === 'live' && s.episodes >= r.episodes && s.successes / Math.max(1, s.episodes) >= r.minSuccess) return 'take';
    return 'wait';
  };

  const take = async (m: FleetModel): Promise<void> => {
    mkdirSync(modelDir, { recursive: true });
    const path = `${modelDir}/${m.version.replace(/[^A-Za-z0-9@._-]/g, '_')}.onnx`;
    writeFileSync(path, m.onnx);
    writeFileSync(cardPathFor(path), JSON.stringify(m.card, null, 2));
    app.log.event({ kind: 'fleet', message: `fleet version ${m.version} (model ${m.id}) fetched; validating` });
    const out = await swaps!.offer(path, { by: 'fleet', reason: `fleet learner version ${m.version}` });
    if (!out.accepted) {
      v.rejected++;
      status({ modelId: m.id, robotId, state: 'rejected', reason: out.reason });
      decide(m.id, 'rejected');
      return;
    }
    v.taken++;
    status({ modelId: m.id, robotId, state: 'accepted', reason: out.reason });
    decide(m.id, 'accepted');
    liveIds.set(out.version ?? m.version, m.id);
    void out.live.then((ms) => {
      if (ms === null) return;
      v.live = out.version;
      const pv = perVersion.get(out.version ?? '') ?? { episodes: 0, successes: 0 };
      status({ modelId: m.id, robotId, state: 'live', reason: `live ${Math.round(ms)} ms after fetch`, ...pv });
    });
  };

  const consider = async (m: FleetModel): Promise<void> => {
    const e = await eligibility(m);
    if (e === 'wait') {
      waiting.set(m.id, m);
      return;
    }
    waiting.delete(m.id);
    if (e === 'skip') {
      v.skipped++;
      status({ modelId: m.id, robotId, state: 'skipped', reason: `rollout ${m.rollout.mode}` });
      decide(m.id, 'skipped');
      return;
    }
    await take(m);
  };

  /** Fetches what is new; at the first connection only the newest version counts (no replay of history). */
  const catchUp = (): Promise<void> => {
    busy = busy.then(async () => {
      if (!fleet || closed) return;
      try {
        let ms = await fleet.modelsAfter(lastSeen);
        if (ms.length) lastSeen = ms[ms.length - 1]!.id;
        if (first) ms = ms.slice(-1);
        first = false;
        v.seen += ms.length;
        for (const m of ms) await consider(m);
        for (const m of [...waiting.values()]) await consider(m);
        v.waiting = waiting.size;
      } catch (e) {
        note(e);
      }
    });
    return busy;
  };

  const connect = async (): Promise<void> => {
    if (closed || !swaps) return;
    try {
      fleet ??= await FleetStore.connect(target, { applicationName: `insertion-daemon ${robotId}`, max: 2 });
      if (!unlisten) {
        unlisten = await fleet.listen(
          () => void catchUp(),
          (e) => {
            note(e);
            v.connected = false;
            unlisten = null;
          },
        );
        v.connected = true;
      }
      await catchUp();
    } catch (e) {
      note(e);
      v.connected = false;
    }
  };
  const timer = setInterval(() => {
    if (!unlisten) void connect();
    else if (waiting.size) void catchUp();
  }, retryMs);
  timer.unref();
  void connect();

  const onEpisode = (e: EpisodeSummary): void => {
    shipper.nudge();
    if (!e.policyVersion || (e.outcome !== 'success' && e.outcome !== 'failure')) return;
    const pv = perVersion.get(e.policyVersion) ?? { episodes: 0, successes: 0 };
    pv.episodes++;
    if (e.outcome === 'success') pv.successes++;
    perVersion.set(e.policyVersion, pv);
    const id = liveIds.get(e.policyVersion);
    if (id !== undefined) status({ modelId: id, robotId, state: 'live', ...pv });
  };
  daemon.on('episode', onEpisode);

  const view = (): FleetView => ({
    robotId,
    target: target.describe,
    source: target.source,
    shipper: { ...shipper.stats(), lastError: shipper.stats().lastError && redact(shipper.stats().lastError ?? '', target) },
    versions: { ...v },
  });
  const publish = setInterval(() => daemon.setStatusExtra('fleet', view()), 1000);
  publish.unref();
  daemon.setStatusExtra('fleet', view());
  app.log.event({
    kind: 'fleet',
    message: `fleet: shipping to ${target.describe} (${target.source}) as robot ${robotId}${swaps ? '; taking published versions' : ''}`,
  });

  return {
    view,
    swaps,
    decided: (id) => {
      const d = decisions.get(id);
      if (d) return Promise.resolve(d);
      return new Promise((resolve) => waiters.set(id, [...(waiters.get(id) ?? []), resolve]));
    },
    close: async () => {
      closed = true;
      clearInterval(timer);
      clearInterval(publish);
      daemon.off('episode', onEpisode);
      swaps?.close();
      await busy.catch(() => undefined);
      await unlisten?.();
      await shipper.close();
      await fleet?.close().catch(() => undefined);
    },
  };
}

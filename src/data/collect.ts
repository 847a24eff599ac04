/**
 * Prior-data collection: scripted controllers (the noisy expert by default) in the simulated cell, logged into the
 * daemon's SQLite schema (src/store) so that simulated prior data and robot logs are interchangeable.
 *
 * What one episode becomes in the log:
 * - one session per collection run: backend 'sim', config = the collection's settings, code version;
 * - an episode: kind 'prior', domain = connector name, scenario, seed = cell reset seed, startState (start pose,
 *   goal x*, true socket pose, control seed, settings key), policyVersion = controller name;
 * - one transition row per control step t = 0..L-1: obs_t (image, wrench, pose, goal), actionP = u_H =
 *   -kp (x - x*), actionExecuted = the controller's move, actionResidual = executed - actionP (see episode.ts for
 *   the optional residual bound and the step limit, applied as the daemon applies them),
 *   gtSuccess = ground truth of obs_{t+1}, rewardProb = that label as 0/1, done = (t = L-1), like the daemon's rows;
 * - one final row, step = L: the last observation, no actions, labels of its own observation (= those of row L-1,
 *   whose next observation it is), done = true. The daemon does not log this row; loaders treat rows without an
 *   executed action as observation-only;
 * - endEpisode: outcome success/failure from ground truth, gtSuccess.
 *
 * Labels: prior data is labelled from the simulator's ground truth (rewardProb = gtSuccess as 0/1), as the
 * research's prior data had instrumented success labels; the daemon's own episodes carry the learned classifier's
 * probability in rewardProb instead, and ground truth only in simulation.
 *
 * Deterministic: every episode's content depends only on (seed, connector, controller, scenario, episode number,
 * settings), never on the number of workers or on what else ran; episodes are written in plan order.
 * Resume-safe: an episode already in the database with the same (domain, seed, controller, settings key) and a
 * success/failure outcome is skipped; a run killed mid-way leaves at most one dangling episode, closed as 'error'
 * (and re-collected) by the next run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startWorker } from '../util/worker.ts';
import type { Scenario } from '../core/types.ts';
import { Store } from '../store/index.ts';
import type { TransitionInput } from '../store/types.ts';
import type { FromCollectWorker, ToCollectWorker } from './collect-worker.ts';
import { COLLECT_FORMAT, CellCache, planTasks, runPriorEpisode, settingsKey, validatePriorSettings, type PriorEpisode, type PriorSettings, type PriorTask } from './episode.ts';

export interface CollectOptions {
  /** SQLite file (created if missing). */
  db: string;
  connectors: readonly string[];
  /** Connector definition directory (null: data/connectors). */
  connectorDir?: string | null;
  /** Controller names from src/control/registry.ts; 'expert' = the noisy expert. */
  controllers: readonly string[];
  scenarios: readonly Scenario[];
  /** Episodes per (connector, controller); scenarios alternate within them. */
  episodesPerConnector: number;
  seed: number;
  settings: PriorSettings;
  /** 0: run in this thread; n >= 1: n worker threads (this thread only compresses and writes). */
  workers: number;
  onProgress?: (p: CollectProgress) => void;
  /** Stop dispatching new episodes (those in flight are still written). */
  signal?: AbortSignal;
  /** Free text recorded in the session row. */
  note?: string;
  /** Recorded in the session config (e.g. the command line). */
  argv?: readonly string[];
}

export interface CollectProgress {
  /** Episodes written or skipped so far, of `total`. */
  done: number;
  total: number;
  written: number;
  skipped: number;
  failed: number;
  connector: string;
  controller: string;
  scenario: Scenario;
  success: boolean | null;
}

/** Per (connector, controller, scenario): what this run wrote. */
export interface CollectCell {
  connector: string;
  controller: string;
  scenario: Scenario;
  episodes: number;
  successes: number;
  /** Transition rows with an action (steps), and how many of them are labelled positive (next obs seated). */
  transitions: number;
  positiveTransitions: number;
  /** Steps with a residual component beyond +-5 mm (the daemon's default residual bound). */
  residualBeyond5mm: number;
  /** Steps whose move the step limit scaled (executed != actionP + actionResidual). */
  stepLimited: number;
}

export interface CollectResult {
  db: string;
  sessionId: number | null;
  planned: number;
  written: number;
  skipped: number;
  failed: Array<{ task: PriorTask; message: string }>;
  aborted: boolean;
  cells: CollectCell[];
  rowsWritten: number;
  elapsedS: number;
  /** Sum of per-episode simulation times (s): elapsed x workers / this = parallel efficiency. */
  simulationS: number;
  episodesPerS: number;
}

/** The daemon's default residual bound (calibration/limits.yaml residualBoundM), for the summary only. */
const RESIDUAL_BOUND_REPORT = 0.005;

function checkOptions(o: CollectOptions): void {
  const bad = (field: string, msg: string): never => {
    throw new RangeError(`collect: ${field} ${msg}`);
  };
  if (o.connectors.length === 0) bad('connectors', 'is empty');
  if (o.controllers.length === 0) bad('controllers', 'is empty');
  if (o.scenarios.length === 0) bad('scenarios', 'is empty');
  for (const s of o.scenarios) if (s !== 'I' && s !== 'II') bad('scenarios', `must be I or II, got ${JSON.stringify(s)}`);
  const dupe = (xs: readonly string[]): string | undefined => xs.find((x, i) => xs.indexOf(x) !== i);
  const d1 = dupe(o.connectors);
  if (d1 !== undefined) bad('connectors', `lists "${d1}" twice`);
  const d2 = dupe(o.controllers);
  if (d2 !== undefined) bad('controllers', `lists "${d2}" twice`);
  if (!Number.isInteger(o.episodesPerConnector) || o.episodesPerConnector < 1) bad('episodesPerConnector', `must be a positive integer, got ${o.episodesPerConnector}`);
  if (!Number.isInteger(o.seed)) bad('seed', `must be an integer, got ${o.seed}`);
  if (!Number.isInteger(o.workers) || o.workers < 0 || o.workers > 64) bad('workers', `must be an integer in [0, 64], got ${o.workers}`);
  validatePriorSettings(o.settings, 'collect: settings');
}

/** The log rows of one episode (exported for tests and for anyone logging simulated episodes). */
export function episodeRows(episodeId: number, ep: PriorEpisode, wallTime = Date.now()): TransitionInput[] {
  const policyVersion = ep.task.controller;
  const L = ep.steps.length;
  const rows: TransitionInput[] = ep.steps.map((s, t) => ({
    episodeId,
    step: t,
    obs: s.obs,
    actionP: s.actionP,
    actionResidual: s.actionResidual,
    actionExecuted: s.actionExecuted,
    rewardProb: s.nextSuccess ? 1 : 0,
    gtSuccess: s.nextSuccess,
    done: t === L - 1,
    tickTime: s.obs.imageStamp,
    policyVersion,
    wallTime,
  }));
  rows.push({
    episodeId,
    step: L,
    obs: ep.final,
    actionP: null,
    actionResidual: null,
    actionExecuted: null,
    rewardProb: ep.success ? 1 : 0,
    gtSuccess: ep.success,
    done: true,
    tickTime: ep.final.imageStamp,
    policyVersion,
    wallTime,
  });
  return rows;
}

/** Resume key of an episode. */
function resumeKey(domain: string, seed: number | null, controller: string | null, key: string | null): string {
  return JSON.stringify([domain, seed, controller, key]);
}

/**
 * Refuses a file holding prior episodes made by another collector version (COLLECT_FORMAT): their images would not
 * match new ones, and training on both would mix two renderings.
 */
function assertSameFormat(store: Store): void {
  for (let offset = 0; ; offset += 1000) {
    const page = store.listEpisodes({ kind: 'prior', limit: 1000, offset, order: 'asc' });
    for (const e of page) {
      if (e.outcome === 'error') continue; // never trained on
      const f = (e.startState as { collectFormat?: unknown } | null)?.collectFormat ?? '1 or 2';
      if (f !== COLLECT_FORMAT) {
        throw new Error(`${store.file} holds prior episodes from collector format ${typeof f === 'string' || typeof f === 'number' ? String(f) : JSON.stringify(f)} (episode ${e.id}, ${e.domain}); this collector writes format ${COLLECT_FORMAT}, which renders differently. Collect into a new file (or delete this one)`);
      }
    }
    if (page.length < 1000) return;
  }
}

/** Keys of the completed prior episodes already in the store, for the given connectors. */
function existingKeys(store: Store, connectors: readonly string[]): Set<string> {
  const keys = new Set<string>();
  for (const domain of connectors) {
    for (let offset = 0; ; offset += 1000) {
      const page = store.listEpisodes({ domain, kind: 'prior', limit: 1000, offset, order: 'asc' });
      for (const e of page) {
        if (e.outcome !== 'success' && e.outcome !== 'failure') continue;
        const st = e.startState as { settingsKey?: unknown } | null;
        const k = st && typeof st.settingsKey === 'string' ? st.settingsKey : null;
        keys.add(resumeKey(e.domain, e.seed, e.policyVersion, k));
      }
      if (page.length < 1000) break;
    }
  }
  return keys;
}

/** Sources that decide what an episode contains (simulator, controllers, episode runner, connector files). */
const DATA_SOURCES = ['src/sim', 'src/control', 'src/eval/evaluate.ts', 'src/data/episode.ts', 'src/daemon/safety.ts', 'src/util/rng.ts', 'data/connectors'];

/**
 * The git commit of this checkout, whether it has uncommitted changes, and `dataHash`: sha256 over the sources that
 * decide episode content (DATA_SOURCES, working tree). Two collections with the same dataHash produce the same data.
 */
export function codeVersion(): { commit: string | null; dirty: boolean | null; dataHash: string } {
  const root = resolve(import.meta.dirname, '../..');
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = join(root, rel);
    let st;
    try {
      st = statSync(abs);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const f of readdirSync(abs).sort()) walk(join(rel, f));
    else if (/\.(ts|json)$/.test(rel)) h.update(`${rel}\0`).update(readFileSync(abs)).update('\0');
  };
  for (const d of DATA_SOURCES) walk(d);
  const dataHash = h.digest('hex').slice(0, 16);
  try {
    const opts = { cwd: root, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'] };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', ...DATA_SOURCES], opts).trim().length > 0;
    return { commit, dirty, dataHash };
  } catch {
    return { commit: null, dirty: null, dataHash };
  }
}

const workerUrl = new URL('./collect-worker.ts', import.meta.url);

type Outcome = { episode: PriorEpisode } | { task: PriorTask; message: string };

/**
 * Runs `tasks` on `workers` threads (or in this thread when 0), handing each outcome to `sink` in plan order.
 * Stops dispatching when `signal` aborts.
 */
async function runTasks(
  tasks: readonly PriorTask[],
  o: { settings: PriorSettings; connectorDir: string | null; workers: number; signal?: AbortSignal },
  sink: (r: Outcome) => void,
): Promise<void> {
  if (o.workers === 0) {
    const cells = new CellCache(o.settings, o.connectorDir);
    try {
      for (const task of tasks) {
        if (o.signal?.aborted) return;
        try {
          sink({ episode: await runPriorEpisode(await cells.get(task.connector), task, o.settings) });
        } catch (e) {
          cells.dispose();
          sink({ task, message: (e as Error).message });
        }
      }
    } finally {
      cells.dispose();
    }
    return;
  }
  // Results come back out of order; a small reorder buffer writes them in plan order.
  const pending = new Map<number, Outcome>();
  let nextWrite = 0;
  let nextSend = 0;
  const flush = (): void => {
    for (;;) {
      const r = pending.get(nextWrite);
      if (!r) return;
      pending.delete(nextWrite);
      nextWrite++;
      sink(r);
    }
  };
  const workers = Array.from({ length: Math.min(o.workers, tasks.length) }, () => startWorker(workerUrl, { settings: o.settings, connectorDir: o.connectorDir }));
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (nextSend >= tasks.length || o.signal?.aborted) {
                w.postMessage({ type: 'close' } satisfies ToCollectWorker);
                return;
              }
              const task = tasks[nextSend]!;
              nextSend++;
              w.postMessage({ type: 'task', task: { ...task, index: nextSend - 1 } } satisfies ToCollectWorker);
            };
            w.on('message', (m: FromCollectWorker) => {
              const idx = m.type === 'result' ? m.episode.task.index : m.task.index;
              pending.set(idx, m.type === 'result' ? { episode: m.episode } : { task: m.task, message: m.message });
              try {
                flush();
              } catch (e) {
                reject(e instanceof Error ? e : new Error(String(e)));
                return;
              }
              send();
            });
            w.on('error', reject);
            w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`collect worker exited with code ${code}`))));
            send();
          }),
      ),
    );
    flush();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Collects the planned episodes into `o.db`, skipping those already there. */
export async function collectPrior(o: CollectOptions): Promise<CollectResult> {
  checkOptions(o);
  const t0 = performance.now();
  const plan = planTasks(o);
  const store = Store.open(o.db);
  let sessionId: number | null = null;
  const cells = new Map<string, CollectCell>();
  const failed: CollectResult['failed'] = [];
  let written = 0;
  let rowsWritten = 0;
  let simulationMs = 0;
  try {
    store.closeDangling('prior-data collection ended before the episode was written');
    assertSameFormat(store);
    const have = existingKeys(store, o.connectors);
    const todo = plan.filter((t) => !have.has(resumeKey(t.connector, t.resetSeed, t.controller, settingsKey(o.settings, t.controller))));
    const skipped = plan.length - todo.length;
    // Plan indices must be dense for the reorder buffer.
    const tasks = todo.map((t, i) => ({ ...t, index: i }));
    let done = skipped;
    if (tasks.length > 0) {
      sessionId = store.openSession({
        robot: 'sim',
        backend: 'sim',
        config: {
          tool: 'collect',
          connectors: o.connectors,
          controllers: o.controllers,
          scenarios: o.scenarios,
          episodesPerConnector: o.episodesPerConnector,
          seed: o.seed,
          settings: o.settings,
          connectorDir: o.connectorDir ?? null,
          workers: o.workers,
          argv: o.argv ?? null,
          code: codeVersion(),
          labels: 'ground truth (rewardProb = gtSuccess of the next observation, 0/1)',
        },
        calibration: { kp: o.settings.kp, goalNoise: o.settings.goalNoise, goalBias: o.settings.goalBias },
        note: o.note ?? 'prior data (scripted controllers in simulation, ground-truth labels)',
      });
    }
    const sid = sessionId;
    await runTasks(tasks, { settings: o.settings, connectorDir: o.connectorDir ?? null, workers: o.workers, ...(o.signal ? { signal: o.signal } : {}) }, (r) => {
      done++;
      if (!('episode' in r)) {
        failed.push({ task: r.task, message: r.message });
        store.recordEvent({ kind: 'fault', message: `prior episode failed: ${r.message}`, data: r.task, sessionId: sid });
        o.onProgress?.({ done, total: plan.length, written, skipped, failed: failed.length, connector: r.task.connector, controller: r.task.controller, scenario: r.task.scenario, success: null });
        return;
      }
      const ep = r.episode;
      const t = ep.task;
      const id = store.beginEpisode({
        sessionId: sid!,
        kind: 'prior',
        domain: t.connector,
        scenario: t.scenario,
        seed: t.resetSeed,
        startState: ep.startState,
        policyVersion: t.controller,
      });
      const rows = episodeRows(id, ep);
      store.appendTransitions(rows);
      store.endEpisode(id, { outcome: ep.success ? 'success' : 'failure', reason: 'ground truth (prior data)', gtSuccess: ep.success });
      written++;
      rowsWritten += rows.length;
      simulationMs += ep.elapsedMs;
      const ck = `${t.connector}\0${t.controller}\0${t.scenario}`;
      let c = cells.get(ck);
      if (!c) {
        c = { connector: t.connector, controller: t.controller, scenario: t.scenario, episodes: 0, successes: 0, transitions: 0, positiveTransitions: 0, residualBeyond5mm: 0, stepLimited: 0 };
        cells.set(ck, c);
      }
      c.episodes++;
      if (ep.success) c.successes++;
      for (const s of ep.steps) {
        c.transitions++;
        if (s.nextSuccess) c.positiveTransitions++;
        if (s.stepLimited) c.stepLimited++;
        if (s.actionResidual.some((v) => Math.abs(v) > RESIDUAL_BOUND_REPORT + 1e-12)) c.residualBeyond5mm++;
      }
      o.onProgress?.({ done, total: plan.length, written, skipped, failed: failed.length, connector: t.connector, controller: t.controller, scenario: t.scenario, success: ep.success });
    });
    if (sessionId !== null) store.closeSession(sessionId);
    const elapsedS = (performance.now() - t0) / 1000;
    return {
      db: o.db,
      sessionId,
      planned: plan.length,
      written,
      skipped,
      failed,
      aborted: o.signal?.aborted ?? false,
      cells: [...cells.values()],
      rowsWritten,
      elapsedS,
      simulationS: simulationMs / 1000,
      episodesPerS: written / elapsedS,
    };
  } finally {
    store.close();
  }
}

/**
 * What a log holds: completed prior episodes per (connector, controller, scenario), from the store (read-only use).
 * Steps and positives are counted from the rows (no images decoded).
 */
export function summarizeStore(store: Store, kinds: readonly ('prior' | 'practice' | 'eval')[] = ['prior']): CollectCell[] {
  const cells = new Map<string, CollectCell>();
  for (const ep of store.iterateEpisodes({ kind: kinds, endedOnly: true }, { images: false })) {
    if (ep.outcome !== 'success' && ep.outcome !== 'failure') continue;
    const controller = ep.policyVersion ?? 'p-only';
    const scenario = (ep.scenario ?? '?') as Scenario;
    const k = `${ep.domain}\0${controller}\0${scenario}`;
    let c = cells.get(k);
    if (!c) {
      c = { connector: ep.domain, controller, scenario, episodes: 0, successes: 0, transitions: 0, positiveTransitions: 0, residualBeyond5mm: 0, stepLimited: 0 };
      cells.set(k, c);
    }
    c.episodes++;
    if (ep.outcome === 'success') c.successes++;
    for (const t of ep.transitions) {
      if (!t.actionResidual) continue;
      c.transitions++;
      if (t.gtSuccess) c.positiveTransitions++;
      if (t.actionResidual.some((v) => Math.abs(v) > RESIDUAL_BOUND_REPORT + 1e-12)) c.residualBeyond5mm++;
      if (t.actionExecuted && t.actionP && t.actionExecuted.some((v, i) => Math.abs(v - t.actionP![i]! - t.actionResidual![i]!) > 1e-12)) c.stepLimited++;
    }
  }
  return [...cells.values()];
}

export interface CollectionSession {
  id: number;
  startedAt: number;
  episodes: number;
  commit: string | null;
  dirty: boolean | null;
  /** See codeVersion(); null for files written before it was recorded. */
  dataHash: string | null;
}

/** Collection sessions of a log with the code version each ran (to spot a dataset mixing simulator versions). */
export function collectionSessions(store: Store): CollectionSession[] {
  const out: CollectionSession[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = store.listSessions({ limit: 500, offset, order: 'asc' });
    for (const s of page) {
      const cfg = s.config as { tool?: unknown; code?: { commit?: unknown; dirty?: unknown; dataHash?: unknown } } | null;
      if (!cfg || cfg.tool !== 'collect') continue;
      const c = cfg.code;
      out.push({
        id: s.id, startedAt: s.startedAt, episodes: s.episodeCount,
        commit: typeof c?.commit === 'string' ? c.commit : null,
        dirty: typeof c?.dirty === 'boolean' ? c.dirty : null,
        dataHash: typeof c?.dataHash === 'string' ? c.dataHash : null,
      });
    }
    if (page.length < 500) return out;
  }
}

/** Text table of a collection's cells: connector rows, per scenario and controller "successes/episodes (positive-step %)". */
export function formatCollectTable(cells: readonly CollectCell[]): string {
  const cols = [...new Set(cells.map((c) => `${c.controller} ${c.scenario}`))];
  const rows = [...new Set(cells.map((c) => c.connector))];
  const cell = (conn: string, col: string): string => {
    const c = cells.find((x) => x.connector === conn && `${x.controller} ${x.scenario}` === col);
    if (!c) return '-';
    return `${c.successes}/${c.episodes} (${Math.round((100 * c.positiveTransitions) / Math.max(1, c.transitions))}%)`;
  };
  const table: string[][] = rows.map((r) => [r, ...cols.map((col) => cell(r, col))]);
  const tot = (col: string): string => {
    const cs = cells.filter((x) => `${x.controller} ${x.scenario}` === col);
    const e = cs.reduce((a, c) => a + c.episodes, 0);
    const s = cs.reduce((a, c) => a + c.successes, 0);
    const t = cs.reduce((a, c) => a + c.transitions, 0);
    const p = cs.reduce((a, c) => a + c.positiveTransitions, 0);
    return `${s}/${e} (${Math.round((100 * p) / Math.max(1, t))}%)`;
  };
  if (rows.length > 1) table.push(['total', ...cols.map(tot)]);
  const head = ['connector', ...cols];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
  const line = (cs: string[]): string => cs.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    'episode successes / episodes (share of steps whose next observation is seated)',
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.map(line),
  ].join('\n');
}

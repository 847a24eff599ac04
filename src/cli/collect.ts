/**
 * Collects simulated prior data (the noisy scripted expert, optionally other controllers) into a SQLite log with the
 * daemon's schema. `--help` for the options. Re-running the same command skips episodes already collected.
 *
 *   npx tsx src/cli/collect.ts --db data/prior.db --connectors train --episodes-per-connector 80 \
 *       --controllers expert --scenario I,II --seed 0 --workers 2
 *
 * Exit codes: 0 done, 2 bad arguments / connector or split files, 1 anything else (3: interrupted, resumable).
 */
import { goalErrorArg } from './evaluate-args.ts';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { CONTROLLER_NAMES, isControllerName } from '../control/registry.ts';
import { collectPrior, collectionSessions, formatCollectTable, summarizeStore, type CollectProgress, type CollectResult } from '../data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS, type PriorSettings } from '../data/episode.ts';
import { DEFAULT_SPLIT_FILE, loadSplit } from '../data/splits.ts';
import type { Scenario } from '../core/types.ts';
import type { Vec3 } from '../core/types.ts';
import { ConnectorError, findConnector, loadConnectors } from '../sim/connectors.ts';
import { Store } from '../store/index.ts';
import { UsageError, int, list, nonNegMm, runIfMain } from '../util/args.ts';

export { UsageError };

export interface CollectArgs {
  db: string;
  /** Resolved connector names. */
  connectors: string[];
  connectorDir: string | null;
  controllers: string[];
  scenarios: Scenario[];
  episodesPerConnector: number;
  seed: number;
  settings: PriorSettings;
  workers: number;
  progress: boolean;
  /** Print what the database holds and exit (no collection). */
  summary: boolean;
  help: boolean;
}

export const USAGE = `Collect prior data: scripted controllers in the simulated cell, logged with the daemon's SQLite schema
(episodes of kind 'prior', domain = connector; labels from ground truth). Re-running skips what is already there.

Usage: npx tsx src/cli/collect.ts [options]

  --db FILE                  SQLite log to write (default: data/prior.db)
  --connectors SPEC          all | train | heldout | comma-separated names (default: train)
                             train/heldout: the connectors of the split file
  --split FILE               split file for train/heldout (default: data/splits/default.json)
  --exclude LIST             connector names to leave out
  --connector-dir DIR        connector definitions (default: data/connectors)
  --controllers LIST         controller names (default: expert), e.g. expert,p,spiral
  --episodes-per-connector N episodes per connector and controller (default: 40); scenarios alternate
  --scenario S               I, II or I,II (default: I,II)
  --seed N                   base seed (default: 0)
  --image-size N             camera image side in px (default: ${DEFAULT_PRIOR_SETTINGS.imageSize})
  --camera C                 wrist | fixed (default: ${DEFAULT_PRIOR_SETTINGS.camera})
  --goal-noise-mm S          per-episode x* error, uniform +-S mm in x and y (default: ${DEFAULT_PRIOR_SETTINGS.goalNoise * 1000})
  --goal-error-mm M          fixed x* error: M mm along (1,1,0)/sqrt2 (default: 0)
  --goal-error-vec-mm X,Y[,Z]  the same error as a vector in mm instead
  --start-height-mm H        start height above the socket face (default: ${DEFAULT_PRIOR_SETTINGS.startHeight * 1000}, as config/daemon.yaml)
  --episode-length N         control steps per episode (default: ${DEFAULT_PRIOR_SETTINGS.episodeLength})
  --no-nuisance              no table colour / lighting / camera jitter randomisation
  --shadows                  render shadows (a lamp along the light direction): the plug's shadow shows how deep
                             it is once its pins are hidden; keep shadowed and shadowless data in separate files
  --residual-bound-mm B      apply each controller as the daemon applies a policy: u = u_H + residual, residual
                             clamped to +-B mm per axis (default: ${DEFAULT_PRIOR_SETTINGS.residualBound === null ? 'free' : DEFAULT_PRIOR_SETTINGS.residualBound * 1000}, as calibration residualBoundM);
                             "free": the controller acts unbounded (the research's collector; its residuals often
                             exceed the bound a policy has)
  --workers N                worker threads (0 = in this thread; default: 2)
  --no-progress              no progress bar on stderr
  --summary                  print what --db holds (prior episodes per connector, controller, scenario) and exit
  --help                     this text

Controllers: ${CONTROLLER_NAMES.join(', ')}
`;

/** Parses and validates the command line (reads the connector and split files to resolve names). */
export function parseCollectArgs(argv: string[]): CollectArgs {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        db: { type: 'string' },
        connectors: { type: 'string' },
        split: { type: 'string' },
        exclude: { type: 'string' },
        'connector-dir': { type: 'string' },
        controllers: { type: 'string' },
        'episodes-per-connector': { type: 'string' },
        scenario: { type: 'string' },
        seed: { type: 'string' },
        'image-size': { type: 'string' },
        camera: { type: 'string' },
        'goal-noise-mm': { type: 'string' },
        'goal-error-mm': { type: 'string' },
        'goal-error-vec-mm': { type: 'string' },
        'start-height-mm': { type: 'string' },
        'episode-length': { type: 'string' },
        'no-nuisance': { type: 'boolean' },
        shadows: { type: 'boolean' },
        'residual-bound-mm': { type: 'string' },
        workers: { type: 'string' },
        'no-progress': { type: 'boolean' },
        summary: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const help = v.help ?? false;
  const connectorDir = v['connector-dir'] ?? null;
  const defs = connectorDir === null ? loadConnectors() : loadConnectors(connectorDir);
  const known = defs.map((d) => d.name);
  const spec = v.connectors ?? 'train';
  let connectors: string[];
  if (spec === 'all') connectors = known;
  else if (spec === 'train' || spec === 'heldout') {
    const split = loadSplit(defs, v.split ?? DEFAULT_SPLIT_FILE);
    connectors = spec === 'train' ? split.train : split.heldOut;
  } else {
    connectors = list('--connectors', spec);
    // A connector whose file is invalid is named with the reason (findConnector); the other connectors are unaffected.
    for (const c of connectors) {
      try {
        findConnector(defs, c);
      } catch (e) {
        if (e instanceof ConnectorError) throw new UsageError(`--connectors: ${e.message}`);
        throw e;
      }
    }
  }
  if (v.exclude !== undefined) {
    const ex = list('--exclude', v.exclude);
    for (const c of ex) if (!known.includes(c)) throw new UsageError(`--exclude: unknown connector "${c}" (known: ${known.join(', ')})`);
    connectors = connectors.filter((c) => !ex.includes(c));
  }
  if (connectors.length === 0) throw new UsageError('--connectors/--exclude: no connector left to collect');
  const controllers = v.controllers === undefined ? ['expert'] : list('--controllers', v.controllers);
  for (const c of controllers)
    if (!isControllerName(c)) throw new UsageError(`--controllers: unknown controller "${c}" (known: ${CONTROLLER_NAMES.join(', ')})`);
  const scenarios = (v.scenario === undefined ? ['I', 'II'] : list('--scenario', v.scenario)) as Scenario[];
  for (const s of scenarios) if (s !== 'I' && s !== 'II') throw new UsageError(`--scenario: must be I, II or I,II, got "${v.scenario}"`);
  const d = DEFAULT_PRIOR_SETTINGS;
  const mm = (flag: string, s: string | undefined, def: number, max: number): number => (s === undefined ? def : nonNegMm(flag, s, max));
  const goalBias: Vec3 =
    v['goal-error-mm'] === undefined && v['goal-error-vec-mm'] === undefined ? [...d.goalBias] : goalErrorArg(v['goal-error-mm'], v['goal-error-vec-mm']);
  const camera = v.camera ?? d.camera;
  if (camera !== 'wrist' && camera !== 'fixed') throw new UsageError(`--camera: must be wrist or fixed, got "${camera}"`);
  const settings: PriorSettings = {
    ...d,
    imageSize: v['image-size'] === undefined ? d.imageSize : int('--image-size', v['image-size'], 8, 512),
    camera,
    goalNoise: mm('--goal-noise-mm', v['goal-noise-mm'], d.goalNoise, 50),
    goalBias,
    startHeight: mm('--start-height-mm', v['start-height-mm'], d.startHeight, 150),
    episodeLength: v['episode-length'] === undefined ? d.episodeLength : int('--episode-length', v['episode-length'], 1, 1000),
    nuisance: !(v['no-nuisance'] ?? false),
    shadows: v.shadows ?? false,
    residualBound:
      v['residual-bound-mm'] === undefined
        ? d.residualBound
        : v['residual-bound-mm'] === 'free'
          ? null
          : mm('--residual-bound-mm', v['residual-bound-mm'], 0, 50),
  };
  if (settings.residualBound === 0) throw new UsageError('--residual-bound-mm: must be > 0 ("free" for an unbounded controller)');
  return {
    db: v.db ?? 'data/prior.db',
    connectors,
    connectorDir,
    controllers,
    scenarios,
    episodesPerConnector: v['episodes-per-connector'] === undefined ? 40 : int('--episodes-per-connector', v['episodes-per-connector'], 1, 100000),
    seed: v.seed === undefined ? 0 : int('--seed', v.seed, -(2 ** 31), 2 ** 32 - 1),
    settings,
    workers: v.workers === undefined ? 2 : int('--workers', v.workers, 0, 64),
    progress: !(v['no-progress'] ?? false),
    summary: v.summary ?? false,
    help,
  };
}

export async function runCollect(args: CollectArgs, argv: string[], out: (s: string) => void = console.log): Promise<CollectResult> {
  mkdirSync(dirname(resolve(args.db)), { recursive: true });
  const bar =
    args.progress && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: 'collect |{bar}| {value}/{total} episodes | {eps} ep/s | ETA {eta_formatted} | {connector} {controller} {scenario} | ok {ok}',
            hideCursor: true,
            etaBuffer: 100,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const ac = new AbortController();
  const onSig = (): void => {
    if (!ac.signal.aborted) process.stderr.write('\ncollect: interrupted; finishing the episodes in flight (run the same command again to resume)\n');
    ac.abort();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  const t0 = performance.now();
  let successes = 0;
  let started = false;
  let lastLine = 0;
  const onProgress = (p: CollectProgress): void => {
    if (p.success) successes++;
    const eps = p.written / Math.max(1e-3, (performance.now() - t0) / 1000);
    const payload = { connector: p.connector, controller: p.controller, scenario: p.scenario, ok: `${successes}/${p.written}`, eps: eps.toFixed(1) };
    if (bar) {
      if (!started) {
        bar.start(p.total, p.done, payload);
        started = true;
      } else bar.update(p.done, payload);
    } else if (args.progress && performance.now() - lastLine > 5000) {
      lastLine = performance.now();
      process.stderr.write(`collect: ${p.done}/${p.total} episodes (${p.skipped} already there), ${eps.toFixed(1)} ep/s, ${p.connector}\n`);
    }
  };
  let r: CollectResult;
  try {
    r = await collectPrior({
      db: args.db,
      connectors: args.connectors,
      connectorDir: args.connectorDir,
      controllers: args.controllers,
      scenarios: args.scenarios,
      episodesPerConnector: args.episodesPerConnector,
      seed: args.seed,
      settings: args.settings,
      workers: args.workers,
      onProgress,
      signal: ac.signal,
      argv,
    });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  out(
    `${args.db}: ${r.written} episodes written (${r.rowsWritten} rows), ${r.skipped} already there, ${r.failed.length} failed` +
      `; ${r.elapsedS.toFixed(1)} s, ${r.episodesPerS.toFixed(2)} episodes/s with ${args.workers} worker(s)`,
  );
  {
    const ro = Store.openReadOnly(args.db);
    try {
      const versions = new Set(collectionSessions(ro).map((x) => x.dataHash));
      if (versions.size > 1)
        out(`warning: ${args.db} holds episodes from ${versions.size} versions of the simulator/controller sources (see --summary): their data may differ`);
    } finally {
      ro.close();
    }
  }
  for (const f of r.failed) out(`  failed: ${f.task.connector} ${f.task.controller} ${f.task.scenario} #${f.task.episode}: ${f.message}`);
  if (r.cells.length) {
    const steps = r.cells.reduce((a, c) => a + c.transitions, 0);
    const limited = r.cells.reduce((a, c) => a + c.stepLimited, 0);
    const beyond = r.cells.reduce((a, c) => a + c.residualBeyond5mm, 0);
    out(`\n${formatCollectTable(r.cells)}`);
    out(`steps: ${steps}; moves scaled by the step limit: ${limited} (${((100 * limited) / steps).toFixed(1)}%); steps with a residual beyond 5 mm: ${beyond}`);
  }
  return r;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let args: CollectArgs;
  try {
    args = parseCollectArgs(argv);
  } catch (e) {
    const err = e as Error;
    if (e instanceof UsageError || err.name === 'ConnectorError' || err.name === 'SplitError') {
      process.stderr.write(`collect: ${err.message}\n`);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.summary) {
    let store: Store;
    try {
      store = Store.openReadOnly(args.db);
    } catch (e) {
      process.stderr.write(`collect: ${(e as Error).message}\n`);
      return 2;
    }
    try {
      const c = store.counts();
      process.stdout.write(`${args.db}: ${c.episodes} episodes, ${c.transitions} rows, ${(store.sizeBytes() / 2 ** 20).toFixed(1)} MiB\n`);
      const cells = summarizeStore(store);
      if (cells.length) process.stdout.write(`\n${formatCollectTable(cells)}\n`);
      const steps = cells.reduce((a, x) => a + x.transitions, 0);
      process.stdout.write(
        `steps: ${steps}; moves scaled by the step limit: ${cells.reduce((a, x) => a + x.stepLimited, 0)}; steps with a residual beyond 5 mm: ${cells.reduce((a, x) => a + x.residualBeyond5mm, 0)}\n`,
      );
      process.stdout.write(`dataset digest (prior): ${JSON.stringify(store.datasetDigest({ kind: 'prior' }))}\n`);
      const sessions = collectionSessions(store);
      for (const x of sessions) {
        process.stdout.write(
          `session ${x.id}: ${new Date(x.startedAt).toISOString()}, ${x.episodes} episodes, commit ${x.commit?.slice(0, 12) ?? 'unknown'}` +
            `${x.dirty ? ' + uncommitted changes' : ''}, sources ${x.dataHash ?? 'unknown'}\n`,
        );
      }
      if (new Set(sessions.map((x) => x.dataHash)).size > 1) {
        process.stdout.write('warning: the episodes come from different versions of the simulator/controller sources: their data may differ\n');
      }
    } finally {
      store.close();
    }
    return 0;
  }
  const r = await runCollect(args, argv);
  return r.aborted ? 3 : r.failed.length ? 1 : 0;
}

runIfMain(import.meta.url, 'collect', main);

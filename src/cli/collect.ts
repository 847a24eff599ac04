/**
 * Collects simulated prior data (the noisy scripted expert, optionally other controllers) into a SQLite log with the
 * daemon's schema. `--help` for the options. Re-running the same command skips episodes already collected.
 *
 *   npx tsx src/cli/collect.ts --db data/prior.db --connectors train --episodes-per-connector 80 \
 *       --controllers expert --scenario I,II --seed 0 --workers 2
 *
 * Exit codes: 0 done, 2 bad arguments / connector or split files, 1 anything else (3: interrupted, resumable).
 */
import { goalErrorArg, goalErrorFlags } from './evaluate-args.ts';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { progressBar } from './progress.ts';
import { CONTROLLER_NAMES, isControllerName } from '../control/registry.ts';
import { collectPrior, collectionSessions, formatCollectTable, summarizeStore, type CollectProgress, type CollectResult } from '../data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS, type PriorSettings } from '../data/episode.ts';
import { DEFAULT_SPLIT_FILE, loadSplit } from '../data/splits.ts';
import type { Scenario, Vec3 } from '../core/types.ts';
import { ConnectorError, findConnector, loadConnectors } from '../sim/connectors.ts';
import { Store } from '../store/index.ts';
import { list, nonNegMm, runIfMain } from '../util/args.ts';
import { command, commandUsage, fromArgv, nameList, optionalText, parseCommand, type Parsed, splitFlag, T, UsageError } from './flags.ts';

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

const d = DEFAULT_PRIOR_SETTINGS;

/** The command line, declared once (src/cli/flags.ts). */
export const COLLECT = command({
  name: 'collect',
  usage: 'npx tsx src/cli/collect.ts [flags]   (npm run collect -- [flags])',
  about: `Collect prior data: scripted controllers in the simulated cell, logged with the daemon's SQLite schema
(episodes of kind 'prior', domain = connector; labels from ground truth). Re-running skips what is already there.`,
  notes: `Controllers: ${CONTROLLER_NAMES.join(', ')}`,
  flags: T.object({
    db: T.string({ minLength: 1, default: 'data/prior.db', description: 'SQLite log to write', cli: { arg: 'FILE' } }),
    connectors: T.string({
      minLength: 1,
      default: 'train',
      description: 'all | train | heldout | comma-separated names; train/heldout: the connectors of the split file',
      cli: { arg: 'SPEC' },
    }),
    split: splitFlag('split file for train/heldout'),
    exclude: nameList('connector names to leave out', 'none'),
    connectorDir: optionalText('connector definitions', 'DIR', 'data/connectors'),
    controllers: T.array(T.string({ minLength: 1 }), { uniqueItems: true, default: ['expert'], description: 'controller names, e.g. expert,p,spiral' }),
    episodesPerConnector: T.integer({ minimum: 1, maximum: 100000, default: 40, description: 'episodes per connector and controller; scenarios alternate' }),
    scenario: T.array(T.enum(['I', 'II']), { uniqueItems: true, default: ['I', 'II'], description: 'start distributions' }),
    seed: T.integer({ minimum: -(2 ** 31), maximum: 2 ** 32 - 1, default: 0, description: 'base seed' }),
    imageSize: T.integer({ minimum: 8, maximum: 512, default: d.imageSize, description: 'camera image side in px' }),
    camera: T.enum(['wrist', 'fixed'], { default: d.camera, description: 'camera in the cell' }),
    goalNoiseMm: T.number({
      minimum: 0,
      maximum: 50,
      default: d.goalNoise * 1000,
      description: 'per-episode x* error, uniform +-S mm in x and y',
      cli: { arg: 'S' },
    }),
    ...goalErrorFlags('fixed x* error'),
    startHeightMm: T.number({
      minimum: 0,
      maximum: 150,
      default: d.startHeight * 1000,
      description: 'start height above the socket face (as config/daemon.yaml)',
      cli: { arg: 'H' },
    }),
    episodeLength: T.integer({ minimum: 1, maximum: 1000, default: d.episodeLength, description: 'control steps per episode' }),
    nuisance: T.boolean({
      default: true,
      description: 'no table colour / lighting / camera jitter randomisation',
      cli: { flag: '--no-nuisance', sets: false },
    }),
    shadows: T.boolean({
      description:
        "render shadows (a lamp along the light direction): the plug's shadow shows how deep it is once its pins are hidden; keep shadowed and shadowless data in separate files",
    }),
    depth: T.boolean({
      description:
        "also log the wrist camera's depth image (a D405-like RGB-D camera, sim/depth.ts; the colour images are unchanged): for train:reward --cue depth",
    }),
    residualBoundMm: T.optional(
      T.string({
        description:
          'apply each controller as the daemon applies a policy: u = u_H + residual, residual clamped to +-B mm per axis (as calibration residualBoundM); "free": the controller acts unbounded (the research\'s collector; its residuals often exceed the bound a policy has)',
        cli: { arg: 'B|free', defaultText: d.residualBound === null ? 'free' : String(d.residualBound * 1000) },
      }),
    ),
    workers: T.integer({ minimum: 0, maximum: 64, default: 2, description: 'worker threads (0 = in this thread)' }),
    progress: T.boolean({ default: true, description: 'no progress bar on stderr', cli: { flag: '--no-progress', sets: false } }),
    summary: T.boolean({ description: 'print what --db holds (prior episodes per connector, controller, scenario) and exit' }),
  }),
});

export const USAGE = `${commandUsage(COLLECT)}\n`;

/** Parses and validates the command line (reads the connector and split files to resolve names). */
export function parseCollectArgs(argv: string[]): CollectArgs {
  return collectArgsOf(parseCommand(COLLECT, argv));
}

/** The collection's settings from its parsed flags (reads the connector and split files to resolve names). */
export function collectArgsOf({ values: v, help }: Parsed<typeof COLLECT.flags>): CollectArgs {
  const connectorDir = v.connectorDir ?? null;
  const defs = connectorDir === null ? loadConnectors() : loadConnectors(connectorDir);
  const known = defs.map((x) => x.name);
  const spec = v.connectors;
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
    const ex = v.exclude;
    for (const c of ex) if (!known.includes(c)) throw new UsageError(`--exclude: unknown connector "${c}" (known: ${known.join(', ')})`);
    connectors = connectors.filter((c) => !ex.includes(c));
  }
  if (connectors.length === 0) throw new UsageError('--connectors/--exclude: no connector left to collect');
  for (const c of v.controllers)
    if (!isControllerName(c)) throw new UsageError(`--controllers: unknown controller "${c}" (known: ${CONTROLLER_NAMES.join(', ')})`);
  const goalBias: Vec3 = v.goalErrorMm === undefined && v.goalErrorVecMm === undefined ? [...d.goalBias] : goalErrorArg(v.goalErrorMm, v.goalErrorVecMm);
  const rb = v.residualBoundMm;
  const settings: PriorSettings = {
    ...d,
    imageSize: v.imageSize,
    camera: v.camera,
    goalNoise: v.goalNoiseMm / 1000,
    goalBias,
    startHeight: v.startHeightMm / 1000,
    episodeLength: v.episodeLength,
    nuisance: v.nuisance,
    shadows: v.shadows,
    depth: v.depth,
    residualBound: rb === undefined ? d.residualBound : rb === 'free' ? null : nonNegMm('--residual-bound-mm', rb, 50),
  };
  if (settings.residualBound === 0) throw new UsageError('--residual-bound-mm: must be > 0 ("free" for an unbounded controller)');
  return {
    db: v.db,
    connectors,
    connectorDir,
    controllers: v.controllers,
    scenarios: v.scenario,
    episodesPerConnector: v.episodesPerConnector,
    seed: v.seed,
    settings,
    workers: v.workers,
    progress: v.progress,
    summary: v.summary,
    help,
  };
}

export async function runCollect(args: CollectArgs, argv: string[], out: (s: string) => void = console.log): Promise<CollectResult> {
  mkdirSync(dirname(resolve(args.db)), { recursive: true });
  const bar = progressBar(
    args.progress,
    'collect |{bar}| {value}/{total} episodes | {eps} ep/s | ETA {eta_formatted} | {connector} {controller} {scenario} | ok {ok}',
    100,
  );
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
  // A bad connector or split file is a bad input too (exit 2, said).
  const args = fromArgv(COLLECT, argv, (_, p) => collectArgsOf(p));
  if (typeof args === 'number') return args;
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

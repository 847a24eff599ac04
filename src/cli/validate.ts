/**
 * Checks the project's input files and says exactly what is wrong with each: file, field, why. Nothing is loaded
 * into a simulator or a robot; nothing is written.
 *
 *   npm run validate                        # config/daemon.yaml, calibration/, data/connectors/*.json, data/splits/*.json
 *   npm run validate -- FILE|DIR ...        # those only (a directory: every file in it, or a calibration directory)
 *
 * Exit 0 when everything is valid, 1 when any file has errors, 2 for a usage error.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { checkCalibration, checkCalibrationFile, checkDaemonConfig, ConfigError, readStructured } from '../config/load.ts';
import { CALIBRATION_FILES, type CalibrationFile } from '../config/schema.ts';
import { loadSplit, SplitError } from '../data/splits.ts';
import { scanModels } from '../daemon/models.ts';
import {
  ConnectorError,
  DEFAULT_CONNECTOR_DIR,
  loadConnector,
  loadConnectors,
  rewardDepthCoverage,
  type ConnectorDef,
  type ConnectorProblem,
} from '../sim/connectors.ts';
import { runIfMain } from '../util/args.ts';
import { command, commandUsage, fromArgv, optionalText, T } from './flags.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** The command line, declared once (src/cli/flags.ts). */
export const VALIDATE = command({
  name: 'validate',
  usage: 'npm run validate -- [flags]',
  positionals: '[FILE|DIR ...]',
  about: `Checks connector files, split files, the daemon config and calibration files, and prints every problem as
"file: field: why". Without arguments: config/daemon.yaml, calibration/, data/connectors/*.json, data/splits/*.json.
What a file is comes from where it is (connectors/, splits/, calibration/<section>.yaml, daemon.yaml) or else from
its fields.`,
  notes: 'Exit 0: all valid; 1: errors; 2: usage.',
  flags: T.object({
    connectorDir: optionalText('the connectors split files are checked against', 'DIR', 'data/connectors'),
  }),
});
export const USAGE = commandUsage(VALIDATE);

export type FileKind = 'connector' | 'split' | 'config' | `calibration:${CalibrationFile}` | 'calibration-dir';

export interface FileReport {
  file: string;
  kind: FileKind | null;
  errors: string[];
  notes: string[];
}

const isCalibrationSection = (s: string): s is CalibrationFile => (CALIBRATION_FILES as readonly string[]).includes(s);

/** What kind of input a file is: by where it lives and its name, else by its fields; null when neither tells. */
export function kindOf(file: string): FileKind | null {
  const dir = basename(dirname(file));
  const stem = basename(file, extname(file));
  if (dir === 'connectors' && extname(file) === '.json') return 'connector';
  if (dir === 'splits' && extname(file) === '.json') return 'split';
  if (isCalibrationSection(stem)) return `calibration:${stem}`;
  if (stem === 'daemon' || dir === 'config') return 'config';
  let doc: unknown;
  try {
    doc = readStructured(file);
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
  const o = doc as Record<string, unknown>;
  if ('heldOut' in o) return 'split';
  if ('parts' in o || 'clearance_mm' in o || 'depth_mm' in o) return 'connector';
  if ('api' in o || 'tickHz' in o || 'backend' in o || 'practice' in o) return 'config';
  if ('forceLimitN' in o) return 'calibration:limits';
  if ('kp' in o) return 'calibration:gains';
  if ('channelOrder' in o || 'inputSize' in o) return 'calibration:camera';
  if ('rezeroAtEpisodeStart' in o || 'bias' in o) return 'calibration:wrench';
  if ('min' in o && 'max' in o) return 'calibration:workspace';
  if ('goal' in o || 'offset' in o) return 'calibration:socket';
  return null;
}

const msg = (e: unknown): string =>
  e instanceof ConfigError || e instanceof ConnectorError || e instanceof SplitError ? e.message : String((e as Error).message ?? e);

let rewards: Array<{ name: string; trained: string[] }> | undefined;

/** The shipped reward models (models/, as the daemon scans them): file name and training connectors. */
function shippedRewards(): Array<{ name: string; trained: string[] }> {
  return scanModels(join(ROOT, 'models'))
    .models.filter((m) => m.kind === 'reward')
    .map((m) => ({ name: basename(m.path), trained: m.card.training.connectors }));
}

/** What the shipped rewards' training depths do not cover of a valid connector (notes, never errors). */
function coverageNotes(def: ConnectorDef, connectorDir: string): string[] {
  let defs: ConnectorDef[];
  try {
    defs = loadConnectors(connectorDir, { onProblem: () => {} });
  } catch {
    return []; // no connector directory to look the training connectors up in: nothing to compare with
  }
  return (rewards ??= shippedRewards()).flatMap((r) => {
    const why = rewardDepthCoverage(def, r.trained, defs);
    return why ? [`note: ${r.name}: ${why}`] : [];
  });
}

/** Checks one file (or a calibration directory) as `kind`. */
export function checkFile(file: string, kind: FileKind | null, connectorDir: string = DEFAULT_CONNECTOR_DIR): FileReport {
  const report: FileReport = { file, kind, errors: [], notes: [] };
  if (kind === null) {
    report.errors.push(
      `${file}: cannot tell what this file is (a connector, a split, the daemon config or a calibration file): ` +
        `put it where such files live (data/connectors/, data/splits/, config/, calibration/<section>.yaml)`,
    );
    return report;
  }
  if (kind === 'connector') {
    try {
      report.notes.push(...coverageNotes(loadConnector(file), connectorDir));
    } catch (e) {
      report.errors.push(...(e instanceof ConnectorError ? e.problems : [msg(e)]));
    }
  } else if (kind === 'split') {
    const defs = loadConnectors(connectorDir, { onProblem: () => {} });
    try {
      loadSplit(defs, file, { onNote: (n) => report.notes.push(n) });
    } catch (e) {
      report.errors.push(msg(e));
    }
  } else if (kind === 'config') {
    const r = checkDaemonConfig(file);
    report.errors.push(...r.errors.map(msg));
    if (r.config && !existsSync(r.config.calibrationDir)) report.errors.push(`${file}: field 'calibrationDir': ${r.config.calibrationDir} does not exist`);
  } else if (kind === 'calibration-dir') {
    report.errors.push(...checkCalibration(file).errors.map(msg));
  } else {
    report.errors.push(...checkCalibrationFile(kind.slice('calibration:'.length) as CalibrationFile, file).errors.map(msg));
  }
  return report;
}

/** The files a directory argument stands for: a calibration directory as one unit, otherwise each file in it. */
function expand(path: string): Array<{ file: string; kind: FileKind | null }> {
  if (!statSync(path).isDirectory()) return [{ file: path, kind: kindOf(path) }];
  const entries = readdirSync(path).sort();
  if (CALIBRATION_FILES.some((n) => entries.includes(`${n}.yaml`) || entries.includes(`${n}.json`))) return [{ file: path, kind: 'calibration-dir' }];
  return entries
    .filter((f) => /\.(json|ya?ml)$/.test(f))
    .map((f) => join(path, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => ({ file: f, kind: kindOf(f) }));
}

/** The default set: what the daemon and the commands read. */
function defaults(): Array<{ file: string; kind: FileKind | null }> {
  return [
    { file: join(ROOT, 'config/daemon.yaml'), kind: 'config' as const },
    { file: join(ROOT, 'calibration'), kind: 'calibration-dir' as const },
    ...readdirSync(DEFAULT_CONNECTOR_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => ({ file: join(DEFAULT_CONNECTOR_DIR, f), kind: 'connector' as const })),
    ...expand(join(ROOT, 'data/splits')),
  ];
}

/** Connector names used by more than one file among those checked (each file may be valid on its own). */
function duplicateNames(reports: FileReport[]): void {
  const byDir = new Map<string, FileReport[]>();
  for (const r of reports) if (r.kind === 'connector' && r.errors.length === 0) byDir.set(dirname(r.file), [...(byDir.get(dirname(r.file)) ?? []), r]);
  for (const [dir] of byDir) {
    const problems: ConnectorProblem[] = [];
    loadConnectors(dir, { onProblem: (p) => problems.push(p) });
    for (const p of problems) {
      const r = reports.find((x) => x.file === p.file);
      if (r && r.errors.length === 0 && /also used by/.test(p.error.message)) r.errors.push(p.error.message);
    }
  }
}

export async function main(argv: string[] = process.argv.slice(2), out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const line = (s: string): void => out(s.trimEnd());
  const p = fromArgv(VALIDATE, argv, (_, parsed) => parsed, { out: line, err: line });
  if (typeof p === 'number') return p;
  const positionals = p.positionals;
  const connectorDir = resolve(p.values.connectorDir ?? DEFAULT_CONNECTOR_DIR);
  const targets: Array<{ file: string; kind: FileKind | null }> = [];
  if (positionals.length === 0) targets.push(...defaults());
  for (const p of positionals) {
    const abs = resolve(p);
    if (!existsSync(abs)) {
      out(`validate: ${p}: no such file or directory`);
      return 2;
    }
    targets.push(...expand(abs));
  }
  const reports = targets.map((t) => checkFile(t.file, t.kind, connectorDir));
  duplicateNames(reports);
  const show = (f: string): string => (f.startsWith(ROOT) ? relative(ROOT, f) || '.' : f);
  let bad = 0;
  for (const r of reports) {
    const what = r.kind === null ? 'unknown kind' : r.kind.replace('calibration:', 'calibration ');
    if (r.errors.length === 0) out(`ok    ${show(r.file)} (${what})`);
    else {
      bad++;
      out(`FAIL  ${show(r.file)} (${what}): ${r.errors.length} problem${r.errors.length === 1 ? '' : 's'}`);
      for (const e of r.errors) out(`      ${e}`);
    }
    for (const n of r.notes) out(`      ${n}`);
  }
  out(`${reports.length} checked, ${bad} with errors`);
  return bad > 0 ? 1 : 0;
}

runIfMain(import.meta.url, 'validate', () => main());

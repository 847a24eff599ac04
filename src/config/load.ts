/**
 * Loading and validating the daemon config file and the calibration files.
 * Every error names the file and the field (and the command-line flag when a flag set it): a daemon that moves
 * an arm must refuse a bad file loudly rather than guess.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { fieldsOf, type TSchema } from './declare.ts';
import {
  CALIBRATION_FILES,
  CalibrationSchema,
  DaemonConfigSchema,
  OVERRIDES,
  SAFETY_BOUNDS,
  SHIPPED_LIMITS,
  type Calibration,
  type CalibrationFile,
  type ConfigOverrides,
  type DaemonConfig,
  type LimitsCalibration,
  type SoftBoundedLimit,
} from './schema.ts';

export type { ConfigOverrides } from './schema.ts';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | null,
    detail: string,
  ) {
    super(field ? `${file}: field '${field}': ${detail}` : `${file}: ${detail}`);
    this.name = 'ConfigError';
  }
}

// allErrors + verbose: every problem is seen, so the most telling one is reported (an unknown field before the
// "required" it causes: a typo 'tickHZ' is "unknown field, did you mean tickHz?", not "tickHz is required").
// useDefaults: a field the file leaves out gets its declared default. 'cli' is the declarations' flag annotation.
const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, useDefaults: true });
ajv.addVocabulary(['cli']);
const validateDaemon = ajv.compile(DaemonConfigSchema);
const validateCalibration = Object.fromEntries(
  CALIBRATION_FILES.map((k) => [k, ajv.compile((CalibrationSchema.properties as Record<CalibrationFile, TSchema>)[k])]),
) as Record<CalibrationFile, ReturnType<typeof ajv.compile>>;

/** The flag that sets each config field, from the declaration ('api.port' -> '--port'). */
const FLAG_OF: Record<string, string> = Object.fromEntries(
  fieldsOf(DaemonConfigSchema).flatMap((f) => (f.schema.cli ? [[f.path, (f.schema.cli as { flag: string }).flag]] : [])),
);

/** 'a/b/0' -> 'a.b[0]'; adds the missing or unknown property name where ajv keeps it in params. */
function fieldOf(err: ErrorObject): string {
  const parts = err.instancePath.split('/').filter(Boolean);
  let field = '';
  for (const p of parts) field += /^\d+$/.test(p) ? `[${p}]` : field ? `.${p}` : p;
  const params = err.params as { missingProperty?: string; additionalProperty?: string };
  const extra = params.missingProperty ?? params.additionalProperty;
  if (extra) field = field ? `${field}.${extra}` : extra;
  return field || '(root)';
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The known field an unknown one was probably meant to be: same letters in another case, or 1-2 edits away. */
export function closestField(name: string, known: readonly string[]): string | null {
  const lower = name.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: string | null = null;
  let bestD = name.length <= 3 ? 1 : 2;
  for (const k of known) {
    const dd = distance(lower, k.toLowerCase());
    if (dd <= bestD) {
      best = k;
      bestD = dd - 1;
    }
  }
  return best;
}

function messageOf(err: ErrorObject): string {
  const params = err.params as { additionalProperty?: string; allowedValues?: unknown[] };
  if (err.keyword === 'additionalProperties') {
    const known = Object.keys((err.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    const guess = params.additionalProperty === undefined ? null : closestField(params.additionalProperty, known);
    return guess ? `unknown field (did you mean '${guess}'?)` : `unknown field (known: ${known.join(', ')})`;
  }
  if (err.keyword === 'required') return 'is required';
  if (err.keyword === 'enum') return `must be one of ${JSON.stringify(params.allowedValues)}`;
  return err.message ?? 'is invalid';
}

/** Most telling first: unknown fields (a typo explains a "required" elsewhere), then missing ones, then the rest. */
function rankErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const rank = (e: ErrorObject): number => (e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 1 : 2);
  // oneOf/anyOf summaries repeat what their branches said.
  return errors
    .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf')
    .map((e, i) => ({ e, i }))
    .sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i)
    .map((x) => x.e);
}

/** Reads a YAML or JSON file; a syntax error names the file and the line. */
/** YAML (or JSON, by the file's extension) text as data; throws the parser's error. */
export function parseStructured(text: string, file: string): unknown {
  return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
}

export function readStructured(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, null, `cannot read: ${(e as Error).message}`);
  }
  try {
    return parseStructured(text, file);
  } catch (e) {
    throw new ConfigError(file, null, `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
}

/** Every schema error of a document, most telling first, as ConfigErrors naming the file and field. */
function schemaErrors(
  validate: ReturnType<typeof ajv.compile>,
  doc: unknown,
  file: string,
  flagOf: (field: string) => string | null = () => null,
): ConfigError[] {
  if (validate(doc)) return [];
  const errors = rankErrors(validate.errors ?? []);
  if (errors.length === 0) return [new ConfigError(file, null, 'invalid')];
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const err of errors) {
    const field = fieldOf(err);
    const flag = flagOf(field);
    const e = new ConfigError(file, field, messageOf(err) + (flag ? ` (set by ${flag})` : ''));
    if (seen.has(e.message)) continue;
    seen.add(e.message);
    out.push(e);
  }
  return out;
}

const asConfigError = (file: string, e: unknown): ConfigError => (e instanceof ConfigError ? e : new ConfigError(file, null, (e as Error).message));

/**
 * Reads config/daemon.yaml (or the given file), applies overrides, fills in declared defaults, validates, and resolves
 * relative paths against the config file's directory; every problem is returned (the validate command lists them all).
 */
export function checkDaemonConfig(file: string, overrides: ConfigOverrides = {}): { config: DaemonConfig | null; errors: ConfigError[] } {
  let raw: unknown;
  try {
    raw = readStructured(file);
  } catch (e) {
    return { config: null, errors: [asConfigError(file, e)] };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { config: null, errors: [new ConfigError(file, null, 'must be a mapping of fields')] };
  const doc = raw as Record<string, unknown>;
  const set = (path: string, value: unknown): void => {
    const keys = path.split('.');
    let o = doc;
    for (const k of keys.slice(0, -1)) {
      if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
      o = o[k] as Record<string, unknown>;
    }
    o[keys[keys.length - 1] as string] = value;
  };
  const overridden = new Set<string>();
  for (const [key, path] of Object.entries(OVERRIDES)) {
    const v = overrides[key as keyof ConfigOverrides];
    if (v === undefined) continue;
    set(path, v);
    overridden.add(path);
  }
  const errors = schemaErrors(validateDaemon, doc, file, (f) => (overridden.has(f) ? (FLAG_OF[f] ?? 'an override') : null));
  if (errors.length) return { config: null, errors };
  const cfg = doc as DaemonConfig; // validated against DaemonConfigSchema, whose static type DaemonConfig is
  const base = dirname(resolve(file));
  const abs = (p: string): string => (isAbsolute(p) || p === ':memory:' ? p : resolve(base, p));
  // Flags are given relative to the shell's directory, file values relative to the file.
  cfg.db = overrides.db !== undefined ? resolve(overrides.db) : abs(cfg.db);
  cfg.modelsDir = overrides.modelsDir !== undefined ? resolve(overrides.modelsDir) : abs(cfg.modelsDir);
  cfg.calibrationDir = overrides.calibrationDir !== undefined ? resolve(overrides.calibrationDir) : abs(cfg.calibrationDir);
  if (typeof cfg.lockDir === 'string') cfg.lockDir = abs(cfg.lockDir);
  if (typeof cfg.fleet.credentialsFile === 'string') cfg.fleet.credentialsFile = abs(cfg.fleet.credentialsFile);
  // Rows in the fleet store are keyed by the robot id: without one, two arms would write over each other's ids.
  if (cfg.fleet.enabled && cfg.robotId === null)
    return { config: null, errors: [new ConfigError(file, 'fleet.enabled', "needs field 'robotId' (the fleet store keys every row by it)")] };
  const l = cfg.learning;
  const path = (flag: string | null | undefined, file: string | null): string | null =>
    flag !== undefined ? (flag === null ? null : resolve(flag)) : file === null ? null : abs(file);
  l.checkpoint = path(overrides.learningCheckpoint, l.checkpoint);
  l.offlineDb = path(overrides.offlineDb, l.offlineDb);
  l.workDir = path(overrides.learningWorkDir, l.workDir) as string;
  return { config: cfg, errors: [] };
}

/** checkDaemonConfig that throws its first (most telling) error. */
export function loadDaemonConfig(file: string, overrides: ConfigOverrides = {}): DaemonConfig {
  const r = checkDaemonConfig(file, overrides);
  if (r.errors[0] || !r.config) throw r.errors[0] ?? new ConfigError(file, null, 'invalid');
  return r.config;
}

/** The checks within one calibration file beyond its schema (workspace box, limits against each other and soft bounds). */
function sectionChecks(name: CalibrationFile, doc: unknown, file: string): ConfigError[] {
  const out: ConfigError[] = [];
  if (name === 'workspace') {
    const ws = doc as Calibration['workspace'];
    for (let i = 0; i < 3; i++) {
      if (!((ws.min[i] as number) < (ws.max[i] as number)))
        out.push(new ConfigError(file, `min[${i}]`, `must be below max[${i}] (${ws.min[i]} >= ${ws.max[i]})`));
    }
  }
  if (name === 'limits') {
    const lim = doc as LimitsCalibration;
    if (lim.residualBoundM > lim.maxStepM)
      out.push(new ConfigError(file, 'residualBoundM', `must not exceed maxStepM (${lim.residualBoundM} > ${lim.maxStepM})`));
    out.push(...softBoundErrors(lim, file));
  }
  return out;
}

/** Validates one calibration file (section `name`: camera, wrench, socket, workspace, gains or limits). */
export function checkCalibrationFile(name: CalibrationFile, file: string): { section: unknown; errors: ConfigError[] } {
  let doc: unknown;
  try {
    doc = readStructured(file);
  } catch (e) {
    return { section: null, errors: [asConfigError(file, e)] };
  }
  const errors = schemaErrors(validateCalibration[name], doc, file);
  if (errors.length) return { section: null, errors };
  const more = sectionChecks(name, doc, file);
  return more.length ? { section: null, errors: more } : { section: doc, errors: [] };
}

/** Validates calibration/<name>.yaml (or .json) for every calibration file; every problem is returned. */
export function checkCalibration(dir: string): { calibration: Calibration | null; errors: ConfigError[] } {
  const out: Partial<Record<CalibrationFile, unknown>> = {};
  const errors: ConfigError[] = [];
  for (const name of CALIBRATION_FILES) {
    const yaml = join(dir, `${name}.yaml`);
    const json = join(dir, `${name}.json`);
    const file = existsSync(yaml) ? yaml : existsSync(json) ? json : null;
    if (!file) {
      errors.push(new ConfigError(yaml, null, `calibration file missing (expected ${name}.yaml or ${name}.json in ${dir})`));
      continue;
    }
    const r = checkCalibrationFile(name, file);
    errors.push(...r.errors);
    out[name] = r.section;
  }
  // Each section validated against its part of CalibrationSchema.
  return errors.length ? { calibration: null, errors } : { calibration: out as Calibration, errors };
}

/** checkCalibration that throws its first error. */
export function loadCalibration(dir: string): Calibration {
  const r = checkCalibration(dir);
  if (r.errors[0] || !r.calibration) throw r.errors[0] ?? new ConfigError(dir, null, 'invalid');
  return r.calibration;
}

/**
 * A limit looser than its soft bound (SAFETY_BOUNDS) is refused unless limits.beyondSoftBound names it: loosening a
 * safety limit that far must be a deliberate act, and it is logged at startup (limitChanges).
 */
export function softBoundErrors(limits: LimitsCalibration, file: string): ConfigError[] {
  const acknowledged = new Set(limits.beyondSoftBound ?? []);
  const out: ConfigError[] = [];
  for (const [field, b] of Object.entries(SAFETY_BOUNDS) as Array<[SoftBoundedLimit, (typeof SAFETY_BOUNDS)[SoftBoundedLimit]]>) {
    const v = limits[field];
    if (v > b.soft && !acknowledged.has(field)) {
      out.push(
        new ConfigError(
          file,
          field,
          `${v} ${b.unit} is beyond the soft bound ${b.soft} ${b.unit} (hard bound ${b.hard} ${b.unit}); ` +
            `if you mean it, add ${field} to beyondSoftBound in this file (the change is logged at startup)`,
        ),
      );
    }
  }
  return out;
}

export interface LimitChange {
  field: keyof typeof SHIPPED_LIMITS;
  shipped: number;
  value: number;
  /** Looser than shipped (a higher force limit, a bigger step, an older sensor sample accepted, a bigger residual). */
  looser: boolean;
  beyondSoftBound: boolean;
}

/** Every safety limit that differs from the shipped calibration, for the startup log and event. */
export function limitChanges(limits: LimitsCalibration, reference: Readonly<Omit<LimitsCalibration, 'beyondSoftBound'>> = SHIPPED_LIMITS): LimitChange[] {
  const out: LimitChange[] = [];
  for (const field of Object.keys(reference) as Array<keyof typeof SHIPPED_LIMITS>) {
    const shipped = reference[field];
    const value = limits[field];
    // A reference from an older session's record may lack a field.
    if (typeof shipped !== 'number' || value === shipped) continue;
    const soft = field in SAFETY_BOUNDS ? SAFETY_BOUNDS[field as SoftBoundedLimit].soft : Infinity;
    // retractM: less retraction after a force trip is the looser direction.
    // retractM: less retraction is looser; every other limit (forces, steps, ages, missed ticks) is looser when larger.
    out.push({ field, shipped, value, looser: field === 'retractM' ? value < shipped : value > shipped, beyondSoftBound: value > soft });
  }
  return out;
}

/** The bearer token: environment first, then the file; null means state-changing routes are refused. */
export function resolveToken(cfg: DaemonConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env[cfg.api.tokenEnv];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  return cfg.api.token;
}

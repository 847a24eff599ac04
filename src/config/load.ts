/**
 * Loading and validating the daemon config file and the calibration files.
 * Every error names the file and the field (and the command-line flag when a flag set it): a daemon that moves
 * an arm must refuse a bad file loudly rather than guess.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import {
  CALIBRATION_FILES,
  calibrationSchemas,
  daemonConfigSchema,
  type Calibration,
  type CalibrationFile,
  type DaemonConfig,
} from './schema.ts';

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

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const validateDaemon = ajv.compile(daemonConfigSchema);
const validateCalibration = Object.fromEntries(
  CALIBRATION_FILES.map((k) => [k, ajv.compile(calibrationSchemas[k])]),
) as Record<CalibrationFile, ReturnType<typeof ajv.compile>>;

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

function messageOf(err: ErrorObject): string {
  const params = err.params as { additionalProperty?: string; allowedValues?: unknown[] };
  if (err.keyword === 'additionalProperties') return `unknown field (typo?)`;
  if (err.keyword === 'required') return 'is required';
  if (err.keyword === 'enum') return `must be one of ${JSON.stringify(params.allowedValues)}`;
  return err.message ?? 'is invalid';
}

/** Reads a YAML or JSON file; a syntax error names the file and the line. */
export function readStructured(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, null, `cannot read: ${(e as Error).message}`);
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(file, null, `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
}

/** Command-line overrides, already typed; each maps to one config field. */
export interface ConfigOverrides {
  port?: number;
  host?: string;
  db?: string;
  tickHz?: number;
  modelsDir?: string;
  calibrationDir?: string;
  realtime?: boolean;
  episodeSteps?: number;
  /** Nice value, or null to leave the priority alone. */
  priority?: number | null;
}

const FLAG_OF: Record<string, string> = {
  'api.port': '--port',
  'api.host': '--host',
  db: '--db',
  tickHz: '--tick-hz',
  modelsDir: '--models',
  calibrationDir: '--calibration',
  realtime: '--free-run',
  'practice.episodeSteps': '--episode-steps',
  priority: '--priority',
};

/**
 * Loads config/daemon.yaml (or the given file), applies overrides, validates, and resolves relative paths against
 * the config file's directory.
 */
export function loadDaemonConfig(file: string, overrides: ConfigOverrides = {}): DaemonConfig {
  const raw = readStructured(file);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, null, 'must be a mapping of fields');
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
  const apply = (path: string, v: unknown): void => {
    if (v === undefined) return;
    set(path, v);
    overridden.add(path);
  };
  apply('api.port', overrides.port);
  apply('api.host', overrides.host);
  apply('db', overrides.db);
  apply('tickHz', overrides.tickHz);
  apply('modelsDir', overrides.modelsDir);
  apply('calibrationDir', overrides.calibrationDir);
  apply('realtime', overrides.realtime);
  apply('practice.episodeSteps', overrides.episodeSteps);
  apply('priority', overrides.priority);

  if (!validateDaemon(doc)) {
    const err = validateDaemon.errors?.[0];
    if (!err) throw new ConfigError(file, null, 'invalid');
    const field = fieldOf(err);
    const flag = overridden.has(field) ? ` (set by ${FLAG_OF[field]})` : '';
    throw new ConfigError(file, field, messageOf(err) + flag);
  }
  const cfg = doc as unknown as DaemonConfig;
  const base = dirname(resolve(file));
  const abs = (p: string): string => (isAbsolute(p) || p === ':memory:' ? p : resolve(base, p));
  // Flags are given relative to the shell's directory, file values relative to the file.
  cfg.db = overrides.db !== undefined ? resolve(overrides.db) : abs(cfg.db);
  cfg.modelsDir = overrides.modelsDir !== undefined ? resolve(overrides.modelsDir) : abs(cfg.modelsDir);
  cfg.calibrationDir = overrides.calibrationDir !== undefined ? resolve(overrides.calibrationDir) : abs(cfg.calibrationDir);
  if (typeof cfg.lockDir === 'string') cfg.lockDir = abs(cfg.lockDir);
  return cfg;
}

/** Loads and validates calibration/<name>.yaml for every calibration file, plus cross-field checks. */
export function loadCalibration(dir: string): Calibration {
  const out: Partial<Record<CalibrationFile, unknown>> = {};
  for (const name of CALIBRATION_FILES) {
    const yaml = join(dir, `${name}.yaml`);
    const json = join(dir, `${name}.json`);
    const file = existsSync(yaml) ? yaml : existsSync(json) ? json : null;
    if (!file) throw new ConfigError(yaml, null, `calibration file missing (expected ${name}.yaml or ${name}.json in ${dir})`);
    const doc = readStructured(file);
    const validate = validateCalibration[name];
    if (!validate(doc)) {
      const err = validate.errors?.[0];
      throw new ConfigError(file, err ? fieldOf(err) : null, err ? messageOf(err) : 'invalid');
    }
    out[name] = doc;
  }
  const cal = out as Calibration;
  const ws = cal.workspace;
  for (let i = 0; i < 3; i++) {
    if (!((ws.min[i] as number) < (ws.max[i] as number))) {
      throw new ConfigError(join(dir, 'workspace.yaml'), `min[${i}]`, `must be below max[${i}] (${ws.min[i]} >= ${ws.max[i]})`);
    }
  }
  if (cal.limits.residualBoundM > cal.limits.maxStepM) {
    throw new ConfigError(join(dir, 'limits.yaml'), 'residualBoundM', `must not exceed maxStepM (${cal.limits.residualBoundM} > ${cal.limits.maxStepM})`);
  }
  return cal;
}

export interface DaemonArgs {
  configFile: string;
  overrides: ConfigOverrides;
  help: boolean;
}

export const DAEMON_USAGE = `usage: daemon [--config FILE] [--port N] [--host ADDR] [--db FILE] [--tick-hz HZ]
              [--models DIR] [--calibration DIR] [--episode-steps N] [--free-run] [--priority NICE|none]
The bearer token is read from the environment variable named by api.tokenEnv (default DAEMON_TOKEN).`;

function num(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new ConfigError('command line', flag, `must be ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  }
  return n;
}

/** Parses the daemon's command line; unknown flags are an error naming the flag. */
export function parseDaemonArgs(argv: string[], defaultConfig: string): DaemonArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        db: { type: 'string' },
        'tick-hz': { type: 'string' },
        models: { type: 'string' },
        calibration: { type: 'string' },
        'episode-steps': { type: 'string' },
        'free-run': { type: 'boolean' },
        priority: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new ConfigError('command line', null, `${(e as Error).message}\n${DAEMON_USAGE}`);
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const overrides: ConfigOverrides = {};
  const port = num('--port', str('port'), true);
  if (port !== undefined) overrides.port = port;
  const hz = num('--tick-hz', str('tick-hz'), false);
  if (hz !== undefined) overrides.tickHz = hz;
  const steps = num('--episode-steps', str('episode-steps'), true);
  if (steps !== undefined) overrides.episodeSteps = steps;
  if (str('host') !== undefined) overrides.host = str('host');
  if (str('db') !== undefined) overrides.db = str('db');
  if (str('models') !== undefined) overrides.modelsDir = str('models');
  if (str('calibration') !== undefined) overrides.calibrationDir = str('calibration');
  if (values['free-run']) overrides.realtime = false;
  const pr = str('priority');
  if (pr !== undefined) overrides.priority = pr === 'none' ? null : num('--priority', pr, true);
  return { configFile: resolve(str('config') ?? defaultConfig), overrides, help: values.help === true };
}

/** The bearer token: environment first, then the file; null means state-changing routes are refused. */
export function resolveToken(cfg: DaemonConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env[cfg.api.tokenEnv];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  return cfg.api.token;
}

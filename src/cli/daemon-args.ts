/**
 * The daemon's command line, made from the config declaration (src/config/schema.ts): every field that declares a
 * flag (`cli`) is a flag here, parsed by the field's type, and its help line is the field's description and default.
 * A new flag is one `cli: {...}` on a field plus its name in OVERRIDES; nothing else to keep in step.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fieldsOf, type CliSpec } from '../config/declare.ts';
import { ConfigError } from '../config/load.ts';
import { DaemonConfigSchema, OVERRIDES, type ConfigOverrides } from '../config/schema.ts';

interface FlagField {
  path: string;
  key: keyof ConfigOverrides;
  cli: CliSpec;
  type: string;
  nullable: boolean;
  description: string;
  default: unknown;
}

/** The flagged fields of the daemon config, in declaration order. */
export function daemonFlags(): FlagField[] {
  const keyOf = new Map(Object.entries(OVERRIDES).map(([k, p]) => [p as string, k as keyof ConfigOverrides]));
  return fieldsOf(DaemonConfigSchema).flatMap((f) => {
    const cli = f.schema.cli as CliSpec | undefined;
    if (!cli) return [];
    const key = keyOf.get(f.path);
    if (!key) throw new Error(`config field ${f.path} declares ${cli.flag} but has no entry in OVERRIDES`);
    const types = Array.isArray(f.schema.type) ? (f.schema.type as string[]) : [f.schema.type as string];
    const desc: unknown = f.schema.description;
    const description = typeof desc === 'string' ? desc : desc == null ? '' : JSON.stringify(desc);
    return [
      { path: f.path, key, cli, type: types.find((t) => t !== 'null') ?? 'string', nullable: types.includes('null'), description, default: f.schema.default },
    ];
  });
}

const wrap = (text: string, indent: number, width = 110): string => {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width - indent) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
};

/** The daemon's --help text. */
export function daemonUsage(): string {
  const rows = [
    ['--config FILE', 'the config file (default config/daemon.yaml); flags override its fields'],
    ...daemonFlags().map((f) => {
      const left = f.cli.sets !== undefined ? f.cli.flag : `${f.cli.flag} ${f.cli.arg ?? 'VALUE'}`;
      const dflt =
        f.cli.sets !== undefined
          ? `sets ${f.path}: ${JSON.stringify(f.cli.sets)}`
          : f.default === undefined
            ? f.path
            : `${f.path}, default ${JSON.stringify(f.default)}`;
      return [left, `${f.description} (${dflt})`];
    }),
    ['-h, --help', 'this text'],
  ];
  const w = Math.max(...rows.map((r) => (r[0] as string).length)) + 2;
  return [
    'usage: daemon [flags]   (npm start -- [flags])',
    ...rows.map(([l, r]) => `  ${(l as string).padEnd(w)}${wrap(r as string, w + 2)}`),
    'The bearer token is read from the environment variable named by api.tokenEnv (default DAEMON_TOKEN); without one,',
    'a token is made for the run and written to <db>.token (mode 600). Every other field: config/daemon.yaml.',
  ].join('\n');
}

export interface DaemonArgs {
  configFile: string;
  overrides: ConfigOverrides;
  help: boolean;
}

function parseValue(f: FlagField, v: string): unknown {
  if (f.nullable && f.cli.nullWord !== undefined && v === f.cli.nullWord) return null;
  if (f.type === 'integer' || f.type === 'number') {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (f.type === 'integer' && !Number.isInteger(n))) {
      const or = f.nullable && f.cli.nullWord ? ` or '${f.cli.nullWord}'` : '';
      throw new ConfigError('command line', f.cli.flag, `must be ${f.type === 'integer' ? 'an integer' : 'a number'}${or}, got '${v}'`);
    }
    return n;
  }
  return v;
}

/** Parses the daemon's command line; unknown flags and bad values are errors naming the flag. */
export function parseDaemonArgs(argv: string[], defaultConfig: string): DaemonArgs {
  const flags = daemonFlags();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } };
  for (const f of flags) options[f.cli.flag.replace(/^--/, '')] = { type: f.cli.sets !== undefined ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options }));
  } catch (e) {
    throw new ConfigError('command line', null, `${(e as Error).message}\n${daemonUsage()}`);
  }
  const overrides: Record<string, unknown> = {};
  for (const f of flags) {
    const v = values[f.cli.flag.replace(/^--/, '')];
    if (v === undefined || v === false) continue;
    overrides[f.key] = f.cli.sets !== undefined ? f.cli.sets : parseValue(f, v as string);
  }
  const config = values.config as string | undefined;
  // Values are checked against the field's bounds by loadDaemonConfig, which names the flag that set them.
  return { configFile: resolve(config ?? defaultConfig), overrides: overrides, help: values.help === true };
}

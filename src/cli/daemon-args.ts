/**
 * The daemon's command line, made from the config declaration (src/config/schema.ts): every field that declares a
 * flag (`cli`) is a flag here, parsed by the field's type, and its help line is the field's description and default.
 * A new flag is one `cli: {...}` on a field plus its name in OVERRIDES; nothing else to keep in step.
 */
import { resolve } from 'node:path';
import type { CliSpec } from '../config/declare.ts';
import { ConfigError } from '../config/load.ts';
import { DaemonConfigSchema, OVERRIDES, type ConfigOverrides } from '../config/schema.ts';
import { UsageError } from '../util/args.ts';
import { argvValues, flagLeft, flagValue, flagsOf, formatRows, type Flag } from './flags.ts';

interface FlagField extends Flag {
  path: string;
  key: keyof ConfigOverrides;
  cli: CliSpec & { flag: string };
}

/** The flagged fields of the daemon config, in declaration order. */
export function daemonFlags(): FlagField[] {
  const keyOf = new Map(Object.entries(OVERRIDES).map(([k, p]) => [p as string, k as keyof ConfigOverrides]));
  // Only fields that declare a flag: the rest of the config is set in its file.
  return flagsOf(DaemonConfigSchema, () => null).map((f) => {
    const key = keyOf.get(f.key);
    if (!key) throw new Error(`config field ${f.key} declares ${f.flag} but has no entry in OVERRIDES`);
    return { ...f, path: f.key, key, cli: { ...(f.schema.cli as CliSpec), flag: f.flag } };
  });
}

/** The daemon's --help text. */
export function daemonUsage(): string {
  const rows: [string, string][] = [
    ['--config FILE', 'the config file (default config/daemon.yaml); flags override its fields'],
    ...daemonFlags().map((f): [string, string] => {
      const dflt =
        f.arg === null ? `sets ${f.path}: ${JSON.stringify(f.sets)}` : f.default === undefined ? f.path : `${f.path}, default ${JSON.stringify(f.default)}`;
      return [flagLeft(f), `${f.description} (${dflt})`];
    }),
    ['-h, --help', 'this text'],
  ];
  return [
    'usage: daemon [flags]   (npm start -- [flags])',
    ...formatRows(rows),
    'The bearer token is read from the environment variable named by api.tokenEnv (default DAEMON_TOKEN); without one,',
    'a token is made for the run and written to <db>.token (mode 600). Every other field: config/daemon.yaml.',
  ].join('\n');
}

export interface DaemonArgs {
  configFile: string;
  overrides: ConfigOverrides;
  help: boolean;
}

/** Parses the daemon's command line; unknown flags and bad values are errors naming the flag. */
export function parseDaemonArgs(argv: string[], defaultConfig: string): DaemonArgs {
  const flags = daemonFlags();
  let values: Record<string, string | boolean | undefined>;
  try {
    // --config is the file itself, not a field of it.
    ({ values } = argvValues([...flags, { flag: '--config', arg: 'FILE' }], argv));
  } catch (e) {
    throw new ConfigError('command line', null, `${(e as Error).message}\n${daemonUsage()}`);
  }
  const overrides: Record<string, unknown> = {};
  for (const f of flags) {
    const v = values[f.flag.replace(/^--/, '')];
    if (v === undefined || v === false) continue;
    // Only the type is checked here: the field's bounds are checked by loadDaemonConfig, which names the flag.
    try {
      overrides[f.key] = f.arg === null ? f.sets : flagValue({ ...f, schema: { type: f.schema.type } }, v as string);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      const or = f.nullable && f.nullWord ? ` or '${f.nullWord}'` : '';
      throw new ConfigError('command line', f.flag, `must be ${f.type === 'integer' ? 'an integer' : 'a number'}${or}, got '${String(v)}'`);
    }
  }
  const file = values.config as string | undefined;
  return { configFile: resolve(file ?? defaultConfig), overrides, help: values.help === true };
}

/**
 * Every command's command line comes from a field table declared with the config's builders (config/declare.ts): each
 * field gives the flag's value type, bounds, default and help line, and this module makes the parser, the checks (an
 * error names the flag and the value as typed) and the --help text from it. The daemon's flags are the config
 * declaration's own (daemon-args.ts, same rows and value parsing); no command walks argv by hand (issue 10).
 *
 * A field's flag is `--kebab-case` of its key unless its `cli.flag` says otherwise; a boolean is a switch (`cli.sets`
 * says what it sets, default true); `T.optional` leaves a value undefined when the flag is absent, so the command can
 * compute a default from other values (`cli.defaultText` then says it in --help). Values the table cannot type (a
 * vector in mm, `K:MARGIN`) are declared as strings and converted by the command with util/args.ts's validators.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { T, fieldsOf, type CliSpec, type Static, type TSchema } from '../config/declare.ts';
import { closestField } from '../config/load.ts';
import { UsageError, list, type Io } from '../util/args.ts';

export { T, UsageError, type Static };

/** A field of a flag table, with what the parser needs. */
export interface Flag {
  /** The field's key in the parsed values. */
  key: string;
  flag: string;
  /** Placeholder of the value in --help; null for a switch. */
  arg: string | null;
  /** A switch sets this value. */
  sets: unknown;
  schema: Record<string, unknown>;
  /** The value type (null stripped): integer, number, string, boolean, array; 'enum' for a list of words. */
  type: string;
  nullable: boolean;
  nullWord: string | undefined;
  description: string;
  default: unknown;
  defaultText: string | undefined;
  optional: boolean;
}

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function typeOf(s: Record<string, unknown>): { type: string; nullable: boolean } {
  if (Array.isArray(s.enum)) return { type: 'enum', nullable: (s.enum as unknown[]).includes(null) };
  const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
  return { type: types.find((t) => t !== 'null') ?? 'string', nullable: types.includes('null') };
}

/** The words of an enum (null left out). */
const wordsOf = (s: Record<string, unknown>): string[] => (Array.isArray(s.enum) ? (s.enum as unknown[]).filter((v) => v !== null).map((v) => show(v)) : []);
/** A value as --help and errors write it. */
const show = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? v.map(show).join(',') : JSON.stringify(v));

function placeholder(type: string, s: Record<string, unknown>): string {
  if (type === 'integer') return 'N';
  if (type === 'number') return 'X';
  if (type === 'enum') {
    const words = wordsOf(s).join('|');
    return words.length <= 24 ? words : 'NAME';
  }
  if (type === 'array') return 'LIST';
  return 'VALUE';
}

/** One row per field of a table: its flag and how it is set. `flagOf` gives a field's flag when it declares none. */
export function flagsOf(table: TSchema, flagOf: (path: string) => string | null = (p) => `--${kebab(p)}`): Flag[] {
  const required = new Set((table as { required?: string[] }).required ?? []);
  return fieldsOf(table).flatMap((f) => {
    const cli = (f.schema.cli ?? {}) as CliSpec;
    const flag = cli.flag ?? flagOf(f.path);
    if (flag === null) return [];
    const { type, nullable } = typeOf(f.schema);
    const sw = cli.sets !== undefined || type === 'boolean';
    const desc: unknown = f.schema.description;
    return [
      {
        key: f.path,
        flag,
        arg: sw ? null : (cli.arg ?? placeholder(type, f.schema)),
        sets: cli.sets !== undefined ? cli.sets : true,
        schema: f.schema,
        type,
        nullable,
        nullWord: cli.nullWord,
        description: typeof desc === 'string' ? desc : '',
        default: f.schema.default,
        defaultText: cli.defaultText,
        optional: sw || !required.has(f.path) || f.schema.default !== undefined,
      },
    ];
  });
}

const bounds = (s: Record<string, unknown>): string => {
  const lo = (s.minimum ?? s.exclusiveMinimum) as number | undefined;
  const hi = (s.maximum ?? s.exclusiveMaximum) as number | undefined;
  const l = lo === undefined ? '(-inf' : `${s.exclusiveMinimum !== undefined ? '(' : '['}${lo}`;
  const h = hi === undefined ? 'inf)' : `${hi}${s.exclusiveMaximum !== undefined ? ')' : ']'}`;
  return `${l}, ${h}`;
};

/** A scalar value of a flag as typed, checked against the field's declaration. */
function scalar(flag: string, s: Record<string, unknown>, type: string, text: string): unknown {
  if (type === 'integer' || type === 'number') {
    const v = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(v)) throw new UsageError(`${flag}: "${text}" is not a number`);
    const what = type === 'integer' ? 'an integer' : 'a number';
    const min = s.minimum as number | undefined;
    const max = s.maximum as number | undefined;
    const xmin = s.exclusiveMinimum as number | undefined;
    const xmax = s.exclusiveMaximum as number | undefined;
    const outside = (min !== undefined && v < min) || (max !== undefined && v > max) || (xmin !== undefined && v <= xmin) || (xmax !== undefined && v >= xmax);
    if ((type === 'integer' && !Number.isInteger(v)) || outside) {
      const range = bounds(s);
      throw new UsageError(`${flag}: must be ${what}${range === '(-inf, inf)' ? '' : ` in ${range}`}, got "${text}"`);
    }
    return v;
  }
  if (type === 'enum') {
    const hit = (s.enum as unknown[]).find((w) => w !== null && show(w) === text);
    if (hit === undefined) throw new UsageError(`${flag}: must be one of ${wordsOf(s).join(', ')}, got "${text}"`);
    return hit;
  }
  if (typeof s.minLength === 'number' && text.length < s.minLength) throw new UsageError(`${flag}: must not be empty`);
  if (typeof s.pattern === 'string' && !new RegExp(s.pattern).test(text)) throw new UsageError(`${flag}: must match ${s.pattern}, got "${text}"`);
  return text;
}

/** A flag's value as typed, parsed by the field's declaration (a list is comma-separated, each item checked). */
export function flagValue(f: Flag, text: string): unknown {
  if (f.nullable && f.nullWord !== undefined && text === f.nullWord) return null;
  if (f.type === 'array') {
    const item = f.schema.items as Record<string, unknown>;
    const { type } = typeOf(item);
    const xs = f.schema.uniqueItems ? list(f.flag, text) : text.split(',').map((x) => x.trim());
    if (!f.schema.uniqueItems && xs.some((x) => x === '')) throw new UsageError(`${f.flag}: empty item in "${text}"`);
    const min = f.schema.minItems as number | undefined;
    const max = f.schema.maxItems as number | undefined;
    if ((min !== undefined && xs.length < min) || (max !== undefined && xs.length > max)) {
      const n = min === max ? `${min}` : max === undefined ? `at least ${min}` : min === undefined ? `at most ${max}` : `${min} to ${max}`;
      throw new UsageError(`${f.flag}: expected ${n} comma-separated values, got "${text}"`);
    }
    return xs.map((x) => scalar(f.flag, item, type, x));
  }
  return scalar(f.flag, f.schema, f.type, text);
}

const wrap = (text: string, indent: number, width = 118): string => {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width - indent) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
};

/** Help rows, left column padded, right column wrapped under itself. */
export function formatRows(rows: ReadonlyArray<readonly [string, string]>): string[] {
  // A long left column goes on a line of its own rather than pushing every description to the right.
  const w = Math.min(Math.max(...rows.map((r) => r[0].length)), 30) + 2;
  return rows.map(([l, r]) => (l.length + 2 > w ? `  ${l}\n${' '.repeat(w + 2)}${wrap(r, w + 2)}` : `  ${l.padEnd(w)}${wrap(r, w + 2)}`));
}

/** The left column of a flag's help row: `--steps N`, or the switch alone. */
export const flagLeft = (f: Flag): string => (f.arg === null ? f.flag : `${f.flag} ${f.arg}`);

/** A declared command: its name, how it is run, the text around the flags and the flag table. */
export interface Command<S extends TSchema = TSchema> {
  name: string;
  /** How it is run, e.g. `npm run train:offline -- [flags]`. */
  usage: string;
  /** Text before the flags. */
  about?: string;
  /** Text after the flags (controllers, exit codes). */
  notes?: string;
  /** Positional arguments, e.g. `[files or dirs]`; without it none are accepted. */
  positionals?: string;
  flags: S;
}

/** Declares a command (an identity that keeps the table's type for parseCommand). */
export const command = <S extends TSchema>(c: Command<S>): Command<S> => c;

/** The command's --help: every flag of its table with its help line and default. */
export function commandUsage(c: Command): string {
  const rows: [string, string][] = flagsOf(c.flags).map((f) => {
    let d = '';
    if (f.defaultText !== undefined) d = ` (default ${f.defaultText})`;
    else if (f.arg !== null && f.default !== undefined) d = ` (default ${show(f.default)})`;
    else if (!f.optional) d = ' (required)';
    const item = f.type === 'array' ? (f.schema.items as Record<string, unknown>) : f.schema;
    const words = wordsOf(item);
    const choices = words.length && (f.type === 'array' || f.arg === 'NAME') ? ` (${f.type === 'array' ? 'any' : 'one'} of ${words.join(', ')})` : '';
    return [flagLeft(f), `${f.description}${choices}${d}`];
  });
  rows.push(['-h, --help', 'this text']);
  return [
    `Usage: ${c.usage}${c.positionals ? ` ${c.positionals}` : ''}`,
    ...(c.about ? ['', c.about.trimEnd(), ''] : []),
    ...formatRows(rows),
    ...(c.notes ? ['', c.notes.trimEnd()] : []),
  ].join('\n');
}

export interface Parsed<S extends TSchema> {
  values: Static<S>;
  /** The keys the command line set (a default computed from other values can tell given from defaulted). */
  given: ReadonlySet<string>;
  positionals: string[];
  help: boolean;
}

/**
 * node's parser for the flags of `flags` (plus --help), strict: an unknown flag, a missing value, a value where a
 * switch stands are UsageErrors naming the flag (an unknown one with the likely one it was meant to be).
 */
export function argvValues(
  flags: ReadonlyArray<Pick<Flag, 'flag' | 'arg'>>,
  argv: string[],
  positionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const f of flags) options[f.flag.replace(/^--/, '')] = { type: f.arg === null ? 'boolean' : 'string' };
  // `--kills -1`: a negative number after a flag that takes a value is that value (node would call it ambiguous);
  // a list starting with a minus still needs `--flag=-1,2`, as node says.
  const valued = new Set(flags.filter((f) => f.arg !== null).map((f) => f.flag));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (valued.has(a) && next !== undefined && /^-\d+(\.\d+)?(e-?\d+)?$/i.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    const r = parseArgs({ args, strict: true, allowPositionals: positionals, options });
    return { values: r.values, positionals: r.positionals };
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec(msg)?.[1];
    if (unknown !== undefined) {
      const names = flags.map((f) => f.flag);
      const guess = closestField(unknown, names);
      throw new UsageError(`unknown flag ${unknown}${guess ? ` (did you mean ${guess}?)` : ''} (see --help)`);
    }
    const missing = /^Option '(-{1,2}[^ ']+) <value>' argument missing/.exec(msg)?.[1];
    if (missing !== undefined) throw new UsageError(`${missing} needs a value (see --help)`);
    const positional = /^Unexpected argument '([^']*)'/.exec(msg)?.[1];
    if (positional !== undefined) throw new UsageError(`unexpected argument '${positional}' (flags start with --; see --help)`);
    // node names the flag: "Option '--x <value>' argument is ambiguous ... use '--x=-XYZ'"
    throw new UsageError(`${msg} (see --help)`);
  }
}

/** Parses a command's argv by its table: typed, checked and defaulted values; errors are UsageErrors naming the flag. */
export function parseCommand<S extends TSchema>(c: Command<S>, argv: string[]): Parsed<S> {
  const flags = flagsOf(c.flags);
  const { values, positionals } = argvValues(flags, argv, c.positionals !== undefined);
  const out: Record<string, unknown> = {};
  const given = new Set<string>();
  const help = values.help === true;
  for (const f of flags) {
    const v = values[f.flag.replace(/^--/, '')];
    if (v === undefined) {
      if (f.default !== undefined) out[f.key] = structuredClone(f.default);
      else if (f.type === 'boolean' && f.sets === true) out[f.key] = false;
      else if (!f.optional && !help) throw new UsageError(`${f.flag}: ${f.description || 'a value'} is required (see --help)`);
      continue;
    }
    given.add(f.key);
    out[f.key] = f.arg === null ? f.sets : flagValue(f, v as string);
  }
  return { values: out as Static<S>, given, positionals, help };
}

/** A file (or directory) the command reads: it must exist. */
export function existingFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new UsageError(`${flag}: file '${path}' does not exist`);
  return path;
}

/** Through console, as the commands print (and tests capture). */
const CONSOLE: Io = { out: (s) => console.log(s.replace(/\n$/, '')), err: (s) => console.error(s.replace(/\n$/, '')) };

/**
 * A command's main up to its work: parses argv, prints --help (exit 0), and turns the parsed values into what the
 * command runs with (`build`, which may check files and refuse values); any error there is said on stderr as
 * `name: why`, exit 2. Returns what `build` made, or the exit code.
 */
export function fromArgv<S extends TSchema, R extends object>(
  c: Command<S>,
  argv: string[],
  build: (a: Static<S>, p: Parsed<S>) => R,
  io: Io = CONSOLE,
): R | number {
  try {
    const p = parseCommand(c, argv);
    if (p.help) {
      io.out(`${commandUsage(c)}\n`);
      return 0;
    }
    return build(p.values, p);
  } catch (e) {
    io.err(`${c.name}: ${(e as Error).message}\n`);
    return 2;
  }
}

// Field shapes many commands declare.

/** An optional comma-separated list of distinct names; absent, the command's default (`defaultText` in --help). */
export const nameList = (description: string, defaultText: string, arg = 'LIST') =>
  T.optional(T.array(T.string({ minLength: 1 }), { uniqueItems: true, description, cli: { arg, defaultText } }));

/** An optional value (a file, a directory, a spec the command reads) whose default the command computes. */
export const optionalText = (description: string, arg: string, defaultText: string) =>
  T.optional(T.string({ minLength: 1, description, cli: { arg, defaultText } }));

/** The connector split file (data/splits/). */
export const splitFlag = (description = 'connector split') => optionalText(description, 'FILE', 'data/splits/default.json');

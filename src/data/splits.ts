/**
 * Splits by connector (domain) name: training connectors and held-out connectors that no training ever sees.
 *
 * A split file (JSON, e.g. data/splits/default.json):
 *   { "description": "...", "heldOut": ["dt12", ...], "train": ["round08", ...] }
 * Both lists are explicit. A connector the split does not name (a file dropped into data/connectors later) is
 * `unassigned`: neither trained on nor held out until a split names it, and loading the split says so. ("train":
 * "rest" used to mean "every other connector", which made a new file training data without anyone deciding; it is
 * refused with the list to write instead.) Names are checked against the connector definitions: an unknown name, a
 * name listed twice, or a connector both trained on and held out is an error that names the file and the field. A
 * name whose connector file is currently invalid is accepted (the split is about names; a command that needs the
 * geometry fails on its own), with a note.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectorDef, ConnectorProblem } from '../sim/connectors.ts';

export interface Split {
  /** Where the split came from (file path or 'inline'), for errors and model cards. */
  source: string;
  description: string;
  /** Connectors for training, in the order of the connector definitions (sorted by name). */
  train: string[];
  /** Connectors never seen in training, same order. */
  heldOut: string[];
  /** Known connectors the split names in neither list: not trained on, not held out, until a split names them. */
  unassigned: string[];
  /** Named connectors whose file is currently invalid (see loadConnectors' problems). */
  unavailable: string[];
}

export class SplitError extends Error {
  override name = 'SplitError';
}

/** The project's default split file. */
export const DEFAULT_SPLIT_FILE = resolve(import.meta.dirname, '../../data/splits/default.json');

export interface SplitSpec {
  heldOut: readonly string[];
  /** The training connectors, by name. */
  train: readonly string[];
  description?: string;
}

/**
 * Validates a split against the known connector names (`known`: names or definitions) and resolves 'rest'.
 * Throws SplitError naming `source` and the field.
 */
export function makeSplit(spec: SplitSpec, known: readonly (string | ConnectorDef)[] & { problems?: readonly ConnectorProblem[] }, source = 'inline'): Split {
  const names = known.map((k) => (typeof k === 'string' ? k : k.name));
  const broken = new Set((known.problems ?? []).map((p) => p.name).filter((n) => !names.includes(n)));
  const knownSet = new Set([...names, ...broken]);
  const fail = (field: string, msg: string): never => {
    throw new SplitError(`${source}: ${field} ${msg}`);
  };
  const check = (field: string, list: unknown): string[] => {
    if (!Array.isArray(list)) return fail(field, `must be an array of connector names, got ${JSON.stringify(list)}`);
    const seen = new Set<string>();
    list.forEach((n, i) => {
      if (typeof n !== 'string' || n === '') fail(`${field}[${i}]`, `must be a connector name, got ${JSON.stringify(n)}`);
      if (!knownSet.has(n as string)) fail(`${field}[${i}]`, `"${n}" is not a known connector (known: ${names.join(', ')})`);
      if (seen.has(n as string)) fail(`${field}[${i}]`, `"${n}" is listed twice`);
      seen.add(n as string);
    });
    return list as string[];
  };
  const heldOut = check('heldOut', spec.heldOut);
  const held = new Set(heldOut);
  if ((spec.train as unknown) === 'rest' || spec.train === undefined) {
    const rest = names.filter((n) => !held.has(n));
    fail('train', `must list the training connectors by name: "rest" is no longer accepted, because a connector file added later ` +
      `would become training data without anyone deciding so. To keep today's meaning write "train": ${JSON.stringify(rest)}`);
  }
  const train = check('train', spec.train);
  const both = train.filter((n) => held.has(n));
  if (both.length) fail('train', `overlaps heldOut: ${both.join(', ')} (a held-out connector must never be trained on)`);
  if (train.length === 0) fail('train', 'is empty: nothing left to train on');
  // Definition order (sorted by name), names of broken files last.
  const order = (xs: string[]): string[] => [...names, ...broken].filter((n) => xs.includes(n));
  const named = new Set([...train, ...heldOut]);
  return {
    source,
    description: spec.description ?? '',
    train: order(train),
    heldOut: order(heldOut),
    unassigned: names.filter((n) => !named.has(n)),
    unavailable: order([...train, ...heldOut].filter((n) => broken.has(n))),
  };
}

/** What a command should tell its user about a split: connectors it leaves out, named ones that cannot be loaded. */
export function splitNotes(split: Split): string[] {
  const out: string[] = [];
  if (split.unassigned.length) {
    out.push(`note: connector(s) ${split.unassigned.join(', ')} are in neither list of split ${split.source}: not trained on and not held out ` +
      `until it names them (add each to "train" or "heldOut")`);
  }
  if (split.unavailable.length) out.push(`note: split ${split.source} names connector(s) ${split.unavailable.join(', ')} whose file is invalid (see the warning above)`);
  return out;
}

const noted = new Set<string>();

/**
 * Reads and validates a split file (default: data/splits/default.json). Its notes (splitNotes) go to `onNote`, by
 * default once per process to stderr, so every command that uses a split says what it leaves out.
 */
export function loadSplit(
  known: readonly (string | ConnectorDef)[] & { problems?: readonly ConnectorProblem[] },
  file: string = DEFAULT_SPLIT_FILE,
  opts: { onNote?: (note: string) => void } = {},
): Split {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SplitError(`${file}: cannot read split file (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SplitError(`${file}: must be a JSON object`);
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['description', 'heldOut', 'train'].includes(k)) throw new SplitError(`${file}: unknown field "${k}" (expected description, heldOut, train)`);
  }
  if (o.description !== undefined && typeof o.description !== 'string') throw new SplitError(`${file}: description must be a string`);
  if (o.train !== undefined && o.train !== 'rest' && !Array.isArray(o.train)) {
    throw new SplitError(`${file}: train must be an array of connector names, got ${JSON.stringify(o.train)}`);
  }
  const split = makeSplit({ heldOut: o.heldOut as string[], train: o.train as string[], description: (o.description) ?? '' }, known, file);
  for (const note of splitNotes(split)) {
    if (opts.onNote) opts.onNote(note);
    else if (!noted.has(note)) process.stderr.write(`${note}\n`);
    noted.add(note);
  }
  return split;
}

/** Throws when any of `domains` is held out in `split` (guard for trainers: held-out data must never be trained on). */
export function assertNoHeldOut(split: Split, domains: readonly string[], what = 'training data'): void {
  const bad = domains.filter((d) => split.heldOut.includes(d));
  if (bad.length) throw new SplitError(`${what} includes held-out connector(s) ${bad.join(', ')} of split ${split.source}`);
}

/**
 * Splits by connector (domain) name: training connectors and held-out connectors that no training ever sees.
 *
 * A split file (JSON, e.g. data/splits/default.json):
 *   { "description": "...", "heldOut": ["dt12", ...], "train": ["round08", ...] | "rest" }
 * "rest" (or a missing "train") means every known connector that is not held out. Names are checked against the
 * connector definitions: an unknown name, a name listed twice, or a connector both trained on and held out is an
 * error that names the file and the field.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectorDef } from '../sim/connectors.ts';

export interface Split {
  /** Where the split came from (file path or 'inline'), for errors and model cards. */
  source: string;
  description: string;
  /** Connectors for training, in the order of the connector definitions (sorted by name). */
  train: string[];
  /** Connectors never seen in training, same order. */
  heldOut: string[];
}

export class SplitError extends Error {
  override name = 'SplitError';
}

/** The project's default split file. */
export const DEFAULT_SPLIT_FILE = resolve(import.meta.dirname, '../../data/splits/default.json');

export interface SplitSpec {
  heldOut: readonly string[];
  /** Explicit training connectors, or 'rest' = all known connectors not held out (default). */
  train?: readonly string[] | 'rest';
  description?: string;
}

/**
 * Validates a split against the known connector names (`known`: names or definitions) and resolves 'rest'.
 * Throws SplitError naming `source` and the field.
 */
export function makeSplit(spec: SplitSpec, known: readonly (string | ConnectorDef)[], source = 'inline'): Split {
  const names = known.map((k) => (typeof k === 'string' ? k : k.name));
  const knownSet = new Set(names);
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
  let train: string[];
  if (spec.train === undefined || spec.train === 'rest') {
    train = names.filter((n) => !held.has(n));
  } else {
    train = check('train', spec.train);
    const both = train.filter((n) => held.has(n));
    if (both.length) fail('train', `overlaps heldOut: ${both.join(', ')} (a held-out connector must never be trained on)`);
  }
  if (train.length === 0) fail('train', 'is empty: nothing left to train on');
  const order = (xs: string[]): string[] => names.filter((n) => xs.includes(n));
  return { source, description: spec.description ?? '', train: order(train), heldOut: order(heldOut) };
}

/** Reads and validates a split file (default: data/splits/default.json). */
export function loadSplit(known: readonly (string | ConnectorDef)[], file: string = DEFAULT_SPLIT_FILE): Split {
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
    throw new SplitError(`${file}: train must be an array of connector names or "rest", got ${JSON.stringify(o.train)}`);
  }
  return makeSplit(
    { heldOut: o.heldOut as string[], train: o.train as string[] | 'rest' | undefined, description: (o.description as string | undefined) ?? '' },
    known,
    file,
  );
}

/** Throws when any of `domains` is held out in `split` (guard for trainers: held-out data must never be trained on). */
export function assertNoHeldOut(split: Split, domains: readonly string[], what = 'training data'): void {
  const bad = domains.filter((d) => split.heldOut.includes(d));
  if (bad.length) throw new SplitError(`${what} includes held-out connector(s) ${bad.join(', ')} of split ${split.source}`);
}

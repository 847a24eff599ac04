/**
 * Shared pieces of the training commands: argument parsing with clear errors, the connector split, the database
 * identity for model cards, and a timestamped log line carrying the tfjs backend.
 */
import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadSplit, type Split } from '../data/splits.ts';
import { loadConnectors } from '../sim/connectors.ts';
import type { Store } from '../store/index.ts';

export class TrainArgError extends Error {
  override name = 'TrainArgError';
}

/** `--key value` / `--flag` parsing against a list of known keys (unknown keys are an error naming them). */
export function parseArgs(argv: string[], known: Record<string, 'value' | 'flag'>, command: string): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new TrainArgError(`${command}: unexpected argument '${a}'`);
    const key = a.slice(2);
    const kind = known[key];
    if (!kind)
      throw new TrainArgError(
        `${command}: unknown option '--${key}' (known: ${Object.keys(known)
          .map((k) => `--${k}`)
          .join(', ')})`,
      );
    if (kind === 'flag') {
      out.set(key, 'true');
    } else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new TrainArgError(`${command}: option '--${key}' needs a value`);
      out.set(key, v);
      i++;
    }
  }
  return out;
}

export function intArg(args: Map<string, string>, key: string, def: number, min: number, max: number): number {
  const s = args.get(key);
  if (s === undefined) return def;
  const v = Number(s);
  if (!Number.isInteger(v) || v < min || v > max) throw new TrainArgError(`option '--${key}' must be an integer in [${min}, ${max}], got '${s}'`);
  return v;
}

export function numArg(args: Map<string, string>, key: string, def: number, min: number, max: number): number {
  const s = args.get(key);
  if (s === undefined) return def;
  const v = Number(s);
  if (!Number.isFinite(v) || v < min || v > max) throw new TrainArgError(`option '--${key}' must be a number in [${min}, ${max}], got '${s}'`);
  return v;
}

export function existingFile(args: Map<string, string>, key: string, def?: string): string {
  const p = args.get(key) ?? def;
  if (p === undefined) throw new TrainArgError(`option '--${key}' is required`);
  if (!existsSync(p)) throw new TrainArgError(`option '--${key}': file '${p}' does not exist`);
  return p;
}

export function splitFrom(file: string | undefined): Split {
  return file ? loadSplit(loadConnectors(), file) : loadSplit(loadConnectors());
}

/** Only connectors that actually have prior episodes in the store (a split may name more than a db holds). */
export function domainsPresent(store: Store, wanted: readonly string[]): string[] {
  return wanted.filter((d) => store.countTransitions({ domain: d, kind: 'prior' }) > 0);
}

export function log(backend: string, msg: string): void {
  process.stdout.write(`${new Date().toISOString()} [${backend.split(' ')[0]}] ${msg}\n`);
}

/** Write JSON atomically (tmp + rename) so an interrupted run never leaves half a results file. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

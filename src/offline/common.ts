/**
 * Shared pieces of the training commands: the connector split, the connectors a log holds, a timestamped log line
 * carrying the tfjs backend and atomic JSON writes. (Their command lines: src/cli/, from flag tables.)
 */
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadSplit, type Split } from '../data/splits.ts';
import { loadConnectors } from '../sim/connectors.ts';
import type { Store } from '../store/index.ts';
import { UsageError } from '../util/args.ts';

/** A bad input to a training command (exit 2); the commands' flags themselves are parsed in src/cli/flags.ts. */
export class TrainArgError extends UsageError {
  override name = 'TrainArgError';
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

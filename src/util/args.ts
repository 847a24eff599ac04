/**
 * Shared by the CLIs (collect, evaluate): validators for command-line values, each error naming the flag and the
 * value as typed (a UsageError, so a CLI can tell bad arguments, exit 2, from failures), and the entry-point runner.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where a command writes (tests pass their own: the test runner owns the process's stdout). */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}
export const STDIO: Io = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

export class UsageError extends Error {
  override name = 'UsageError';
}

/** A finite number; empty or non-numeric text is an error. */
export function num(flag: string, s: string): number {
  const v = s.trim() === '' ? Number.NaN : Number(s);
  if (!Number.isFinite(v)) throw new UsageError(`${flag}: "${s}" is not a number`);
  return v;
}

/** An integer in [lo, hi]. */
export function int(flag: string, s: string, lo: number, hi: number): number {
  const v = num(flag, s);
  if (!Number.isInteger(v) || v < lo || v > hi) throw new UsageError(`${flag}: must be an integer in [${lo}, ${hi}], got "${s}"`);
  return v;
}

/** A length given in mm, in [0, max] mm; returned in m. */
export function nonNegMm(flag: string, s: string, max: number): number {
  const v = num(flag, s);
  if (v < 0 || v > max) throw new UsageError(`${flag}: must be in [0, ${max}] mm, got "${s}"`);
  return v / 1000;
}

/** `--goal-error-mm`: comma-separated magnitudes in mm (core/goal-error.ts), each within +-max; `single` allows one. */
export function goalErrorMm(flag: string, s: string, o: { single?: boolean; max?: number } = {}): number[] {
  const max = o.max ?? 10;
  const v = s.split(',').map((p) => num(flag, p));
  if (o.single && v.length !== 1)
    throw new UsageError(`${flag}: one magnitude in mm along (1,1,0)/sqrt2, got "${s}" (for a vector use --goal-error-vec-mm X,Y[,Z])`);
  for (const x of v) if (Math.abs(x) > max) throw new UsageError(`${flag}: ${x} mm is beyond +-${max} mm`);
  return v;
}

/** A vector X,Y[,Z] in mm (within +-50 mm per axis, the cell's limit); returned in m. */
export function vecMm(flag: string, s: string): [number, number, number] {
  const parts = s.split(',');
  if (parts.length < 2 || parts.length > 3) throw new UsageError(`${flag}: expected X,Y or X,Y,Z in mm, got "${s}"`);
  const v = parts.map((p) => num(flag, p));
  // The cell accepts calibration errors up to 50 mm per axis.
  for (const x of v) if (Math.abs(x) > 50) throw new UsageError(`${flag}: ${x} mm is beyond +-50 mm`);
  return [(v[0] ?? 0) / 1000, (v[1] ?? 0) / 1000, (v[2] ?? 0) / 1000];
}

/** A comma-separated list of distinct, non-empty names. */
export function list(flag: string, s: string): string[] {
  const xs = s.split(',').map((x) => x.trim());
  if (xs.some((x) => x === '')) throw new UsageError(`${flag}: empty name in "${s}"`);
  const d = xs.find((x, i) => xs.indexOf(x) !== i);
  if (d !== undefined) throw new UsageError(`${flag}: "${d}" listed twice`);
  return xs;
}

/**
 * Runs `main` when the module at `moduleUrl` (pass import.meta.url) is the script node was started with, so tests
 * can import a CLI module without running it. The exit code is main's; an unexpected throw prints the stack, exit 1.
 */
export function runIfMain(moduleUrl: string, name: string, main: () => Promise<number>, opts: { exit?: boolean } = {}): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(resolve(process.argv[1])).href) return;
  // exit: end the process at once (training commands leave tfjs/onnxruntime handles that may hold it open).
  const done = (code: number): void => {
    if (opts.exit) process.exit(code);
    process.exitCode = code;
  };
  main().then(done, (e: unknown) => {
    process.stderr.write(`${name}: ${(e as Error).stack ?? String(e)}\n`);
    done(1);
  });
}

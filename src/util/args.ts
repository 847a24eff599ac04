/**
 * Validators for command-line values shared by the CLIs (collect, evaluate). Each error names the flag and the
 * value as typed, and is a UsageError so a CLI can tell bad arguments (exit 2) from failures.
 */

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

/** A comma-separated list of distinct, non-empty names. */
export function list(flag: string, s: string): string[] {
  const xs = s.split(',').map((x) => x.trim());
  if (xs.some((x) => x === '')) throw new UsageError(`${flag}: empty name in "${s}"`);
  const d = xs.find((x, i) => xs.indexOf(x) !== i);
  if (d !== undefined) throw new UsageError(`${flag}: "${d}" listed twice`);
  return xs;
}

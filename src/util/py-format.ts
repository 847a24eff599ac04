/**
 * Numbers printed as Python prints them, for tables that Python scripts first made (the tables under results/): the same
 * bytes from the same JSON. Python rounds the exact binary value with ties to even, and statistics.mean rounds once.
 */

/** A finite double as m * 2^e, m an integer. */
function exactParts(x: number): [bigint, number] {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  const hi = v.getUint32(0);
  const expBits = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(v.getUint32(4));
  if (expBits !== 0) m |= 1n << 52n;
  return [hi >>> 31 ? -m : m, expBits === 0 ? -1074 : expBits - 1075];
}
const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);

/**
 * The mean rounded once, as Python's statistics.mean: the exact sum over n, then the nearest double (ties to even).
 * A plain sum / n can land on the other side of a printed tie (0.975, 0.875, 0.925 -> 0.9250000000000002: "93" where
 * the mean is 92.5 % and Python prints "92").
 */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0 || !xs.every(Number.isFinite)) return xs.reduce((a, b) => a + b, 0) / xs.length;
  const parts = xs.map(exactParts);
  const e = Math.min(...parts.map(([, pe]) => pe));
  const sum = parts.reduce((acc, [m, pe]) => acc + (m << BigInt(pe - e)), 0n);
  if (sum === 0n) return 0;
  const num = sum < 0n ? -sum : sum;
  const den = BigInt(xs.length);
  // A quotient of at least 55 bits: 53 kept, a rounding bit, and the rest (with the remainder) as sticky.
  const k = 56 + bitLength(den) - bitLength(num);
  const scaledNum = k >= 0 ? num << BigInt(k) : num;
  const scaledDen = k >= 0 ? den : den << BigInt(-k);
  const q = scaledNum / scaledDen;
  const sticky = scaledNum % scaledDen !== 0n;
  const drop = bitLength(q) - 53;
  let kept = q >> BigInt(drop);
  const rest = q & ((1n << BigInt(drop)) - 1n);
  const half = 1n << BigInt(drop - 1);
  if (rest > half || (rest === half && (sticky || (kept & 1n) === 1n))) kept += 1n;
  const abs = Number(kept) * 2 ** (e - k + drop);
  return sum < 0n ? -abs : abs;
}
/** `x` with `digits` decimals as Python's format does (f'{x:.1f}'): the nearest to the exact binary value, an exact
 *  half to the even digit (toFixed takes it up), and a negative zero keeps its sign. */
export function fixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const a = Math.abs(x);
  // toFixed with 60 more digits is the double's exact decimal expansion (|x| < 1e21 here): an exact tie shows 50...0.
  const exact = a.toFixed(Math.min(100, digits + 60));
  const dot = exact.indexOf('.');
  const keepEnd = digits === 0 ? dot : dot + 1 + digits;
  const rest = exact.slice(digits === 0 ? dot + 1 : keepEnd);
  if (!/^50*$/.test(rest)) return sign + a.toFixed(digits);
  const kept = exact.slice(0, keepEnd);
  return sign + (Number(kept.at(-1)) % 2 === 0 ? kept : a.toFixed(digits));
}

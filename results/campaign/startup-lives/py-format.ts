// Python's number formatting and json.dump(indent=1), so the TypeScript ports of this folder's scripts write what the
// Python originals wrote, byte for byte (a float that is integral prints "29.0" in Python, "29" in JavaScript).

/** format(x, '.nf') / round(x, n): the exact binary value rounded, ties to even (toFixed breaks ties upwards). */
export function pyFixed(x: number, n: number): string {
  const abs = Math.abs(x);
  let out = abs.toFixed(n);
  const exact = abs.toFixed(100); // the exact decimal expansion for every magnitude these scripts see
  const dot = exact.indexOf('.');
  if (/^50*$/.test(exact.slice(dot + 1 + n))) {
    const down = n === 0 ? exact.slice(0, dot) : exact.slice(0, dot + 1 + n);
    if (Number(down.at(-1)) % 2 === 0) out = down;
  }
  return (x < 0 || Object.is(x, -0) ? '-' : '') + out;
}

export const pyRound = (x: number, n: number): number => Number(pyFixed(x, n));

/** A number that Python holds as a float (round() of a non-integral value, a division, float()). */
export class PyFloat {
  constructor(readonly v: number) {}
}
export type PyNum = number | PyFloat;
export const num = (x: PyNum): number => (x instanceof PyFloat ? x.v : x);
/** round(x, n) keeps Python's type: an int stays an int, a float stays a float. */
export const pyRoundT = (x: number, n: number): PyNum => (Number.isInteger(x) ? x : new PyFloat(pyRound(x, n)));

/** str()/repr() of a value as Python prints it. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v instanceof PyFloat) return Number.isInteger(v.v) ? v.v.toFixed(1) : String(v.v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return String(v);
}

const pyString = (s: string): string => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** json.dumps(v, indent=1). */
export function pyJson(v: unknown, indent = ''): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof PyFloat) return pyRepr(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return pyString(v);
  const inner = `${indent} `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + pyJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${pyString(k)}: ${pyJson(x, inner)}`).join(',\n')}\n${indent}}`;
}

/**
 * Connector definitions: data files (JSON, millimetres and degrees) describing a plug/socket pair.
 * Loaded into SI units (metres) with every field validated; an error names the file and the field.
 *
 * File format (see data/connectors/*.json):
 * {
 *   "name": "europlug",                 // unique, [a-z0-9_-]
 *   "family": "mains",                  // free label, used for splits and tables
 *   "description": "...",               // optional
 *   "clearance_mm": 0.8,                // TOTAL (diametral) clearance: hole = pin + clearance, i.e. half per side; 0.3..1.5
 *   "depth_mm": 12,                     // insertion depth: how far the pins go below the socket face when seated; 3..30
 *   "parts": [                          // the pins' cross-sections, in the connector frame (mm, x right, y away)
 *     {"shape": "rect",    "center_mm": [0,0], "size_mm": [20,12], "rotation_deg": 0},
 *     {"shape": "circle",  "center_mm": [0,0], "diameter_mm": 4.8},
 *     {"shape": "dshape",  "center_mm": [0,0], "diameter_mm": 16, "flat_mm": 5, "rotation_deg": 0},
 *     {"shape": "ngon",    "center_mm": [0,0], "diameter_mm": 14, "sides": 6, "rotation_deg": 0},
 *     {"shape": "polygon", "center_mm": [0,0], "vertices_mm": [[-8,-5],[8,-5],[6,5],[-6,5]], "rotation_deg": 0}
 *   ],
 *   "housing_mm": {"size": [30, 20], "height": 14},   // optional: the plug body above the pins
 *   "plug":   {"color": [0.2,0.2,0.2], "texture": {"kind": "stripes", "period_mm": 4, "angle_deg": 0, "color2": [0.5,0.5,0.5]}},
 *   "socket": {"color": [0.9,0.9,0.85], "texture": {"kind": "none"}}
 * }
 * Parts must be convex and at least 1 mm apart once the clearance is added (the socket needs a wall between holes).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ccw, isConvex, offsetConvex, separation, tangentNgon, bbox, type Vec2 } from './geometry.ts';

export class ConnectorError extends Error {
  /** Every problem found, each as `file: field why` (one, unless a file has several independent ones). */
  readonly problems: string[];
  constructor(message: string, problems: string[] = [message]) {
    super(message);
    this.name = 'ConnectorError';
    this.problems = problems;
  }
}

export type RGB = [number, number, number];

export interface TextureDef {
  /** 'none': flat colour; 'stripes': bands of colour2 along `angle`; 'checker': 3D checkerboard. */
  kind: 'none' | 'stripes' | 'checker';
  /** Pattern period (m). */
  period: number;
  /** Stripe direction in the xy plane (rad). */
  angle: number;
  color2: RGB;
}

export interface SurfaceDef {
  color: RGB;
  texture: TextureDef;
}

/** One pin cross-section (m, connector frame). Circles stay circles (cylinder geoms); all others are polygons. */
export type PartDef =
  | { shape: 'rect'; center: Vec2; size: Vec2; rotation: number }
  | { shape: 'circle'; center: Vec2; radius: number }
  | { shape: 'polygon'; center: Vec2; vertices: Vec2[] };

export interface ConnectorDef {
  name: string;
  family: string;
  description: string;
  /** Source file (for messages). */
  file: string;
  parts: PartDef[];
  /** Total diametral clearance (m); each side of a pin sees half of it. */
  clearance: number;
  /** Insertion depth (m). */
  depth: number;
  housing: { size: Vec2; height: number };
  plug: SurfaceDef;
  socket: SurfaceDef;
}

/** Sides of the polygon that stands in for a round hole (edges tangent to the hole circle). */
export const ROUND_HOLE_SIDES = 12;

const MM = 1e-3;
const DEG = Math.PI / 180;

/** The part's outline as a CCW polygon (m). Circles become a tangent 16-gon. */
export function partPolygon(p: PartDef, grow = 0): Vec2[] {
  if (p.shape === 'circle') return tangentNgon(p.center, p.radius + grow, ROUND_HOLE_SIDES);
  if (p.shape === 'rect') {
    const [w, h] = p.size;
    const c = Math.cos(p.rotation);
    const s = Math.sin(p.rotation);
    const corners: Vec2[] = [
      [-w / 2, -h / 2],
      [w / 2, -h / 2],
      [w / 2, h / 2],
      [-w / 2, h / 2],
    ].map(([x, y]) => [p.center[0] + c * x! - s * y!, p.center[1] + s * x! + c * y!] as Vec2);
    return grow === 0 ? corners : offsetConvex(corners, grow);
  }
  return grow === 0 ? p.vertices.map((v) => [v[0], v[1]] as Vec2) : offsetConvex(p.vertices, grow);
}

/** The socket's holes: each part grown by half the clearance. */
export function holePolygons(def: ConnectorDef): Vec2[][] {
  return def.parts.map((p) => partPolygon(p, def.clearance / 2));
}

// ---------------------------------------------------------------- validation helpers

type Json = unknown;

class Ctx {
  /** Problems of fields checked so far (see `each`). */
  readonly problems: string[] = [];
  constructor(readonly file: string) {}
  /** Checks one field; its problem is noted and the next field checked, so a file's problems are said at once. */
  each<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (e) {
      if (!(e instanceof ConnectorError)) throw e;
      this.problems.push(...e.problems);
      return undefined;
    }
  }
  fail(field: string, msg: string, got?: Json): never {
    const g = got === undefined ? '' : `, got ${JSON.stringify(got)}`;
    throw new ConnectorError(`${this.file}: ${field} ${msg}${g}`);
  }
  /** A required field that is absent is "missing", not "must be a number". */
  present(v: Json, field: string, what: string): void {
    if (v === undefined) this.fail(field, `is missing (${what})`);
  }
  obj(v: Json, field: string): Record<string, Json> {
    this.present(v, field, 'an object');
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'must be an object', v);
    return v as Record<string, Json>;
  }
  num(v: Json, field: string, min: number, max: number): number {
    this.present(v, field, `a number between ${min} and ${max}`);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, 'must be a number', v);
    if (v < min || v > max) this.fail(field, `must be between ${min} and ${max}`, v);
    return v;
  }
  optNum(v: Json, field: string, min: number, max: number, dflt: number): number {
    return v === undefined ? dflt : this.num(v, field, min, max);
  }
  str(v: Json, field: string): string {
    this.present(v, field, 'a non-empty string');
    if (typeof v !== 'string' || v.length === 0) this.fail(field, 'must be a non-empty string', v);
    return v;
  }
  vec2(v: Json, field: string, min: number, max: number): Vec2 {
    this.present(v, field, 'an array of 2 numbers');
    if (!Array.isArray(v) || v.length !== 2) this.fail(field, 'must be an array of 2 numbers', v);
    return [this.num(v[0], `${field}[0]`, min, max), this.num(v[1], `${field}[1]`, min, max)];
  }
  rgb(v: Json, field: string): RGB {
    this.present(v, field, 'an array of 3 numbers in [0,1]');
    if (!Array.isArray(v) || v.length !== 3) this.fail(field, 'must be an array of 3 numbers in [0,1]', v);
    return [this.num(v[0], `${field}[0]`, 0, 1), this.num(v[1], `${field}[1]`, 0, 1), this.num(v[2], `${field}[2]`, 0, 1)];
  }
  noExtra(o: Record<string, Json>, field: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(field ? `${field}.${k}` : k, `is not a known field (known: ${allowed.join(', ')})`);
    }
  }
}

const TOP_FIELDS = ['name', 'family', 'description', 'clearance_mm', 'depth_mm', 'parts', 'housing_mm', 'plug', 'socket'] as const;

function parseSurface(c: Ctx, v: Json, field: string): SurfaceDef {
  const o = c.obj(v, field);
  c.noExtra(o, field, ['color', 'texture']);
  const color = c.rgb(o.color, `${field}.color`);
  let texture: TextureDef = { kind: 'none', period: 0.004, angle: 0, color2: color };
  if (o.texture !== undefined) {
    const t = c.obj(o.texture, `${field}.texture`);
    c.noExtra(t, `${field}.texture`, ['kind', 'period_mm', 'angle_deg', 'color2']);
    const kind = t.kind;
    if (kind !== 'none' && kind !== 'stripes' && kind !== 'checker') {
      c.fail(`${field}.texture.kind`, 'must be one of "none", "stripes", "checker"', kind);
    }
    texture = {
      kind,
      period: c.optNum(t.period_mm, `${field}.texture.period_mm`, 0.5, 50, 4) * MM,
      angle: c.optNum(t.angle_deg, `${field}.texture.angle_deg`, -360, 360, 0) * DEG,
      color2: t.color2 === undefined ? color : c.rgb(t.color2, `${field}.texture.color2`),
    };
    if (kind !== 'none' && t.color2 === undefined) c.fail(`${field}.texture.color2`, `is required for a ${kind} texture`);
  }
  return { color, texture };
}

function rotate(v: Vec2, a: number): Vec2 {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return [c * v[0] - s * v[1], s * v[0] + c * v[1]];
}

function parsePart(c: Ctx, v: Json, field: string): PartDef {
  const o = c.obj(v, field);
  const shape = o.shape;
  const center = c.vec2(o.center_mm ?? [0, 0], `${field}.center_mm`, -60, 60);
  const cm: Vec2 = [center[0] * MM, center[1] * MM];
  const rot = c.optNum(o.rotation_deg, `${field}.rotation_deg`, -360, 360, 0) * DEG;
  switch (shape) {
    case 'rect': {
      c.noExtra(o, field, ['shape', 'center_mm', 'size_mm', 'rotation_deg']);
      const size = c.vec2(o.size_mm, `${field}.size_mm`, 1, 60);
      return { shape: 'rect', center: cm, size: [size[0] * MM, size[1] * MM], rotation: rot };
    }
    case 'circle': {
      c.noExtra(o, field, ['shape', 'center_mm', 'diameter_mm']);
      const d = c.num(o.diameter_mm, `${field}.diameter_mm`, 1, 60);
      return { shape: 'circle', center: cm, radius: (d / 2) * MM };
    }
    case 'dshape': {
      // A circle with one side cut flat at distance flat_mm from the centre (on +y before rotation).
      c.noExtra(o, field, ['shape', 'center_mm', 'diameter_mm', 'flat_mm', 'rotation_deg']);
      const d = c.num(o.diameter_mm, `${field}.diameter_mm`, 2, 60);
      const r = d / 2;
      const f = c.num(o.flat_mm, `${field}.flat_mm`, 0.2 * r, 0.9 * r);
      const a0 = Math.asin(f / r); // angle of the flat's end points above the x axis
      const verts: Vec2[] = [];
      const n = 20;
      // Arc from a0 (right end of flat) clockwise round the bottom to pi - a0 (left end of flat).
      for (let k = 0; k <= n; k++) {
        const a = a0 - (k / n) * (2 * Math.PI - (Math.PI - 2 * a0));
        verts.push([r * Math.cos(a), r * Math.sin(a)]);
      }
      const poly = ccw(verts)
        .map((p) => rotate(p, rot))
        .map((p) => [cm[0] + p[0] * MM, cm[1] + p[1] * MM] as Vec2);
      return { shape: 'polygon', center: cm, vertices: poly };
    }
    case 'ngon': {
      c.noExtra(o, field, ['shape', 'center_mm', 'diameter_mm', 'sides', 'rotation_deg']);
      const d = c.num(o.diameter_mm, `${field}.diameter_mm`, 2, 60);
      const n = c.num(o.sides, `${field}.sides`, 3, 12);
      if (!Number.isInteger(n)) c.fail(`${field}.sides`, 'must be an integer', n);
      const verts: Vec2[] = [];
      for (let k = 0; k < n; k++) {
        const a = rot + (2 * Math.PI * k) / n;
        verts.push([cm[0] + (d / 2) * Math.cos(a) * MM, cm[1] + (d / 2) * Math.sin(a) * MM]);
      }
      return { shape: 'polygon', center: cm, vertices: verts };
    }
    case 'polygon': {
      c.noExtra(o, field, ['shape', 'center_mm', 'vertices_mm', 'rotation_deg']);
      const vs = o.vertices_mm;
      c.present(vs, `${field}.vertices_mm`, 'an array of 3 to 64 [x, y] points');
      if (!Array.isArray(vs) || vs.length < 3 || vs.length > 64) {
        c.fail(`${field}.vertices_mm`, 'must be an array of 3 to 64 [x, y] points', vs);
      }
      const raw = vs.map((p, i) => c.vec2(p, `${field}.vertices_mm[${i}]`, -60, 60));
      if (!isConvex(raw)) c.fail(`${field}.vertices_mm`, 'must describe a convex polygon without repeated or collinear points');
      const poly = ccw(raw)
        .map((p) => rotate(p, rot))
        .map((p) => [cm[0] + p[0] * MM, cm[1] + p[1] * MM] as Vec2);
      const b = bbox(poly);
      if (b.max[0] - b.min[0] < 1 * MM || b.max[1] - b.min[1] < 1 * MM) c.fail(`${field}.vertices_mm`, 'must span at least 1 mm in x and y');
      return { shape: 'polygon', center: cm, vertices: poly };
    }
    default:
      c.present(shape, `${field}.shape`, 'one of "rect", "circle", "dshape", "ngon", "polygon"');
      return c.fail(`${field}.shape`, 'must be one of "rect", "circle", "dshape", "ngon", "polygon"', shape);
  }
}

/** Validate a parsed JSON value as a connector definition. `file` is used in error messages. */
export function parseConnector(json: Json, file: string): ConnectorDef {
  const c = new Ctx(file);
  const o = c.obj(json, '(top level)');
  // The fields are independent: each is checked, and every problem among them is said at once.
  for (const k of Object.keys(o)) c.each(() => c.noExtra({ [k]: o[k] }, '', TOP_FIELDS));
  const name = c.each(() => {
    const n = c.str(o.name, 'name');
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(n)) c.fail('name', 'must match [a-z0-9][a-z0-9_-]*', n);
    return n;
  });
  const family = c.each(() => c.str(o.family, 'family'));
  const description = c.each(() => (o.description === undefined ? '' : c.str(o.description, 'description')));
  const clearance = c.each(() => c.num(o.clearance_mm, 'clearance_mm', 0.3, 1.5) * MM);
  const depth = c.each(() => c.num(o.depth_mm, 'depth_mm', 3, 30) * MM);
  const rawParts = c.each(() => {
    c.present(o.parts, 'parts', 'an array of 1 to 16 parts');
    if (!Array.isArray(o.parts) || o.parts.length < 1 || o.parts.length > 16) c.fail('parts', 'must be an array of 1 to 16 parts', o.parts);
    return o.parts as Json[];
  });
  const parts = (rawParts ?? []).map((p, i) => c.each(() => parsePart(c, p, `parts[${i}]`)));
  const plug = c.each(() => parseSurface(c, o.plug, 'plug'));
  const socket = c.each(() => parseSurface(c, o.socket, 'socket'));
  if (c.problems.length > 0) throw new ConnectorError(c.problems.join('; '), c.problems);
  // Every field is valid here (a problem would have thrown above); what follows checks them together.
  const def: ConnectorDef = {
    name: name as string,
    family: family as string,
    description: description as string,
    file,
    parts: parts as PartDef[],
    clearance: clearance as number,
    depth: depth as number,
    housing: { size: [0, 0], height: 0 },
    plug: plug as SurfaceDef,
    socket: socket as SurfaceDef,
  };
  const holes = holePolygons(def);
  for (let i = 0; i < holes.length; i++) {
    for (let j = i + 1; j < holes.length; j++) {
      if (separation(holes[i]!, holes[j]!) < 1 * MM) {
        c.fail(`parts[${j}]`, `must leave at least 1 mm of wall to parts[${i}] once clearance is added`);
      }
    }
  }
  const all = bbox(holes.flat());
  const span: Vec2 = [all.max[0] - all.min[0], all.max[1] - all.min[1]];
  if (span[0] > 80 * MM || span[1] > 80 * MM) c.fail('parts', 'must fit in 80 mm x 80 mm');
  // Housing: default covers the pins with a 3 mm rim; a given size must cover them too.
  const pinBox = bbox(def.parts.flatMap((p) => partPolygon(p)));
  const need: Vec2 = [2 * Math.max(Math.abs(pinBox.min[0]), Math.abs(pinBox.max[0])), 2 * Math.max(Math.abs(pinBox.min[1]), Math.abs(pinBox.max[1]))];
  if (o.housing_mm === undefined) {
    def.housing = { size: [need[0] + 6 * MM, need[1] + 6 * MM], height: 14 * MM };
  } else {
    const h = c.obj(o.housing_mm, 'housing_mm');
    c.noExtra(h, 'housing_mm', ['size', 'height']);
    const size = c.vec2(h.size, 'housing_mm.size', 2, 80);
    const sm: Vec2 = [size[0] * MM, size[1] * MM];
    if (sm[0] < need[0] - 1e-9 || sm[1] < need[1] - 1e-9) {
      c.fail('housing_mm.size', `must cover the parts (at least ${(need[0] / MM).toFixed(1)} x ${(need[1] / MM).toFixed(1)} mm, centred)`, size);
    }
    def.housing = { size: sm, height: c.optNum(h.height, 'housing_mm.height', 3, 40, 14) * MM };
  }
  return def;
}

export function loadConnector(file: string): ConnectorDef {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConnectorError(`${file}: cannot read file (${(e as Error).message})`);
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConnectorError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return parseConnector(json, file);
}

/** The project's connector directory (data/connectors), independent of the working directory. */
export const DEFAULT_CONNECTOR_DIR = resolve(import.meta.dirname, '../../data/connectors');

/** A connector file that could not be used, with the name it probably defines (its "name", else its file name). */
export interface ConnectorProblem {
  file: string;
  name: string;
  error: ConnectorError;
}

/** The usable connectors of a directory, sorted by name, and the files that were skipped. */
export type ConnectorList = ConnectorDef[] & { problems: ConnectorProblem[] };

const warned = new Set<string>();

/** The name a (possibly broken) connector file was meant to define. */
function intendedName(file: string): string {
  try {
    const n = (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown } | null)?.name;
    if (typeof n === 'string' && /^[a-z0-9][a-z0-9_-]*$/.test(n)) return n;
  } catch {
    // unreadable or not JSON: fall back to the file name
  }
  return basename(file, '.json');
}

/**
 * Loads every *.json in dir, sorted by name. A bad file does not stop the others: it is skipped, listed in
 * `problems`, and reported once per process through `onProblem` (default: a warning on stderr); only a command that
 * needs that connector fails (findConnector says why). Two files with one name are both skipped: which one was meant
 * cannot be guessed.
 */
export function loadConnectors(dir: string = DEFAULT_CONNECTOR_DIR, opts: { onProblem?: (p: ConnectorProblem) => void } = {}): ConnectorList {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch (e) {
    throw new ConnectorError(`${dir}: cannot list connector directory (${(e as Error).message})`);
  }
  const problems: ConnectorProblem[] = [];
  const defs: ConnectorDef[] = [];
  for (const f of files) {
    const file = join(dir, f);
    try {
      defs.push(loadConnector(file));
    } catch (e) {
      if (!(e instanceof ConnectorError)) throw e;
      problems.push({ file, name: intendedName(file), error: e });
    }
  }
  const byName = new Map<string, ConnectorDef[]>();
  for (const d of defs) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
  const usable: ConnectorDef[] = [];
  for (const [name, ds] of byName) {
    if (ds.length === 1) usable.push(ds[0] as ConnectorDef);
    else
      for (const d of ds)
        problems.push({
          file: d.file,
          name,
          error: new ConnectorError(
            `${d.file}: name "${name}" is also used by ${ds
              .filter((x) => x !== d)
              .map((x) => x.file)
              .join(', ')}`,
          ),
        });
  }
  const report = opts.onProblem ?? ((p: ConnectorProblem) => process.stderr.write(`warning: connector ${p.name} skipped: ${p.error.message}\n`));
  for (const p of problems) {
    if (opts.onProblem || !warned.has(p.error.message)) report(p);
    warned.add(p.error.message);
  }
  usable.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.assign(usable, { problems });
}

/** Each usable connector definition's clearance (m) by name; a directory that cannot be read gives none (practice then
 *  uses the configured noise for every connector: control/exploration.ts practiceNoise). */
export function connectorClearances(dir: string = DEFAULT_CONNECTOR_DIR): Map<string, number> {
  try {
    return new Map(loadConnectors(dir).map((d) => [d.name, d.clearance]));
  } catch (e) {
    if (e instanceof ConnectorError) return new Map();
    throw e;
  }
}

/** Find a connector by name in a list, with a clear error listing what exists. */
export function findConnector(defs: readonly ConnectorDef[] & { problems?: readonly ConnectorProblem[] }, name: string): ConnectorDef {
  const d = defs.find((x) => x.name === name);
  if (d) return d;
  const broken = defs.problems?.find((p) => p.name === name);
  if (broken) throw new ConnectorError(`connector "${name}" cannot be used: ${broken.error.message}`);
  throw new ConnectorError(`unknown connector "${name}" (known: ${defs.map((x) => x.name).join(', ')})`);
}

/**
 * Whether a learned reward trained on `trained` connectors covers `def`'s insertion depth: null when the depth lies
 * within the trained depths, else why not. The classifiers judge "seated" from how deep the plug looks; outside the
 * depths they saw they miss seated plugs (shallower) or take part-inserted ones for seated (deeper):
 * results/online-s20/. Trained connectors not in `defs` are left out; with none found, nothing can be said (null).
 */
export function rewardDepthCoverage(def: ConnectorDef, trained: readonly string[], defs: readonly ConnectorDef[]): string | null {
  const depths = defs.filter((d) => trained.includes(d.name)).map((d) => d.depth);
  if (depths.length === 0) return null;
  const lo = Math.min(...depths);
  const hi = Math.max(...depths);
  if (def.depth >= lo - 1e-9 && def.depth <= hi + 1e-9) return null;
  const mm = (m: number): string => `${+(m / MM).toFixed(1)} mm`;
  return (
    `${def.name} inserts ${mm(def.depth)} deep, outside the ${+(lo / MM).toFixed(1)}-${mm(hi)} of the ${depths.length} connectors the reward was trained on: ` +
    `its learned successes may be wrong (${def.depth < lo ? 'seated plugs missed' : 'part-inserted plugs taken for seated'}); label episodes, or train a reward on such depths`
  );
}

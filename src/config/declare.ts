/**
 * One declaration per configuration field: each builder returns a plain JSON schema (what ajv validates, with
 * `default` and `description`) that also carries, for the compiler only, the TypeScript type of the values it accepts,
 * so `Static<typeof S>` is the config's type and no hand-written interface can drift from the schema (issue 10).
 * A field may also name its command-line flag (`cli`), from which the parser and the help text are made (src/cli/flags.ts):
 * the daemon's flags are fields of its config, every other command declares its own table of fields the same way.
 *
 * TypeBox does the same; this is the subset the config needs, in ~150 lines, without another dependency.
 */

/** Type-level only: never present at run time, so ajv's strict mode never sees them. */
declare const kStatic: unique symbol;
declare const kOptional: unique symbol;

/** How a field is set from the command line: `--port N`, or a switch that sets a fixed value (`--free-run`). */
export interface CliSpec {
  /** The flag, with its dashes; a command's flag table (src/cli/flags.ts) may leave it out: `--kebab-case` of the key. */
  flag?: string;
  /** Placeholder of the value in the help text (switches have none). */
  arg?: string;
  /** A switch: the flag takes no value and sets the field to this. */
  sets?: unknown;
  /** The word that sets a nullable field to null (e.g. `--priority none`). */
  nullWord?: string;
  /** --help's word for a default the command computes from other values (the field is then T.optional). */
  defaultText?: string;
}

export interface Annotations<T> {
  description?: string;
  /** Used when the file omits the field (ajv useDefaults); a field with a default is optional in the file. */
  default?: T;
  cli?: CliSpec;
}

export type TSchema<T = unknown> = { readonly [k: string]: unknown } & { readonly [kStatic]?: T };
export type TOptional<T = unknown> = TSchema<T> & { readonly [kOptional]?: true };

/** The type of the values a schema accepts (after defaults are filled in). */
export type Static<S> = S extends { readonly [kStatic]?: infer T } ? T : never;

const optionals = new WeakSet<object>();

function annotated<T>(base: Record<string, unknown>, a: Annotations<T> | undefined): TSchema<T> {
  const out: Record<string, unknown> = { ...base };
  if (a?.description !== undefined) out.description = a.description;
  if (a?.default !== undefined) out.default = a.default;
  if (a?.cli !== undefined) out.cli = a.cli;
  return out;
}

interface NumberOptions<T> extends Annotations<T> {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}
const numberKeys = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
function pick(o: object | undefined, keys: readonly string[]): Record<string, unknown> {
  const src = (o ?? {}) as Record<string, unknown>;
  return Object.fromEntries(keys.filter((k) => src[k] !== undefined).map((k) => [k, src[k]]));
}

export const T = {
  number: (o?: NumberOptions<number>): TSchema<number> => annotated({ type: 'number', ...pick(o, numberKeys) }, o),
  integer: (o?: NumberOptions<number>): TSchema<number> => annotated({ type: 'integer', ...pick(o, numberKeys) }, o),
  string: (o?: Annotations<string> & { minLength?: number; maxLength?: number; pattern?: string }): TSchema<string> =>
    annotated({ type: 'string', ...pick(o, ['minLength', 'maxLength', 'pattern']) }, o),
  boolean: (o?: Annotations<boolean>): TSchema<boolean> => annotated({ type: 'boolean' }, o),
  /** One of the given words. */
  enum: <const V extends readonly (string | number)[]>(values: V, o?: Annotations<V[number]>): TSchema<V[number]> => annotated({ enum: [...values] }, o),

  /** Exactly n items (a vector). */
  tuple: <S extends TSchema, N extends number>(item: S, n: N, o?: Annotations<TupleOf<Static<S>, N>>): TSchema<TupleOf<Static<S>, N>> =>
    annotated({ type: 'array', items: item, minItems: n, maxItems: n }, o),
  array: <S extends TSchema>(item: S, o?: Annotations<Static<S>[]> & { uniqueItems?: boolean; minItems?: number; maxItems?: number }): TSchema<Static<S>[]> =>
    annotated({ type: 'array', items: item, ...pick(o, ['uniqueItems', 'minItems', 'maxItems']) }, o),

  /** A value or null. Scalars keep their keywords (`type: [t, 'null']`); anything else becomes a oneOf. */
  nullable: <S extends TSchema>(s: S, o?: Annotations<Static<S> | null>): TSchema<Static<S> | null> => {
    const { description, default: dflt, cli, ...rest } = s as Record<string, unknown>;
    const inner = { ...rest };
    let base: Record<string, unknown>;
    if (typeof inner.type === 'string' && inner.type !== 'object' && inner.type !== 'array') base = { ...inner, type: [inner.type, 'null'] };
    else if (Array.isArray(inner.enum)) base = { ...inner, enum: [...(inner.enum as unknown[]), null] };
    else base = { oneOf: [{ type: 'null' }, inner] };
    return annotated(base, { ...pickAnn({ description, default: dflt, cli }), ...o });
  },

  /** A field the file may leave out and that stays undefined (no default). */
  optional: <S extends TSchema>(s: S): S & TOptional<Static<S>> => {
    const copy = { ...s };
    optionals.add(copy);
    return copy as S & TOptional<Static<S>>;
  },

  /** A mapping from free names (an arm's robot id, a connector) to values of one schema. */
  record: <S extends TSchema>(value: S, o?: Annotations<Record<string, Static<S>>>): TSchema<Record<string, Static<S>>> =>
    annotated({ type: 'object', additionalProperties: value }, o),

  /** A closed object: unknown fields are refused (a typo is an error, never silently ignored). */
  // An object's default may be partial ({}): its fields' own defaults fill in the rest.
  object: <P extends Record<string, TSchema>>(properties: P, o?: Annotations<Partial<ObjectStatic<P>>>): TSchema<ObjectStatic<P>> => {
    const required = Object.entries(properties)
      .filter(([, s]) => !optionals.has(s) && (s as Record<string, unknown>).default === undefined)
      .map(([k]) => k);
    return annotated({ type: 'object', additionalProperties: false, required, properties }, o) as TSchema<ObjectStatic<P>>;
  },
};

function pickAnn(a: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined));
}

type TupleOf<V, N extends number, R extends V[] = []> = number extends N ? V[] : R['length'] extends N ? R : TupleOf<V, N, [...R, V]>;

// A key is optional when its schema was made by T.optional (the brand is in its type).
type OptionalKeys<P> = { [K in keyof P]: typeof kOptional extends keyof P[K] ? K : never }[keyof P];
type Simplify<O> = { [K in keyof O]: O[K] } & {};
type ObjectStatic<P extends Record<string, TSchema>> = Simplify<
  { [K in Exclude<keyof P, OptionalKeys<P>>]: Static<P[K]> } & { [K in OptionalKeys<P>]?: Static<P[K]> }
>;

/** A field with its path, for walking a declaration (flags, help, docs). */
export interface FieldInfo {
  path: string;
  schema: Record<string, unknown>;
}

/** Every leaf field of an object declaration, depth first, with its dotted path. */
export function fieldsOf(schema: TSchema, prefix = ''): FieldInfo[] {
  const s = schema as Record<string, unknown>;
  if (s.type === 'object' && s.properties && typeof s.properties === 'object') {
    return Object.entries(s.properties as Record<string, TSchema>).flatMap(([k, v]) => fieldsOf(v, prefix ? `${prefix}.${k}` : k));
  }
  return [{ path: prefix, schema: s }];
}

/**
 * The value a declaration gives when nothing is set: each field's default, an object's fields filled in from their own
 * defaults (as the loader's ajv useDefaults does). Code that needs a section's defaults without a file (the trainer's
 * defaults, the experiment's) reads them here, so the number is written once, in the declaration.
 */
export function defaultsOf<S extends TSchema>(schema: S): Static<S> {
  const s = schema as Record<string, unknown>;
  if (s.type === 'object' && s.properties && typeof s.properties === 'object') {
    const out: Record<string, unknown> = { ...(s.default as object | undefined) };
    for (const [k, v] of Object.entries(s.properties as Record<string, TSchema>)) {
      if (out[k] !== undefined) continue;
      const d: unknown = defaultsOf(v);
      if (d !== undefined) out[k] = d;
    }
    return out as Static<S>;
  }
  return structuredClone(s.default) as Static<S>;
}

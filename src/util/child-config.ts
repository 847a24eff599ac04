/**
 * Internal child processes (the trainer child, online/child.ts; the campaign's load child) take their settings as one
 * JSON object in argv[2], written by their parent, instead of flags or environment variables: the parent's options are
 * the one declaration. This parses it; each child checks its fields, and every error starts with `what`.
 */
export function childConfigArg<T>(what: string, json: string | undefined): Partial<T> {
  let c: unknown;
  try {
    c = JSON.parse(json ?? '');
  } catch {
    c = undefined;
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c))
    throw new Error(`${what}: expected one JSON object as the only argument, got ${JSON.stringify((json ?? '').slice(0, 80))}`);
  return c;
}

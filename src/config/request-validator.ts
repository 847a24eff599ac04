/**
 * JSON-schema validators for the HTTP API's requests. Ajv lives in config/ (which validates the daemon's files);
 * the API asks here rather than importing it a second time.
 */
import { Ajv } from 'ajv';

/** A compiler for request parts: coerce=true for params and query strings (they arrive as text), false for bodies. */
export function requestValidatorCompiler(coerce: boolean): Ajv['compile'] {
  const ajv = new Ajv({ coerceTypes: coerce, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  return ajv.compile.bind(ajv);
}

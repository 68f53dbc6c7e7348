import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { EdgekdError } from '../errors';
import type { ErrorCode } from '../errors';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: EdgekdError };

/** A parser for one schema: compiled once, used at a process boundary. */
export interface Parser<S extends TSchema> {
  /** Returns the typed value or throws an EdgekdError whose details list every violation. */
  parse(input: unknown): Static<S>;
  /** The same without throwing. */
  tryParse(input: unknown): ParseResult<Static<S>>;
}

const MAX_REPORTED_ERRORS = 8;

/**
 * Builds the parse function for a boundary. `what` names the document in the error message
 * ("manifest", "rollout offer"), `code` is the error code a failure carries.
 */
export function createParser<S extends TSchema>(schema: S, what: string, code: ErrorCode = 'EDGEKD_MESSAGE_INVALID'): Parser<S> {
  const validator = Compile(schema);
  const tryParse = (input: unknown): ParseResult<Static<S>> => {
    if (validator.Check(input)) return { ok: true, value: input as Static<S> };
    const violations = [...validator.Errors(input)]
      .slice(0, MAX_REPORTED_ERRORS)
      .map((e) => `${e.instancePath || '/'} ${e.message}`);
    return {
      ok: false,
      error: new EdgekdError(code, `invalid ${what}: ${violations.join('; ')}`, { details: { violations } }),
    };
  };
  return {
    tryParse,
    parse(input) {
      const r = tryParse(input);
      if (!r.ok) throw r.error;
      return r.value;
    },
  };
}

/** JSON.parse that turns a syntax error into a typed error instead of a crash. */
export function parseJson(text: string | Uint8Array, what: string, code: ErrorCode = 'EDGEKD_MESSAGE_INVALID'): unknown {
  const s = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: false }).decode(text);
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new EdgekdError(code, `invalid ${what}: not JSON (${(e as Error).message})`, { cause: e });
  }
}

import { Type, type Static } from 'typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { EdgekdError, ErrorCodes, toEdgekdError, type ErrorCode } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';

/** The body of every error response. `code` is stable (docs/errors.md); match on it. */
export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
  category: Type.String(),
  retryable: Type.Boolean(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** On 5xx only: the request id, under which the log holds the detail. */
  correlationId: Type.Optional(Type.String()),
});
export type ErrorResponse = Static<typeof ErrorResponse>;

/** Error responses each route documents in OpenAPI. */
export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
  500: ErrorResponse,
  503: ErrorResponse,
  /** A rollout change forwarded to the fleet leader got no answer in time (EDGEKD_LEADER_TIMEOUT). */
  504: ErrorResponse,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  EDGEKD_UNAUTHORIZED: 401,
  EDGEKD_FORBIDDEN: 403,
  EDGEKD_RATE_LIMITED: 429,
  EDGEKD_PAYLOAD_TOO_LARGE: 413,
  EDGEKD_FEATURE_UNAVAILABLE: 503,
};

const BY_CATEGORY: Record<EdgekdError['category'], number> = {
  input: 400,
  integrity: 422,
  compatibility: 422,
  transport: 503,
  timeout: 504,
  resource: 507,
  'not-found': 404,
  conflict: 409,
  auth: 403,
  internal: 500,
};

export function httpStatusOf(e: EdgekdError): number {
  return BY_CODE[e.code] ?? BY_CATEGORY[e.category];
}

/**
 * Maps anything a handler throws to `{code, message, category, retryable}`. fastify's own
 * errors (schema validation, body too large, bad JSON) get the matching input codes; anything
 * unexpected becomes EDGEKD_INTERNAL without its stack.
 */
export function toApiError(e: unknown): EdgekdError {
  if (e instanceof EdgekdError) return e;
  const fe = e as FastifyError & { validation?: unknown[] };
  if (fe && typeof fe === 'object') {
    if (fe.validation) {
      return new EdgekdError('EDGEKD_MESSAGE_INVALID', `invalid request: ${fe.message}`, { details: { validation: fe.validation } });
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', fe.message);
    if (typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_CTP')) return new EdgekdError('EDGEKD_MESSAGE_INVALID', fe.message);
    if (fe.statusCode === 404) return new EdgekdError('EDGEKD_NOT_FOUND', fe.message);
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return new EdgekdError('EDGEKD_INVALID_ARGUMENT', fe.message);
  }
  return toEdgekdError(e);
}

/**
 * Sends the typed error body. A 5xx says only what its code means in general (the catalogue's
 * summary) and the request id as `correlationId`: messages of server failures carry paths, SQL and
 * peer addresses, so they go to the log, under the same `reqId`, and never to the client.
 */
export function sendError(reply: FastifyReply, e: unknown, log?: Logger | FastifyRequest['log']): FastifyReply {
  const err = toApiError(e);
  const status = httpStatusOf(err);
  if (status < 500) return reply.status(status).type('application/json').send(err.toJSON());
  const correlationId = String(reply.request.id);
  if (err.code === 'EDGEKD_FEATURE_UNAVAILABLE') log?.info({ code: err.code, detail: err.message }, 'component unavailable');
  else log?.error({ err: e, code: err.code }, 'request failed');
  return reply.status(status).type('application/json').send({ code: err.code, message: `${ErrorCodes[err.code].summary} (correlation id ${correlationId})`, category: err.category, retryable: err.retryable, correlationId });
}

/** A route whose component this cloud was started without: visibly absent, never faked. */
export function unavailable(what: string): EdgekdError {
  return new EdgekdError('EDGEKD_FEATURE_UNAVAILABLE', `${what} is not available in this cloud (started without it)`);
}

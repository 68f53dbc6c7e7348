import { ErrorCodes, type ErrorCategory, type ErrorCode } from './codes';

/**
 * The one error class. `code` is stable and documented; `category` and `retryable` come from
 * the catalogue so a caller (the reconcile loop, the rollout engine, the API) can branch without
 * knowing every code. The message says what failed and what to do next.
 */
export class EdgekdError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgekdError';
    this.code = code;
    this.category = ErrorCodes[code].category;
    this.retryable = ErrorCodes[code].retryable;
    this.details = options.details ?? {};
  }

  /** The form that crosses process boundaries (MQTT payloads, HTTP bodies, job records). */
  toJSON(): { code: ErrorCode; message: string; category: ErrorCategory; retryable: boolean; details?: Record<string, unknown> } {
    const out: { code: ErrorCode; message: string; category: ErrorCategory; retryable: boolean; details?: Record<string, unknown> } = {
      code: this.code,
      message: this.message,
      category: this.category,
      retryable: this.retryable,
    };
    if (Object.keys(this.details).length > 0) out.details = { ...this.details };
    return out;
  }
}

export function isEdgekdError(e: unknown, code?: ErrorCode): e is EdgekdError {
  return e instanceof EdgekdError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into an EdgekdError, keeping one that already is. */
export function toEdgekdError(e: unknown, fallback: ErrorCode = 'EDGEKD_INTERNAL'): EdgekdError {
  if (e instanceof EdgekdError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new EdgekdError(fallback, message, { cause: e });
}

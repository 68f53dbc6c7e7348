import pino from 'pino';

export type Logger = pino.Logger;

/**
 * The process logger. One child per module (`logger.child({ module: 'rollout' })`); errors go
 * under `err`. Level from EDGEKD_LOG_LEVEL (default `info`; tests set `silent`).
 * Logs go to stderr so that command output on stdout (JSON results) stays machine-readable.
 */
export function createLogger(name: string, level = process.env.EDGEKD_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, pino.destination(2));
}

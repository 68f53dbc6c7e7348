import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgekdError } from '../errors';

/**
 * parseArgs with the project's error type: an unknown or malformed flag becomes
 * EDGEKD_INVALID_ARGUMENT with the help text, instead of a stack trace.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  help: string,
): { values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true }>>['values']; positionals: string[]; help: boolean } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    const wantsHelp = Boolean((r.values as Record<string, unknown>).help);
    if (wantsHelp) console.log(help);
    return { values: r.values as never, positionals: r.positionals, help: wantsHelp };
  } catch (e) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${(e as Error).message}\n\n${help}`, { cause: e });
  }
}

export function requireFlag<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `missing required flag --${flag}`);
  return value;
}

export function numberFlag(value: string | undefined, flag: string, fallback: number, range?: { min?: number; max?: number }): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--${flag} must be a number, got '${value}'`);
  if (range?.min !== undefined && n < range.min) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--${flag} must be ≥ ${range.min}, got ${n}`);
  if (range?.max !== undefined && n > range.max) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--${flag} must be ≤ ${range.max}, got ${n}`);
  return n;
}

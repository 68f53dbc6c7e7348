/**
 * Exponential backoff with full jitter: retry n (0-based) waits a uniform random time in
 * [0, min(cap, base · 2^n)]. Spreading every wait over the whole interval, not around its middle,
 * is what breaks the lockstep of a fleet that lost its broker at the same instant: 1,000 devices
 * on a fixed 1 s period all knock in the same second, with full jitter they spread over the window
 * and the window grows until the broker keeps up.
 */
export interface BackoffPolicy {
  /** The first window's width (ms). */
  readonly baseMs: number;
  /** No wait is longer than this (ms). */
  readonly capMs: number;
}

export function fullJitterDelayMs(retry: number, policy: BackoffPolicy, random: () => number): number {
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(retry, 52));
  return Math.floor(random() * window);
}

export interface Backoff {
  /** The wait before the next attempt: 0 for the first one after a reset, then full-jitter windows. */
  next(): number;
  /** After a success: the next failure starts again with an immediate attempt. */
  reset(): void;
  /** Attempts since the last reset. */
  readonly attempts: number;
}

export function createBackoff(policy: BackoffPolicy, random: () => number = Math.random): Backoff {
  if (!(policy.baseMs > 0) || !(policy.capMs >= policy.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= capMs');
  let attempts = 0;
  return {
    next() {
      const n = attempts++;
      return n === 0 ? 0 : fullJitterDelayMs(n - 1, policy, random);
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

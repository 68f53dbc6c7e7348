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

/**
 * How the connection that is being replaced ended. `clean`: an end addressed to this one client
 * (see edge/agent/mqtt-link.ts for what counts); `unclean`: anything that may have hit the whole
 * fleet at the same instant (the broker crashed, restarted or shut down, the network went away).
 */
export type LossKind = 'clean' | 'unclean';

export interface Backoff {
  /**
   * The wait before the next attempt. The first attempt after a reset depends on the loss: 0 after
   * a clean one, a full-jitter draw over [0, base] after an unclean one (so a fleet that lost its
   * broker together does not knock together). Later attempts double the window up to the cap.
   * `loss` is read only on that first attempt.
   */
  next(loss?: LossKind): number;
  /** After a success: the next loss starts over. */
  reset(): void;
  /** Attempts since the last reset. */
  readonly attempts: number;
}

export function createBackoff(policy: BackoffPolicy, random: () => number = Math.random): Backoff {
  if (!(policy.baseMs > 0) || !(policy.capMs >= policy.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= capMs');
  let attempts = 0;
  // Index of the next full-jitter window: an immediate first attempt does not use one up.
  let window = 0;
  return {
    next(loss: LossKind = 'unclean') {
      if (attempts++ === 0 && loss === 'clean') return 0;
      return fullJitterDelayMs(window++, policy, random);
    },
    reset() {
      attempts = 0;
      window = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

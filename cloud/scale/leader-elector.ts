import type { Logger } from '../../shared/log/logger';
import type { Fence, LeaderLease } from './leader-lease';

export interface LeaderElectorOptions {
  readonly lease: LeaderLease;
  /** How long a lease lasts without renewal (the lease's own ttl); renewal runs every third of it. */
  readonly ttlMs: number;
  readonly now?: () => number;
  /**
   * Starts leading with this fence (load every rollout and retrain from the store, start ticking);
   * returns how to stop leading.
   */
  onElected(fence: Fence): Promise<() => Promise<void>>;
  /**
   * Already leading with this fence (acquired up front, e.g. `--role all`): the elector only
   * renews it, and once it is lost does not stand by for it again (that process must restart).
   */
  readonly adopt?: { readonly fence: Fence; stop(): Promise<void> };
  readonly log?: Logger;
}

export interface LeaderElector {
  /** One round: a standby tries to acquire, the leader renews (or steps down when it cannot). */
  step(): Promise<void>;
  /** Runs `step` on a timer until `stop`. */
  start(): void;
  /** Stops stepping; a leader stops leading and releases the lease so a standby takes over at once. */
  stop(): Promise<void>;
  fence(): Fence | null;
}

/**
 * Hot standby for a single-leader role. Every process of the role runs one; the one that holds
 * the lease leads, the others retry each round and take over once it lapses. A leader that
 * cannot renew (lost the lease, or cannot reach the store until its lease has run out by its own
 * clock) stops leading; its late writes are refused by the fencing token anyway.
 */
export function createLeaderElector(opts: LeaderElectorOptions): LeaderElector {
  const now = opts.now ?? Date.now;
  let leading: { fence: Fence; stop: () => Promise<void>; validUntil: number } | null = opts.adopt ? { fence: opts.adopt.fence, stop: () => opts.adopt!.stop(), validUntil: now() + opts.ttlMs } : null;
  let retired = false;
  let timer: NodeJS.Timeout | undefined;
  let busy: Promise<void> = Promise.resolve();

  const stepDown = async (why: string): Promise<void> => {
    const l = leading;
    if (!l) return;
    leading = null;
    if (opts.adopt) retired = true;
    opts.log?.warn({ role: opts.lease.role, token: l.fence.token, why }, 'stopped leading');
    await l.stop().catch((e) => opts.log?.error({ err: e }, 'error while stopping the leader'));
  };

  const round = async (): Promise<void> => {
    if (retired) return;
    if (!leading) {
      const at = now();
      const fence = await opts.lease.tryAcquire();
      if (!fence) return;
      opts.log?.info({ role: opts.lease.role, token: fence.token }, 'elected leader');
      // Starting to lead (loading every rollout) may take longer than the lease: it runs beside
      // the rounds, which keep renewing meanwhile; stopping waits for it to have started.
      const starting = opts.onElected(fence);
      const mine = { fence, validUntil: at + opts.ttlMs, stop: async () => (await starting.catch(() => async () => undefined))() };
      leading = mine;
      starting.catch(async (e: unknown) => {
        opts.log?.error({ err: e }, 'could not start leading; releasing the lease');
        if (leading === mine) leading = null;
        await opts.lease.release(fence).catch(() => undefined);
      });
      return;
    }
    const at = now();
    try {
      if (await opts.lease.renew(leading.fence)) leading.validUntil = at + opts.ttlMs;
      else await stepDown('the lease lapsed or another process took it');
    } catch (e) {
      if (now() >= leading.validUntil) await stepDown(`could not renew before the lease ran out: ${(e as Error).message}`);
    }
  };

  const step = (): Promise<void> => {
    busy = busy.then(round, round);
    return busy;
  };

  return {
    step,
    fence: () => leading?.fence ?? null,
    start() {
      if (timer) return;
      timer = setInterval(() => void step().catch((e) => opts.log?.warn({ err: e }, 'leader election round failed')), Math.max(50, Math.floor(opts.ttlMs / 3)));
      timer.unref();
      void step().catch(() => undefined);
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await busy.catch(() => undefined);
      const l = leading;
      await stepDown('stopping');
      if (l) await opts.lease.release(l.fence).catch(() => undefined);
    },
  };
}

import type { FleetStore } from '../store/fleet-store';

export interface KnownDevices {
  /** True for a provisioned device that is not revoked. */
  isKnown(deviceId: string): Promise<boolean>;
}

/**
 * Only provisioned devices that are not revoked get anything stored, acked or answered (a revoked
 * device's session is ended by the broker; this covers what it sent meanwhile, within the cache
 * period). A known id is remembered for `ttlMs` (a primary-key read per device and period, not per
 * message); an unknown one is never remembered, so a flood of invented ids costs reads, never
 * writes. Lookups of one device share one promise, so its messages keep their order.
 */
export function createKnownDevices(o: { store: Pick<FleetStore, 'getDevice'>; now: () => number; ttlMs?: number }): KnownDevices {
  const ttlMs = o.ttlMs ?? 10_000;
  const knownUntil = new Map<string, number>();
  const lookups = new Map<string, Promise<boolean>>();
  return {
    isKnown(deviceId) {
      const until = knownUntil.get(deviceId);
      if (until !== undefined && until > o.now()) return Promise.resolve(true);
      let p = lookups.get(deviceId);
      if (!p) {
        p = o.store.getDevice(deviceId).then(
          (d) => {
            lookups.delete(deviceId);
            const ok = d !== null && d.revokedAt === null;
            if (ok) knownUntil.set(deviceId, o.now() + ttlMs);
            else knownUntil.delete(deviceId);
            return ok;
          },
          (e: unknown) => {
            lookups.delete(deviceId);
            throw e;
          },
        );
        lookups.set(deviceId, p);
      }
      return p;
    },
  };
}

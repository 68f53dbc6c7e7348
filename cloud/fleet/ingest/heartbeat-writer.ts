import type { Logger } from '../../../shared/log/logger';
import type { FleetStore, HeartbeatUpdate } from '../store/fleet-store';

export interface HeartbeatWriter {
  /** Keeps the device's newest heartbeat until the next write (a newer one replaces it). */
  record(update: HeartbeatUpdate): void;
  /** Stops the timer and writes what is pending. */
  close(): Promise<void>;
}

/**
 * Heartbeats are last-writer facts: only the newest per device matters, so they are written once
 * per period in one transaction, not one statement per message.
 */
export function createHeartbeatWriter(o: { store: Pick<FleetStore, 'applyHeartbeats'>; log: Logger; everyMs?: number }): HeartbeatWriter {
  const pending = new Map<string, HeartbeatUpdate>();
  const take = (): HeartbeatUpdate[] => {
    const batch = [...pending.values()];
    pending.clear();
    return batch;
  };
  const timer = setInterval(() => void o.store.applyHeartbeats(take()).catch((err) => o.log.warn({ err }, 'heartbeat write failed')), o.everyMs ?? 1_000);
  return {
    record: (u) => void pending.set(u.deviceId, u),
    async close() {
      clearInterval(timer);
      await o.store.applyHeartbeats(take()).catch(() => undefined);
    },
  };
}

import type { Logger } from '../../../shared/log/logger';
import { openDb } from '../../store/open-store';
import { FleetStore } from '../store/fleet-store';
import type { BrokerAccess } from './broker-access';
import { createDeviceAdmin, type DeviceAdmin } from './device-admin';
import { DeviceRegistry } from './device-registry';

/**
 * The device admin on a cloud's store, opened directly (`edgekd devices --data/--db`): for first
 * setup and scripts while the cloud is stopped. A running cloud reads the row on every connect, so
 * revocations and rotations made here hold from a device's next connect; ending a session that is
 * open now takes the running cloud (`--api`), which holds the broker.
 */
export async function openLocalDeviceAdmin(opts: {
  db: string;
  /** Brokers told about each change; a function gets the registry (e.g. to regenerate Mosquitto's files from it). */
  brokers?: readonly BrokerAccess[] | ((registry: DeviceRegistry) => readonly BrokerAccess[]);
  log?: Logger;
  now?: () => number;
}): Promise<{ admin: DeviceAdmin; close(): Promise<void> }> {
  const db = await openDb(opts.db);
  try {
    const registry = new DeviceRegistry(await FleetStore.open(db), opts.now ?? Date.now);
    const brokers = typeof opts.brokers === 'function' ? opts.brokers(registry) : (opts.brokers ?? []);
    return { admin: createDeviceAdmin({ registry, brokers, ...(opts.log ? { log: opts.log } : {}) }), close: () => db.close() };
  } catch (e) {
    await db.close();
    throw e;
  }
}

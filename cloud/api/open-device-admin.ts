import { existsSync } from 'node:fs';
import { EdgekdError } from '../../shared/errors';
import { deviceAdminClient } from './device-admin-client';
import { createMosquittoAccess } from '../broker/mosquitto-access';
import type { BrokerAccess } from '../fleet/registry/broker-access';
import type { DeviceAdmin } from '../fleet/registry/device-admin';
import type { DeviceRegistry } from '../fleet/registry/device-registry';
import { openLocalDeviceAdmin } from '../fleet/registry/local-device-admin';

/** Mosquitto's files kept in step with a store opened directly, and the cloud's own account (it lives in the same password file). */
export interface MosquittoSync {
  readonly files: { readonly passwordFile: string; readonly aclFile: string; readonly pidFile: string };
  readonly service: { readonly username: string; readonly password: string };
}

/** Where device changes go: a running cloud's API (admin token), or its store opened directly. */
export type DeviceAdminTarget =
  | { readonly api: { readonly url: string; readonly token: string } }
  | {
      /** `sqlite:PATH` or `postgres://…`. */
      readonly db: string;
      /** Only `add` may create a new store (first setup); otherwise a missing SQLite file is EDGEKD_NOT_FOUND. */
      readonly mayCreate: boolean;
      readonly mosquitto?: MosquittoSync;
    };

export interface OpenedDeviceAdmin {
  readonly admin: DeviceAdmin;
  /**
   * Whether a revocation or rotation also ends a session open now: true through the API (the
   * running cloud holds the broker) or with Mosquitto kept in step (it reloads); false when only
   * the store changes, and a running cloud refuses the device from its next connect.
   */
  readonly endsSessions: boolean;
  close(): Promise<void>;
}

/** Mosquitto reloaded when it runs (its pid file exists); only its files rewritten when it does not. */
function mosquittoBroker(m: MosquittoSync, registry: DeviceRegistry): BrokerAccess {
  const access = createMosquittoAccess({ ...m.files, service: m.service, accounts: () => registry.brokerAccounts() });
  return { deviceChanged: (change) => (existsSync(m.files.pidFile) ? access.deviceChanged(change) : access.sync({ reload: false })) };
}

/** The device admin for `edgekd devices`: the API client, or the store with Mosquitto kept in step. */
export async function openDeviceAdmin(target: DeviceAdminTarget): Promise<OpenedDeviceAdmin> {
  if ('api' in target) return { admin: deviceAdminClient(target.api.url, target.api.token), endsSessions: true, close: async () => {} };
  // A mistyped --data for revoke/rotate/list is an error rather than a new empty store.
  const file = target.db.startsWith('sqlite:') ? target.db.slice('sqlite:'.length) : null;
  if (!target.mayCreate && file !== null && file !== ':memory:' && !existsSync(file)) {
    throw new EdgekdError('EDGEKD_NOT_FOUND', `no cloud store at ${file} (give the cloud's --data DIR or --db URL)`);
  }
  const m = target.mosquitto;
  const local = await openLocalDeviceAdmin({ db: target.db, brokers: (registry) => (m ? [mosquittoBroker(m, registry)] : []) });
  return { ...local, endsSessions: m !== undefined };
}

import { randomBytes } from 'node:crypto';
import type { SqlDb } from '../store/sql-db';
import { startEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded-broker';
import { FleetStore } from './store/fleet-store';
import { DeviceRegistry } from './registry/device-registry';
import { createFleetController, type FleetController, type FleetControllerOptions } from './fleet-controller';

export interface FleetCloudOptions extends Omit<FleetControllerOptions, 'db' | 'brokerUrl' | 'mqttUsername' | 'mqttPassword'> {
  db: SqlDb;
  /**
   * `{ embedded: { host, port, authenticate } }` starts aedes in this process (port 0 = free port;
   * with `authenticate`, devices log in with their provisioned credentials and the device ACL
   * applies); `{ url, username, password }` uses an external broker such as Mosquitto.
   */
  broker: { embedded: { host?: string; port?: number; authenticate?: boolean } } | { url: string; username?: string; password?: string };
}

export interface FleetCloud {
  controller: FleetController;
  /** The embedded broker, when one was started. */
  broker: EmbeddedBroker | null;
  brokerUrl: string;
  close(): Promise<void>;
}

/**
 * The fleet half of `edgekd cloud`: broker (embedded or external) plus controller. With an
 * authenticating embedded broker, the controller logs in with a random service password that
 * exists only in this process.
 */
export async function startFleetCloud(opts: FleetCloudOptions): Promise<FleetCloud> {
  const { db, broker: b, ...rest } = opts;
  if ('url' in b) {
    const controller = await createFleetController({ ...rest, db, brokerUrl: b.url, ...(b.username ? { mqttUsername: b.username } : {}), ...(b.password ? { mqttPassword: b.password } : {}) });
    return { controller, broker: null, brokerUrl: b.url, close: () => controller.close() };
  }
  const service = { username: 'edgekd-cloud', password: randomBytes(24).toString('base64url') };
  let broker: EmbeddedBroker;
  if (b.embedded.authenticate) {
    const registry = new DeviceRegistry(await FleetStore.open(db), rest.clock ?? Date.now, service);
    broker = await startEmbeddedBroker({ host: b.embedded.host ?? '127.0.0.1', port: b.embedded.port ?? 1883, authenticate: (u, p) => registry.authenticate(u, p), ...(rest.logger ? { logger: rest.logger } : {}) });
  } else {
    broker = await startEmbeddedBroker({ host: b.embedded.host ?? '127.0.0.1', port: b.embedded.port ?? 1883, ...(rest.logger ? { logger: rest.logger } : {}) });
  }
  try {
    const controller = await createFleetController({
      ...rest,
      db,
      brokerUrl: broker.url,
      protocolVersion: 4,
      ...(b.embedded.authenticate ? { mqttUsername: service.username, mqttPassword: service.password } : {}),
    });
    return {
      controller,
      broker,
      brokerUrl: broker.url,
      async close() {
        await controller.close();
        await broker.close();
      },
    };
  } catch (e) {
    await broker.close();
    throw e;
  }
}

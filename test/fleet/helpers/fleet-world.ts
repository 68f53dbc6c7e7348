import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startEmbeddedBroker, type Authenticate, type EmbeddedBroker } from '../../../cloud/broker/embedded-broker';
import { openSqlite } from '../../../cloud/store/sqlite-db';
import type { SqlDb } from '../../../cloud/store/sql-db';
import { FleetStore } from '../../../cloud/fleet/store/fleet-store';
import { DeviceRegistry } from '../../../cloud/fleet/registry/device-registry';
import { createFleetController, type FleetController, type FleetEvent } from '../../../cloud/fleet/fleet-controller';
import type { RolloutSummary } from '../../../cloud/fleet/rollout-summary';
import type { SigningKey } from '../../../shared/package/keys';
import type { TrustedKeys } from '../../../shared/package/trusted-keys';
import type { ModelPackage } from '../../../shared/package/build-package';
import { createLogger } from '../../../shared/log/logger';
import { MOSQUITTO_URL } from '../../helpers/services';
import { createAgentProcess, type AgentProcess, type AgentProcessOptions } from './agent-process';
import { sizedPackage } from './sized-package';
import { startMosquittoWithDeployConfig, type MosquittoProcess } from './mosquitto';
import mqtt from 'mqtt';
import { topicFor } from '../../../shared/protocol/codec';

/** The shared Mosquitto keeps retained documents: remove the ones this test's devices left. */
async function clearRetained(url: string, deviceIds: string[]): Promise<void> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 }).catch(() => null);
  if (!c) return;
  for (const id of deviceIds) {
    await c.publishAsync(topicFor('presence', id), '', { qos: 1, retain: true });
    await c.publishAsync(topicFor('offer', id), '', { qos: 1, retain: true });
  }
  await c.endAsync();
}

/**
 * Agent processes start through tsx and load onnxruntime: seconds on an idle machine, tens of
 * seconds when the shared 2 cores are busy. These bound the waits, not the expected durations.
 */
export const AGENT_START_MS = 90_000;
export const E2E_TIMEOUT_MS = 240_000;

export const quietLogger = createLogger('fleet-e2e', process.env.EDGEKD_LOG_LEVEL ?? 'silent');

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface FleetWorld {
  dir: string;
  db: SqlDb;
  broker: EmbeddedBroker | null;
  brokerUrl: string;
  cloud: FleetController;
  events: FleetEvent[];
  agents: AgentProcess[];
  key: SigningKey;
  trustedKeys: TrustedKeys;
  features: number;
  /** A signed package (same key) of about 200 KB unless told otherwise. */
  makePackage(version: number, targetBytes?: number): ModelPackage;
  register(pkg: ModelPackage): Promise<string>;
  /** Starts a new controller on the same store (the old one must be closed). */
  restartCloud(): Promise<FleetController>;
  restartBroker(pauseMs?: number): Promise<void>;
  waitStatus(rolloutId: string, status: string[], timeoutMs?: number): Promise<RolloutSummary>;
  close(): Promise<void>;
}

const SERVICE = { username: 'edgekd-cloud', password: randomBytes(12).toString('hex') };

/**
 * Cloud (controller + SQLite + embedded broker with device authentication, or the shared Mosquitto
 * on 127.0.0.1:1883) and N real agent processes, provisioned and started.
 */
export async function fleetWorld(o: {
  agents: number;
  broker?: 'embedded' | 'mosquitto' | 'mosquitto-deploy';
  auth?: boolean;
  agentConfig?: Record<string, unknown>;
  prefix?: string;
  /** Per agent index: how to start it (see createAgentProcess); default `bin/edgekd.mjs agent`. */
  agentLaunch?: (index: number) => AgentProcessOptions['launch'];
}): Promise<FleetWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-fleet-e2e-'));
  const db = openSqlite(join(dir, 'cloud.db'));
  const auth = o.auth ?? true;
  let broker: EmbeddedBroker | null = null;
  let brokerUrl = MOSQUITTO_URL;
  let brokerPort = 0;
  let authenticate: Authenticate | undefined;
  if ((o.broker ?? 'embedded') === 'embedded') {
    const registry = new DeviceRegistry(await FleetStore.open(db), Date.now, SERVICE);
    if (auth) authenticate = (u, p) => registry.authenticate(u, p);
    broker = await startEmbeddedBroker({ port: 0, ...(authenticate ? { authenticate } : {}) });
    brokerUrl = broker.url;
    brokerPort = broker.port;
  }
  const prefix = o.prefix ?? `e2e${randomBytes(3).toString('hex')}`;
  // Mosquitto with deploy/mosquitto: devices are provisioned first, their passwords go into the
  // password file (mosquitto_passwd), then the broker starts; the cloud speaks MQTT 5 to it.
  let mosquitto: MosquittoProcess | null = null;
  const provisioned = new Map<string, { username: string; password: string }>();
  if (o.broker === 'mosquitto-deploy') {
    const registry = new DeviceRegistry(await FleetStore.open(db), Date.now, SERVICE);
    for (let i = 0; i < o.agents; i++) {
      const c = await registry.provision({ deviceId: `${prefix}-${i}`, groups: ['lab'] });
      provisioned.set(c.deviceId, c);
    }
    mosquitto = await startMosquittoWithDeployConfig({ [SERVICE.username]: SERVICE.password, ...Object.fromEntries([...provisioned.values()].map((c) => [c.username, c.password])) });
    brokerUrl = mosquitto.url;
  }
  const useAuth = (broker !== null && auth) || mosquitto !== null;
  const controllerOpts = () => ({
    db, brokerUrl, logger: quietLogger, tickMs: 100, chunkBytes: 32 * 1024,
    ...(mosquitto ? { protocolVersion: 5 as const, mqttClientId: SERVICE.username } : {}),
    ...(useAuth ? { mqttUsername: SERVICE.username, mqttPassword: SERVICE.password } : {}),
  });
  let cloud = await createFleetController(controllerOpts());
  const events: FleetEvent[] = [];
  const listen = (c: FleetController): void => void c.events.on('event', (e: FleetEvent) => events.push(e));
  listen(cloud);
  const first = sizedPackage({ targetBytes: 200_000, version: 1 });
  const key = first.key;
  await cloud.addTrustedKey(first.trustedKeys.keys[0]!);
  const agents: AgentProcess[] = [];
  for (let i = 0; i < o.agents; i++) {
    const creds = provisioned.get(`${prefix}-${i}`)
      ? { ...provisioned.get(`${prefix}-${i}`)!, deviceId: `${prefix}-${i}`, trustedKeys: await cloud.trustedKeys() }
      : await cloud.provisionDevice({ deviceId: `${prefix}-${i}`, groups: ['lab'] });
    const a = await createAgentProcess({
      dir, deviceId: creds.deviceId, brokerUrl, trustedKeys: creds.trustedKeys, ...(o.agentConfig ? { config: o.agentConfig } : {}),
      ...(o.agentLaunch?.(i) ? { launch: o.agentLaunch(i) } : {}),
      ...(useAuth ? { username: creds.username, password: creds.password } : {}),
    });
    agents.push(a);
  }
  await Promise.all(agents.map((a) => a.start()));
  const world: FleetWorld = {
    dir, db, broker, brokerUrl, cloud, events, agents, key, trustedKeys: first.trustedKeys, features: first.features,
    makePackage: (version, targetBytes = 200_000) => sizedPackage({ targetBytes, version, key }).pkg,
    async register(pkg) {
      return (await cloud.registerPackage({ manifest: pkg.manifest, signature: pkg.signature, model: pkg.model })).packageId;
    },
    async restartCloud() {
      cloud = await createFleetController(controllerOpts());
      world.cloud = cloud;
      listen(cloud);
      return cloud;
    },
    async restartBroker(pauseMs = 500) {
      if (!broker) throw new Error('only the embedded broker can be restarted here');
      await broker.close();
      await new Promise((r) => setTimeout(r, pauseMs));
      broker = await startEmbeddedBroker({ port: brokerPort, ...(authenticate ? { authenticate } : {}) });
      world.broker = broker;
    },
    async waitStatus(rolloutId, status, timeoutMs = 30_000) {
      let last: RolloutSummary | null = null;
      await until(async () => {
        last = await world.cloud.getRollout(rolloutId);
        return last !== null && status.includes(last.status);
      }, timeoutMs, `rollout ${rolloutId} to reach ${status.join('/')} (last: ${JSON.stringify(last && { status: (last as RolloutSummary).status, counts: (last as RolloutSummary).counts })})`);
      return last!;
    },
    async close() {
      await Promise.all(agents.map((a) => a.kill('SIGTERM')));
      await world.cloud.close().catch(() => undefined);
      await broker?.close();
      await mosquitto?.stop();
      if (!broker && !mosquitto) await clearRetained(brokerUrl, agents.map((a) => a.deviceId));
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** An inference request body for the fixture MLP (batch 1). */
export function inferBody(features: number): unknown {
  return { input: { dtype: 'float32', shape: [1, features], data: Array.from({ length: features }, (_, i) => (i % 7) / 7) }, topK: 2 };
}

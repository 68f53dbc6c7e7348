import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startCloud, type RunningCloud } from '../../cloud/api/start-cloud';
import { openSqlite } from '../../cloud/store/sqlite-db';
import { FleetStore } from '../../cloud/fleet/store/fleet-store';
import { DeviceRegistry } from '../../cloud/fleet/registry/device-registry';
import { createDeviceAdmin, type DeviceAdmin } from '../../cloud/fleet/registry/device-admin';
import { createMosquittoAccess } from '../../cloud/broker/mosquitto-access';
import { topicFor } from '../../shared/protocol/codec';
import type { TopicKind } from '../../shared/protocol/topics';
import { mosquittoAuthPaths, startMosquittoWithFiles, type MosquittoProcess } from './helpers/mosquitto';

/**
 * `edgekd cloud`'s embedded broker and a Mosquitto running the files the cloud generates enforce
 * the same rules: no anonymous client, a device is confined to its own topics and to its own
 * direction (it cannot send offers, commands or acks, not even to itself), and a rotated or revoked
 * device loses its session at once through BrokerAccess.
 */
interface Creds { username: string; password: string }
interface Setup {
  url: string;
  /** Provisioning as operators use it: registry first, then the broker is told (BrokerAccess). */
  admin: DeviceAdmin;
  /** Device ids the cloud side saw traffic for (messages it received, events it emitted). */
  seen(): string[];
  close(): Promise<void>;
}

const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));
const opts = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 3_000 };
const connect = (url: string, c: Creds): Promise<MqttClient> => mqtt.connectAsync(url, { ...opts, clientId: c.username, clean: true, username: c.username, password: c.password });

/** Connects, publishes once (QoS 1) and leaves; aedes disconnects on a refused publish, Mosquitto drops it. */
async function attempt(url: string, c: Creds, topic: string, payload: string): Promise<void> {
  const cl = await connect(url, c);
  await Promise.race([cl.publishAsync(topic, payload, { qos: 1 }).catch(() => undefined), settle(500)]);
  await cl.endAsync(true);
}

function collect(client: MqttClient): string[] {
  const got: string[] = [];
  client.on('message', (topic) => got.push(topic));
  return got;
}

const closed = (c: MqttClient, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (!c.connected) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    c.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });

function scenario(name: string, setup: () => Promise<Setup>): void {
  describe(`broker authentication and confinement on ${name}`, () => {
    let s: Setup;
    let a: Creds;
    let b: Creds;
    beforeAll(async () => {
      s = await setup();
      const suffix = Math.random().toString(36).slice(2, 8);
      a = await s.admin.add({ deviceId: `auth-a-${suffix}` });
      b = await s.admin.add({ deviceId: `auth-b-${suffix}` });
    }, 60_000);
    afterAll(async () => s?.close());

    it('refuses anonymous clients and wrong passwords', async () => {
      await expect(mqtt.connectAsync(s.url, opts)).rejects.toThrow();
      await expect(connect(s.url, { username: a.username, password: 'wrong-password' })).rejects.toThrow();
      await expect(connect(s.url, { username: 'never-provisioned', password: a.password })).rejects.toThrow();
      const ok = await connect(s.url, a);
      await ok.endAsync();
    });

    it('keeps a device to its own topics and its own direction', async () => {
      const victim = await connect(s.url, b);
      const atVictim = collect(victim);
      await victim.subscribeAsync([topicFor('offer', b.username), topicFor('command', b.username), topicFor('ack', b.username), topicFor('chunkResponse', b.username)], { qos: 1 });
      const spy = await connect(s.url, a);
      const atSpy = collect(spy);
      // Mosquitto 2.0 grants filters on MQTT 3.1.1 and refuses each message at delivery; aedes
      // answers SUBACK 0x80. Either way nothing of B's may arrive (asserted below).
      // (mqtt.js rejects the promise when the SUBACK carries a failure code.)
      const grants = await spy.subscribeAsync(['#', 'edgekd/v1/devices/+/offer', topicFor('offer', b.username), topicFor('status', b.username)], { qos: 1 }).then(
        (g) => g.map((x) => x.qos),
        () => 'refused',
      );
      if (name.startsWith('the embedded')) expect(grants).toBe('refused');
      await spy.subscribeAsync([topicFor('offer', a.username), topicFor('command', a.username), topicFor('ack', a.username)], { qos: 1 }).catch(() => undefined);

      const before = s.seen().filter((id) => id === b.username).length;
      // A speaks as B: presence with the largest sequence pair, status, heartbeat.
      const forged = { schema: 'edgekd.presence/1', deviceId: b.username, state: 'online', bootId: 'forged', bootSeq: 2 ** 53 - 1, sessionSeq: 2 ** 53 - 1, ts: new Date().toISOString() };
      await attempt(s.url, a, topicFor('presence', b.username), JSON.stringify(forged));
      await attempt(s.url, a, topicFor('status', b.username), '{}');
      // A sends what only the cloud may send, to B and to itself.
      for (const kind of ['offer', 'command', 'ack', 'chunkResponse'] as TopicKind[]) {
        await attempt(s.url, a, topicFor(kind, b.username), '{"schema":"forged"}');
        await attempt(s.url, a, topicFor(kind, a.username), '{"schema":"forged"}');
      }
      // B's own traffic, which A must not see through '#' or '+'.
      await victim.publishAsync(topicFor('status', b.username), '{"not":"a report"}', { qos: 1 });
      await settle(600);

      expect(atVictim).toEqual([]);
      expect(atSpy).toEqual([]);
      // Only B's own status reached the cloud side; no forged presence or status of B did.
      expect(s.seen().filter((id) => id === b.username).length - before).toBe(1);
      await Promise.all([victim.endAsync(true), spy.endAsync(true).catch(() => undefined)]);
    });

    it('ends the session of a rotated device and of a revoked one, and refuses their old credentials', async () => {
      const liveA = await connect(s.url, a);
      const liveB = await connect(s.url, b);
      const rotated = await s.admin.rotate(a.username);
      expect(await closed(liveA, 3_000)).toBe(true);
      expect(liveB.connected).toBe(true); // others keep their sessions
      await expect(connect(s.url, a)).rejects.toThrow();
      const again = await connect(s.url, rotated);
      await again.endAsync();

      await s.admin.revoke(b.username);
      expect(await closed(liveB, 3_000)).toBe(true);
      await expect(connect(s.url, b)).rejects.toThrow();
    });
  });
}

scenario('the embedded broker of edgekd cloud', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-auth-'));
  const cloud: RunningCloud = await startCloud({ dataDir: dir, brokerPort: 0, port: 0, logLevel: 'silent', teacherDir: join(dir, 'none') });
  const seen: string[] = [];
  cloud.fleet!.events.on('event', (e) => {
    const id = 'deviceId' in e ? e.deviceId : 'topic' in e ? e.topic.split('/')[3] : undefined;
    if (id) seen.push(id);
  });
  return {
    url: cloud.brokerUrl!,
    admin: cloud.devices!,
    seen: () => seen,
    async close() {
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

let hasMosquitto = true;
try {
  execFileSync('which', ['mosquitto'], { stdio: 'ignore' });
} catch {
  hasMosquitto = false;
}
if (!hasMosquitto && process.env.EDGEKD_REQUIRE_SERVICES === '1') throw new Error('the mosquitto binary is required (EDGEKD_REQUIRE_SERVICES=1)');
(hasMosquitto ? scenario : (n: string) => describe.skip(n, () => undefined))('Mosquitto with the files the cloud generates', async () => {
  const db = openSqlite(':memory:');
  const service = { username: 'edgekd-cloud', password: 'cloud-secret-for-tests' };
  const registry = new DeviceRegistry(await FleetStore.open(db), Date.now, service);
  const paths = mosquittoAuthPaths();
  const access = createMosquittoAccess({ ...paths, service, accounts: () => registry.brokerAccounts() });
  await access.sync({ reload: false });
  const m: MosquittoProcess = await startMosquittoWithFiles(paths);
  const cloud = await mqtt.connectAsync(m.url, { protocolVersion: 5, username: service.username, password: service.password, clientId: service.username, reconnectPeriod: 0 });
  const seen: string[] = [];
  cloud.on('message', (topic) => seen.push(topic.split('/')[3]!));
  await cloud.subscribeAsync(['edgekd/v1/devices/+/presence', 'edgekd/v1/devices/+/status', 'edgekd/v1/devices/+/heartbeat'], { qos: 1 });
  return {
    url: m.url,
    admin: createDeviceAdmin({ registry, brokers: [access] }),
    seen: () => seen,
    async close() {
      await cloud.endAsync(true);
      await m.stop();
      await db.close();
    },
  };
});

describe('local tool accounts of edgekd cloud (the demo feeder, drift inject)', () => {
  it('log in with their password only, and may use device topics and the demo shift topic', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-auth-local-'));
    const account = { username: 'edgekd-demo', password: 'local-tool-secret-123' };
    const cloud = await startCloud({ dataDir: dir, brokerPort: 0, port: 0, logLevel: 'silent', teacherDir: join(dir, 'none'), localMqttAccounts: [account] });
    try {
      await expect(connect(cloud.brokerUrl!, { ...account, password: 'wrong-password-xx' })).rejects.toThrow();
      const tool = await connect(cloud.brokerUrl!, account);
      await tool.subscribeAsync('edgekd/v1/demo/shift', { qos: 1 });
      const got = collect(tool);
      await tool.publishAsync('edgekd/v1/demo/shift', '{}', { qos: 1 });
      await settle(200);
      expect(got).toEqual(['edgekd/v1/demo/shift']);
      await tool.endAsync();
    } finally {
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

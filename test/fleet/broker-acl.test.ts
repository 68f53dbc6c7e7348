import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { execFileSync } from 'node:child_process';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../cloud/broker/embedded-broker';
import { openSqlite } from '../../cloud/store/sqlite-db';
import { FleetStore } from '../../cloud/fleet/store/fleet-store';
import { DeviceRegistry } from '../../cloud/fleet/registry/device-registry';
import { topicFor } from '../../shared/protocol/codec';
import { startMosquittoWithDeployConfig, type MosquittoProcess } from './helpers/mosquitto';

/**
 * A device may use only its own topics, on the embedded broker (registry authentication + the
 * device ACL) and on a real Mosquitto started with deploy/mosquitto (password file from
 * mosquitto_passwd, pattern ACL with %u). Same scenario on both.
 */
interface Setup {
  url: string;
  creds: Record<'cloud' | 'a' | 'b', { username: string; password: string }>;
  close(): Promise<void>;
}

const CLOUD = { username: 'edgekd-cloud', password: 'cloud-secret-for-tests' };

async function connect(url: string, c: { username: string; password: string }): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, username: c.username, password: c.password, clientId: c.username, reconnectPeriod: 0, clean: true });
}

function collect(client: MqttClient): Array<{ topic: string; payload: string }> {
  const got: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return got;
}

const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));

function scenario(name: string, setup: () => Promise<Setup>): void {
  describe(`device confinement on ${name}`, () => {
    let s: Setup;
    beforeAll(async () => {
      s = await setup();
    });
    afterAll(async () => s?.close());

    it('rejects a wrong password', async () => {
      await expect(connect(s.url, { username: s.creds.a.username, password: 'wrong' })).rejects.toThrow();
    });

    it('lets a device read its own offer and write its own status, and nothing of another device', async () => {
      const cloud = await connect(s.url, s.creds.cloud);
      const a = await connect(s.url, s.creds.a);
      const b = await connect(s.url, s.creds.b);
      const atCloud = collect(cloud);
      const atA = collect(a);
      const atB = collect(b);
      const A = s.creds.a.username;
      const B = s.creds.b.username;
      await cloud.subscribeAsync([topicFor('status', A), topicFor('status', B)], { qos: 1 });
      await a.subscribeAsync(topicFor('offer', A), { qos: 1 });
      await b.subscribeAsync(topicFor('offer', B), { qos: 1 });
      // A tries to listen to B's offer. aedes refuses the filter (SUBACK 0x80); Mosquitto 2.0
      // grants it on MQTT 3.1.1 and checks read access per message instead. Either way nothing of
      // B's arrives at A (asserted below).
      const grant = await a.subscribeAsync(topicFor('offer', B), { qos: 1 }).catch(() => [{ qos: 128 }]);
      if (name === 'the embedded broker') expect(grant[0]?.qos).toBe(128);

      await cloud.publishAsync(topicFor('offer', A), 'offer-for-a', { qos: 1 });
      await cloud.publishAsync(topicFor('offer', B), 'offer-for-b', { qos: 1 });
      await a.publishAsync(topicFor('status', A), 'status-from-a', { qos: 1 });
      // A writes into B's status topic: Mosquitto drops it, aedes disconnects A; B's topic stays clean.
      await Promise.race([a.publishAsync(topicFor('status', B), 'forged-by-a', { qos: 1 }).catch(() => undefined), settle(500)]);
      await settle();

      expect(atA.map((m) => m.payload)).toEqual(['offer-for-a']);
      expect(atB.map((m) => m.payload)).toEqual(['offer-for-b']);
      expect(atCloud).toEqual([{ topic: topicFor('status', A), payload: 'status-from-a' }]);
      await Promise.all([cloud.endAsync(true), a.endAsync(true), b.endAsync(true)]);
    });
  });
}

scenario('the embedded broker', async () => {
  const db = openSqlite(':memory:');
  const registry = new DeviceRegistry(await FleetStore.open(db), Date.now, CLOUD);
  const a = await registry.provision({ deviceId: 'dev-a' });
  const b = await registry.provision({ deviceId: 'dev-b' });
  const broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0, authenticate: (u, p) => registry.authenticate(u, p) });
  return {
    url: broker.url,
    creds: { cloud: CLOUD, a, b },
    async close() {
      await broker.close();
      await db.close();
    },
  };
});

let hasMosquitto = true;
try {
  execFileSync('which', ['mosquitto', 'mosquitto_passwd'], { stdio: 'ignore' });
} catch {
  hasMosquitto = false;
}
if (!hasMosquitto && process.env.EDGEKD_REQUIRE_SERVICES === '1') throw new Error('the mosquitto binary is required (EDGEKD_REQUIRE_SERVICES=1)');
(hasMosquitto ? scenario : (n: string) => describe.skip(`device confinement on ${n}`, () => undefined))('Mosquitto with deploy/mosquitto', async () => {
  const creds = { cloud: CLOUD, a: { username: 'dev-a', password: 'pw-a-123456' }, b: { username: 'dev-b', password: 'pw-b-123456' } };
  const m: MosquittoProcess = await startMosquittoWithDeployConfig({ [CLOUD.username]: CLOUD.password, 'dev-a': creds.a.password, 'dev-b': creds.b.password });
  return { url: m.url, creds, close: () => m.stop() };
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../cloud/broker/embedded-broker';
import { openSqlite } from '../../cloud/store/sqlite-db';
import type { SqlDb } from '../../cloud/store/sql-db';
import { createFleetController, type FleetController } from '../../cloud/fleet/fleet-controller';
import { createApiMetrics } from '../../cloud/api/metrics';
import { registerFleetMetrics } from '../../cloud/api/fleet-metrics';
import { encode, topicFor } from '../../shared/protocol/codec';
import { quietLogger, until } from './helpers/fleet-world';

/**
 * Reports from ids that were never provisioned get nothing: no row, no ack, no presence; they are
 * counted per kind and reason and show on /metrics. Two provisioned devices that happen to use the
 * same idempotency key are both stored and both acked (keys are unique per device).
 */
const status = (deviceId: string, seq: number, idempotencyKey = randomUUID()) => ({
  schema: 'edgekd.status/1' as const, deviceId, bootId: 'boot-1', seq, idempotencyKey, ts: new Date().toISOString(),
  deploymentId: `r-none~${deviceId}`, state: 'downloading' as const,
});

describe('reports from devices that are not provisioned', () => {
  let broker: EmbeddedBroker;
  let db: SqlDb;
  let cloud: FleetController;
  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 }); // no authentication: the worst case
    db = openSqlite(':memory:');
    cloud = await createFleetController({ db, brokerUrl: broker.url, mqttClientId: 'edgekd-cloud-unknown-devices', logger: quietLogger });
    await cloud.provisionDevice({ deviceId: 'known-1' });
    await cloud.provisionDevice({ deviceId: 'known-2' });
  });
  afterAll(async () => {
    await cloud?.close();
    await broker?.close();
    await db?.close();
  });

  async function as(deviceId: string): Promise<{ c: MqttClient; acks: string[] }> {
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: deviceId, reconnectPeriod: 0 });
    const acks: string[] = [];
    c.on('message', (_t, p) => acks.push(...(JSON.parse(p.toString()) as { keys: string[] }).keys));
    await c.subscribeAsync(topicFor('ack', deviceId), { qos: 1 });
    return { c, acks };
  }
  const send = (c: MqttClient, kind: 'status' | 'presence' | 'heartbeat' | 'drift', deviceId: string, m: unknown) => {
    const out = encode(kind, deviceId, m as never);
    return c.publishAsync(out.topic, out.payload, { qos: 1 });
  };

  it('stores, acks and marks nothing for an unknown id, and counts what it dropped', async () => {
    const ghost = await as('ghost-1');
    for (let i = 0; i < 200; i++) await send(ghost.c, 'status', 'ghost-1', status('ghost-1', i));
    await send(ghost.c, 'presence', 'ghost-1', { schema: 'edgekd.presence/1', deviceId: 'ghost-1', state: 'online', bootId: 'forged', bootSeq: 2 ** 53 - 1, sessionSeq: 2 ** 53 - 1, ts: new Date().toISOString() });
    const known = await as('known-1');
    await send(known.c, 'status', 'known-1', status('known-1', 0));
    await until(() => known.acks.length === 1, 10_000, 'the known device acked');
    await until(() => cloud.stats().droppedMessages >= 201, 10_000, 'drops counted');
    await cloud.flush();

    expect(await cloud.store.countReports('ghost-1')).toBe(0);
    expect(await cloud.getDevice('ghost-1')).toBeNull();
    expect(ghost.acks).toEqual([]);
    expect(cloud.messageCounters()).toEqual(
      expect.arrayContaining([
        { outcome: 'dropped', kind: 'status', reason: 'unknown-device', count: 200 },
        { outcome: 'dropped', kind: 'presence', reason: 'unknown-device', count: 1 },
      ]),
    );
    await ghost.c.endAsync();
    await known.c.endAsync();
  });

  it('keeps idempotency per device: the same key from two devices is stored and acked for each', async () => {
    const one = await as('known-1');
    const two = await as('known-2');
    const key = 'same-key-on-two-devices';
    await send(one.c, 'status', 'known-1', status('known-1', 1, key));
    await send(two.c, 'status', 'known-2', status('known-2', 0, key));
    await until(() => one.acks.includes(key) && two.acks.includes(key), 10_000, 'both acked');
    await cloud.flush();
    expect(await cloud.store.countReports('known-2')).toBe(1);
    expect(cloud.stats().reportsDuplicate).toBe(0);
    await one.c.endAsync();
    await two.c.endAsync();
  });

  it('exposes rejected and dropped messages as Prometheus counters', async () => {
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    await c.publishAsync(topicFor('heartbeat', 'known-1'), 'not json', { qos: 1 });
    await c.endAsync();
    await until(() => cloud.messageCounters().some((m) => m.outcome === 'rejected'), 10_000, 'a rejection');
    const metrics = createApiMetrics({ defaultMetrics: false });
    registerFleetMetrics(metrics, cloud);
    const text = await metrics.registry.metrics();
    expect(text).toContain('# TYPE edgekd_fleet_messages_dropped_total counter');
    expect(text).toContain('edgekd_fleet_messages_dropped_total{kind="status",reason="unknown-device"} 200');
    expect(text).toContain('edgekd_fleet_messages_rejected_total{kind="heartbeat",reason="EDGEKD_MESSAGE_INVALID"} 1');
  });
});

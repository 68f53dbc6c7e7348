import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import mqtt from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../cloud/broker/embedded-broker';
import { openSqlite } from '../../cloud/store/sqlite-db';
import type { SqlDb } from '../../cloud/store/sql-db';
import { createFleetController, type FleetController, type FleetEvent } from '../../cloud/fleet/fleet-controller';
import { quietLogger, until } from './helpers/fleet-world';

/**
 * A publish to `edgekd/v1/devices//status` used to close the cloud's own connection: aedes routes
 * live messages with a matcher whose `+` matches an empty level, but its persistence does not, so a
 * QoS 1 message reached the cloud's persistent session without being queued for it, and aedes
 * failed that delivery by disconnecting the subscriber (the cloud). The broker now refuses topic
 * names with empty levels at the door. Every malformed shape below, at QoS 0 and 1, leaves the
 * cloud's link up, and a device's QoS 0 stream sent meanwhile arrives whole.
 */
const CLOUD_ID = 'edgekd-cloud-malformed-topics';

/** Topic names mqtt.js can send (the broker may refuse some and close that publisher). */
const SHAPES = [
  'edgekd/v1/devices//status',
  'edgekd/v1/devices//presence',
  'edgekd/v1/devices//chunk/req',
  'edgekd/v1/devices//drift',
  'edgekd/v1/devices/dev-x//status',
  'edgekd/v1/devices/dev-x/status/',
  '/edgekd/v1/devices/dev-x/status',
  'edgekd/v1/devices//',
  'edgekd//v1/devices/dev-x/status',
  'edgekd/v1/devices/+/status',
  'edgekd/v1/devices/#',
  'edgekd/v1/devices/dev+x/status',
  'edgekd/v1/devices/dev#x/status',
  'edgekd/v1/devices/\u0000/status',
  `edgekd/v1/devices/${'d'.repeat(200)}/status`,
  `edgekd/v1/devices/${'d'.repeat(60_000)}/status`,
  'edgekd/v1/devices/dev-x/unknown',
  'edgekd/v1/devices/dev-x/chunk/res/extra',
  'edgekd/v2/devices/dev-x/status',
  'edgekd/v1/devices/dév-ü/status',
];

/** A raw CONNECT + QoS 0/1 PUBLISH whose topic bytes are not UTF-8 (mqtt.js only sends strings). */
async function publishRawTopic(port: number, topic: Buffer, qos: 0 | 1): Promise<void> {
  const str = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
  const len = (n: number): Buffer => {
    const out: number[] = [];
    do {
      let d = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) d |= 128;
      out.push(d);
    } while (n > 0);
    return Buffer.from(out);
  };
  const connectBody = Buffer.concat([str(Buffer.from('MQTT')), Buffer.from([4, 2, 0, 30]), str(Buffer.from(`raw-${Math.random().toString(36).slice(2)}`))]);
  const publishBody = Buffer.concat([str(topic), qos ? Buffer.from([0, 1]) : Buffer.alloc(0), Buffer.from('x')]);
  const bytes = Buffer.concat([Buffer.from([0x10]), len(connectBody.length), connectBody, Buffer.from([0x30 | (qos << 1)]), len(publishBody.length), publishBody]);
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('error', () => resolve());
    setTimeout(() => {
      s.destroy();
      resolve();
    }, 150);
  });
}

describe('malformed topic names', () => {
  let broker: EmbeddedBroker;
  let db: SqlDb;
  let cloud: FleetController;
  const events: FleetEvent[] = [];
  const cloudDrops: number[] = [];

  beforeAll(async () => {
    // No authentication: the worst case (with it, the ACL refuses all of these anyway).
    broker = await startEmbeddedBroker({ port: 0 });
    broker.aedes.on('clientDisconnect', (c) => void (c.id === CLOUD_ID && cloudDrops.push(Date.now())));
    db = openSqlite(':memory:');
    // A stable client id = a persistent session, as edgekd cloud runs it.
    cloud = await createFleetController({ db, brokerUrl: broker.url, mqttClientId: CLOUD_ID, logger: quietLogger });
    cloud.events.on('event', (e: FleetEvent) => events.push(e));
  });
  afterAll(async () => {
    await cloud?.close();
    await broker?.close();
    await db?.close();
  });

  it('never drop the cloud link, and QoS 0 traffic meanwhile is not lost', async () => {
    const device = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'dev-steady', reconnectPeriod: 0 });
    let sent = 0;
    const stream = setInterval(() => {
      sent++;
      device.publish('edgekd/v1/devices/dev-steady/heartbeat', `{"n":${sent}}`, { qos: 0 });
    }, 10);
    for (const qos of [0, 1] as const) {
      for (const topic of SHAPES) {
        const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
        c.on('error', () => undefined);
        await Promise.race([c.publishAsync(topic, 'x', { qos }).catch(() => undefined), new Promise((r) => setTimeout(r, 150))]);
        c.end(true);
      }
      await publishRawTopic(broker.port, Buffer.from([0x65, 0x64, 0xff, 0xfe, 0x2f, 0x73]), qos);
      await publishRawTopic(broker.port, Buffer.concat([Buffer.from('edgekd/v1/devices/'), Buffer.from([0xc3, 0x28]), Buffer.from('/status')]), qos);
    }
    clearInterval(stream);
    const steady = (): number => events.filter((e) => e.type === 'message-rejected' && e.topic === 'edgekd/v1/devices/dev-steady/heartbeat').length;
    await until(() => steady() >= sent, 5_000, `all ${sent} QoS 0 messages at the cloud (got ${steady()})`).catch(() => undefined);
    await device.endAsync();

    expect(cloudDrops).toEqual([]);
    expect(sent).toBeGreaterThan(50);
    expect(steady()).toBe(sent);
    // The cloud still answers: shapes that reached it were rejected with a typed code, none crashed it.
    const codes = new Set(events.flatMap((e) => (e.type === 'message-rejected' ? [e.error.code] : [])));
    expect([...codes]).toEqual(['EDGEKD_MESSAGE_INVALID']);
  }, 120_000);
});

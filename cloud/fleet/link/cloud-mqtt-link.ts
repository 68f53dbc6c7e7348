import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { EdgekdError } from '../../../shared/errors';
import type { Logger } from '../../../shared/log/logger';
import { encode, type MessageMap } from '../../../shared/protocol/codec';
import type { TopicKind } from '../../../shared/protocol/topics';
import { redact } from '../../broker/broker-target';

export interface CloudMqttLinkOptions {
  readonly brokerUrl: string;
  /** 4 (MQTT 3.1.1, the embedded broker) or 5 (adds message expiry and shared subscriptions). */
  readonly protocolVersion: 4 | 5;
  /** Stable id: a persistent session keeps QoS 1 reports while the cloud is away. Absent: random, clean. */
  readonly clientId?: string;
  /** Force a clean session even with a stable id (shared ingest; see the fleet controller). */
  readonly cleanSession?: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Subscriptions made on every (re)connect. */
  readonly filters: Readonly<Record<string, { qos: 0 | 1 | 2 }>>;
  readonly log: Logger;
  /** Every incoming message, raw: decoding and authorisation are the caller's. */
  readonly onMessage: (topic: string, payload: Buffer) => void;
  /** After the subscriptions of each (re)connect were granted or refused. */
  readonly onSubscribed: () => void;
  readonly connect?: (url: string, opts: IClientOptions) => MqttClient;
}

export interface CloudMqttLink {
  /** Validates and publishes one message to a device's topic; never throws (a bad message is logged). */
  publish<K extends TopicKind>(kind: K, deviceId: string, message: MessageMap[K]): void;
  readonly connected: boolean;
  /** Resolves on the first connection; rejects EDGEKD_BROKER_UNAVAILABLE (credentials redacted) after the timeout. */
  waitConnected(timeoutMs: number): Promise<void>;
  traffic(): { messagesIn: number; bytesIn: number; messagesOut: number; bytesOut: number };
  /** Lets in-flight QoS 1 publishes finish (at most 2 s), then disconnects; later publishes are dropped. */
  close(): Promise<void>;
}

/**
 * The cloud's one MQTT connection. Outgoing messages go through the topic table's codec (`encode`
 * validates against the schema: nothing invalid reaches the wire). Reconnects use a short fixed
 * period: the cloud is one client, so it cannot cause a reconnect storm.
 */
export function createCloudMqttLink(o: CloudMqttLinkOptions): CloudMqttLink {
  const connect = o.connect ?? ((url: string, opts: IClientOptions) => mqtt.connect(url, opts));
  const t = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
  let closed = false;
  const client = connect(o.brokerUrl, {
    protocolVersion: o.protocolVersion,
    clientId: o.clientId ?? `edgekd-cloud-${randomBytes(4).toString('hex')}`,
    clean: o.clientId === undefined || o.cleanSession === true,
    ...(o.username ? { username: o.username } : {}),
    ...(o.password ? { password: o.password } : {}),
    ...(o.tls ?? {}),
    reconnectPeriod: 500,
    connectTimeout: 5_000,
    resubscribe: true,
  });
  client.on('error', (err) => o.log.warn({ err }, 'mqtt error'));
  // Many small QoS 1 messages and acks in both directions: Nagle plus delayed ACK would add ~40 ms
  // to every exchange on this one connection and serialise the whole fleet behind it.
  client.on('connect', () => (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true));
  client.on('offline', () => o.log.info('mqtt offline, reconnecting'));
  let firstConnect = true;
  client.on('connect', () => {
    client.subscribe({ ...o.filters }, (err) => {
      if (err) o.log.error({ err }, 'subscribe failed');
      o.onSubscribed();
    });
    if (!firstConnect) o.log.info('mqtt reconnected');
    firstConnect = false;
  });
  client.on('message', (topic, payload) => {
    t.messagesIn++;
    t.bytesIn += payload.length;
    o.onMessage(topic, payload);
  });

  return {
    publish(kind, deviceId, message) {
      if (closed) return;
      try {
        const out = encode(kind, deviceId, message, { protocolVersion: o.protocolVersion });
        t.messagesOut++;
        t.bytesOut += out.payload.length;
        client.publish(out.topic, out.payload, { qos: out.qos, retain: out.retain, ...(out.properties ? { properties: out.properties } : {}) }, (err) => {
          if (err) o.log.warn({ topic: out.topic, err }, 'publish failed');
        });
      } catch (err) {
        o.log.error({ kind, deviceId, err }, 'refusing to publish an invalid message');
      }
    },
    get connected() {
      return client.connected;
    },
    waitConnected(timeoutMs) {
      if (client.connected) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          client.end(true);
          reject(new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot connect to the MQTT broker at ${redact(o.brokerUrl)}`));
        }, timeoutMs);
        client.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    traffic: () => ({ ...t }),
    async close() {
      if (closed) return;
      closed = true;
      // Let in-flight QoS 1 publishes (acks, clears) finish, but never hang on a broker that is gone.
      const graceful = client.connected ? client.endAsync(false).then(() => true) : Promise.resolve(false);
      const done = await Promise.race([graceful, new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
      if (!done) await client.endAsync(true);
    },
  };
}

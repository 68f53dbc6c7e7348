import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { toEdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { decode, encode, encodeStoredJson, topicFilter, type Decoded, type MessageMap, type Outgoing, type TopicKind } from '../../shared/protocol';
import type { Presence } from '../../shared/protocol';
import type { ResolvedAgentConfig } from './config';
import { createBackoff } from '../../shared/retry/backoff';

/** Topics a device subscribes to (its own only). */
const SUBSCRIBED: readonly TopicKind[] = ['offer', 'command', 'ack', 'chunkResponse', 'inferRequest'];

export interface MqttLinkDeps {
  readonly config: ResolvedAgentConfig;
  /** Presence document for a given session; called for the will (before each connect) and the birth. */
  readonly presence: (state: 'online' | 'offline', sessionSeq: number) => Presence;
  readonly onMessage: (m: Decoded) => void;
  /** After birth and subscriptions, on every (re)connect. */
  readonly onConnected: () => void;
  readonly log: Logger;
  readonly connect?: (url: string, opts: IClientOptions) => MqttClient;
  /** Injected for tests: randomness of the reconnect jitter and the timer that waits it out. */
  readonly random?: () => number;
  readonly setTimer?: (f: () => void, ms: number) => { cancel(): void };
}

export interface MqttLink {
  start(): void;
  /** Clean stop: publishes offline/shutdown, then disconnects (the will is not sent). */
  stop(): Promise<void>;
  readonly connected: boolean;
  publish<K extends TopicKind>(kind: K, message: MessageMap[K]): Promise<void>;
  /** Publishes an already-validated JSON payload (outbox redelivery). */
  publishRaw(kind: TopicKind, payload: string): Promise<void>;
  sessionSeq(): number;
  whenConnected(): Promise<void>;
}

/**
 * The device's one MQTT connection. Presence is exact across reconnects: the will registered with
 * connection n carries sessionSeq n (mqtt.js reads `options.will` on every CONNECT, so it is
 * rewritten on the `reconnect` event that precedes each new attempt), and the birth published after
 * the CONNACK carries the same n. Incoming payloads go through `decode`; a bad one is logged with its
 * code and dropped, never thrown into mqtt.js.
 *
 * Reconnects are scheduled here, not by mqtt.js (its `reconnectPeriod` is a fixed interval, which
 * after a broker restart makes a whole fleet knock in lockstep): the first attempt after the
 * connection is lost is immediate, each further failed attempt waits a full-jitter exponential
 * backoff capped at `reconnectMaxMs` (shared/retry/backoff.ts); a successful CONNACK resets it.
 */
export function createMqttLink(deps: MqttLinkDeps): MqttLink {
  const { config, log } = deps;
  const deviceId = config.deviceId;
  const v = config.mqtt.protocolVersion;
  let session = 1;
  let client: MqttClient | null = null;
  let waiters: Array<() => void> = [];
  let stopping = false;
  let pending: { cancel(): void } | null = null;
  const backoff = createBackoff({ baseMs: config.mqtt.reconnectPeriodMs, capMs: Math.max(config.mqtt.reconnectPeriodMs, config.mqtt.reconnectMaxMs) }, deps.random);
  const setTimer = deps.setTimer ?? ((f: () => void, ms: number) => {
    const t = setTimeout(f, ms);
    return { cancel: () => clearTimeout(t) };
  });

  const willFor = (seq: number): NonNullable<IClientOptions['will']> => {
    const out = encode('presence', deviceId, deps.presence('offline', seq), { protocolVersion: v });
    const will: NonNullable<IClientOptions['will']> = { topic: out.topic, payload: out.payload, qos: 1, retain: true };
    if (v === 5) will.properties = { willDelayInterval: config.mqtt.willDelaySec };
    return will;
  };

  const send = (out: Outgoing): Promise<void> =>
    new Promise((resolve, reject) => {
      if (!client) return reject(new Error('not started'));
      const opts: Parameters<MqttClient['publish']>[2] = { qos: out.qos, retain: out.retain };
      if (out.properties) opts.properties = out.properties;
      client.publish(out.topic, out.payload, opts, (err) => (err ? reject(err) : resolve()));
    });

  const link: MqttLink = {
    get connected() {
      return client?.connected ?? false;
    },
    sessionSeq: () => session,
    start() {
      const opts: IClientOptions = {
        clientId: deviceId,
        protocolVersion: v,
        clean: false,
        keepalive: config.mqtt.keepaliveSec,
        reconnectPeriod: 0, // reconnects are ours (backoff with jitter), see above
        connectTimeout: config.mqtt.connectTimeoutMs,
        resubscribe: false,
        will: willFor(session),
      };
      if (config.mqtt.username !== undefined) opts.username = config.mqtt.username;
      if (config.mqtt.password !== undefined) opts.password = config.mqtt.password;
      if (v === 5) opts.properties = { sessionExpiryInterval: config.mqtt.sessionExpirySec };
      const c = (deps.connect ?? mqtt.connect)(config.mqtt.url, opts);
      client = c;
      // mqtt.js reads `options.will` on every CONNECT: each attempt carries the next session's will.
      const reconnect = (): void => {
        pending = null;
        if (stopping) return;
        session += 1;
        c.options.will = willFor(session);
        c.connect();
      };
      c.on('close', () => {
        if (stopping || pending) return;
        const wait = backoff.next();
        log.info({ attempt: backoff.attempts, waitMs: wait }, 'mqtt offline, reconnecting');
        pending = setTimer(reconnect, wait);
      });
      c.on('connect', () => {
        backoff.reset();
        // Reports, chunk requests and acks are small writes answered by the peer: with Nagle on,
        // each one that follows an unacknowledged write waits for the peer's delayed ACK (~40 ms).
        (c.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
        void (async () => {
          try {
            await new Promise<void>((resolve, reject) =>
              c.subscribe(SUBSCRIBED.map((k) => topicFilter(k, deviceId)), { qos: 1 }, (err) => (err ? reject(err) : resolve())),
            );
            await send(encode('presence', deviceId, deps.presence('online', session), { protocolVersion: v }));
            log.info({ sessionSeq: session }, 'connected');
            for (const w of waiters.splice(0)) w();
            deps.onConnected();
          } catch (e) {
            log.warn({ err: e }, 'birth after connect failed; the next reconnect retries');
          }
        })();
      });
      c.on('message', (topic, payload) => {
        let m: Decoded;
        try {
          m = decode(topic, payload);
        } catch (e) {
          const err = toEdgekdError(e);
          log.warn({ topic, code: err.code, msg: err.message }, 'dropped an invalid message');
          return;
        }
        try {
          deps.onMessage(m);
        } catch (e) {
          log.error({ err: e, topic }, 'message handler failed');
        }
      });
      c.on('error', (e) => log.warn({ msg: e.message }, 'mqtt error'));
    },
    async stop() {
      const c = client;
      if (!c) return;
      stopping = true;
      pending?.cancel();
      pending = null;
      if (c.connected) {
        const out = encode('presence', deviceId, { ...deps.presence('offline', session), reason: 'shutdown' }, { protocolVersion: v });
        await Promise.race([send(out).catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
      }
      await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
      client = null;
    },
    publish: (kind, message) => send(encode(kind, deviceId, message, { protocolVersion: v })),
    publishRaw: (kind, payload) => send(encodeStoredJson(kind, deviceId, payload, { protocolVersion: v })),
    whenConnected: () => (client?.connected ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  };
  return link;
}

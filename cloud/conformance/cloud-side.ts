import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { toEdgekdError } from '../../shared/errors';
import {
  decode, encode, topicFor, type ChunkHeader, type ChunkRequest, type Command, type Heartbeat, type Offer, type Presence, type StatusReport, type TopicKind,
} from '../../shared/protocol';

/**
 * The cloud's half of protocol v1 for one device under test: publishes offers and commands,
 * serves chunk requests from registered files (with scripted faults), acks reports, and records
 * every message the device sends, parsed with the protocol's own codec. A message that fails
 * to parse is recorded as a violation, never dropped silently.
 */
export interface ChunkFaults {
  /** First request of these indices is answered with an error frame carrying `retryAfterMs`. */
  readonly retryAfter?: { indices: number[]; ms: number };
  /** First request of these indices gets no answer (a dropped message). */
  readonly drop?: number[];
  /** First answer for these indices has one byte flipped (fails the chunk's sha256). */
  readonly corrupt?: number[];
  /** Every request is answered with this error and no `retryAfterMs` (final). */
  readonly finalError?: { code: string; message: string };
}

export interface ServedFile {
  readonly bytes: Uint8Array;
  readonly chunkBytes: number;
  readonly faults: ChunkFaults;
}

export interface ReceivedChunkRequest extends ChunkRequest {
  readonly atMs: number;
  readonly answer: 'data' | 'corrupt' | 'retry-after' | 'dropped' | 'error';
}

export interface Violation {
  readonly topic: string;
  readonly message: string;
}

export interface CloudSide {
  readonly presences: Presence[];
  readonly heartbeats: Heartbeat[];
  /** One entry per idempotency key, in first-arrival order. */
  readonly statuses: StatusReport[];
  /** How often each idempotency key arrived. */
  readonly deliveries: Map<string, number>;
  readonly chunkRequests: ReceivedChunkRequest[];
  readonly violations: Violation[];
  serve(deploymentId: string, file: ServedFile): void;
  /** The next status matching `pred` is not acked the first time it arrives. */
  withholdAckOnce(pred: (s: StatusReport) => boolean): void;
  offer(offer: Offer | null): Promise<void>;
  /** Publishes bytes on one of the device's cloud → device topics without validating them. */
  publishRaw(kind: TopicKind, payload: Buffer, retain?: boolean): Promise<void>;
  command(cmd: Command): Promise<void>;
  close(): Promise<void>;
}

export interface CloudSideOptions {
  readonly brokerUrl: string;
  readonly deviceId: string;
  readonly username?: string;
  readonly password?: string;
  readonly clientId: string;
  readonly nowMs?: () => number;
}

const DEVICE_TOPICS: TopicKind[] = ['presence', 'heartbeat', 'status', 'drift', 'chunkRequest', 'inferResponse'];

export async function connectCloudSide(o: CloudSideOptions): Promise<CloudSide> {
  const nowMs = o.nowMs ?? Date.now;
  const opts: IClientOptions = { clientId: o.clientId, protocolVersion: 4, clean: true, reconnectPeriod: 500, connectTimeout: 10_000 };
  if (o.username !== undefined) opts.username = o.username;
  if (o.password !== undefined) opts.password = o.password;
  const client: MqttClient = mqtt.connect(o.brokerUrl, opts);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (e) => {
      client.end(true);
      reject(toEdgekdError(e, 'EDGEKD_BROKER_UNAVAILABLE'));
    });
  });

  const side = {
    presences: [] as Presence[], heartbeats: [] as Heartbeat[], statuses: [] as StatusReport[], deliveries: new Map<string, number>(),
    chunkRequests: [] as ReceivedChunkRequest[], violations: [] as Violation[],
  };
  const files = new Map<string, ServedFile>();
  const seenIndex = new Set<string>();
  const withhold: Array<(s: StatusReport) => boolean> = [];

  const publish = (topic: string, payload: Buffer, retain = false): Promise<void> =>
    new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1, retain }, (e) => (e ? reject(e) : resolve())));
  const send = (kind: TopicKind, message: never, retain?: boolean): Promise<void> => {
    const out = encode(kind, o.deviceId, message);
    return publish(out.topic, out.payload, retain ?? out.retain);
  };

  const answerChunk = (req: ChunkRequest): void => {
    const file = files.get(req.deploymentId);
    const header: ChunkHeader = { schema: 'edgekd.chunk/1', requestId: req.requestId, deploymentId: req.deploymentId, sha256: req.sha256, index: req.index, offset: 0 };
    const record = (answer: ReceivedChunkRequest['answer']): void => void side.chunkRequests.push({ ...req, atMs: nowMs(), answer });
    const frame = (h: ChunkHeader, data: Uint8Array): void => void send('chunkResponse', { header: h, data } as never).catch(() => undefined);
    if (!file) {
      record('error');
      frame({ ...header, error: { code: 'EDGEKD_NOT_FOUND', message: `deployment ${req.deploymentId} was not offered to this device` } }, new Uint8Array(0));
      return;
    }
    const f = file.faults;
    if (f.finalError) {
      record('error');
      frame({ ...header, error: f.finalError }, new Uint8Array(0));
      return;
    }
    const key = `${req.deploymentId}/${req.index}`;
    const first = !seenIndex.has(key);
    seenIndex.add(key);
    if (first && f.drop?.includes(req.index)) return record('dropped');
    if (first && f.retryAfter?.indices.includes(req.index)) {
      record('retry-after');
      frame({ ...header, error: { code: 'EDGEKD_RATE_LIMITED', message: 'bandwidth cap: ask again later' }, retryAfterMs: f.retryAfter.ms }, new Uint8Array(0));
      return;
    }
    const start = req.index * file.chunkBytes;
    let data = file.bytes.subarray(start, Math.min(start + file.chunkBytes, file.bytes.length));
    const corrupt = first && f.corrupt?.includes(req.index) && data.length > 0;
    if (corrupt) {
      data = new Uint8Array(data);
      data[0] = data[0]! ^ 0x01;
    }
    record(corrupt ? 'corrupt' : 'data');
    frame({ ...header, offset: start }, data);
  };

  client.on('message', (topic, payload) => {
    let m;
    try {
      m = decode(topic, payload);
    } catch (e) {
      side.violations.push({ topic, message: `${toEdgekdError(e).code}: ${toEdgekdError(e).message}` });
      return;
    }
    if (m.deviceId !== o.deviceId) return;
    switch (m.kind) {
      case 'presence':
        if (m.message) side.presences.push(m.message);
        break;
      case 'heartbeat':
        side.heartbeats.push(m.message);
        break;
      case 'chunkRequest':
        answerChunk(m.message);
        break;
      case 'status':
      case 'drift': {
        const key = m.message.idempotencyKey;
        const n = (side.deliveries.get(key) ?? 0) + 1;
        side.deliveries.set(key, n);
        if (n === 1 && m.kind === 'status') side.statuses.push(m.message);
        const hold = m.kind === 'status' && n === 1 ? withhold.findIndex((p) => p(m.message as StatusReport)) : -1;
        if (hold >= 0) {
          withhold.splice(hold, 1);
          break;
        }
        void send('ack', { schema: 'edgekd.ack/1', keys: [key] } as never).catch(() => undefined);
        break;
      }
      default:
        break;
    }
  });
  await new Promise<void>((resolve, reject) =>
    client.subscribe(DEVICE_TOPICS.map((k) => topicFor(k, o.deviceId)), { qos: 1 }, (e, granted) => {
      if (e) return reject(toEdgekdError(e, 'EDGEKD_BROKER_UNAVAILABLE'));
      const refused = (granted ?? []).filter((g) => g.qos === 128);
      if (refused.length > 0) return reject(toEdgekdError(new Error(`the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')}`), 'EDGEKD_BROKER_UNAVAILABLE'));
      resolve();
    }),
  );

  return {
    ...side,
    serve: (id, file) => void files.set(id, file),
    withholdAckOnce: (pred) => void withhold.push(pred),
    offer: (offer) => send('offer', offer as never, true),
    publishRaw: (kind, payload, retain = false) => publish(topicFor(kind, o.deviceId), payload, retain),
    command: (cmd) => send('command', cmd as never),
    async close() {
      // Leave no retained offer behind for the device.
      await send('offer', null as never, true).catch(() => undefined);
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    },
  };
}

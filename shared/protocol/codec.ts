import { createParser, parseJson, type Parser } from '../contracts/parse';
import { EdgekdError } from '../errors';
import type { TSchema } from 'typebox';
import type { Ack } from './messages/ack';
import type { ChunkHeader, ChunkRequest, ChunkResponse } from './messages/chunk';
import type { Command } from './messages/command';
import { DeviceId } from './messages/common';
import type { DriftReportEnvelope } from './messages/drift';
import type { Heartbeat } from './messages/heartbeat';
import type { InferenceRequest, InferenceResponse } from './messages/inference';
import type { Offer } from './messages/offer';
import type { Presence } from './messages/presence';
import type { StatusReport } from './messages/status';
import { readChunkFrame, writeChunkFrame } from './chunk-frame';
import { TOPIC_KINDS, TOPIC_ROOT, Topics, type TopicKind, type TopicSpec } from './topics';

/** The decoded value per topic kind. Clearable (retained) topics decode an empty payload to null. */
export interface MessageMap {
  presence: Presence | null;
  heartbeat: Heartbeat;
  offer: Offer | null;
  status: StatusReport;
  drift: DriftReportEnvelope;
  ack: Ack;
  chunkRequest: ChunkRequest;
  chunkResponse: ChunkResponse;
  command: Command;
  inferRequest: InferenceRequest;
  inferResponse: InferenceResponse;
}

export type Decoded = { [K in TopicKind]: { kind: K; deviceId: string; message: MessageMap[K] } }[TopicKind];

/** What to hand to `client.publish(topic, payload, { qos, retain, properties })`. */
export interface Outgoing {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  /** MQTT 5 publish properties; absent on 3.1.1 connections. */
  readonly properties?: { messageExpiryInterval?: number; contentType?: string };
}

export interface CodecOptions {
  /** Override a topic's receive limit (bytes), e.g. from configuration. */
  readonly maxBytes?: Partial<Record<TopicKind, number>>;
}

const deviceIdParser = createParser(DeviceId, 'device id');
const parsers = new Map<TopicKind, Parser<TSchema>>(
  TOPIC_KINDS.map((k) => [k, createParser(Topics[k].schema as TSchema, `${k} message`)]),
);
const kindBySuffix = new Map<string, TopicKind>(TOPIC_KINDS.map((k) => [Topics[k].suffix, k]));

export function topicFor(kind: TopicKind, deviceId: string): string {
  deviceIdParser.parse(deviceId);
  return `${TOPIC_ROOT}/${deviceId}/${Topics[kind].suffix}`;
}

/** Subscription filter: one device's topic of a kind, or every device's (`+`). */
export function topicFilter(kind: TopicKind, deviceId: string | '+' = '+'): string {
  if (deviceId !== '+') deviceIdParser.parse(deviceId);
  return `${TOPIC_ROOT}/${deviceId}/${Topics[kind].suffix}`;
}

/** Splits a topic name into its kind and device id, or throws EDGEKD_MESSAGE_INVALID. */
export function parseTopic(topic: string): { kind: TopicKind; deviceId: string } {
  const prefix = `${TOPIC_ROOT}/`;
  if (!topic.startsWith(prefix)) throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `topic '${topic}' is not under ${prefix}`);
  const rest = topic.slice(prefix.length);
  const slash = rest.indexOf('/');
  const deviceId = slash < 0 ? '' : rest.slice(0, slash);
  const kind = kindBySuffix.get(slash < 0 ? '' : rest.slice(slash + 1));
  if (!kind || !deviceIdParser.tryParse(deviceId).ok) {
    throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `topic '${topic}' is not an edgekd v1 topic`);
  }
  return { kind, deviceId };
}

function limitOf(kind: TopicKind, opts: CodecOptions | undefined): number {
  return opts?.maxBytes?.[kind] ?? Topics[kind].maxBytes;
}

/**
 * The only way MQTT bytes become protocol objects (both sides). Returns the typed message or
 * throws EdgekdError: EDGEKD_PAYLOAD_TOO_LARGE before looking at an oversized payload,
 * EDGEKD_MESSAGE_INVALID for an unknown topic, bad JSON, a bad frame or a schema violation, and
 * also when the payload's deviceId differs from the topic's (a device can only speak for itself).
 */
export function decode(topic: string, payload: Uint8Array, opts?: CodecOptions): Decoded {
  const { kind, deviceId } = parseTopic(topic);
  const spec: TopicSpec = Topics[kind];
  const limit = limitOf(kind, opts);
  if (payload.length > limit) {
    throw new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', `${kind} payload of ${payload.length} bytes exceeds the ${limit}-byte limit`, {
      details: { kind, bytes: payload.length, limit },
    });
  }
  if (payload.length === 0 && spec.clearable) return { kind, deviceId, message: null } as Decoded;
  if (spec.format === 'chunk-frame') {
    const frame = readChunkFrame(payload);
    const header = parsers.get(kind)!.parse(frame.header) as ChunkHeader;
    return { kind, deviceId, message: { header, data: frame.data } } as Decoded;
  }
  const value = parsers.get(kind)!.parse(parseJson(payload, `${kind} message`));
  const claimed = (value as { deviceId?: unknown }).deviceId;
  if (claimed !== undefined && claimed !== deviceId) {
    throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `${kind} message names device '${String(claimed)}' but was published on ${topic}`);
  }
  return { kind, deviceId, message: value } as Decoded;
}

/** decode, but insists on one kind (a handler subscribed to one topic). */
export function decodeAs<K extends TopicKind>(kind: K, topic: string, payload: Uint8Array, opts?: CodecOptions): MessageMap[K] {
  const d = decode(topic, payload, opts);
  if (d.kind !== kind) throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `expected a ${kind} message on ${topic}, got ${d.kind}`);
  return d.message as MessageMap[K];
}

/**
 * Validates and serialises a message for its topic (a schema violation on the sending side is
 * EDGEKD_MESSAGE_INVALID too: we never put an invalid document on the wire). `null` on a
 * clearable topic makes the empty retained payload that clears it.
 */
export function encode<K extends TopicKind>(kind: K, deviceId: string, message: MessageMap[K], opts: { protocolVersion?: 4 | 5 } = {}): Outgoing {
  const spec: TopicSpec = Topics[kind];
  const topic = topicFor(kind, deviceId);
  let payload: Buffer;
  if (message === null) {
    if (!spec.clearable) throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `${kind} cannot be cleared`);
    payload = Buffer.alloc(0);
  } else if (spec.format === 'chunk-frame') {
    const m = message as ChunkResponse;
    parsers.get(kind)!.parse(m.header);
    payload = writeChunkFrame(m.header, m.data);
  } else {
    parsers.get(kind)!.parse(message);
    payload = Buffer.from(JSON.stringify(message), 'utf8');
  }
  return outgoing(kind, topic, payload, opts);
}

/**
 * A JSON document this process validated with `encode` earlier and stored (the device outbox
 * redelivers its rows): same topic, QoS, retain and size limit as `encode`, without parsing and
 * validating the same bytes again on every send.
 */
export function encodeStoredJson(kind: TopicKind, deviceId: string, json: string, opts: { protocolVersion?: 4 | 5 } = {}): Outgoing {
  if (Topics[kind].format !== 'json') throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `${kind} is not a JSON topic`);
  return outgoing(kind, topicFor(kind, deviceId), Buffer.from(json, 'utf8'), opts);
}

function outgoing(kind: TopicKind, topic: string, payload: Buffer, opts: { protocolVersion?: 4 | 5 }): Outgoing {
  const spec: TopicSpec = Topics[kind];
  if (payload.length > spec.maxBytes) {
    throw new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', `${kind} payload of ${payload.length} bytes exceeds the ${spec.maxBytes}-byte limit`);
  }
  const out: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean; properties?: Outgoing['properties'] } = {
    topic,
    payload,
    qos: spec.qos,
    retain: spec.retain,
  };
  if (opts.protocolVersion === 5) {
    out.properties = { contentType: spec.format === 'json' ? 'application/json' : 'application/vnd.edgekd.chunk' };
    if (spec.expirySec !== undefined) out.properties.messageExpiryInterval = spec.expirySec;
  }
  return out;
}

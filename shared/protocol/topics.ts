import type { TSchema } from 'typebox';
import { Ack } from './messages/ack';
import { ChunkHeader, ChunkRequest } from './messages/chunk';
import { Command } from './messages/command';
import { DriftReportEnvelope } from './messages/drift';
import { Heartbeat } from './messages/heartbeat';
import { InferenceRequest, InferenceResponse } from './messages/inference';
import { Offer } from './messages/offer';
import { Presence } from './messages/presence';
import { StatusReport } from './messages/status';

/**
 * THE table of MQTT topics (protocol v1). Every topic is device-scoped,
 * `edgekd/v1/devices/{deviceId}/{suffix}`, so a broker ACL can confine a device to
 * `edgekd/v1/devices/<its id>/#`. Nobody writes a topic string inline: use `topicFor` /
 * `topicFilter` (codec.ts). Consumers subscribe to the exact filters below, never to `#`.
 *
 * direction: who publishes. `client` is any local or remote application asking for inference.
 * qos / retain: what the publisher MUST use.
 * expirySec: MQTT 5 Message Expiry Interval, set only when the connection is MQTT 5 (3.1.1 has
 * none; the payload timestamps let a receiver judge staleness itself).
 * maxBytes: the largest payload a receiver accepts (EDGEKD_PAYLOAD_TOO_LARGE above it).
 * outbox: device reports written to the persisted outbox first (at least once + cloud ack).
 */
export const TOPIC_ROOT = 'edgekd/v1/devices';

export type Direction = 'device→cloud' | 'cloud→device' | 'client→device' | 'device→client';

export interface TopicSpec {
  readonly suffix: string;
  readonly direction: Direction;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  /** JSON documents are validated against `schema`; `chunk-frame` is the binary frame of chunk-frame.ts. */
  readonly format: 'json' | 'chunk-frame';
  readonly schema: TSchema;
  /** Retained topics: an empty payload clears the retained document and decodes to `null`. */
  readonly clearable: boolean;
  readonly maxBytes: number;
  readonly expirySec?: number;
  readonly outbox: boolean;
  readonly summary: string;
}

const KiB = 1024;
const MiB = 1024 * 1024;

export const Topics = {
  presence: {
    suffix: 'presence', direction: 'device→cloud', qos: 1, retain: true, format: 'json', schema: Presence, clearable: true,
    maxBytes: 16 * KiB, outbox: false,
    summary: 'Birth (online) after every connect; last will (offline, lost); offline on clean stop.',
  },
  heartbeat: {
    suffix: 'heartbeat', direction: 'device→cloud', qos: 0, retain: false, format: 'json', schema: Heartbeat, clearable: false,
    maxBytes: 16 * KiB, expirySec: 120, outbox: false,
    summary: 'Periodic health: versions, execution provider, uptime, resources, inference counters.',
  },
  offer: {
    suffix: 'offer', direction: 'cloud→device', qos: 1, retain: true, format: 'json', schema: Offer, clearable: true,
    maxBytes: 2 * MiB, outbox: false,
    summary: 'Rollout offer (job document): signed manifest, delivery plan, activation, timeouts.',
  },
  status: {
    suffix: 'status', direction: 'device→cloud', qos: 1, retain: false, format: 'json', schema: StatusReport, clearable: false,
    maxBytes: 64 * KiB, outbox: true,
    summary: 'Deployment status report, one per state entered; seq + idempotency key.',
  },
  drift: {
    suffix: 'drift', direction: 'device→cloud', qos: 1, retain: false, format: 'json', schema: DriftReportEnvelope, clearable: false,
    maxBytes: 1 * MiB, outbox: true,
    summary: 'Drift report envelope around the shared/drift statistics body.',
  },
  ack: {
    suffix: 'ack', direction: 'cloud→device', qos: 1, retain: false, format: 'json', schema: Ack, clearable: false,
    maxBytes: 256 * KiB, outbox: false,
    summary: 'Idempotency keys of reports the cloud has stored; the device drops them from its outbox.',
  },
  chunkRequest: {
    suffix: 'chunk/req', direction: 'device→cloud', qos: 1, retain: false, format: 'json', schema: ChunkRequest, clearable: false,
    maxBytes: 4 * KiB, expirySec: 60, outbox: false,
    summary: 'Device asks for chunk i of an offered file.',
  },
  chunkResponse: {
    suffix: 'chunk/res', direction: 'cloud→device', qos: 1, retain: false, format: 'chunk-frame', schema: ChunkHeader, clearable: false,
    maxBytes: 1 * MiB + 16 * KiB + 8, expirySec: 60, outbox: false,
    summary: 'Binary frame: JSON header + raw chunk bytes (or an error header).',
  },
  command: {
    suffix: 'cmd', direction: 'cloud→device', qos: 1, retain: false, format: 'json', schema: Command, clearable: false,
    maxBytes: 16 * KiB, expirySec: 300, outbox: false,
    summary: 'rollback | rebirth, idempotent by commandId.',
  },
  inferRequest: {
    suffix: 'infer/req', direction: 'client→device', qos: 1, retain: false, format: 'json', schema: InferenceRequest, clearable: false,
    maxBytes: 16 * MiB, expirySec: 30, outbox: false,
    summary: 'Inference request (same body as POST /v1/infer).',
  },
  inferResponse: {
    suffix: 'infer/res', direction: 'device→client', qos: 1, retain: false, format: 'json', schema: InferenceResponse, clearable: false,
    maxBytes: 1 * MiB, expirySec: 30, outbox: false,
    summary: 'Inference result or typed error, matched by requestId.',
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKind = keyof typeof Topics;

export const TOPIC_KINDS = Object.keys(Topics) as TopicKind[];

import { Type, type Static } from 'typebox';
import { DeviceId, Id, ModelRef, NonNegativeInt, Timestamp } from './common';
import { DeploymentState } from './status';

/**
 * Heartbeat: periodic, QoS 0, never retained, never queued in the outbox (a newer one supersedes
 * it). The cloud treats a device as unhealthy when no heartbeat arrived for 3 intervals while its
 * presence says `online`.
 */
export const Heartbeat = Type.Object({
  schema: Type.Literal('edgekd.heartbeat/1'),
  deviceId: DeviceId,
  bootId: Id,
  ts: Timestamp,
  /** Interval the agent uses, so the cloud can compute staleness without configuration. */
  intervalMs: Type.Integer({ minimum: 100 }),
  agentVersion: Type.String({ maxLength: 64 }),
  uptimeSec: Type.Number({ minimum: 0 }),
  activeModel: Type.Union([ModelRef, Type.Null()]),
  /** Which execution provider actually created the active session ("cpu", "cuda", "tensorrt"). */
  executionProvider: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  /** The deployment in progress, with download progress while downloading. */
  deployment: Type.Optional(
    Type.Object({
      deploymentId: Id,
      state: DeploymentState,
      bytesDone: Type.Optional(NonNegativeInt),
      bytesTotal: Type.Optional(NonNegativeInt),
    }),
  ),
  resources: Type.Object({
    /** Resident set size of the agent process (Linux: VmRSS of /proc/self/status). */
    rssBytes: NonNegativeInt,
    /** Bytes in use on a managed heap (Node's V8 heap); agents without one leave it out. */
    heapUsedBytes: Type.Optional(NonNegativeInt),
    /** 1, 5 and 15 minute load averages (Linux: the first three fields of /proc/loadavg). */
    loadAvg: Type.Array(Type.Number({ minimum: 0 }), { minItems: 3, maxItems: 3 }),
    cpuCount: Type.Optional(NonNegativeInt),
    diskFreeBytes: Type.Optional(NonNegativeInt),
  }),
  /** Counters since this boot and latency over the last interval's inferences. */
  inference: Type.Object({
    count: NonNegativeInt,
    errors: NonNegativeInt,
    p50LatencyMs: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    p95LatencyMs: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  }),
  /** Reports waiting in the outbox for a cloud ack (a growing number means reports are not acked). */
  outboxPending: Type.Optional(NonNegativeInt),
});
export type Heartbeat = Static<typeof Heartbeat>;

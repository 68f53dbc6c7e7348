import { encode, isoTime, type DriftReportEnvelope, type Heartbeat, type ModelRef, type Presence, type StatusReport } from '../../shared/protocol';
import type { ReportFields } from '../deploy/reconciler';
import type { ServingWindow } from '../inference/model-runtime';
import { percentile } from '../../shared/math/percentile';
import { AGENT_VERSION } from './agent-version';

/** Who writes a report: every envelope carries both, the cloud orders and dedups on them. */
export interface ReporterIdentity {
  readonly deviceId: string;
  readonly bootId: string;
}

/** An outbox row's position: the seq the outbox assigned and the idempotency key fixed with it. */
export interface OutboxSlot {
  readonly seq: number;
  readonly key: string;
}

/** A status report; encoded once here so a document the protocol refuses never reaches the outbox. */
export function statusEnvelope(id: ReporterIdentity, row: OutboxSlot, tsMs: number, fields: ReportFields): StatusReport {
  const doc: StatusReport = { schema: 'edgekd.status/1', deviceId: id.deviceId, bootId: id.bootId, seq: row.seq, idempotencyKey: row.key, ts: isoTime(tsMs), ...fields };
  encode('status', id.deviceId, doc);
  return doc;
}

/** A drift report: the monitor's aggregate statistics for one period, wrapped for the outbox. */
export function driftEnvelope(
  id: ReporterIdentity,
  row: OutboxSlot,
  tsMs: number,
  body: { stats: Record<string, unknown>; model: ModelRef; window: DriftReportEnvelope['window'] },
): DriftReportEnvelope {
  const doc: DriftReportEnvelope = { schema: 'edgekd.drift/1', deviceId: id.deviceId, bootId: id.bootId, seq: row.seq, idempotencyKey: row.key, ts: isoTime(tsMs), model: body.model, window: body.window, stats: body.stats };
  encode('drift', id.deviceId, doc);
  return doc;
}

/** What a heartbeat reports, read from the running parts at the moment it is sent. */
export interface HeartbeatInput {
  readonly nowMs: number;
  readonly startedAtMs: number;
  readonly intervalMs: number;
  readonly window: ServingWindow;
  readonly activeModel: ModelRef | null;
  readonly executionProvider: string | null;
  readonly deployment: Heartbeat['deployment'] | null;
  readonly resources: Heartbeat['resources'];
  readonly outboxPending: number;
}

export function heartbeatMessage(id: ReporterIdentity, h: HeartbeatInput): Heartbeat {
  const w = h.window;
  const hb: Heartbeat = {
    schema: 'edgekd.heartbeat/1', deviceId: id.deviceId, bootId: id.bootId, ts: isoTime(h.nowMs), intervalMs: h.intervalMs,
    agentVersion: AGENT_VERSION, uptimeSec: Math.max(0, (h.nowMs - h.startedAtMs) / 1000),
    activeModel: h.activeModel, executionProvider: h.executionProvider,
    resources: h.resources,
    inference: { count: w.count, errors: w.errors, p50LatencyMs: percentile(w.latenciesMs, 50), p95LatencyMs: percentile(w.latenciesMs, 95) },
    outboxPending: h.outboxPending,
  };
  if (h.deployment) hb.deployment = h.deployment;
  return hb;
}

export interface PresenceInput {
  readonly state: 'online' | 'offline';
  readonly bootSeq: number;
  readonly sessionSeq: number;
  readonly nowMs: number;
  readonly runtime: NonNullable<Presence['runtime']>;
  readonly activeModel: ModelRef | null;
  readonly trustedKeyIds: string[];
}

/** `offline` built here is the connection's last will, hence `lost`; a clean stop sends its own `shutdown`. */
export function presenceMessage(id: ReporterIdentity, p: PresenceInput): Presence {
  const doc: Presence = {
    schema: 'edgekd.presence/1', deviceId: id.deviceId, state: p.state, bootId: id.bootId, bootSeq: p.bootSeq, sessionSeq: p.sessionSeq, ts: isoTime(p.nowMs),
    agentVersion: AGENT_VERSION,
    runtime: p.runtime,
    activeModel: p.activeModel,
    trustedKeyIds: p.trustedKeyIds,
  };
  if (p.state === 'offline') doc.reason = 'lost';
  return doc;
}

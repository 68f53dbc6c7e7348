import { toEdgekdError } from '../../../shared/errors';
import { createLogger, type Logger } from '../../../shared/log/logger';
import type { CodecOptions } from '../../../shared/protocol/codec';
import type { SqlDb } from '../../store/sql-db';
import { SerialQueue } from '../../store/serial-queue';
import { createAckBatcher } from '../link/ack-batcher';
import { createCloudMqttLink } from '../link/cloud-mqtt-link';
import { FleetStore } from '../store/fleet-store';
import { createHeartbeatWriter } from './heartbeat-writer';
import { SHAREABLE_KINDS, sharedIngestFilters } from './ingest-filters';
import { createKnownDevices } from './known-devices';
import { createReportLog } from './report-log';
import type { ReportNotices } from './report-tail';
import { decodeAccepted } from './decode-accepted';

export interface IngestConsumerOptions {
  /** The shared store (PostgreSQL): the fleet leader reads the report log this process writes. */
  readonly db: SqlDb;
  /** An MQTT 5 broker (shared subscriptions). */
  readonly brokerUrl: string;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Share group (default `edgekd-ingest`): the fleet leader's controller must be in the same one. */
  readonly group?: string;
  /** Announces each committed batch so the fleet leader reads the log at once (else it polls). */
  readonly notices?: ReportNotices;
  readonly clock?: () => number;
  readonly logger?: Logger;
  readonly messageLimits?: CodecOptions['maxBytes'];
  readonly connectTimeoutMs?: number;
}

export interface IngestConsumerStats {
  messagesIn: number;
  /** Reports this process logged (new), and duplicates it acked again without logging. */
  reportsLogged: number;
  reportsDuplicate: number;
  heartbeats: number;
  rejectedMessages: number;
  droppedMessages: number;
}

export interface IngestConsumer {
  stats(): IngestConsumerStats;
  /** Waits until every report received so far is logged (and acked). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A second (third, …) member of the ingest share group: it takes its part of the stateless device
 * reports (status, drift, heartbeat) and does what does not need the leader's rollout engine.
 * - decode and validate (the protocol codec); anything else is rejected, typed and counted;
 * - drop well-formed messages of devices not provisioned (or revoked): nothing stored or acked;
 * - status and drift: log in the report log (idempotent per device and key), ack after commit
 *   (a duplicate is acked again), announce the batch; the fleet leader applies the logged reports
 *   to its rollouts by following the log (report-tail.ts), so each is applied exactly once;
 * - heartbeat: the device's row (last seen, active model, agent version), batched per second.
 * It never offers, serves chunks or touches presence (those stay with the leader). Its MQTT
 * session is clean, as every shared-ingest member's is (docs/scale-out.md, *Ingest*).
 */
export async function createIngestConsumer(o: IngestConsumerOptions): Promise<IngestConsumer> {
  const now = o.clock ?? Date.now;
  const log = o.logger ?? createLogger('ingest');
  const store = await FleetStore.open(o.db);
  const codecOptions: CodecOptions = o.messageLimits ? { maxBytes: o.messageLimits } : {};
  const known = createKnownDevices({ store, now });
  const heartbeats = createHeartbeatWriter({ store, log });
  const queue = new SerialQueue();
  const own = { heartbeats: 0, rejectedMessages: 0, droppedMessages: 0 };

  const link = createCloudMqttLink({
    brokerUrl: o.brokerUrl,
    protocolVersion: 5,
    clientId: o.clientId,
    cleanSession: true,
    ...(o.username ? { username: o.username } : {}),
    ...(o.password ? { password: o.password } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    filters: sharedIngestFilters(o.group),
    log,
    onMessage: (topic, payload) => receive(topic, payload),
    onSubscribed: () => undefined,
  });
  const acks = createAckBatcher({ send: (deviceId, keys) => link.publish('ack', deviceId, { schema: 'edgekd.ack/1', keys }) });
  const reports = createReportLog({
    store,
    queue,
    now,
    ack: (deviceId, key) => acks.queue(deviceId, key),
    ...(o.notices ? { onLogged: (seq: number) => o.notices!.announce(seq) } : {}),
    reject: (topic, e) => reject(topic, e),
  });

  function reject(topic: string, e: unknown): void {
    const err = toEdgekdError(e, 'EDGEKD_MESSAGE_INVALID');
    own.rejectedMessages++;
    log.warn({ topic: topic.slice(0, 300), code: err.code, err }, 'rejected message');
  }

  function receive(topic: string, payload: Buffer): void {
    const m = decodeAccepted(topic, payload, { codec: codecOptions, accepted: SHAREABLE_KINDS, consumer: 'an ingest process', reject });
    if (!m) return;
    known.isKnown(m.deviceId).then(
      (ok) => {
        if (!ok) {
          own.droppedMessages++;
          log.warn({ topic: topic.slice(0, 300), deviceId: m.deviceId }, 'dropped a message from a device that is not provisioned');
          return;
        }
        if (m.kind === 'status') reports.status(topic, m.deviceId, m.message);
        else if (m.kind === 'drift') reports.drift(topic, m.deviceId, m.message);
        else if (m.kind === 'heartbeat') {
          const h = m.message;
          own.heartbeats++;
          heartbeats.record({ deviceId: m.deviceId, at: now(), heartbeat: h, activeModel: h.activeModel, agentVersion: h.agentVersion });
        }
      },
      (e: unknown) => reject(topic, e),
    );
  }

  await link.waitConnected(o.connectTimeoutMs ?? 10_000).catch(async (e: unknown) => {
    await heartbeats.close();
    await link.close();
    throw e;
  });

  let closed = false;
  return {
    stats: () => {
      const c = reports.counters();
      return { messagesIn: link.traffic().messagesIn, reportsLogged: c.reportsApplied, reportsDuplicate: c.reportsDuplicate, ...own };
    },
    async flush() {
      await queue.run(async () => undefined);
      acks.flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue.run(async () => undefined);
      acks.flush();
      await heartbeats.close();
      await link.close();
    },
  };
}

import { EdgekdError } from '../../../shared/errors';
import { topicFilter } from '../../../shared/protocol/codec';
import type { TopicKind } from '../../../shared/protocol/topics';

/** How the cloud subscribes to device reports. */
export type IngestMode = 'shared' | 'exclusive';

/** MQTT 5 share group every cloud ingest consumer joins. */
export const INGEST_SHARE_GROUP = 'edgekd-ingest';

/**
 * Device→cloud kinds a cloud process consumes. Only the stateless ones (`status`, `drift`,
 * `heartbeat`) may be split across processes: status reports are deduplicated in the store by
 * idempotency key and ordered per device by `seq`, drift and heartbeat are last-writer facts.
 * `presence` stays exclusive because a broker does not deliver retained messages to a shared
 * subscription (MQTT 5 §4.8.2), and `chunkRequest` because download admission is per process.
 */
export const REPORT_KINDS: readonly TopicKind[] = ['presence', 'heartbeat', 'status', 'drift', 'chunkRequest'];
export const SHAREABLE_KINDS: readonly TopicKind[] = ['heartbeat', 'status', 'drift'];

/** A share group name as MQTT 5 allows it (no `/`, `+`, `#`), kept to a plain token. */
export function parseIngestGroup(raw: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--ingest-group must be 1-64 of A-Z a-z 0-9 _ . -, got '${raw.slice(0, 80)}'`);
  return raw;
}

/** The one place the controller's subscription filters come from (protocol table + mode). */
export function ingestFilter(kind: TopicKind, mode: IngestMode, group: string = INGEST_SHARE_GROUP): string {
  const filter = topicFilter(kind);
  return mode === 'shared' && SHAREABLE_KINDS.includes(kind) ? `$share/${group}/${filter}` : filter;
}

export function ingestFilters(mode: IngestMode, group: string = INGEST_SHARE_GROUP): Record<string, { qos: 1 }> {
  return Object.fromEntries(REPORT_KINDS.map((k) => [ingestFilter(k, mode, group), { qos: 1 as const }]));
}

/** What an ingest-only process (`--role ingest`) subscribes to: the shareable kinds, through the group. */
export function sharedIngestFilters(group: string = INGEST_SHARE_GROUP): Record<string, { qos: 1 }> {
  return Object.fromEntries(SHAREABLE_KINDS.map((k) => [ingestFilter(k, 'shared', group), { qos: 1 as const }]));
}

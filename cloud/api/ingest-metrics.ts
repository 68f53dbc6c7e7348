import type { IngestConsumer } from '../fleet/ingest/ingest-consumer';
import type { ApiMetrics } from './metrics';

/** What a `--role ingest` process did with its share of the device reports, as Prometheus counters. */
export function registerIngestMetrics(metrics: ApiMetrics, consumer: Pick<IngestConsumer, 'stats'>): void {
  const one = (pick: (s: ReturnType<IngestConsumer['stats']>) => number) => () => [{ labels: {}, value: pick(consumer.stats()) }];
  metrics.counter('edgekd_ingest_reports_logged_total', 'Status reports this ingest process logged (new) for the fleet leader to apply', [], one((s) => s.reportsLogged));
  metrics.counter('edgekd_ingest_reports_duplicate_total', 'Reports this ingest process found already logged (acked again, not logged)', [], one((s) => s.reportsDuplicate));
  metrics.counter('edgekd_ingest_heartbeats_total', 'Heartbeats this ingest process received from provisioned devices', [], one((s) => s.heartbeats));
  metrics.counter('edgekd_ingest_messages_rejected_total', 'Messages this ingest process refused (bad topic, schema or size)', [], one((s) => s.rejectedMessages));
  metrics.counter('edgekd_ingest_messages_dropped_total', 'Well-formed messages from devices that are not provisioned, dropped before any write', [], one((s) => s.droppedMessages));
}

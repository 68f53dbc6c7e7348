import type { FleetController } from '../fleet/fleet-controller';
import type { ApiMetrics } from './metrics';

/** The fleet's refused and dropped MQTT messages as Prometheus counters, by topic kind and reason. */
export function registerFleetMetrics(metrics: ApiMetrics, fleet: Pick<FleetController, 'messageCounters'>): void {
  const of = (outcome: 'rejected' | 'dropped') => () =>
    fleet.messageCounters().flatMap((c) => (c.outcome === outcome ? [{ labels: { kind: c.kind, reason: c.reason }, value: c.count }] : []));
  metrics.counter('edgekd_fleet_messages_rejected_total', 'MQTT messages the cloud refused (bad topic, schema or size), by topic kind and error code', ['kind', 'reason'], of('rejected'));
  metrics.counter('edgekd_fleet_messages_dropped_total', 'Well-formed MQTT messages dropped before any write (unknown-device: not provisioned), by topic kind and reason', ['kind', 'reason'], of('dropped'));
}

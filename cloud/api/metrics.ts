import client from 'prom-client';

export interface ApiMetrics {
  readonly registry: client.Registry;
  readonly requests: client.Counter<'method' | 'route' | 'status'>;
  readonly duration: client.Histogram<'method' | 'route'>;
  readonly sseClients: client.Gauge;
  /** Adds a gauge whose value is read when /metrics is scraped. */
  gauge(name: string, help: string, labelNames: readonly string[], collect: () => Promise<Array<{ labels: Record<string, string>; value: number }>>): void;
  /** Adds a counter whose totals are read from their owner (a monotonic count kept elsewhere) when /metrics is scraped. */
  counter(name: string, help: string, labelNames: readonly string[], collect: () => Array<{ labels: Record<string, string>; value: number }>): void;
}

/** One registry per app (no global default registry), so two apps in one test process do not collide. */
export function createApiMetrics(options: { defaultMetrics?: boolean } = {}): ApiMetrics {
  const registry = new client.Registry();
  if (options.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'edgekd_cloud_' });
  const requests = new client.Counter({ name: 'edgekd_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'] as const, registers: [registry] });
  const duration = new client.Histogram({
    name: 'edgekd_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const sseClients = new client.Gauge({ name: 'edgekd_sse_clients', help: 'Open Server-Sent Events streams', registers: [registry] });
  return {
    registry,
    requests,
    duration,
    sseClients,
    gauge(name, help, labelNames, collect) {
      new client.Gauge({
        name,
        help,
        labelNames: [...labelNames],
        registers: [registry],
        async collect() {
          this.reset();
          for (const s of await collect().catch(() => [])) this.set(s.labels, s.value);
        },
      });
    },
    counter(name, help, labelNames, collect) {
      new client.Counter({
        name,
        help,
        labelNames: [...labelNames],
        registers: [registry],
        collect() {
          this.reset();
          for (const s of collect()) this.inc(s.labels, s.value);
        },
      });
    },
  };
}

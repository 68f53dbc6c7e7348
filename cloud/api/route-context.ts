import type { ApiMetrics } from './metrics';
import type { ApiDeps, ApiOptions } from './ports';

/**
 * What every route module gets from `buildApp`: the ports, the options and the metrics. A module
 * of its own so the routes depend on it and `build-app.ts` depends on the routes, never both ways.
 */
export interface RouteContext {
  readonly deps: ApiDeps;
  readonly options: ApiOptions;
  readonly metrics: ApiMetrics;
}

import Fastify, { type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fastifyStatic from '@fastify/static';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { EdgekdError } from '../../shared/errors';
import { createAuthenticator, type Principal } from './auth';
import { authorize, enforceRouteAccess, registerWithAccess, type RouteAccess } from './route-access';
import { sendError } from './errors';
import { CONTROL_BODY_LIMIT } from './body-limits';
import { createApiMetrics, type ApiMetrics } from './metrics';
import type { ApiDeps, ApiOptions } from './ports';
import type { RouteContext } from './route-context';
import { registerSystemRoutes } from './routes/system-routes';
import { registerTeacherRoutes } from './routes/teacher-routes';
import { registerRunRoutes } from './routes/run-routes';
import { registerJobRoutes } from './routes/job-routes';
import { registerPackageRoutes } from './routes/package-routes';
import { registerFleetRoutes } from './routes/fleet-routes';
import { registerDriftRoutes } from './routes/drift-routes';
import { registerDeviceAdminRoutes } from './routes/device-admin-routes';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export type App = FastifyInstance;
export interface BuiltApp {
  readonly app: App;
  readonly metrics: ApiMetrics;
  /** Every route the app registered, with its declared access (HEAD twins included). */
  readonly routes: readonly RouteAccess[];
}

/**
 * Builds the cloud's HTTP app without listening: the API under /api, OpenAPI at /docs, Prometheus
 * at /metrics, the console at /. Tests call `app.inject()`; `edgekd cloud` calls `listen`.
 */
export async function buildApp(deps: ApiDeps, options: ApiOptions = {}): Promise<BuiltApp> {
  const app = Fastify({
    logger: {
      level: options.logLevel ?? process.env.EDGEKD_LOG_LEVEL ?? 'info',
      name: 'edgekd-api',
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Headers are never logged; the event stream's `?access_token=` is cut out of the URL.
      serializers: { req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: withoutSecrets(req.url), remoteAddress: req.ip }) },
    },
    // The correlation id of 5xx bodies: unique across restarts, never taken from a client header.
    genReqId: () => randomUUID(),
    bodyLimit: options.bodyLimitBytes ?? CONTROL_BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    // A malformed escape (`/api/%zz`) is a typed 400 like every other bad input.
    frameworkErrors: (err, req, reply) => sendError(reply, err, req.log),
  }).withTypeProvider<TypeBoxTypeProvider>();
  const metrics = createApiMetrics();
  const authenticate = createAuthenticator(deps.tokens);
  // Before any plugin or route: every route from here on must declare its access.
  const routes = enforceRouteAccess(app);

  app.decorateRequest('principal', null);
  app.setErrorHandler((err, req, reply) => sendError(reply, err, req.log));
  app.setNotFoundHandler((req, reply) => sendError(reply, new EdgekdError('EDGEKD_NOT_FOUND', 'no route matches this method and path'), req.log));

  // Authentication and authorization come first, from the matched route's declared access; the
  // rate limiter's hook is a route hook, so it runs after this one and sees the principal.
  app.addHook('onRequest', async (req) => {
    req.principal = authorize(req, authenticate);
  });

  await app.register(rateLimit, {
    global: true,
    max: options.rateLimitPerMinute ?? 600,
    timeWindow: 60_000,
    // Keyed by who the request authenticated as, or by the socket's address (trustProxy is off, so
    // no header can choose it); every route counts, whatever its path spelling.
    keyGenerator: (req) => (req.principal ? `principal:${req.principal.name}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, ctx) =>
      Object.assign(new EdgekdError('EDGEKD_RATE_LIMITED', `rate limit of ${ctx.max} requests per minute reached; retry in ${ctx.after}`, { details: { retryAfter: ctx.after } }), { statusCode: 429 }),
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'edgekd cloud API', version: options.version ?? '0.1.0', description: 'Distillation runs, model packages, fleet rollouts and drift. Errors are {code, message, category, retryable}; see docs/errors.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await registerWithAccess(app, 'public', swaggerUi, { routePrefix: '/docs', staticCSP: true });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (!route.startsWith('/api/') && route !== '/metrics') return;
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  metrics.gauge('edgekd_jobs', 'Jobs by kind state', ['state'], async () =>
    Object.entries(await deps.jobs.countByState()).map(([state, value]) => ({ labels: { state }, value })),
  );
  metrics.gauge('edgekd_jobs_running_here', 'Job child processes running in this cloud process', [], async () => [{ labels: {}, value: deps.jobs.running() }]);
  if (deps.fleet) {
    const fleet = deps.fleet;
    metrics.gauge('edgekd_devices', 'Devices by presence', ['online'], async () => {
      const devices = await fleet.listDevices();
      const on = devices.filter((d) => d.online).length;
      return [{ labels: { online: 'true' }, value: on }, { labels: { online: 'false' }, value: devices.length - on }];
    });
  }

  const ctx: RouteContext = { deps, options, metrics };
  await app.register(async (api) => {
    registerSystemRoutes(api, ctx);
    registerTeacherRoutes(api, ctx);
    registerRunRoutes(api, ctx);
    registerJobRoutes(api, ctx);
    registerPackageRoutes(api, ctx);
    registerFleetRoutes(api, ctx);
    registerDriftRoutes(api, ctx);
    registerDeviceAdminRoutes(api, ctx);
  });
  for (const plugin of options.plugins ?? []) await app.register(plugin);

  if (options.consoleDir) {
    await registerWithAccess(app, 'public', fastifyStatic, { root: options.consoleDir, prefix: '/', index: ['index.html'] });
    // chart.js is served from node_modules as the maintained charting library (no build step).
    const chartDir = dirname(createRequire(import.meta.url).resolve('chart.js'));
    await registerWithAccess(app, 'public', fastifyStatic, { root: chartDir, prefix: '/vendor/chart.js/', decorateReply: false });
  }
  await app.ready();
  return { app, metrics, routes };
}

const SECRET_QUERY = /([?&])(access_token|token)=[^&#]*/g;
/** A URL for the log: bearer tokens in the query (EventSource, the console's `?token=`) redacted. */
export function withoutSecrets(url: string): string {
  return url.replace(SECRET_QUERY, '$1$2=[redacted]');
}

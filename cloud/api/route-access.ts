import type { FastifyInstance, FastifyPluginAsync, FastifyPluginCallback, FastifyPluginOptions, FastifyRequest, RouteOptions } from 'fastify';
import { EdgekdError } from '../../shared/errors';
import { requireRole, type Principal, type Role } from './auth';

/** Who may call a route: anyone (`public`) or a bearer token with at least this role. */
export type Access = 'public' | Role;
const ACCESS: ReadonlySet<string> = new Set<Access>(['public', 'viewer', 'operator', 'admin']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Required on every route; a route without it stops the app at startup. */
    access?: Access;
    /** Event-stream route: also accepts `?access_token=` (EventSource cannot send headers). */
    sse?: boolean;
  }
}

/** A route as the app registered it, with the access it declared. */
export interface RouteAccess {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
}

/**
 * Routes added by a third-party plugin (static files, the OpenAPI UI) cannot declare access in
 * their options; they are registered inside a scope that carries a default. The property lives on
 * the scope object, which fastify creates per plugin with `Object.create(parent)`, so nested plugins
 * inherit it and the root never has it.
 */
const DEFAULT_ACCESS = Symbol('edgekd.defaultAccess');
type Scoped = FastifyInstance & { [DEFAULT_ACCESS]?: Access };

/** Registers `plugin` in a child scope whose routes get `access` unless they declare their own. */
export async function registerWithAccess<O extends FastifyPluginOptions>(app: FastifyInstance, access: Access, plugin: FastifyPluginAsync<O> | FastifyPluginCallback<O>, opts: O): Promise<void> {
  await app.register(async (scope) => {
    (scope as Scoped)[DEFAULT_ACCESS] = access;
    await scope.register(plugin, opts);
  });
}

/**
 * Installs the check that every route declares its access (an `onRoute` hook: fastify calls it
 * while the route is added, so a missing declaration fails `buildApp`, never a request). Returns the
 * routes seen, in registration order (HEAD twins included), for the access test and the docs.
 * Must be installed before any route is added.
 */
export function enforceRouteAccess(app: FastifyInstance): readonly RouteAccess[] {
  const routes: RouteAccess[] = [];
  app.addHook('onRoute', function (this: Scoped, route: RouteOptions) {
    const declared = route.config?.access ?? this[DEFAULT_ACCESS];
    if (declared === undefined || !ACCESS.has(declared)) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access (config.access: public, viewer, operator or admin)`);
    }
    // Third-party routes get the scope default written into their config, where the check reads it.
    route.config = { ...route.config, access: declared };
    // The OpenAPI document says the same (the swagger plugin reads schemas after this hook).
    if (route.schema) {
      const { description } = route.schema as { description?: string };
      const note = declared === 'public' ? 'No token needed.' : `Needs the ${declared} role or higher.`;
      route.schema = { ...route.schema, description: description ? `${description}\n\n${note}` : note, ...(declared === 'public' ? { security: [] } : {}) };
    }
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, access: declared });
  });
  return routes;
}

/**
 * Decides one request from the route fastify matched (its options, never the URL text, so any
 * spelling the router accepts is checked as the route it reaches). Unmatched requests pass to the
 * not-found handler: there is nothing behind them to protect, and a 404 says nothing about tokens.
 */
export function authorize(req: FastifyRequest, authenticate: (req: FastifyRequest, allowQueryToken: boolean) => Principal): Principal | null {
  if (req.is404) return null;
  const cfg = req.routeOptions.config;
  const access = cfg?.access;
  if (access === 'public') return null;
  // Unreachable while enforceRouteAccess is installed; denies if it ever is not.
  if (access === undefined) throw new EdgekdError('EDGEKD_FORBIDDEN', 'this route declares no access');
  const principal = authenticate(req, cfg.sse === true);
  requireRole(principal, access);
  return principal;
}

/** The caller of a route that is not public; a typed 401 (never a 500) if it somehow is missing. */
export function caller(req: FastifyRequest): Principal {
  if (!req.principal) throw new EdgekdError('EDGEKD_UNAUTHORIZED', 'this route needs a bearer token');
  return req.principal;
}

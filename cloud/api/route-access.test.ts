import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { buildApp, type BuiltApp } from './build-app';
import type { Role } from './auth';
import type { DeviceAdminPort, DriftPort, FleetPort, PackageCatalog, RetrainPort, TeacherCatalog } from './ports';

const SPIN = fileURLToPath(new URL('../jobs/fixtures/spin-job.ts', import.meta.url));
const CONSOLE = fileURLToPath(new URL('../console', import.meta.url));
const TOKENS = [
  { token: 'view-token', role: 'viewer' as const, name: 'vera' },
  { token: 'op-token', role: 'operator' as const, name: 'otto' },
  { token: 'admin-token', role: 'admin' as const, name: 'ada' },
];
const ROLES: Role[] = ['viewer', 'operator', 'admin'];
const tokenOf = (r: Role): string => TOKENS.find((t) => t.role === r)!.token;

/** Every port method records that it was reached; an access check that works reaches none. */
const reached: string[] = [];
function spyPort<T extends object>(name: string): T {
  return new Proxy({}, { get: (_t, method) => async () => { reached.push(`${name}.${String(method)}`); throw new Error('handler reached'); } }) as T;
}

let dir: string;
let db: SqlDb;
let jobs: JobRunner;
let built: BuiltApp;
let base: URL;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgekd-access-'));
  db = openSqlite(join(dir, 'cloud.db'));
  jobs = createJobRunner({ db, kinds: { distill: { module: SPIN } }, concurrency: 1, dataDir: join(dir, 'jobs'), owner: 'access-test', pollMs: 50 });
  built = await buildApp({
    jobs,
    tokens: TOKENS,
    teachers: spyPort<TeacherCatalog>('teachers'),
    packages: spyPort<PackageCatalog>('packages'),
    fleet: spyPort<FleetPort>('fleet'),
    devices: spyPort<DeviceAdminPort>('devices'),
    drift: spyPort<DriftPort>('drift'),
    retrain: spyPort<RetrainPort>('retrain'),
  }, { consoleDir: CONSOLE, logLevel: 'silent', rateLimitPerMinute: 1_000_000 });
  base = new URL(await built.app.listen({ host: '127.0.0.1', port: 0 }));
});

afterAll(async () => {
  await built?.app.close();
  await jobs?.stop();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A raw request over a socket: `app.inject` and `fetch` normalise `/./`, `/../` and `%2e` before
 * the server sees them, an attacker's client does not.
 */
function raw(method: string, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = method === 'GET' || method === 'HEAD' ? undefined : '{}';
    const req = request({
      host: base.hostname, port: base.port, method, path,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (c: string, upper: boolean): string => {
  const hex = c.charCodeAt(0).toString(16);
  return `%${upper ? hex.toUpperCase() : hex}`;
};

/** Other spellings of a concrete path that a router, a proxy or a file server might treat as the same. */
function spellings(path: string): string[] {
  const segs = path.split('/').slice(1);
  const out = new Set<string>();
  segs.forEach((seg, i) => {
    for (let j = 0; j < seg.length; j++) {
      if (!/[a-z]/i.test(seg[j]!)) continue;
      for (const upper of [false, true]) {
        const changed = [...segs];
        changed[i] = seg.slice(0, j) + pct(seg[j]!, upper) + seg.slice(j + 1);
        out.add(`/${changed.join('/')}`);
      }
    }
  });
  const rest = path.slice(1);
  out.add(`/${rest.replaceAll('/', '%2F')}`);
  out.add(`/${rest.replaceAll('/', '%2f')}`);
  out.add(`/${segs[0]}%2F${segs.slice(1).join('/')}`);
  out.add(`/${segs.map(encodeURIComponent).join('%2F')}`);
  out.add(`/${path}`);
  out.add(path.replaceAll('/', '//'));
  out.add(`/${segs[0]}//${segs.slice(1).join('/')}`);
  out.add(`${path}/`);
  out.add(`${path}//`);
  out.add(`${path}/.`);
  out.add(`${path}.`);
  out.add(`${path}%2e`);
  out.add(`${path}/%2e`);
  out.add(`${path}/./`);
  out.add(`/${segs[0]}/./${segs.slice(1).join('/')}`);
  out.add(`/${segs[0]}/%2e/${segs.slice(1).join('/')}`);
  out.add(`/x/../${rest}`);
  out.add(`/${segs[0]}/x/%2e%2e/${segs.slice(1).join('/')}`);
  out.add(`${path};x`);
  out.add(`${path}%00`);
  out.add(`${path}%20`);
  out.add(path.toUpperCase());
  out.add(`/${segs.map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('/')}`);
  out.add(path.replace(/[a-z]/, (c) => c.toUpperCase()));
  out.delete(path);
  return [...out];
}

const concrete = (url: string): string => url.replace(/:[A-Za-z]+/g, 'x1').replace(/\*$/, 'x');
const NEVER = (status: number): boolean => (status >= 200 && status < 300) || status >= 500;

describe('authorization per matched route', () => {
  it('collects every route with the access it declares, and finds the ones the issue named', () => {
    const routes = built.routes;
    expect(routes.length).toBeGreaterThan(40);
    const find = (m: string, u: string) => routes.find((r) => r.method === m && r.url === u)?.access;
    expect(find('GET', '/api/devices')).toBe('viewer');
    expect(find('GET', '/metrics')).toBe('viewer');
    expect(find('POST', '/api/jobs/:id/cancel')).toBe('operator');
    expect(find('POST', '/api/devices')).toBe('admin');
    expect(find('GET', '/api/health')).toBe('public');
    expect(find('GET', '/docs/json')).toBe('public');
  });

  it('states each route\u2019s access in the OpenAPI document', async () => {
    const doc = (await built.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, { description?: string; security?: unknown[] }>> };
    expect(doc.paths['/api/health']!.get!.security).toEqual([]);
    expect(doc.paths['/api/devices']!.post!.description).toContain('Needs the admin role');
    expect(doc.paths['/api/devices']!.get!.description).toContain('Needs the viewer role');
  });

  it('refuses the issue\u2019s escaped paths without a token', async () => {
    for (const [method, path] of [['GET', '/%61pi/devices'], ['GET', '/%61pi/teachers'], ['GET', '/ap%69/runs'], ['GET', '/%6detrics'], ['POST', '/%61pi/jobs/ID/cancel']] as const) {
      const r = await raw(method, path);
      expect([method, path, r.status]).toEqual([method, path, 401]);
      expect(JSON.parse(r.body).code).toBe('EDGEKD_UNAUTHORIZED');
    }
    expect(reached).toEqual([]);
  });

  it('answers every protected route, in every spelling, with no token or a lower role: 401, 403, 404 or 400, never 2xx or 5xx', async () => {
    const failures: string[] = [];
    let tried = 0;
    for (const route of built.routes) {
      if (route.access === 'public') continue;
      const path = concrete(route.url);
      const lower = ROLES.slice(0, ROLES.indexOf(route.access));
      // The plain spelling: exactly 401 without a token, 403 with each lower role.
      const none = await raw(route.method, path);
      tried++;
      if (none.status !== 401) failures.push(`${route.method} ${path} no token -> ${none.status}`);
      for (const role of lower) {
        const r = await raw(route.method, path, tokenOf(role));
        tried++;
        if (r.status !== 403) failures.push(`${route.method} ${path} ${role} -> ${r.status}`);
      }
      for (const alt of spellings(path)) {
        for (const token of [undefined, ...lower.map(tokenOf)]) {
          const r = await raw(route.method, alt, token);
          tried++;
          if (NEVER(r.status) || ![400, 401, 403, 404].includes(r.status)) failures.push(`${route.method} ${alt} ${token ?? 'no token'} -> ${r.status} ${r.body.slice(0, 80)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(reached).toEqual([]);
    expect(tried).toBeGreaterThan(1000);
  }, 120_000);

  it('lets the declared role through on every protected route (the check does not just deny)', async () => {
    const refused: string[] = [];
    for (const route of built.routes) {
      if (route.access === 'public') continue;
      for (const role of ROLES.slice(ROLES.indexOf(route.access))) {
        const r = await raw(route.method, concrete(route.url), tokenOf(role));
        if (r.status === 401 || r.status === 403) refused.push(`${route.method} ${route.url} ${role} -> ${r.status}`);
      }
    }
    expect(refused).toEqual([]);
    reached.length = 0;
  });

  it('answers unmatched paths 404 with a body that names nothing of the server', async () => {
    for (const path of ['/api/nope', '/%61pi/nope', '/api/devices/x/y/z', '/API/devices']) {
      const r = await raw('GET', path);
      expect([path, r.status]).toEqual([path, 404]);
      expect(r.body).not.toContain(CONSOLE);
      expect(JSON.parse(r.body)).toEqual({ code: 'EDGEKD_NOT_FOUND', message: 'no route matches this method and path', category: 'not-found', retryable: false });
    }
    // The console's file server refuses to leave its folder (a typed 400, no path in the body).
    for (const path of ['/nope/../../etc/passwd', '/.%2e/.%2e/etc/passwd']) {
      const r = await raw('GET', path);
      expect([path, r.status]).toEqual([path, 400]);
      expect(r.body).not.toContain(CONSOLE);
      expect(JSON.parse(r.body).category).toBe('input');
    }
  });

  it('answers a malformed escape 400 with a typed error', async () => {
    const r = await raw('GET', '/api/devices/%zz');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT', category: 'input' });
  });

  it('refuses to start an app with a route that declares no access', async () => {
    const undeclared = async (app: import('fastify').FastifyInstance) => {
      app.get('/api/forgotten', async () => 'open');
    };
    await expect(buildApp({ jobs, tokens: TOKENS }, { logLevel: 'silent', plugins: [undeclared] })).rejects.toThrow(/GET \/api\/forgotten declares no access/);
  });
});

describe('rate limit keys', () => {
  it('counts one principal once however its Authorization header is spelled', async () => {
    const { app } = await buildApp({ jobs, tokens: TOKENS }, { logLevel: 'silent', rateLimitPerMinute: 3 });
    const spellingsOfOneToken = ['Bearer view-token', 'bearer view-token', 'Bearer  view-token', 'BEARER view-token ', 'Bearer view-token\t'];
    const codes: number[] = [];
    for (const authorization of spellingsOfOneToken) codes.push((await app.inject({ url: '/api/me', headers: { authorization } })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    // Another principal has its own budget.
    expect((await app.inject({ url: '/api/me', headers: { authorization: 'Bearer op-token' } })).statusCode).toBe(200);
    await app.close();
  });

  it('limits escaped spellings of a route like the route itself', async () => {
    const { app } = await buildApp({ jobs, tokens: TOKENS }, { logLevel: 'silent', rateLimitPerMinute: 2 });
    const codes: number[] = [];
    for (const url of ['/api/me', '/%61pi/me', '/ap%69/me']) codes.push((await app.inject({ url, headers: { authorization: 'Bearer view-token' } })).statusCode);
    expect(codes).toEqual([200, 200, 429]);
    await app.close();
  });
});

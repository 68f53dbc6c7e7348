import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { createDriftService } from '../drift/drift-service';
import { createRetrainController } from '../retrain/retrain-controller';
import type { RetrainSteps } from '../retrain/steps';
import { buildApp, type App } from './build-app';
import { retrainPortOf } from './retrain-port';

// `GET/PUT /api/retrain/policy` on the real retrain controller and a SQLite file, reopened as a
// restarted cloud would: the adaptation of the automatic retrain is part of the policy.
const TOKENS = [
  { token: 'view-token', role: 'viewer' as const, name: 'vera' },
  { token: 'admin-token', role: 'admin' as const, name: 'ada' },
];
const as = (t: string) => ({ authorization: `Bearer ${t}` });
const steps: RetrainSteps = {
  distill: () => Promise.reject(new Error('no run in this test')),
  package: () => Promise.reject(new Error('no run in this test')),
  rollout: () => Promise.reject(new Error('no run in this test')),
};

let dir: string;
let opened: { db: SqlDb; jobs: JobRunner; app: App } | null = null;

async function openCloud(): Promise<App> {
  const db = openSqlite(join(dir, 'cloud.db'));
  const jobs = createJobRunner({ db, kinds: {}, concurrency: 0, dataDir: join(dir, 'jobs'), owner: 'policy-test' });
  const drift = createDriftService({ db, clock: Date.now, cohortOf: () => 'site' });
  await drift.migrate();
  const controller = createRetrainController({ db, clock: Date.now, drift, steps });
  const { app } = await buildApp({ jobs, tokens: TOKENS, retrain: retrainPortOf(controller) }, { logLevel: 'silent' });
  opened = { db, jobs, app };
  return app;
}

async function closeCloud(): Promise<void> {
  if (!opened) return;
  await opened.app.close();
  await opened.db.close();
  opened = null;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgekd-retrain-policy-'));
});
afterAll(async () => {
  await closeCloud();
  rmSync(dir, { recursive: true, force: true });
});

const DEFAULT_ADAPTATION = { method: 'auto', layers: 'all', fieldWeight: 0.5, imitation: { fraction: 0.5, teacherOn: 'clean' } };

describe('the retrain policy API', () => {
  it('shows the adaptation in force with its defaults before anyone set it', async () => {
    const app = await openCloud();
    const r = await app.inject({ url: '/api/retrain/policy', headers: as('view-token') });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ cooldownMs: 6 * 3_600_000, paused: false, adaptation: DEFAULT_ADAPTATION });
  });

  it('stores an adaptation set by PUT, shows it with the defaults of what it leaves out, and keeps it across a restart', async () => {
    const app = opened!.app;
    const put = await app.inject({ method: 'PUT', url: '/api/retrain/policy', headers: as('admin-token'), payload: { adaptation: { method: 'field-imitation', imitation: { fraction: 0.3 } } } });
    expect(put.statusCode).toBe(200);
    const inForce = { method: 'field-imitation', layers: 'all', fieldWeight: 0.5, imitation: { fraction: 0.3, teacherOn: 'clean' } };
    expect(put.json().adaptation).toEqual(inForce);
    expect((await app.inject({ url: '/api/retrain/policy', headers: as('view-token') })).json().adaptation).toEqual(inForce);

    await closeCloud();
    const again = await openCloud();
    expect((await again.inject({ url: '/api/retrain/policy', headers: as('view-token') })).json()).toMatchObject({ cooldownMs: 6 * 3_600_000, adaptation: inForce });
  });

  it('refuses a bad adaptation with a typed 400 and changes nothing, not even the pause switch in the same body', async () => {
    const app = opened!.app;
    const before = (await app.inject({ url: '/api/retrain/policy', headers: as('view-token') })).json();
    for (const adaptation of [
      { method: 'guess' },
      { method: 'field-batchnorm', fieldWeight: 2 },
      { layers: 'middle' },
      { imitation: { fraction: 1.5 } },
      { imitation: { teacherOn: 'nobody' } },
      { imitation: { fraction: 0.5, extra: 1 } },
      { useFieldTargets: false },
      'auto',
    ]) {
      const r = await app.inject({ method: 'PUT', url: '/api/retrain/policy', headers: as('admin-token'), payload: { paused: true, cooldownMs: 1, adaptation } });
      expect([JSON.stringify(adaptation), r.statusCode]).toEqual([JSON.stringify(adaptation), 400]);
      expect(r.json()).toMatchObject({ code: 'EDGEKD_MESSAGE_INVALID', category: 'input', message: expect.stringContaining('adaptation') });
    }
    const unknown = await app.inject({ method: 'PUT', url: '/api/retrain/policy', headers: as('admin-token'), payload: { adaptaton: { method: 'redistill' } } });
    expect(unknown.statusCode).toBe(400);
    expect((await app.inject({ url: '/api/retrain/policy', headers: as('view-token') })).json()).toEqual(before);
  });

  it('keeps policy changes for admins', async () => {
    const r = await opened!.app.inject({ method: 'PUT', url: '/api/retrain/policy', headers: as('view-token'), payload: { adaptation: { method: 'redistill' } } });
    expect(r.statusCode).toBe(403);
  });

  it('documents the adaptation fields in OpenAPI', async () => {
    const doc = (await opened!.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    const body = JSON.stringify(doc.paths['/api/retrain/policy']!.put!.requestBody);
    for (const field of ['adaptation', 'field-imitation', 'fieldWeight', 'teacherOn', 'paused']) expect(body).toContain(field);
  });
});

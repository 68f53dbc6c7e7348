import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { buildApp, type App } from './build-app';
import { createTeacherCatalog } from './teacher-catalog';
import type { TeacherCatalog } from './ports';

const SPIN = fileURLToPath(new URL('../jobs/fixtures/spin-job.ts', import.meta.url));
const TOKENS = [
  { token: 'view-token-123', role: 'viewer' as const, name: 'vera' },
  { token: 'op-token-123', role: 'operator' as const, name: 'otto' },
  { token: 'admin-token-123', role: 'admin' as const, name: 'ada' },
];
const as = (t: string) => ({ authorization: `Bearer ${t}` });

let dir: string;
let db: SqlDb;
let jobs: JobRunner;
let teachers: TeacherCatalog;
let app: App;
const logLines: string[] = [];
const logStream = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });

function tfjsFiles(extra: Record<string, string> = {}): Record<string, string> {
  const model = {
    format: 'layers-model',
    modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'BatchNormalization', config: {} }] } },
    weightsManifest: [{ paths: ['weights.bin'], weights: [] }],
  };
  return { 'model.json': Buffer.from(JSON.stringify(model)).toString('base64'), 'weights.bin': Buffer.from([1, 2, 3, 4]).toString('base64'), ...extra };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgekd-inputs-'));
  db = openSqlite(join(dir, 'cloud.db'));
  jobs = createJobRunner({ db, kinds: { distill: { module: SPIN } }, concurrency: 1, dataDir: join(dir, 'jobs'), owner: 'inputs-test', pollMs: 50 });
  teachers = await createTeacherCatalog({ db, dataDir: dir, jobs });
  ({ app } = await buildApp({ jobs, teachers, tokens: TOKENS }, { logLevel: 'info', logStream }));
});

afterAll(async () => {
  await app?.close();
  await jobs?.stop();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('upload file names', () => {
  it('refuses a teacher file named .. or . or with a path in it, as a typed 400 that names no server path', async () => {
    for (const bad of ['..', '.', '.hidden', '../x.bin', 'a/b.bin', 'a\\b.bin', 'x..', '']) {
      const r = await app.inject({ method: 'POST', url: '/api/teachers', headers: as('admin-token-123'), payload: { name: `t${logLines.length}`, format: 'tfjs', files: tfjsFiles({ [bad]: 'AAAA' }) } });
      expect([bad, r.statusCode]).toEqual([bad, 400]);
      expect(r.json().category).toBe('input');
      expect(r.body).not.toContain(dir);
    }
  });

  it('refuses a teacher named ..', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/teachers', headers: as('admin-token-123'), payload: { name: '..', format: 'tfjs', files: tfjsFiles() } });
    expect([r.statusCode, r.json().category]).toEqual([400, 'input']);
  });

  it('refuses the same names when the catalog is called without the API', async () => {
    await expect(teachers.upload({ name: 'direct', format: 'tfjs', files: tfjsFiles({ '..': 'AAAA' }) }, 'test')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(teachers.upload({ name: '..', format: 'tfjs', files: tfjsFiles() }, 'test')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
  });

  it('still accepts ordinary names', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/teachers', headers: as('admin-token-123'), payload: { name: 'plain-1.0', format: 'tfjs', files: tfjsFiles({ 'group1-shard1of1.bin': 'AAAA' }) } });
    expect(r.statusCode).toBe(201);
  });
});

describe('5xx bodies', () => {
  it('carry a generic message and the request id; the detail is in the log under the same id', async () => {
    const secretDetail = `EACCES: permission denied, open '${dir}/keys/signing-key.json'`;
    const broken: TeacherCatalog = { list: async () => { throw new Error(secretDetail); }, get: async () => { throw new Error(secretDetail); }, upload: async () => { throw new Error(secretDetail); } };
    const lines: string[] = [];
    const stream = new Writable({ write(c, _e, done) { lines.push(String(c)); done(); } });
    const { app: b } = await buildApp({ jobs, teachers: broken, tokens: TOKENS }, { logLevel: 'error', logStream: stream });
    const r = await b.inject({ url: '/api/teachers', headers: as('view-token-123') });
    expect(r.statusCode).toBe(500);
    const body = r.json();
    expect(body).toEqual({ code: 'EDGEKD_INTERNAL', message: expect.any(String), category: 'internal', retryable: false, correlationId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(r.body).not.toContain('EACCES');
    expect(r.body).not.toContain(dir);
    const logged = lines.map((l) => JSON.parse(l) as { reqId?: string; err?: { message?: string } }).find((l) => l.reqId === body.correlationId);
    expect(logged?.err?.message).toBe(secretDetail);
    await b.close();
  });

  it('give a 503 for a missing component the generic text of its code', async () => {
    const r = await app.inject({ url: '/api/devices', headers: as('view-token-123') });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ code: 'EDGEKD_FEATURE_UNAVAILABLE', correlationId: expect.any(String) });
  });
});

describe('body limits per route', () => {
  const big = (bytes: number) => 'x'.repeat(bytes);

  it('refuses a 100 KiB body on control routes with 413 before parsing it', async () => {
    for (const [method, url] of [['POST', '/api/runs'], ['PUT', '/api/retrain/policy'], ['POST', '/api/jobs/j1/cancel'], ['POST', '/api/devices']] as const) {
      const r = await app.inject({ method, url, headers: { ...as('admin-token-123'), 'content-type': 'application/json' }, payload: JSON.stringify({ teacherId: big(100 * 1024) }) });
      expect([url, r.statusCode, r.json().code]).toEqual([url, 413, 'EDGEKD_PAYLOAD_TOO_LARGE']);
    }
  });

  it('accepts a multi-megabyte teacher upload', async () => {
    const weights = Buffer.alloc(3 * 1024 * 1024, 7).toString('base64');
    const r = await app.inject({ method: 'POST', url: '/api/teachers', headers: as('admin-token-123'), payload: { name: 'big-one', format: 'tfjs', files: { ...tfjsFiles(), 'weights.bin': weights } } });
    expect(r.statusCode).toBe(201);
  });
});

describe('secrets in logs', () => {
  it('never logs a bearer token, from the header or from the event stream\u2019s query', async () => {
    logLines.length = 0;
    await app.inject({ url: '/api/me', headers: as('view-token-123') });
    await app.inject({ url: '/api/runs/nope/stream?access_token=view-token-123&follow=false' });
    await app.inject({ url: '/api/runs/nope/stream?follow=false&access_token=admin-token-123' });
    expect(logLines.length).toBeGreaterThan(0);
    const all = logLines.join('');
    expect(all).not.toContain('view-token-123');
    expect(all).not.toContain('admin-token-123');
    expect(all).toContain('/api/runs/nope/stream');
  });
});

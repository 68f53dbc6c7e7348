import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPostgres } from '../../test/helpers/services';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { JobRepository } from '../jobs/job-repository';
import type { SqlDb } from '../store/sql-db';
import { pgSchema, until } from './postgres-schema.test-helper';

const SPIN = fileURLToPath(new URL('../jobs/fixtures/spin-job.ts', import.meta.url));
const d = await describeWithPostgres();

d('two cloud processes sharing one PostgreSQL job queue', () => {
  const pg = pgSchema();
  const dbs: SqlDb[] = [];
  const runners: JobRunner[] = [];
  let dir: string;
  const runner = async (owner: string, concurrency: number): Promise<JobRunner> => {
    const db = await pg.open();
    dbs.push(db);
    // One shared job folder, as on a shared volume: a job's checkpoint is found by whoever resumes it.
    const r = createJobRunner({ db, kinds: { spin: { module: SPIN } }, concurrency, dataDir: join(dir, 'jobs'), owner, pollMs: 50, leaseMs: 10_000 });
    runners.push(r);
    await r.start();
    return r;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgekd-scale-jobs-'));
  });
  afterAll(async () => {
    for (const r of runners) await r.stop();
    for (const db of dbs) await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never runs one job in both processes', { timeout: 120_000 }, async () => {
    const a = await runner('proc-a', 2);
    const b = await runner('proc-b', 2);
    const jobs = await Promise.all(Array.from({ length: 4 }, (_, i) => (i % 2 ? a : b).submit('spin', { steps: 3, stepMs: 20 })));
    // Generous: each job is a child process, and this machine's cores are shared.
    const done = await Promise.all(jobs.map((j) => until(`job ${j.id}`, async () => {
      const r = await a.get(j.id);
      return r.state === 'succeeded' ? r : null;
    }, 90_000))).finally(() => Promise.all(runners.splice(0).map((r) => r.stop())));
    // attempt 1 everywhere: no job was claimed twice; one child per job (three step events, each once).
    expect(done.map((j) => j.attempt)).toEqual(Array(4).fill(1));
    for (const j of jobs) expect((await b.events(j.id)).map((e) => e.seq)).toEqual([1, 2, 3]);
    const pids = new Set(done.map((j) => (j.result as { pid: number }).pid));
    expect(pids.size).toBe(4);
  });

  it('takes over a job whose process died after its lease lapses, resuming from its checkpoint', { timeout: 120_000 }, async () => {
    const db = await pg.open();
    dbs.push(db);
    // What a process killed with SIGKILL leaves behind: a running row it will never renew.
    const repo = new JobRepository(db);
    const submitter = createJobRunner({ db, kinds: { spin: { module: SPIN } }, concurrency: 0, dataDir: join(dir, 'jobs'), owner: 'proc-api' });
    await submitter.start();
    runners.push(submitter);
    const job = await submitter.submit('spin', { steps: 6, stepMs: 10 });
    const claimed = await repo.claimNext(['spin'], 'proc-dead', Date.now(), 800);
    expect(claimed?.id).toBe(job.id);
    mkdirSync(join(dir, 'jobs', job.id), { recursive: true });
    writeFileSync(join(dir, 'jobs', job.id, 'step.json'), JSON.stringify({ step: 4 }));
    const t0 = Date.now();
    const survivor = await runner('proc-b', 1);
    const done = await until('takeover', async () => {
      const r = await survivor.get(job.id);
      return r.state === 'succeeded' ? r : null;
    }, 60_000);
    // Not before the dead process's lease ran out (800 ms), and resumed from step 4, not 0.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    expect(done.attempt).toBe(2);
    expect(done.result).toMatchObject({ steps: 6, resumedFrom: 4 });
  });

  it('stops its child when another process took the job over after its lease lapsed', { timeout: 120_000 }, async () => {
    const db = await pg.open();
    dbs.push(db);
    const slow = await runner('proc-slow', 1);
    const job = await slow.submit('spin', { steps: 400, stepMs: 20 });
    await until('first step', async () => (await slow.events(job.id)).length > 0, 60_000);
    // Another process reclaims it as if proc-slow had been paused past its lease.
    await db.exec("UPDATE edgekd_jobs SET state = 'queued', owner = NULL, lease_until = NULL, resume = 1 WHERE id = ?", [job.id]);
    await until('the child to stop', async () => slow.running() === 0, 30_000);
    const r = await slow.get(job.id);
    // The stale owner recorded nothing: the row is as the new owner left it.
    expect(r.state === 'queued' || r.owner !== 'proc-slow').toBe(true);
  });
});

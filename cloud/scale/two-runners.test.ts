import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPostgres } from '../../test/helpers/services';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { JobRepository } from '../jobs/job-repository';
import type { SqlDb } from '../store/sql-db';
import { pgSchema, until } from './postgres-schema.test-helper';
import { POSTGRES_URL } from '../../test/helpers/services';

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

  it('takes over, after its lease, the job of a worker process killed with SIGKILL mid-run, resuming from its checkpoint', { timeout: 150_000 }, async () => {
    // Only the worker process below may claim the job: the earlier tests' runners stop.
    for (const r of runners.splice(0)) await r.stop();
    const db = await pg.open();
    dbs.push(db);
    const submitter = createJobRunner({ db, kinds: { spin: { module: SPIN } }, concurrency: 0, dataDir: join(dir, 'jobs'), owner: 'proc-api-2' });
    await submitter.start();
    runners.push(submitter);
    const root = resolve(__dirname, '../..');
    const worker = spawn(process.execPath, [join(root, 'bin/run-ts.mjs'), join(root, 'cloud/scale/fixtures/spin-worker-process.ts'), POSTGRES_URL, pg.schema, 'proc-killed', join(dir, 'jobs'), '1500'], {
      cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    worker.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await until('the worker process', async () => out.includes('ready'), 60_000);
      const job = await submitter.submit('spin', { steps: 60, stepMs: 40 });
      await until('a few steps on the worker', async () => (await submitter.events(job.id, 0, { type: 'step' })).length >= 5, 60_000);
      expect((await submitter.get(job.id)).owner).toBe('proc-killed');
      worker.kill('SIGKILL');
      const killedAt = Date.now();
      // The job child sees its runner disconnect and stops: the checkpoint stops moving.
      const ckpt = join(dir, 'jobs', job.id, 'step.json');
      const stepOf = (): number => (existsSync(ckpt) ? (JSON.parse(readFileSync(ckpt, 'utf8')) as { step: number }).step : 0);
      await new Promise((r) => setTimeout(r, 600));
      const atKill = stepOf();
      expect(atKill).toBeGreaterThanOrEqual(5);
      const survivor = await runner('proc-survivor', 1);
      const done = await until('takeover', async () => {
        const r = await survivor.get(job.id);
        return r.state === 'succeeded' ? r : null;
      }, 90_000);
      // Not before the killed process's lease (1.5 s, renewed every 0.5 s) ran out; resumed where the checkpoint was.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(900);
      expect(done.attempt).toBe(2);
      expect(done.result).toMatchObject({ steps: 60, resumedFrom: atKill, attempt: 2 });
      // Every step after the resume has its event. Before it, the events of the steps the orphaned
      // child finished after its runner died (it checkpoints, then announces through the runner,
      // and stops once it sees the disconnect) were never stored; those steps are not redone.
      const steps = new Set((await submitter.events(job.id, 0, { type: 'step' })).map((e) => e.data.step));
      const missing = Array.from({ length: 60 }, (_, i) => i + 1).filter((n) => !steps.has(n));
      expect(missing.filter((n) => n > atKill)).toEqual([]);
      expect(Array.from({ length: 5 }, (_, i) => i + 1).every((n) => steps.has(n))).toBe(true);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }
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

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createJobRunner, type JobRunner } from './job-runner';
import type { JobRecord } from './job-types';
import { ARTIFACTS_ENV } from './job-artifacts';
import { createFsArtifactStore } from '../scale/fs-artifact-store';

const SPIN = fileURLToPath(new URL('./fixtures/spin-job.ts', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(opts: { concurrency?: number; owner?: string; dir?: string } = {}): { runner: JobRunner; db: SqlDb; dir: string } {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'edgekd-jobs-'));
  const db = openSqlite(join(dir, 'cloud.db'));
  const runner = createJobRunner({ db, kinds: { spin: { module: SPIN } }, concurrency: opts.concurrency ?? 1, dataDir: join(dir, 'jobs'), owner: opts.owner ?? 'test', pollMs: 50, cancelGraceMs: 2000 });
  cleanups.push(async () => {
    await runner.stop();
    await db.close();
  });
  if (!opts.dir) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { runner, db, dir };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const settled = (runner: JobRunner, id: string): Promise<JobRecord> =>
  until(`job ${id} to end`, async () => {
    const j = await runner.get(id);
    return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : null;
  });

describe('job runner', () => {
  it('refuses params of a table kind that do not match its schema, and queues nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-jobs-'));
    const db = openSqlite(join(dir, 'cloud.db'));
    // A stand-in module under the `export` kind: the runner must reject before any child runs.
    const runner = createJobRunner({ db, kinds: { export: { module: SPIN } }, concurrency: 0, dataDir: join(dir, 'jobs'), owner: 'test', pollMs: 50 });
    cleanups.push(async () => {
      await runner.stop();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await runner.start();
    await expect(runner.submit('export', { studentDir: '/s', keyFile: '/k', name: 'UPPER case', version: 0 })).rejects.toMatchObject({ code: 'EDGEKD_JOB_PARAMS_INVALID' });
    expect(await runner.list({ kind: 'export' })).toEqual([]);
    const ok = await runner.submit('export', { studentDir: '/s', keyFile: '/k', name: 'lenet-half', version: 1 });
    expect(ok.state).toBe('queued');
  });

  it('runs a job in a child process and stores its progress events in order', async () => {
    const { runner } = setup();
    await runner.start();
    const seen: number[] = [];
    const job = await runner.submit('spin', { steps: 4, stepMs: 20 });
    runner.subscribe(job.id, (n) => {
      if (n.kind === 'event') seen.push(n.event.seq);
    });
    const done = await settled(runner, job.id);
    expect(done.state).toBe('succeeded');
    expect((done.result as { pid: number }).pid).not.toBe(process.pid);
    const events = await runner.events(job.id);
    expect(events.map((e) => [e.seq, e.type, e.data.step])).toEqual([[1, 'step', 1], [2, 'step', 2], [3, 'step', 3], [4, 'step', 4]]);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(done.progress).toMatchObject({ type: 'step', step: 4, seq: 4 });
  });

  it('keeps the event loop free while a child burns CPU', async () => {
    const { runner } = setup();
    await runner.start();
    const job = await runner.submit('spin', { steps: 30, stepMs: 150 });
    await until('first step', async () => (await runner.events(job.id)).length > 0);
    // Timer lag measured while the child is busy: a blocked loop would lag by ~the step time.
    const lags: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      await new Promise((r) => setTimeout(r, 10));
      lags.push(performance.now() - t - 10);
    }
    expect((await runner.get(job.id)).state).toBe('running');
    // In-process, each 150 ms step would delay the timers by up to 150 ms.
    lags.sort((a, b) => a - b);
    expect(lags[Math.floor(lags.length / 2)]).toBeLessThan(40);
    await runner.cancel(job.id);
  });

  it('runs no more jobs at once than its concurrency limit', async () => {
    const { runner } = setup({ concurrency: 2 });
    await runner.start();
    const jobs = await Promise.all([0, 1, 2, 3].map(() => runner.submit('spin', { steps: 3, stepMs: 30 })));
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, runner.running())), 5);
    for (const j of jobs) expect((await settled(runner, j.id)).state).toBe('succeeded');
    clearInterval(watch);
    expect(peak).toBe(2);
  });

  it('cancels a running job, and resumes it from its checkpoint', async () => {
    const { runner } = setup();
    await runner.start();
    const job = await runner.submit('spin', { steps: 200, stepMs: 20 });
    await until('a few steps', async () => (await runner.events(job.id)).length >= 3);
    await runner.cancel(job.id);
    const cancelled = await settled(runner, job.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error?.code).toBe('EDGEKD_RUN_CANCELLED');
    const stepsBefore = (await runner.events(job.id)).length;
    await expect(runner.cancel(job.id)).rejects.toMatchObject({ code: 'EDGEKD_JOB_STATE' });

    await runner.resume(job.id);
    await until('resumed steps', async () => (await runner.events(job.id)).length > stepsBefore + 2);
    await runner.cancel(job.id);
    await settled(runner, job.id);
    const resumed = (await runner.events(job.id)).find((e) => e.seq === stepsBefore + 1)!;
    // The first step after resume continues the count instead of starting again at 1.
    expect(resumed.data.step).toBe(stepsBefore + 1);
  });

  it('appends notes after a job ended, continuing its sequence', async () => {
    const { runner } = setup();
    await runner.start();
    const job = await runner.submit('spin', { steps: 2, stepMs: 5 });
    await settled(runner, job.id);
    await runner.note(job.id, { type: 'phase', phase: 'export', message: 'queued' });
    const events = await runner.events(job.id);
    expect(events.map((e) => [e.seq, e.type])).toEqual([[1, 'step'], [2, 'step'], [3, 'phase']]);
  });

  it('records a handler failure with its typed error', async () => {
    const { runner } = setup();
    await runner.start();
    const job = await runner.submit('spin', { steps: 5, stepMs: 5, failAt: 2 });
    const done = await settled(runner, job.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatchObject({ code: 'EDGEKD_JOB_FAILED', retryable: true });
    expect(done.error?.message).toContain('failing at step 2');
  });

  it('rejects an unknown job kind and an unknown id with typed errors', async () => {
    const { runner } = setup();
    await runner.start();
    await expect(runner.submit('nope', {})).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(runner.get('missing')).rejects.toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
  });

  it('is picked up again by a restarted runner, which resumes from the checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-jobs-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = setup({ dir, owner: 'cloud-1' });
    await first.runner.start();
    const job = await first.runner.submit('spin', { steps: 12, stepMs: 40 });
    await until('a few steps', async () => (await first.runner.events(job.id)).length >= 3);
    await first.runner.stop();
    await first.db.close();
    expect((await (async () => {
      const db = openSqlite(join(dir, 'cloud.db'));
      const r = await db.query<{ state: string }>('SELECT state FROM edgekd_jobs WHERE id = ?', [job.id]);
      await db.close();
      return r[0]!.state;
    })())).toBe('queued');

    const second = setup({ dir, owner: 'cloud-1' });
    await second.runner.start();
    const done = await settled(second.runner, job.id);
    expect(done.state).toBe('succeeded');
    expect(done.attempt).toBe(2);
    expect((done.result as { resumedFrom: number }).resumedFrom).toBeGreaterThanOrEqual(3);
    const seqs = (await second.runner.events(job.id)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('resumes on another machine (its own work dirs) from the last checkpoint announced through the artifact store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-jobs-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = openSqlite(join(dir, 'cloud.db'));
    cleanups.push(() => db.close());
    const artifactsDir = join(dir, 'shared-artifacts');
    // Two runners that share the store and the artifact path, each with its own data folder.
    const runnerOn = (machine: string) => {
      const r = createJobRunner({ db, kinds: { spin: { module: SPIN } }, concurrency: 1, dataDir: join(dir, machine, 'jobs'), owner: machine, pollMs: 50, env: { [ARTIFACTS_ENV]: artifactsDir }, artifacts: createFsArtifactStore(artifactsDir) });
      cleanups.push(() => r.stop());
      return r;
    };
    const a = runnerOn('machine-a');
    await a.start();
    const job = await a.submit('spin', { steps: 10, stepMs: 30, checkpointFolder: 'ckpt' });
    await until('three checkpoints', async () => (await a.events(job.id, 0, { type: 'checkpoint' })).length >= 3);
    await a.stop(); // hands the job back to the queue; machine-a's folder is not visible to machine-b
    const announced = (await a.events(job.id, 0, { type: 'checkpoint' })).at(-1)!.data.epoch as number;

    const b = runnerOn('machine-b');
    await b.start();
    const done = await settled(b, job.id);
    expect(done.state).toBe('succeeded');
    // It continued from the checkpoint machine-a announced last, not from step 0.
    expect((done.result as { resumedFrom: number }).resumedFrom).toBe(announced);
    expect(readFileSync(join(dir, 'machine-b', 'jobs', job.id, 'ckpt', 'step.json'), 'utf8')).toBe(JSON.stringify({ step: 10 }));
  });

  it('takes back a job whose runner died without stopping (same runner id)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-jobs-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = openSqlite(join(dir, 'cloud.db'));
    const first = createJobRunner({ db, kinds: { spin: { module: SPIN } }, concurrency: 1, dataDir: join(dir, 'jobs'), owner: 'cloud-1', pollMs: 50 });
    await first.start();
    const job = await first.submit('spin', { steps: 3, stepMs: 10 });
    await until('running', async () => (await first.get(job.id)).state === 'running');
    // Simulate a crash: the row says running and owned by cloud-1, nobody is running it.
    await db.exec("UPDATE edgekd_jobs SET state = 'running', owner = 'cloud-1' WHERE id = ?", [job.id]);
    await first.stop();
    await db.exec("UPDATE edgekd_jobs SET state = 'running', owner = 'cloud-1', result = NULL WHERE id = ?", [job.id]);
    await db.close();
    const second = setup({ dir, owner: 'cloud-1' });
    await second.runner.start();
    const done = await settled(second.runner, job.id);
    expect(done.state).toBe('succeeded');
    expect(done.resume).toBe(true);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createJobRunner } from '../jobs/job-runner';
import { submitJob } from '../jobs/job-kinds';
import { openSqlite } from '../store/sqlite-db';
import { createJobEngines } from './job-engines';

const dir = mkdtempSync(join(tmpdir(), 'edgekd-job-engines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('retrain job engines', () => {
  it('cancels the unfinished jobs of an interrupted run, and only its own', async () => {
    const db = openSqlite(join(dir, 'cloud.db'));
    // A runner that runs nothing here: the jobs stay queued, as on a busy worker pool.
    const jobs = createJobRunner({ db, kinds: { distill: { module: 'unused' }, export: { module: 'unused' } }, concurrency: 0, dataDir: join(dir, 'jobs'), owner: 'test' });
    await jobs.start();
    try {
      const distill = { teacherPath: '/t', student: 's', method: 'ssdkd' };
      const mine = await submitJob(jobs, 'distill', { ...distill, retrainRunId: 'run-old' });
      const myExport = await submitJob(jobs, 'export', { studentDir: '/s', keyFile: '/k', name: 'm', version: 2, retrainRunId: 'run-old' });
      const theirs = await submitJob(jobs, 'distill', { ...distill, retrainRunId: 'run-new' });
      const plain = await submitJob(jobs, 'distill', distill);
      const engines = createJobEngines({ jobs, fleet: { listPackages: async () => [] }, keyFile: '/k' });
      await engines.abandon!('run-old');
      expect((await jobs.get(mine.id)).state).toBe('cancelled');
      expect((await jobs.get(myExport.id)).state).toBe('cancelled');
      expect((await jobs.get(theirs.id)).state).toBe('queued');
      expect((await jobs.get(plain.id)).state).toBe('queued');
    } finally {
      await jobs.stop();
      await db.close();
    }
  });
});

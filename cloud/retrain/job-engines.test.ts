import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { jobParams, jobResult, submitJob } from '../jobs/job-kinds';
import type { JobRecord } from '../jobs/job-types';
import { openSqlite } from '../store/sqlite-db';
import { initCompute } from '../compute';
import { saveModel } from '../zoo/model-io';
import { loadBuffer, saveBuffer } from '../distill/buffer-file';
import { tinyTeacher } from '../distill/tiny-models.test-helper';
import type { PackageRecord } from '../fleet/store/fleet-store';
import { createJobEngines } from './job-engines';
import type { RetrainContext } from './steps';
import { deployedLineWithContrastShift } from './deployed-line.test-helper';
import { studentCard, TINY_DISTILL } from './student-card.test-helper';

const dir = mkdtempSync(join(tmpdir(), 'edgekd-job-engines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

const SHA = 'c'.repeat(64);

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

  it('submits the distill job with the adaptation the retrain policy set for the run, beside the field evidence', async () => {
    const db = openSqlite(join(dir, 'policy-adaptation.db'));
    // A runner that runs nothing here: the distill job stays queued, its parameters are what is checked.
    const real = createJobRunner({ db, kinds: { distill: { module: 'unused' }, export: { module: 'unused' } }, concurrency: 0, pollMs: 20, dataDir: join(dir, 'policy-jobs'), owner: 'test' });
    await real.start();
    try {
      const stamp = { error: null, progress: null, attempt: 1, resume: false, cancelRequested: false, owner: null, createdAt: 0, updatedAt: 0, startedAt: 0, finishedAt: 0 };
      const history: Record<string, JobRecord> = {
        'prev-distill': { ...stamp, id: 'prev-distill', kind: 'distill', state: 'succeeded', params: { teacherPath: '/t', student: 'tiny', method: 'ssdkd' }, result: { studentDir: '/deployed-student', method: 'ssdkd', teacherId: null, finalAccuracy: null, bestAccuracy: null, teacherAccuracy: null, teacherSha256: null, samplesGenerated: 1, bufferCapacity: 1, epochs: 1, totalSeconds: 1, backend: 'wasm' } },
        'prev-export': { ...stamp, id: 'prev-export', kind: 'export', state: 'succeeded', params: { studentDir: '/deployed-student', keyFile: '/k', runId: 'prev-distill', name: 'fm-student', version: 3 }, result: { packageDir: '/p', name: 'fm-student', version: 3, sha256: SHA, bytes: 1, metrics: {}, runId: 'prev-distill', seconds: 1 } },
      };
      const jobs: JobRunner = { ...real, get: async (id) => history[id] ?? real.get(id), note: async (id, e) => (history[id] ? undefined : real.note(id, e)) };
      const pkg = { packageId: 'p3', name: 'fm-student', version: 3, manifest: { lineage: { exportJobId: 'prev-export' }, model: { sha256: SHA } } } as unknown as PackageRecord;
      const engines = createJobEngines({ jobs, fleet: { listPackages: async () => [pkg] }, keyFile: '/k', pollMs: 20 });
      const adaptation = { method: 'field-batchnorm', layers: 'first', fieldWeight: 0.25, imitation: { fraction: 0.5, teacherOn: 'clean' } } as const;
      const sketch = { layer: 'bn1', mean: [0.5], variance: [0.3], sampleCount: 512 };
      const abort = new AbortController();
      const run = engines.adapt({ runId: 'run-p', cohort: 'site', model: { name: 'fm-student', version: '3' }, triggerReports: ['r1'], featureTargets: [], layerSketches: [sketch], inputShift: null, adaptation, signal: abort.signal });
      let queued: JobRecord[] = [];
      for (let i = 0; i < 200 && queued.length === 0; i++) {
        queued = await real.list({ kind: 'distill', state: 'queued' });
        if (queued.length === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(queued).toHaveLength(1);
      expect(jobParams(queued[0]!, 'distill')).toMatchObject({ warmStartFrom: '/deployed-student', retrainRunId: 'run-p', adaptation: { ...adaptation, layerSketches: [sketch] } });
      // A pause of the loop cancels the queued job.
      abort.abort();
      await expect(run).rejects.toMatchObject({ code: 'EDGEKD_RUN_CANCELLED' });
      expect((await real.get(queued[0]!.id)).state).toBe('cancelled');
    } finally {
      await real.stop();
      await db.close();
    }
  });

  it('adapts the deployed student in the distill job as the in-process engines do: field imitation with a field input shift, the fallback without, and says which ran and why', async () => {
    // The deployed line: a teacher with BatchNorm and a distilled student folder with its buffer.
    const { teacherDir, studentDir, buffer, baseline, field } = await deployedLineWithContrastShift(dir);

    const db = openSqlite(join(dir, 'adapt.db'));
    // The real distill handler in a job child; the export is not run here.
    const module = fileURLToPath(new URL('../jobs/handlers/distill-job.ts', import.meta.url));
    const real = createJobRunner({ db, kinds: { distill: { module }, export: { module: 'unused' } }, concurrency: 1, pollMs: 50, dataDir: join(dir, 'adapt-jobs'), owner: 'test' });
    await real.start();
    try {
      // The line's history as this cloud would hold it: the distill run behind package v3 and its export.
      const stamp = { error: null, progress: null, attempt: 1, resume: false, cancelRequested: false, owner: null, createdAt: 0, updatedAt: 0, startedAt: 0, finishedAt: 0 };
      const history: Record<string, JobRecord> = {
        'prev-distill': { ...stamp, id: 'prev-distill', kind: 'distill', state: 'succeeded', params: { teacherPath: teacherDir, student: 'tiny', method: 'ssdkd', config: TINY_DISTILL }, result: { studentDir, method: 'ssdkd', teacherId: null, finalAccuracy: null, bestAccuracy: null, teacherAccuracy: null, teacherSha256: null, samplesGenerated: 1, bufferCapacity: buffer.capacity, epochs: 2, totalSeconds: 1, backend: 'wasm' } },
        'prev-export': { ...stamp, id: 'prev-export', kind: 'export', state: 'succeeded', params: { studentDir, keyFile: '/k', runId: 'prev-distill', name: 'fm-student', version: 3 }, result: { packageDir: '/p', name: 'fm-student', version: 3, sha256: SHA, bytes: 1, metrics: {}, runId: 'prev-distill', seconds: 1 } },
      };
      const jobs: JobRunner = { ...real, get: async (id) => history[id] ?? real.get(id), note: async (id, e) => (history[id] ? undefined : real.note(id, e)) };
      const pkg = { packageId: 'p3', name: 'fm-student', version: 3, manifest: { lineage: { exportJobId: 'prev-export' }, model: { sha256: SHA } } } as unknown as PackageRecord;
      const engines = createJobEngines({ jobs, fleet: { listPackages: async () => [pkg] }, keyFile: '/k', pollMs: 50 });
      const ctx = (runId: string, inputShift: RetrainContext['inputShift']): RetrainContext => ({ runId, cohort: 'site', model: { name: 'fm-student', version: '3' }, triggerReports: [], featureTargets: [], inputShift, signal: new AbortController().signal });

      const imitated = await engines.adapt(ctx('run-1', { baseline, field }));
      expect(imitated.summary).toMatchObject({ adaptation: 'field-imitation', degradation: { kind: 'contrast' } });
      expect(Math.abs((imitated.summary.degradation as { amount: number }).amount - 0.4)).toBeLessThanOrEqual(0.1);
      // The schedule's student steps, no new synthesis, on the deployed buffer.
      expect(imitated.summary).toMatchObject({ studentSteps: 2 * 2, samplesGenerated: 0 });
      const job = await real.get(imitated.distillRunId);
      expect(jobParams(job, 'distill').adaptation?.inputShift).toEqual({ baseline, field });
      expect(jobResult(job, 'distill')?.adaptation).toMatchObject({ adaptation: 'field-imitation' });

      // No input statistics in the reports: the fallback (no sketches either: re-distillation), with the reason.
      const fallback = await engines.adapt(ctx('run-2', null));
      expect(fallback.summary).toMatchObject({ adaptation: 'redistill', imitationSkipped: expect.stringMatching(/no input statistics/) });
      expect(jobParams(await real.get(fallback.distillRunId), 'distill').adaptation?.inputShift).toBeUndefined();

      // A deployed student with BatchNorm and reports with layer sketches but no input shift: the
      // job re-estimates its BatchNorm from the sketches and re-distils nothing.
      const bnStudentDir = join(dir, 'bn-student');
      const bnStudent = tinyTeacher(5);
      await saveModel(bnStudent, bnStudentDir, studentCard(3));
      saveBuffer(bnStudentDir, buffer);
      (history['prev-distill']!.result as { studentDir: string }).studentDir = bnStudentDir;
      const bnLayer = bnStudent.layers.find((l) => l.getClassName() === 'BatchNormalization')!.name;
      const sketch = { layer: bnLayer, mean: [0.5, 0.1, -0.4, 0.2], variance: [0.3, 0.6, 0.9, 1.2], sampleCount: 4096 };
      const bn = await engines.adapt({ ...ctx('run-3', null), layerSketches: [sketch] });
      expect(bn.summary).toMatchObject({ adaptation: 'field-batchnorm', adapted: [{ layer: bnLayer, sampleCount: 4096 }], imitationSkipped: expect.stringMatching(/no input statistics/), epochs: 0 });
      // The adapted folder is a warm start for the next retrain: the deployed buffer, and a header naming this job (package lineage).
      expect(loadBuffer(bn.student).size).toBe(buffer.size);
      expect(JSON.parse(readFileSync(join(bn.student, 'buffer.json'), 'utf8'))).toMatchObject({ runJobId: bn.distillRunId });
    } finally {
      await real.stop();
      await db.close();
    }
  }, 180_000);
});

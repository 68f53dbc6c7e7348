import { EdgekdError } from '../../shared/errors';
import type { ArtifactStore } from '../scale/artifact-store';
import { readExportedPackage } from '../jobs/job-artifacts';
import { exportJobOfPackage, jobParams, jobResult, submitJob } from '../jobs/job-kinds';
import type { JobRunner } from '../jobs/job-runner';
import type { JobRecord } from '../jobs/job-types';
import type { FleetController } from '../fleet/fleet-controller';
import type { RetrainEngines } from './retrain-pipeline';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface JobEnginesOptions {
  jobs: JobRunner;
  fleet: Pick<FleetController, 'listPackages'>;
  /** Signing key file of this cloud (what the export job signs with). */
  keyFile: string;
  /** Test images the export job evaluates the package on (default 2000). */
  evalLimit?: number;
  pollMs?: number;
  /** Where job outputs live (students, packages): a step on another machine restores them from it. */
  artifacts?: ArtifactStore;
}

/** Waits for a job to end; an abort cancels it. Throws unless it succeeded. */
async function awaitJob(jobs: JobRunner, id: string, signal: AbortSignal, pollMs: number): Promise<JobRecord> {
  for (;;) {
    const j = await jobs.get(id);
    if (TERMINAL.has(j.state)) {
      if (j.state !== 'succeeded') throw new EdgekdError('EDGEKD_JOB_FAILED', `job ${id} ${j.state}: ${j.error?.message ?? ''}`);
      return j;
    }
    if (signal.aborted) {
      await jobs.cancel(id).catch(() => undefined);
      throw new EdgekdError('EDGEKD_RUN_CANCELLED', `job ${id} cancelled: the retrain loop was paused`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * The retrain engines of `edgekd cloud`: each step is a job on the cloud's job runner (its own
 * child process, so a retrain never blocks the API), typed by the job-kind table. `adapt` is a
 * `distill` job warm-started from the student and buffer of the run behind the line's newest
 * package that adapts it to the field as the in-process engines do (adapt-student.ts, with the
 * retrain policy's `adaptation` the run carries; `auto`: field imitation when a degradation is
 * fitted from the input statistics, else BatchNorm re-estimation from the layer sketches, else
 * re-distillation with the field's BN targets); `package` is an `export` job (int8, signed) of the
 * next version with lineage to that package.
 */
export function createJobEngines(o: JobEnginesOptions): RetrainEngines {
  const { jobs } = o;
  const pollMs = o.pollMs ?? 500;
  // The artifact address of each student this process's runs distilled (the step interface passes the folder).
  const students = new Map<string, string | undefined>();

  /** The distillation run behind the newest registered package of a model line. */
  const currentRun = async (modelName: string): Promise<{ run: JobRecord; version: number; packageDir: string | null; packageArtifact: string | undefined }> => {
    const pkgs = (await o.fleet.listPackages()).filter((p) => p.name === modelName).sort((a, b) => b.version - a.version);
    const newest = pkgs[0];
    if (!newest) throw new EdgekdError('EDGEKD_NOT_FOUND', `no registered package of ${modelName}`);
    // The manifest names the export job that made it (lineage by lookup, no scan of the job table).
    const exp = await exportJobOfPackage(jobs, newest.manifest);
    const runId = exp?.params.runId;
    if (!exp || !runId) throw new EdgekdError('EDGEKD_NOT_FOUND', `package ${newest.packageId} was not exported by this cloud, so there is no run to warm-start from`);
    return { run: await jobs.get(runId), version: newest.version, packageDir: exp.result.packageDir, packageArtifact: exp.result.packageArtifact };
  };

  return {
    async adapt(ctx) {
      const cur = await currentRun(ctx.model.name);
      const p = jobParams(cur.run, 'distill');
      const previous = jobResult(cur.run, 'distill');
      const studentDir = previous?.studentDir;
      if (!studentDir) throw new EdgekdError('EDGEKD_NOT_FOUND', `run ${cur.run.id} has no student to warm-start from`);
      const job = await submitJob(jobs, 'distill', {
        teacherPath: p.teacherPath,
        ...(p.teacherId !== undefined ? { teacherId: p.teacherId } : {}),
        student: p.student,
        method: p.method,
        ...(p.budget !== undefined ? { budget: p.budget } : {}),
        ...(p.epochs !== undefined ? { epochs: p.epochs } : {}),
        ...(p.seed !== undefined ? { seed: p.seed } : {}),
        ...(p.config !== undefined ? { config: p.config } : {}),
        ...(p.evalSamples !== undefined ? { evalSamples: p.evalSamples } : {}),
        warmStartFrom: studentDir,
        ...(previous?.studentArtifact ? { warmStartArtifact: previous.studentArtifact } : {}),
        bnTargets: ctx.featureTargets.map((t) => ({ layer: t.layer, mean: t.mean, variance: t.variance })),
        // The adaptation the retrain policy set for this run (the operator's choice, defaults
        // filled: the job record says what was in force) and the field evidence it decides on
        // (the same decision as in process).
        adaptation: { ...ctx.adaptation, ...(ctx.inputShift ? { inputShift: ctx.inputShift } : {}), ...(ctx.layerSketches?.length ? { layerSketches: ctx.layerSketches } : {}) },
        retrainOf: cur.run.id,
        retrainRunId: ctx.runId,
        triggerReports: ctx.triggerReports.slice(0, 50),
        requestedBy: 'retrain',
      });
      await jobs.note(cur.run.id, { type: 'phase', phase: 'retrain', message: `drift alarm on ${ctx.cohort}: re-distillation ${job.id} started` });
      const done = await awaitJob(jobs, job.id, ctx.signal, pollMs);
      const result = jobResult(done, 'distill');
      if (!result) throw new EdgekdError('EDGEKD_JOB_FAILED', `re-distillation ${job.id} finished without a result`);
      students.set(result.studentDir, result.studentArtifact);
      // Which adaptation ran and why, at the top of the run record as the in-process engines put it.
      const { adaptation, ...rest } = result;
      return { student: result.studentDir, distillRunId: job.id, summary: { jobId: job.id, ...rest, ...adaptation } };
    },
    async abandon(runId) {
      // The jobs the interrupted run submitted and that have not ended: cancelled, so they free their worker.
      for (const kind of ['distill', 'export'] as const) {
        for (const state of ['queued', 'running'] as const) {
          for (const job of await jobs.list({ kind, state, limit: 1000 })) {
            if (jobParams(job, kind).retrainRunId === runId) await jobs.cancel(job.id).catch(() => undefined);
          }
        }
      }
    },
    async package(ctx, d) {
      const cur = await currentRun(ctx.model.name);
      const job = await submitJob(jobs, 'export', {
        studentDir: d.student,
        ...(students.get(d.student) ? { studentArtifact: students.get(d.student)! } : {}),
        keyFile: o.keyFile,
        runId: d.distillRunId,
        teacherPath: jobParams(cur.run, 'distill').teacherPath,
        name: ctx.model.name,
        version: cur.version + 1,
        ...(cur.packageDir ? { parentPackageDir: cur.packageDir } : {}),
        ...(cur.packageArtifact ? { parentPackageArtifact: cur.packageArtifact } : {}),
        evalLimit: o.evalLimit ?? 2000,
        registeredByRetrain: true,
        retrainRunId: ctx.runId,
      });
      const done = await awaitJob(jobs, job.id, ctx.signal, pollMs);
      const r = jobResult(done, 'export');
      if (!r) throw new EdgekdError('EDGEKD_JOB_FAILED', `export ${job.id} finished without a result`);
      const pkg = await readExportedPackage(r, o.artifacts);
      return { package: { name: r.name, version: r.version, sha256: r.sha256 }, artifact: pkg, summary: { exportJobId: job.id, packageDir: r.packageDir } };
    },
  };
}

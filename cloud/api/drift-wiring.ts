import { EdgekdError } from '../../shared/errors';
import type { Fence } from '../scale/leader-lease';
import type { Logger } from '../../shared/log/logger';
import type { SqlDb } from '../store/sql-db';
import { findExportJob, jobParams, jobResult, submitJob } from '../jobs/job-kinds';
import type { JobRunner } from '../jobs/job-runner';
import type { JobRecord } from '../jobs/job-types';
import type { FleetController } from '../fleet/fleet-controller';
import type { DriftPort, RetrainPort } from './ports';

export interface DriftWiring {
  readonly drift: DriftPort;
  readonly retrain: RetrainPort;
  close(): Promise<void>;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Waits for a job to end; an abort cancels it. Throws unless it succeeded. */
async function awaitJob(jobs: JobRunner, id: string, signal: AbortSignal): Promise<JobRecord> {
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
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Drift aggregation and the automatic retrain loop (cloud/drift, cloud/retrain) wired to this
 * cloud: drift reports from the fleet controller are ingested; a timer evaluates the fleet and
 * lets the retrain controller decide; its steps run as jobs here (re-distil warm-started from the
 * deployed student and buffer with the field's BatchNorm targets, then export + int8 + sign), so
 * a retrain never blocks the API; the rollout step is the fleet canary.
 */
export async function wireDrift(o: {
  db: SqlDb;
  jobs: JobRunner;
  fleet: FleetController;
  keyFile: string;
  log: Logger;
  tickMs?: number;
  policy?: Record<string, number>;
  rollout?: Record<string, unknown>;
  /** The fleet leader's lease on a shared store: retrain runs start in fenced writes. */
  fence?: Fence;
}): Promise<DriftWiring> {
  const { createDriftService } = await import('../drift/drift-service');
  const { createRetrainController } = await import('../retrain/retrain-controller');
  const { fleetCanaryRollout } = await import('../retrain/fleet-canary');
  const { readPackageDir } = await import('../../shared/package/package-dir');
  const { jobs, fleet, log } = o;
  const drift = createDriftService({ db: o.db, clock: Date.now, logger: log.child({ module: 'drift' }) });
  await drift.migrate();
  const onDrift = (e: { report: Parameters<typeof drift.ingest>[0] }): void => {
    drift.ingest(e.report).catch((err) => log.warn({ err }, 'drift report rejected'));
  };
  fleet.events.on('drift', onDrift);

  /** The distillation run behind the newest registered package of a model line. */
  const currentRun = async (modelName: string): Promise<{ run: JobRecord; version: number; packageDir: string | null }> => {
    const pkgs = (await fleet.listPackages()).filter((p) => p.name === modelName).sort((a, b) => b.version - a.version);
    const newest = pkgs[0];
    if (!newest) throw new EdgekdError('EDGEKD_NOT_FOUND', `no registered package of ${modelName}`);
    // The export job that made the package knows the run (job id) it came from.
    const exp = await findExportJob(jobs, modelName, newest.version);
    const runId = exp?.params.runId;
    if (!exp || !runId) throw new EdgekdError('EDGEKD_NOT_FOUND', `package ${newest.packageId} was not exported by this cloud, so there is no run to warm-start from`);
    return { run: await jobs.get(runId), version: newest.version, packageDir: exp.result.packageDir };
  };

  const rolloutStep = fleetCanaryRollout({
    fleet,
    // Every device that runs the model line (the demo's cohort is the whole fleet).
    target: () => ({ groups: ['demo'] }),
    request: (o.rollout ?? { waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 }, bakeMs: 5000 }) as never,
    pollMs: 1000,
  });

  const retrain = createRetrainController({
    db: o.db,
    clock: Date.now,
    drift,
    logger: log.child({ module: 'retrain' }),
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.fence ? { fence: o.fence } : {}),
    steps: {
      async distill(ctx) {
        const cur = await currentRun(ctx.model.name);
        const p = jobParams(cur.run, 'distill');
        const studentDir = jobResult(cur.run, 'distill')?.studentDir;
        if (!studentDir) throw new EdgekdError('EDGEKD_NOT_FOUND', `run ${cur.run.id} has no student to warm-start from`);
        const job = await submitJob(jobs, 'distill', {
          teacherId: p.teacherId,
          teacherPath: p.teacherPath,
          student: p.student,
          method: p.method ?? 'ssdkd',
          budget: p.budget,
          epochs: p.epochs,
          seed: p.seed,
          config: p.config,
          warmStartFrom: studentDir,
          bnTargets: ctx.featureTargets.map((t) => ({ layer: t.layer, mean: t.mean, variance: t.variance })),
          retrainOf: cur.run.id,
          triggerReports: ctx.triggerReports.slice(0, 50),
          requestedBy: 'retrain',
        });
        await jobs.note(cur.run.id, { type: 'phase', phase: 'retrain', message: `drift alarm on ${ctx.cohort}: re-distillation ${job.id} started` });
        const done = await awaitJob(jobs, job.id, ctx.signal);
        const result = jobResult(done, 'distill');
        if (!result) throw new EdgekdError('EDGEKD_JOB_FAILED', `re-distillation ${job.id} finished without a result`);
        return { student: result.studentDir, distillRunId: job.id, summary: { jobId: job.id, ...result } };
      },
      async package(ctx, d) {
        const cur = await currentRun(ctx.model.name);
        // The distill step above returns the job's student folder; DistillOutcome.student is opaque.
        if (typeof d.student !== 'string') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'the export job needs a student folder');
        const job = await submitJob(jobs, 'export', {
          studentDir: d.student,
          keyFile: o.keyFile,
          runId: d.distillRunId,
          teacherPath: jobParams(cur.run, 'distill').teacherPath,
          name: ctx.model.name,
          version: cur.version + 1,
          ...(cur.packageDir ? { parentPackageDir: cur.packageDir } : {}),
          evalLimit: 2000,
          registeredByRetrain: true,
        });
        const done = await awaitJob(jobs, job.id, ctx.signal);
        const r = jobResult(done, 'export');
        if (!r) throw new EdgekdError('EDGEKD_JOB_FAILED', `export ${job.id} finished without a result`);
        const pkg = await readPackageDir(r.packageDir);
        return { package: { name: r.name, version: r.version, sha256: r.sha256 }, artifact: pkg, summary: { exportJobId: job.id, packageDir: r.packageDir } };
      },
      rollout: (ctx, p) => rolloutStep(p.artifact as never, ctx),
    },
  });

  let verdicts: Awaited<ReturnType<typeof drift.evaluate>> = [];
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void (async () => {
      try {
        verdicts = await drift.evaluate();
        await retrain.tick();
      } catch (e) {
        log.warn({ err: e }, 'drift evaluation failed');
      } finally {
        ticking = false;
      }
    })();
  }, o.tickMs ?? 5000);
  timer.unref();

  return {
    drift: {
      async devices() {
        return (await drift.devices()).map((d) => ({ id: d.deviceId, ...d, score: 1 - d.pValue }));
      },
      async device(id) {
        const d = (await drift.devices()).find((x) => x.deviceId === id);
        if (!d) throw new EdgekdError('EDGEKD_NOT_FOUND', `no drift reports from device ${id}`);
        return { id, ...d, score: 1 - d.pValue, reports: await drift.reports({ deviceId: id, limit: 20 }) };
      },
      async cohorts() {
        return verdicts.map((v) => ({ id: `${v.cohort}/${v.modelName}@${v.modelVersion}`, ...v, alarmingDevices: v.devicesInAlarm }));
      },
      async alarms() {
        return (await drift.cohortAlarms()).map((a) => ({ ...a, reason: `${a.lastVerdict.devicesInAlarm} of ${a.lastVerdict.devices} devices drifted (quorum ${a.lastVerdict.quorum})`, raisedAt: a.openedAt }));
      },
    },
    retrain: {
      async getPolicy() {
        return { ...(await retrain.getPolicy()), paused: (await retrain.paused()).paused };
      },
      async setPolicy(policy, by) {
        const { paused, ...rest } = policy;
        if (paused === true) await retrain.pause('paused through the API', by);
        if (paused === false) await retrain.resume('resumed through the API', by);
        if (Object.keys(rest).length) await retrain.setPolicy(rest as never, by);
        return { ...(await retrain.getPolicy()), paused: (await retrain.paused()).paused };
      },
      async history() {
        return (await retrain.runs(100)).map((r) => {
          const distillStep = r.steps.find((s) => s.name === 'distill');
          const rolloutStepRec = r.steps.find((s) => s.name === 'rollout');
          return {
            ...r,
            alarmId: r.cohortAlarmId ?? r.id,
            runId: (distillStep?.summary?.jobId as string | undefined) ?? null,
            packageId: r.packageRef ? `${r.packageRef.name}@${r.packageRef.version}` : null,
            rolloutId: (rolloutStepRec?.summary?.rolloutId as string | undefined) ?? null,
            reason: r.outcome ?? r.error ?? r.state,
          };
        });
      },
    },
    async close() {
      clearInterval(timer);
      fleet.events.off('drift', onDrift);
    },
  };
}

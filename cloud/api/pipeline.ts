import { toEdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { jobParams, jobResult, submitJob } from '../jobs/job-kinds';
import type { JobRunner } from '../jobs/job-runner';
import type { JobRecord } from '../jobs/job-types';
import type { FleetController } from '../fleet/fleet-controller';
import type { ArtifactStore } from '../scale/artifact-store';
import { readExportedPackage } from '../jobs/job-artifacts';


/**
 * What follows a distillation run when it asked for it: export + int8 + signed package (an
 * `export` job), registration with the fleet controller, and optionally a rollout. Each step is
 * noted on the run's event stream (the console's Phases list). Reacting to live notices alone
 * would lose a step across a restart, so `recover()` redoes any step whose successor is missing.
 */
export interface Pipeline {
  recover(): Promise<void>;
  stop(): void;
}


export function packageNameFor(teacherId: string | undefined, student: string | undefined): string {
  const raw = `${teacherId ?? 'teacher'}-${student ?? 'student'}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  return raw.slice(0, 64) || 'student';
}

export function startPipeline(opts: { jobs: JobRunner; fleet: FleetController | null; keyFile: string | null; log: Logger; evalLimit?: number; artifacts?: ArtifactStore }): Pipeline {
  const { jobs, fleet, log } = opts;
  const busy = new Set<string>();

  const once = async (key: string, fn: () => Promise<void>): Promise<void> => {
    if (busy.has(key)) return;
    busy.add(key);
    try {
      await fn();
    } catch (e) {
      log.error({ err: e, step: key }, 'pipeline step failed');
    } finally {
      busy.delete(key);
    }
  };

  async function afterDistill(run: JobRecord): Promise<void> {
    const p = jobParams(run, 'distill');
    const distilled = jobResult(run, 'distill');
    if (!p.export || !distilled) return;
    await once(`export:${run.id}`, async () => {
      const exports = (await jobs.list({ kind: 'export', limit: 1000 })).map((job) => ({ job, params: jobParams(job, 'export'), result: jobResult(job, 'export') }));
      if (exports.some((x) => x.params.runId === run.id)) return;
      if (!jobs.kinds.includes('export') || !opts.keyFile) {
        await jobs.note(run.id, { type: 'phase', phase: 'export', message: 'export is not available in this cloud: no package made' });
        return;
      }
      const name = p.packageName ?? packageNameFor(p.teacherId, p.student);
      // Versions are monotonic per name: one more than the newest export or registered package.
      const previous = exports.flatMap((x) => (x.job.state === 'succeeded' && x.result?.name === name ? [x.result] : []));
      const registered = fleet ? (await fleet.listPackages()).filter((r) => r.name === name).map((r) => r.version) : [];
      const newest = previous.sort((a, b) => b.version - a.version)[0];
      const version = Math.max(0, ...registered, ...previous.map((x) => x.version)) + 1;
      const job = await submitJob(jobs, 'export', {
        studentDir: distilled.studentDir,
        ...(distilled.studentArtifact ? { studentArtifact: distilled.studentArtifact } : {}),
        keyFile: opts.keyFile,
        runId: run.id,
        teacherPath: p.teacherPath,
        name,
        version,
        ...(newest ? { parentPackageDir: newest.packageDir, ...(newest.packageArtifact ? { parentPackageArtifact: newest.packageArtifact } : {}) } : {}),
        evalLimit: opts.evalLimit ?? 2000,
      });
      await jobs.note(run.id, { type: 'phase', phase: 'export', message: `export job ${job.id} queued: ${name} v${version}` });
    });
  }

  async function afterExport(exp: JobRecord): Promise<void> {
    if (!fleet) return;
    const r = jobResult(exp, 'export');
    if (!r) return;
    await once(`register:${exp.id}`, async () => {
      const existing = (await fleet.listPackages()).find((x) => x.name === r.name && x.version === r.version);
      const record = existing ?? (await fleet.registerPackage(await readExportedPackage(r, opts.artifacts)));
      if (existing || !r.runId) return;
      await jobs.note(r.runId, { type: 'phase', phase: 'registered', message: `package ${record.packageId} (${r.name} v${r.version}) registered with the fleet`, packageId: record.packageId });
      const run = await jobs.get(r.runId).catch(() => null);
      const rollout = run ? jobParams(run, 'distill').rollout : undefined;
      if (rollout) {
        const ro = await fleet.createRollout({ ...rollout, packageId: record.packageId });
        await jobs.note(r.runId, { type: 'phase', phase: 'rollout', message: `rollout ${ro.id} started: canary, then waves`, rolloutId: ro.id });
      }
    });
  }

  const unsubscribe = jobs.subscribe('*', (n) => {
    if (n.kind !== 'state' || n.job.state !== 'succeeded') return;
    if (n.job.kind === 'distill') void afterDistill(n.job);
    else if (n.job.kind === 'export') void afterExport(n.job);
  });

  return {
    async recover() {
      try {
        for (const j of await jobs.list({ kind: 'distill', state: 'succeeded', limit: 1000 })) await afterDistill(j);
        for (const j of await jobs.list({ kind: 'export', state: 'succeeded', limit: 1000 })) await afterExport(j);
      } catch (e) {
        log.error({ err: toEdgekdError(e) }, 'pipeline recovery failed');
      }
    },
    stop: unsubscribe,
  };
}

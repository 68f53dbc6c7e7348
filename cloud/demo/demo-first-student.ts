import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import type { RolloutRequest } from '../fleet/rollout/rollout-spec';
import { REPO_ROOT } from '../api/start-cloud';
import { DEBIAN_FASHION_MNIST_DIR } from '../data';
import type { FleetController } from '../fleet/fleet-controller';
import { jobResult, submitJob } from '../jobs/job-kinds';
import type { JobRunner } from '../jobs/job-runner';

/**
 * The demo's first model: a data-free student distilled ahead of time with `edgekd distill`
 * (a data-free method from the official-split Fashion-MNIST teacher; which one is in its README) and committed with its run record, so the
 * fleet serves a student worth looking at within a couple of minutes of `npm start` while a live
 * run distils the next version. The committed folder holds the student, its model card, its run
 * record and a class-balanced slice of its final replay buffer (synthetic samples only) for the
 * export's int8 calibration and drift reference; the full buffer's hash is in student-summary.json.
 */
export const FIRST_STUDENT_DIR = join(REPO_ROOT, 'models/students/official-fashion-mnist-fbe-lenet5-bn');
/** The teacher it was distilled from; the demo's live run distils from the same one. */
export const FIRST_STUDENT_TEACHER_DIR = join(REPO_ROOT, 'models/teachers/official-fashion-mnist-lenet5-bn');

export interface FirstStudentSummary {
  dir: string;
  /** Zoo architecture (from its model card): names the package. */
  arch: string;
  /** Distillation method (data-free). */
  method: string;
  command: string;
  seed: number;
  validationAccuracy: number;
  testAccuracy: number;
  samplesGenerated: number;
  studentSteps: number;
  seconds: number;
}

/** Reads the committed student's run record; null when the folder or the official data is absent. */
export function findFirstStudent(dir = FIRST_STUDENT_DIR): { summary: FirstStudentSummary | null; why: string | null } {
  const recordPath = join(dir, 'student-summary.json');
  if (!existsSync(join(dir, 'model.json')) || !existsSync(recordPath)) return { summary: null, why: `${dir} has no committed student` };
  if (!officialFashionMnistInstalled()) return { summary: null, why: 'the official Fashion-MNIST files are not installed (apt-get install -y dataset-fashion-mnist), so its held-out stream cannot be served' };
  const r = parseJson(readFileSync(recordPath), recordPath) as Partial<FirstStudentSummary>;
  const num = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${recordPath}: ${what} is not a number`);
    return v;
  };
  const cardPath = join(dir, 'model-card.json');
  const card = existsSync(cardPath) ? (parseJson(readFileSync(cardPath), cardPath) as { architecture?: unknown }) : {};
  if (typeof card.architecture !== 'string' || card.architecture.length === 0) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${cardPath}: no architecture`);
  return {
    summary: {
      dir,
      arch: card.architecture,
      method: String(r.method ?? ''),
      command: String(r.command ?? ''),
      seed: num(r.seed, 'seed'),
      validationAccuracy: num(r.validationAccuracy, 'validationAccuracy'),
      testAccuracy: num(r.testAccuracy, 'testAccuracy'),
      samplesGenerated: num(r.samplesGenerated, 'samplesGenerated'),
      studentSteps: num(r.studentSteps, 'studentSteps'),
      seconds: num(r.seconds, 'seconds'),
    },
    why: null,
  };
}

function officialFashionMnistInstalled(): boolean {
  const dir = process.env.EDGEKD_FASHION_MNIST_DIR ?? DEBIAN_FASHION_MNIST_DIR;
  return ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].every((f) => existsSync(join(dir, `${f}.gz`)));
}

/**
 * Exports the committed student (ONNX, int8 where faster, signed), waits for the pipeline to
 * register the package, and starts its rollout. Returns the package and rollout ids.
 */
export async function rollOutFirstStudent(o: {
  jobs: JobRunner;
  fleet: FleetController;
  keyFile: string;
  studentDir: string;
  teacherPath: string;
  packageName: string;
  rollout: Omit<RolloutRequest, 'packageId'>;
  waitFor: (what: string, fn: () => Promise<boolean>, timeoutMs: number) => Promise<boolean>;
}): Promise<{ packageId: string; rolloutId: string; version: number } | null> {
  const job = await submitJob(o.jobs, 'export', { studentDir: o.studentDir, keyFile: o.keyFile, teacherPath: o.teacherPath, name: o.packageName, version: 1, evalLimit: 2000 });
  const ok = await o.waitFor('export of the committed student', async () => {
    const j = await o.jobs.get(job.id);
    if (j.state === 'failed' || j.state === 'cancelled') throw new EdgekdError('EDGEKD_JOB_FAILED', `export ${j.state}: ${j.error?.message ?? ''}`);
    if (j.state !== 'succeeded') return false;
    const r = jobResult(j, 'export');
    return (await o.fleet.listPackages()).some((p) => p.name === r?.name && p.version === r?.version);
  }, 10 * 60_000);
  if (!ok) return null;
  const pkg = (await o.fleet.listPackages()).find((p) => p.name === o.packageName && p.version === 1)!;
  const ro = await o.fleet.createRollout({ ...o.rollout, packageId: pkg.packageId });
  return { packageId: pkg.packageId, rolloutId: ro.id, version: pkg.version };
}

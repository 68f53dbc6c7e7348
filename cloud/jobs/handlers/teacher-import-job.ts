/**
 * Job kind `teacher-import`: an uploaded ONNX teacher → a trainable TensorFlow.js model that keeps
 * its BatchNorm layers, by running `edgekd teacher import` in the job's child process.
 */
import { EdgekdError } from '../../../shared/errors';
import { parseJobParams, type JobResult } from '../job-kinds';
import type { JobContext } from '../job-types';

export async function run(raw: unknown, ctx: JobContext): Promise<JobResult<'teacher-import'>> {
  const p = parseJobParams('teacher-import', raw);
  ctx.emit({ type: 'phase', phase: 'import', message: `importing ${p.onnxPath}` });
  const { run: importCli } = await import('../../cli/teacher-import');
  const argv = ['--onnx', p.onnxPath, '--out', p.outDir, ...(p.dataset ? ['--dataset', p.dataset] : []), ...(p.name ? ['--name', p.name] : [])];
  const code = await importCli(argv);
  if (code !== 0) throw new EdgekdError('EDGEKD_JOB_FAILED', `edgekd teacher import exited with ${code}`);
  return { teacherDir: p.outDir };
}

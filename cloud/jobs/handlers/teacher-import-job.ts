/**
 * Job kind `teacher-import`: an uploaded ONNX teacher → a trainable TensorFlow.js model that keeps
 * its BatchNorm layers (`importTeacher`, what `edgekd teacher import` runs), in the job's child process.
 */
import { importTeacher } from '../../import/import-teacher';
import { parseJobParams, type JobResult } from '../job-kinds';
import type { JobContext } from '../job-types';

export async function run(raw: unknown, ctx: JobContext): Promise<JobResult<'teacher-import'>> {
  const p = parseJobParams('teacher-import', raw);
  ctx.emit({ type: 'phase', phase: 'import', message: `importing ${p.onnxPath}` });
  const r = await importTeacher({ onnxPath: p.onnxPath, outDir: p.outDir, ...(p.dataset ? { dataset: p.dataset } : {}), ...(p.name ? { name: p.name } : {}) });
  return { teacherDir: r.outDir };
}

/**
 * Job kind `teacher-import`: an uploaded ONNX teacher → a trainable TensorFlow.js model that keeps
 * its BatchNorm layers, by running `edgekd teacher import` in the job's child process.
 */
import { Type, type Static } from 'typebox';
import { createParser } from '../../../shared/contracts/parse';
import { EdgekdError } from '../../../shared/errors';
import type { JobContext } from '../job-types';

export const TeacherImportParams = Type.Object(
  {
    onnxPath: Type.String({ minLength: 1 }),
    outDir: Type.String({ minLength: 1 }),
    dataset: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type TeacherImportParams = Static<typeof TeacherImportParams>;
const parseParams = createParser(TeacherImportParams, 'teacher import parameters', 'EDGEKD_INVALID_ARGUMENT');

export async function run(raw: unknown, ctx: JobContext): Promise<unknown> {
  const p = parseParams.parse(raw);
  ctx.emit({ type: 'phase', phase: 'import', message: `importing ${p.onnxPath}` });
  const { run: importCli } = await import('../../cli/teacher-import');
  const argv = ['--onnx', p.onnxPath, '--out', p.outDir, ...(p.dataset ? ['--dataset', p.dataset] : []), ...(p.name ? ['--name', p.name] : [])];
  const code = await importCli(argv);
  if (code !== 0) throw new EdgekdError('EDGEKD_JOB_FAILED', `edgekd teacher import exited with ${code}`);
  return { teacherDir: p.outDir };
}

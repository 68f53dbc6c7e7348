/**
 * Job kind `export`: a distilled student folder → fp32 ONNX → int8 QDQ calibrated on the replay
 * buffer's synthetic samples → signed package directory, by running `edgekd export` in the job's
 * child process (the same code path as the command line).
 */
import { join } from 'node:path';
import { EdgekdError } from '../../../shared/errors';
import { parseJobParams, type JobResult } from '../job-kinds';
import type { JobContext } from '../job-types';

export async function run(raw: unknown, ctx: JobContext): Promise<JobResult<'export'>> {
  const p = parseJobParams('export', raw);
  const out = join(ctx.workDir, 'package');
  const argv = ['--student', p.studentDir, '--out', out, '--quantize', 'int8', '--calibration', p.calibration ?? 'entropy', '--key', p.keyFile, '--name', p.name, '--version', String(p.version)];
  if (p.teacherPath) argv.push('--teacher', p.teacherPath);
  if (p.parentPackageDir) argv.push('--parent', p.parentPackageDir);
  argv.push('--eval-limit', String(p.evalLimit ?? 2000));
  ctx.emit({ type: 'phase', phase: 'export', message: `ONNX export, int8 (${p.calibration ?? 'entropy'} calibration on synthetic samples), signing ${p.name} v${p.version}` });
  const t0 = Date.now();
  const { run: exportCli } = await import('../../cli/export');
  const code = await exportCli(argv);
  if (code !== 0) throw new EdgekdError('EDGEKD_JOB_FAILED', `edgekd export exited with ${code}`);
  const { readPackageDir } = await import('../../../shared/package/package-dir');
  const pkg = await readPackageDir(out);
  const m = pkg.manifest as { name: string; version: number; model: { sha256: string; size: number }; metrics?: Record<string, unknown>; quantization?: { precision?: string } };
  ctx.emit({ type: 'phase', phase: 'packaged', message: `${m.name} v${m.version} ${m.quantization?.precision ?? ''}, ${m.model.size} bytes, in ${((Date.now() - t0) / 1000).toFixed(1)} s` });
  return { packageDir: out, name: m.name, version: m.version, sha256: m.model.sha256, bytes: m.model.size, metrics: m.metrics ?? {}, runId: p.runId ?? null, seconds: (Date.now() - t0) / 1000 };
}

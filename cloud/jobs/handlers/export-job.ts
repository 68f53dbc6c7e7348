/**
 * Job kind `export`: a distilled student folder → fp32 ONNX → int8 QDQ calibrated on the replay
 * buffer's synthetic samples → signed package directory, by `exportStudent` (cloud/export, the
 * flow and defaults `edgekd export` uses) in the job's child process. The manifest names this job
 * and the run it came from, so lineage is a lookup.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseJson } from '../../../shared/contracts/parse';
import { parseSigningKeyFile, signingKeyFromFile } from '../../../shared/package/keys';
import { parseJobParams, type JobResult } from '../job-kinds';
import type { JobContext } from '../job-types';
import { jobArtifactStore, localFolder } from '../job-artifacts';
import { putTree } from '../../scale/artifact-tree';

export async function run(raw: unknown, ctx: JobContext): Promise<JobResult<'export'>> {
  const p = parseJobParams('export', raw);
  const out = join(ctx.workDir, 'package');
  const calibration = p.calibration ?? 'entropy';
  ctx.emit({ type: 'phase', phase: 'export', message: `ONNX export, int8 (${calibration} calibration on synthetic samples), signing ${p.name} v${p.version}` });
  const t0 = Date.now();
  // A student made on another machine: restore its folder from the artifact store.
  const artifacts = jobArtifactStore();
  const studentDir = await localFolder(p.studentDir, p.studentArtifact, artifacts, join(ctx.workDir, 'student'));
  const parent = p.parentPackageDir ? await localFolder(p.parentPackageDir, p.parentPackageArtifact, artifacts, join(ctx.workDir, 'parent-package')) : undefined;
  const { exportStudent } = await import('../../export/export-student');
  const key = signingKeyFromFile(parseSigningKeyFile.parse(parseJson(readFileSync(p.keyFile), p.keyFile, 'EDGEKD_INVALID_ARGUMENT')));
  const [written] = await exportStudent({
    studentDir,
    out,
    key,
    quantize: 'int8',
    calibration,
    name: p.name,
    version: p.version,
    ...(p.teacherPath ? { teacherDir: p.teacherPath } : {}),
    ...(parent ? { parent } : {}),
    evaluate: p.evalLimit ?? 2000,
    madeBy: { exportJobId: ctx.jobId, ...(p.runId ? { distillationRunId: p.runId } : {}) },
  });
  const m = written!.pkg.manifest;
  ctx.emit({ type: 'phase', phase: 'packaged', message: `${m.name} v${m.version} ${m.quantization.precision}, ${m.model.size} bytes, in ${((Date.now() - t0) / 1000).toFixed(1)} s` });
  return { packageDir: out, ...(artifacts ? { packageArtifact: (await putTree(artifacts, out)).sha256 } : {}), name: m.name, version: m.version, sha256: m.model.sha256, bytes: m.model.size, metrics: m.metrics, runId: p.runId ?? null, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Job kind `distill`: one data-free distillation run in a job child process, with the engine's
 * typed progress mapped to the console's event types:
 *   phase   {phase, message}                       run start, export, package, done
 *   step    {x, epoch, losses: {name: value}}      synthesis losses (bn, oh, adv, total) and KD loss
 *   epoch   {epoch, accuracy, bestAccuracy, samplesGenerated, bufferSize}
 *   buffer  {epoch, histogram, labels, size, capacity, priority}
 *   samples {epoch, images: [{label, labelName, png}]}  from the buffer saved with each checkpoint
 * The teacher and student are read from disk; the only dataset access is the test-split evaluator
 * (a score, no images), as the engine requires.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { inputRange } from '../../data/dataset-info';
import { join } from 'node:path';
import { parseJobParams, type JobResult } from '../job-kinds';
import type { JobContext } from '../job-types';
import { pickGalleryIndices, samplesToPngDataUrls } from './sample-gallery';
import { checkpointEvent, jobArtifactStore, localFolder } from '../job-artifacts';
import { putTree } from '../../scale/artifact-tree';
import type { WarmStart } from '../../distill/distill';
import type { StudentAdaptation } from '../../retrain/adapt-student';

export async function run(raw: unknown, ctx: JobContext): Promise<JobResult<'distill'>> {
  const p = parseJobParams('distill', raw);
  const [{ initCompute }, zoo, io, distill, evaluatorMod, data, bufferFile] = await Promise.all([
    import('../../compute'),
    import('../../zoo'),
    import('../../zoo/model-io'),
    import('../../distill/distill'),
    import('../../distill/evaluator'),
    import('../../data'),
    import('../../distill/buffer-file'),
  ]);
  const { isDataFreeMethod } = await import('../../distill/config');
  const compute = await initCompute();
  ctx.emit({ type: 'phase', phase: 'start', message: `backend ${compute.backend}; loading teacher ${p.teacherId ?? p.teacherPath}` });

  if (!isDataFreeMethod(p.method)) {
    const { EdgekdError } = await import('../../../shared/errors');
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `method '${p.method}' is not a data-free method`);
  }
  const method = p.method;
  const teacher = await io.loadTeacher(p.teacherPath);
  const card = teacher.card;
  const seed = p.seed ?? 1;
  // Checkpoints and the student go to the artifact store too, so a worker on another machine can
  // resume this job and the export can run anywhere (cloud/jobs/job-artifacts.ts); a warm start
  // made on another machine is restored from it.
  const artifacts = jobArtifactStore();
  const warmStartFrom = p.warmStartFrom ? await localFolder(p.warmStartFrom, p.warmStartArtifact, artifacts, join(ctx.workDir, 'warm-start')) : undefined;
  const student = warmStartFrom
    ? await io.loadModel(warmStartFrom)
    : zoo.buildModel(p.student, { inputShape: card.inputShape, numClasses: card.numClasses, seed });
  // A retrain's adaptation is scored by the export job and the canary, as in process; a first
  // distillation reads the test split's score each epoch.
  const evaluator = p.adaptation ? undefined : evaluatorMod.createTestEvaluator(data.evenSubset(data.loadBuiltinDataset(card.dataset.name).test, p.evalSamples ?? 2000));
  const range = inputRange(card.normalization, card.inputShape[2]);

  let uploads = Promise.resolve();
  let x = 0;
  const gallery = (dir: string, epoch: number | null): void => {
    try {
      const buf = bufferFile.loadBuffer(dir);
      const labels = buf.labelsOf(Array.from({ length: buf.size }, (_, i) => i));
      const idx = pickGalleryIndices(labels, card.numClasses, 3);
      const pngs = samplesToPngDataUrls(buf.gather(idx), card.inputShape, range);
      ctx.emit({ type: 'samples', epoch, images: idx.map((i, k) => ({ label: labels[i], labelName: card.classNames[labels[i]!] ?? String(labels[i]), png: pngs[k] })) });
    } catch {
      // No buffer in this checkpoint (a method without one): no gallery, not an error.
    }
  };

  const config = { ...(p.config ?? {}), ...(p.epochs ? { epochs: p.epochs } : {}), ...(p.budget ? { budget: p.budget } : {}) };
  const checkpointDir = join(ctx.workDir, 'checkpoint');
  mkdirSync(checkpointDir, { recursive: true });
  const warmBuffer = warmStartFrom && existsSync(join(warmStartFrom, 'buffer.json')) ? bufferFile.loadBuffer(warmStartFrom) : undefined;
  const bnTargets = (p.bnTargets ?? []).map((t) => ({ layer: t.layer, mean: Float32Array.from(t.mean), variance: Float32Array.from(t.variance) }));
  const warmStart = warmBuffer || bnTargets.length ? { ...(warmBuffer ? { buffer: warmBuffer } : {}), ...(bnTargets.length ? { bnTargets } : {}) } : undefined;
  const runDistill = async (start: WarmStart | undefined, override?: Record<string, unknown>) => {
    const r = await distill.distillDataFree({
      teacher: teacher.model,
      student,
      method,
      seed,
      // Flip invariance comes from the dataset the teacher was trained on (as `edgekd distill` does).
      input: { range, flipInvariant: data.isBuiltinDataset(card.dataset.name) ? data.getDatasetInfo(card.dataset.name).flipInvariant : false },
      config: { ...config, ...override } as never,
      ...(evaluator ? { evaluator } : {}),
      checkpointDir,
      resume: ctx.resume,
      signal: ctx.signal,
      warmStart: start,
      onEvent: (e) => {
        switch (e.type) {
          case 'start':
            ctx.emit({ type: 'phase', phase: 'distill', message: `${e.method}: ${e.epochs} epochs, budget ${e.budgetSamples} samples, buffer ${e.bufferCapacity}${e.resumedFromEpoch !== null ? `, resumed from epoch ${e.resumedFromEpoch}` : ''}` });
            break;
          case 'synthesis':
            ctx.emit({ type: 'step', x: ++x, epoch: e.epoch, losses: { 'synthesis bn': e.losses.bn, 'synthesis class': e.losses.oh, 'synthesis adv': e.losses.adv }, samplesGenerated: e.samplesGenerated });
            break;
          case 'kd-step':
            ctx.emit({ type: 'step', x: ++x, epoch: e.epoch, losses: { kd: e.loss } });
            break;
          case 'epoch':
            ctx.emit({ type: 'epoch', epoch: e.epoch, epochs: e.epochs, accuracy: e.testAccuracy, bestAccuracy: e.bestAccuracy, samplesGenerated: e.samplesGenerated, bufferSize: e.bufferSize, elapsedSeconds: e.elapsedSeconds });
            ctx.emit({ type: 'buffer', epoch: e.epoch, histogram: e.classHistogram, labels: card.classNames, size: e.bufferSize, capacity: e.bufferCapacity, priority: e.priority });
            break;
          case 'checkpoint':
            gallery(e.dir, e.epoch);
            if (artifacts) {
              // Read now, uploaded in order: the next epoch replaces this checkpoint folder.
              const put = checkpointEvent(artifacts, ctx.workDir, 'checkpoint', e.epoch);
              put.catch(() => undefined); // awaited in the chain below; this only marks it handled meanwhile
              uploads = uploads.then(async () => ctx.emit(await put));
            }
            break;
          case 'done':
            ctx.emit({ type: 'phase', phase: 'distilled', message: `final accuracy ${e.finalAccuracy ?? 'n/a'} after ${e.totalSeconds.toFixed(1)} s, ${e.samplesGenerated} samples` });
            break;
        }
      },
    });
    await uploads;
    if (!r.finished) throw new Error('distillation stopped before its last epoch');
    return r;
  };

  const studentDir = join(ctx.workDir, 'student');
  let adapted: StudentAdaptation | undefined;
  if (p.adaptation) {
    // A retrain: the same decision and implementation as the in-process engines (field imitation,
    // else BatchNorm re-estimation, else re-distillation with the field's BN targets).
    if (!warmStartFrom || !warmBuffer) {
      const { EdgekdError } = await import('../../../shared/errors');
      throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'a retrain adaptation needs warmStartFrom with a saved buffer');
    }
    const { adaptStudent } = await import('../../retrain/adapt-student');
    ctx.emit({ type: 'phase', phase: 'adapt', message: `adapting ${warmStartFrom} to the field` });
    adapted = await adaptStudent({
      teacher: teacher.model,
      student,
      buffer: warmBuffer,
      inputRange: range,
      field: { featureTargets: p.bnTargets ?? [], layerSketches: p.adaptation.layerSketches, inputShift: p.adaptation.inputShift },
      adaptation: p.adaptation,
      distill: (start, override) => runDistill(start, override as Record<string, unknown> | undefined),
    });
    ctx.emit({ type: 'phase', phase: 'adapted', message: `${adapted.kind}: ${adapted.note}${typeof adapted.summary.imitationSkipped === 'string' ? ` (no field imitation: ${adapted.summary.imitationSkipped})` : ''}` });
  }
  const result = adapted ? adapted.result : await runDistill(warmStart);
  if (!result) {
    // BatchNorm re-estimation trains nothing: the warm-start student's card and buffer go along
    // (the buffer header names this job, which the export reads into the package lineage).
    const started = Date.now();
    const cardOf = existsSync(join(warmStartFrom!, 'model-card.json')) ? io.readModelCard(warmStartFrom!) : undefined;
    await io.saveModel(student, studentDir, cardOf ? { ...cardOf, accuracy: null, createdAt: new Date().toISOString(), notes: `adapted by job ${ctx.jobId}: ${adapted!.note}` } : undefined);
    bufferFile.saveBuffer(studentDir, adapted!.buffer!, { method: p.method, seed, runJobId: ctx.jobId });
    const { teacherSha256 } = await import('../../distill/run-output');
    return {
      studentDir,
      ...(artifacts ? { studentArtifact: (await putTree(artifacts, studentDir)).sha256 } : {}),
      method: p.method,
      teacherId: p.teacherId ?? null,
      finalAccuracy: null,
      bestAccuracy: null,
      teacherAccuracy: card.accuracy?.test ?? null,
      teacherSha256: teacherSha256(p.teacherPath),
      samplesGenerated: 0,
      bufferCapacity: warmBuffer!.capacity,
      epochs: 0,
      totalSeconds: (Date.now() - started) / 1000,
      backend: compute.backend,
      adaptation: adapted!.summary,
    };
  }

  // The same output folder as `edgekd distill --out`: student, model card, buffer, run record.
  const { writeDistillOutput } = await import('../../distill/run-output');
  const record = await writeDistillOutput({
    dir: studentDir,
    student,
    studentArch: p.student,
    teacherCard: card,
    teacherDir: p.teacherPath,
    result,
    command: `edgekd cloud job ${ctx.jobId} (distill ${p.method})`,
    warmStart: { buffer: Boolean(warmStart), studentWeights: Boolean(warmStartFrom) },
  });
  if (result.buffer) {
    // The export reads `runJobId` from the buffer header into the package lineage.
    bufferFile.saveBuffer(studentDir, result.buffer, { method: result.method, seed: result.seed, runJobId: ctx.jobId });
    gallery(studentDir, result.epochsCompleted);
  }
  return {
    studentDir,
    ...(artifacts ? { studentArtifact: (await putTree(artifacts, studentDir)).sha256 } : {}),
    method: p.method,
    teacherId: p.teacherId ?? null,
    finalAccuracy: result.finalAccuracy,
    bestAccuracy: result.bestAccuracy,
    teacherAccuracy: card.accuracy?.test ?? null,
    teacherSha256: record.teacher.sha256,
    samplesGenerated: result.samplesGenerated,
    bufferCapacity: result.bufferCapacity,
    epochs: result.epochsCompleted,
    totalSeconds: result.totalSeconds,
    backend: compute.backend,
    ...(adapted ? { adaptation: adapted.summary } : {}),
  };
}

/**
 * One (dataset, method, seed) job of bench/distill.ts, in its own process (its own wasm instance,
 * so two jobs use the two cores). Reads the job as JSON from argv[2], prints progress lines to
 * stderr and one `RESULT {json}` line to stdout.
 *
 * Splits: the run is scored every epoch on the VALIDATION split (its curve and best value). Only a
 * `report` job also gets the test split, read once after the run for `finalAccuracy`; a `tune` job
 * never holds a reference to it (`viewForPurpose`), and its `finalAccuracy` is on validation.
 */
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initCompute } from '../cloud/compute';
import { evenSubset, getDatasetInfo, inputRange, loadBuiltinDataset, viewForPurpose, type SplitPurpose } from '../cloud/data';
import { isDataFreeMethod, type DistillConfigInput, type DistillMethod } from '../cloud/distill/config';
import { distillDataFree } from '../cloud/distill/distill';
import { createTestEvaluator } from '../cloud/distill/evaluator';
import { distillWithRealData } from '../cloud/distill/real-data-baselines';
import { loadTeacher } from '../cloud/zoo/model-io';
import { buildModel } from '../cloud/zoo/zoo';

export interface WorkerJob {
  dataset: string;
  method: DistillMethod;
  seed: number;
  teacherDir: string;
  studentArch: string;
  config: DistillConfigInput;
  forceBudget: boolean;
  /** Validation images scored each epoch (evenly spread, class-balanced). */
  evalLimit: number;
  purpose: SplitPurpose;
  /**
   * Checkpoint folder of a data-free job: written every epoch and resumed from when present, so a
   * killed benchmark continues the job where it stopped (same settings: the run key is checked).
   * Removed when the job finishes.
   */
  checkpointDir?: string;
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
// wasm unless EDGEKD_BACKEND says otherwise (a GPU host running `--protocol paper` sets tensorflow).
await initCompute(process.env.EDGEKD_BACKEND ? {} : { backend: 'wasm' });
const teacher = await loadTeacher(job.teacherDir);
const card = teacher.card;
if (card.dataset.name !== job.dataset) {
  // A teacher is only ever scored on the split family it was trained on (never on its own training images).
  throw new Error(`teacher ${job.teacherDir} was trained on '${card.dataset.name}', not on '${job.dataset}'`);
}
const info = getDatasetInfo(card.dataset.name);
const view = viewForPurpose(loadBuiltinDataset(card.dataset.name), job.purpose);
const valEvaluator = createTestEvaluator(evenSubset(view.validation, job.evalLimit));
const finalEvaluator = view.purpose === 'report' ? createTestEvaluator(view.test) : createTestEvaluator(view.validation);
const teacherAccuracy = finalEvaluator.accuracy(teacher.model);
// Same student initialisation for every method of a seed.
const student = buildModel(job.studentArch, { inputShape: card.inputShape, numClasses: card.numClasses, seed: 1000 + job.seed });
const input = { range: inputRange(card.normalization, card.inputShape[2]), flipInvariant: info.flipInvariant };
const tag = `${job.dataset}/${job.method}/s${job.seed}`;
const onEvent = (e: { type: string } & Record<string, unknown>) => {
  if (e.type === 'epoch') {
    const acc = e.testAccuracy as number | null;
    process.stderr.write(`${tag} epoch ${(e.epoch as number) + 1}/${e.epochs as number} val ${acc === null ? '-' : (acc * 100).toFixed(2)} buffer ${e.bufferSize as number} gen ${e.samplesGenerated as number} t ${(e.elapsedSeconds as number).toFixed(0)}s\n`);
  }
};
const t0 = performance.now();
const result = isDataFreeMethod(job.method)
  ? await distillDataFree({ teacher: teacher.model, student, method: job.method, seed: job.seed, input, config: job.config, forceBudget: job.forceBudget, evaluator: valEvaluator, onEvent: onEvent as never, ...(job.checkpointDir ? { checkpointDir: job.checkpointDir, resume: true } : {}) })
  : await distillWithRealData({ teacher: teacher.model, student, method: job.method, seed: job.seed, train: view.train, input, config: job.config, evaluator: valEvaluator, onEvent: onEvent as never });
const wall = (performance.now() - t0) / 1000;
const finalAccuracy = finalEvaluator.accuracy(student);
const last = result.history.at(-1);
const row = {
  dataset: job.dataset,
  method: job.method,
  seed: job.seed,
  studentArch: job.studentArch,
  purpose: job.purpose,
  finalAccuracy,
  finalSplit: view.purpose === 'report' ? 'test' : 'validation',
  finalSamples: finalEvaluator.samples,
  bestValAccuracy: result.bestAccuracy,
  valSamples: valEvaluator.samples,
  teacherAccuracy,
  samplesGenerated: result.samplesGenerated,
  bufferCapacity: result.bufferCapacity,
  studentSteps: result.studentSteps,
  totalSeconds: round(result.totalSeconds),
  synthesisSeconds: round(result.synthesisSeconds),
  distillSeconds: round(result.distillSeconds),
  wallSeconds: round(wall),
  valAccuracyByEpoch: result.history.map((h) => h.testAccuracy),
  kdWeightMeanByEpoch: result.history.map((h) => (h.kdWeightMean === null ? null : round(h.kdWeightMean))),
  synthesis: result.synthesis,
  teacherTargetCEByEpoch: result.history.map((h) => (h.synthesis ? round(h.synthesis.teacherTargetCE) : null)),
  finalBufferHistogram: last?.classHistogram ?? [],
  backend: tf.getBackend(),
};
process.stdout.write(`RESULT ${JSON.stringify(row)}\n`);
if (job.checkpointDir) rmSync(job.checkpointDir, { recursive: true, force: true });

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

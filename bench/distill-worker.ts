/**
 * One (method, seed) job of bench/distill.ts, in its own process (its own wasm instance, so two
 * jobs use the two cores). Reads the job as JSON from argv[2], prints progress lines to stderr and
 * one `RESULT {json}` line to stdout.
 */
import * as tf from '@tensorflow/tfjs';
import { initCompute } from '../cloud/compute';
import { evenSubset, getDatasetInfo, loadBuiltinDataset } from '../cloud/data';
import { isDataFreeMethod, type DistillConfigInput, type DistillMethod } from '../cloud/distill/config';
import { distillDataFree } from '../cloud/distill/distill';
import { createTestEvaluator } from '../cloud/distill/evaluator';
import { distillWithRealData } from '../cloud/distill/real-data-baselines';
import { loadTeacher } from '../cloud/zoo/model-io';
import { buildModel } from '../cloud/zoo/zoo';

export interface WorkerJob {
  method: DistillMethod;
  seed: number;
  teacherDir: string;
  studentArch: string;
  config: DistillConfigInput;
  forceBudget: boolean;
  evalLimit: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
await initCompute({ backend: 'wasm' });
const teacher = await loadTeacher(job.teacherDir);
const card = teacher.card;
const info = getDatasetInfo(card.dataset.name);
const data = loadBuiltinDataset(card.dataset.name);
const evaluator = createTestEvaluator(evenSubset(data.test, job.evalLimit));
const teacherAccuracy = evaluator.accuracy(teacher.model);
// Same student initialisation for every method of a seed.
const student = buildModel(job.studentArch, { inputShape: card.inputShape, numClasses: card.numClasses, seed: 1000 + job.seed });
const input = { range: { low: card.normalization.low, high: card.normalization.high }, flipInvariant: info.flipInvariant };
const tag = `${job.method}/s${job.seed}`;
let lastSynthesisLosses: unknown = null;
let synthesisRounds = 0;
const onEvent = (e: { type: string } & Record<string, unknown>) => {
  if (e.type === 'synthesis') {
    lastSynthesisLosses = e.losses;
    synthesisRounds++;
  }
  if (e.type === 'epoch') {
    const acc = e.testAccuracy as number | null;
    process.stderr.write(`${tag} epoch ${(e.epoch as number) + 1}/${e.epochs as number} acc ${acc === null ? '-' : (acc * 100).toFixed(2)} buffer ${e.bufferSize as number} gen ${e.samplesGenerated as number} t ${(e.elapsedSeconds as number).toFixed(0)}s\n`);
  }
};
const t0 = performance.now();
const result = isDataFreeMethod(job.method)
  ? await distillDataFree({ teacher: teacher.model, student, method: job.method, seed: job.seed, input, config: job.config, forceBudget: job.forceBudget, evaluator, onEvent: onEvent as never })
  : await distillWithRealData({ teacher: teacher.model, student, method: job.method, seed: job.seed, train: data.train, input, config: job.config, evaluator, onEvent: onEvent as never });
const wall = (performance.now() - t0) / 1000;
const last = result.history.at(-1);
const row = {
  method: job.method,
  seed: job.seed,
  finalAccuracy: result.finalAccuracy,
  bestAccuracy: result.bestAccuracy,
  teacherAccuracy,
  samplesGenerated: result.samplesGenerated,
  bufferCapacity: result.bufferCapacity,
  synthesisSeconds: round(result.synthesisSeconds),
  distillSeconds: round(result.distillSeconds),
  totalSeconds: round(result.totalSeconds),
  evalSeconds: round(result.evalSeconds),
  wallSeconds: round(wall),
  kdSteps: (result.config.epochs - result.config.warmupEpochs) * result.config.kdStepsPerEpoch,
  evalSamples: evaluator.samples,
  accuracyByEpoch: result.history.map((h) => h.testAccuracy),
  finalClassHistogram: last?.classHistogram ?? [],
  finalPriority: last?.priority ?? null,
  synthesisRounds,
  lastSynthesisLosses,
  backend: tf.getBackend(),
};
process.stdout.write(`RESULT ${JSON.stringify(row)}\n`);

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

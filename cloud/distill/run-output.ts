import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { MODEL_JSON, WEIGHTS_BIN, saveModel } from '../zoo/model-io';
import { countMacs, countParams } from '../zoo/model-stats';
import type { ModelCard } from '../zoo/model-card';
import { saveBuffer } from './buffer-file';
import type { DistillResult } from './distill';
import { atomicWriteFile } from './tensor-file';

/**
 * The output folder of a distillation: the student (zoo model IO: model.json, weights.bin,
 * model-card.json), the final replay buffer (buffer.bin + buffer.json, for a warm-started retrain)
 * and `run-record.json`, the lineage record: method, resolved config, seed, teacher sha256 and the
 * measured metrics per epoch.
 */
export const RUN_RECORD = 'run-record.json';

/** sha256 over the teacher's model.json and weights.bin, in that order. */
export function teacherSha256(teacherDir: string): string {
  const h = createHash('sha256');
  for (const f of [MODEL_JSON, WEIGHTS_BIN]) {
    const p = join(teacherDir, f);
    if (existsSync(p)) h.update(readFileSync(p));
  }
  return h.digest('hex');
}

export interface RunRecord {
  format: 'edgekd-distill-run';
  version: 1;
  method: string;
  seed: number;
  studentArch: string;
  teacher: { dir: string | null; sha256: string | null; name: string; accuracy: number | null };
  command: string;
  config: unknown;
  metrics: {
    finalAccuracy: number | null;
    bestAccuracy: number | null;
    /** Which split `finalAccuracy`, `bestAccuracy` and `history` were scored on (absent: test). */
    evalSplit?: 'test' | 'validation';
    /** With `evalSplit: 'validation'`: the final student scored once on the test split. */
    testAccuracy?: { accuracy: number; samples: number };
    samplesGenerated: number;
    bufferCapacity: number;
    synthesisSeconds: number;
    distillSeconds: number;
    totalSeconds: number;
  };
  history: DistillResult['history'];
  bnLayers: string[];
  bnTargetOverrides: string[];
  warmStart: { buffer: boolean; studentWeights: boolean };
  createdAt: string;
}

export interface WriteOutputOptions {
  dir: string;
  student: tf.LayersModel;
  studentArch: string;
  teacherCard: ModelCard;
  teacherDir: string | null;
  result: Omit<DistillResult, 'method'> & { method: string };
  command: string;
  bnTargetOverrides?: string[];
  warmStart?: { buffer: boolean; studentWeights: boolean };
  /**
   * Set when the run was scored on the validation split: the final student's one reading of the
   * test split (the model card's test accuracy comes from it, never from a validation number).
   */
  validationRun?: { testAccuracy: number; testSamples: number };
  now?: () => Date;
}

export async function writeDistillOutput(o: WriteOutputOptions): Promise<RunRecord> {
  const created = (o.now ?? (() => new Date()))().toISOString();
  const r = o.result;
  const params = countParams(o.student);
  const card: ModelCard = {
    schemaVersion: 1,
    name: `${o.studentArch}-from-${o.teacherCard.name}-${r.method}`,
    architecture: o.studentArch,
    output: 'logits',
    inputShape: o.teacherCard.inputShape,
    numClasses: o.teacherCard.numClasses,
    classNames: o.teacherCard.classNames,
    normalization: o.teacherCard.normalization,
    dataset: o.teacherCard.dataset,
    accuracy: o.validationRun ? { test: o.validationRun.testAccuracy, samples: o.validationRun.testSamples } : r.finalAccuracy === null ? null : { test: r.finalAccuracy, samples: 0 },
    params: { total: params.total, trainable: params.trainable },
    macs: countMacs(o.student),
    training: { command: o.command, seed: r.seed, epochs: r.epochsCompleted, batchSize: r.config.batchSize, optimizer: `SGD(lr ${r.config.kd.lr}, momentum ${r.config.kd.momentum}, wd ${r.config.kd.weightDecay}), cosine`, durationSec: r.totalSeconds },
    createdAt: created,
    notes: `distilled with ${r.method} (${r.samplesGenerated} synthetic samples, buffer ${r.bufferCapacity}); no real training image was used`,
  };
  await saveModel(o.student, o.dir, card);
  if (r.buffer) saveBuffer(o.dir, r.buffer, { method: r.method, seed: r.seed });
  const record: RunRecord = {
    format: 'edgekd-distill-run',
    version: 1,
    method: r.method,
    seed: r.seed,
    studentArch: o.studentArch,
    teacher: { dir: o.teacherDir, sha256: o.teacherDir ? teacherSha256(o.teacherDir) : null, name: o.teacherCard.name, accuracy: o.teacherCard.accuracy?.test ?? null },
    command: o.command,
    config: r.config,
    metrics: {
      finalAccuracy: r.finalAccuracy,
      bestAccuracy: r.bestAccuracy,
      ...(o.validationRun ? { evalSplit: 'validation' as const, testAccuracy: { accuracy: o.validationRun.testAccuracy, samples: o.validationRun.testSamples } } : {}),
      samplesGenerated: r.samplesGenerated,
      bufferCapacity: r.bufferCapacity,
      synthesisSeconds: r.synthesisSeconds,
      distillSeconds: r.distillSeconds,
      totalSeconds: r.totalSeconds,
    },
    history: r.history,
    bnLayers: r.bnLayers,
    bnTargetOverrides: o.bnTargetOverrides ?? [],
    warmStart: o.warmStart ?? { buffer: false, studentWeights: false },
    createdAt: created,
  };
  atomicWriteFile(join(o.dir, RUN_RECORD), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

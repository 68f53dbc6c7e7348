import { cardNormalization } from '../zoo/model-card';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { getDatasetInfo } from '../data/dataset-info';
import type { ModelCard } from '../zoo/model-card';
import { saveModel } from '../zoo/model-io';
import { countMacs, countParams } from '../zoo/model-stats';
import { importOnnxModel } from './onnx-to-tfjs';

export interface ImportTeacherOptions {
  /** The ONNX file (BatchNormalization nodes not folded). */
  readonly onnxPath: string;
  /** Where model.json, weights.bin and model-card.json are written. */
  readonly outDir: string;
  /** A built-in dataset (fashion-mnist, mnist): class names and normalisation come from it. */
  readonly dataset?: string;
  /** Model name in the card; default the file name without `.onnx`. */
  readonly name?: string;
  /** Class names when no dataset is given; default class-0 … */
  readonly classes?: readonly string[];
  /** Model-input values of the darkest and brightest pixel when no dataset is given; default -1..1. */
  readonly inputRange?: { readonly low: number; readonly high: number };
  /** The command recorded in the card's training section. */
  readonly command?: string;
  readonly now?: () => Date;
}

export interface ImportedTeacher {
  readonly outDir: string;
  readonly card: ModelCard;
  readonly layers: number;
  readonly batchNormLayers: readonly string[];
  readonly onnxInputLayout: 'NCHW' | 'NHWC';
}

/**
 * An ONNX teacher → a trainable TensorFlow.js layers model that keeps its BatchNorm layers, saved
 * with its model card in `outDir` (`edgekd teacher import` and the `teacher-import` job). Typed
 * errors: EDGEKD_NOT_FOUND (file), the importer's own (EDGEKD_BATCHNORM_FOLDED, unsupported ops),
 * EDGEKD_SHAPE_MISMATCH (model vs dataset), EDGEKD_INVALID_ARGUMENT (classes, input range).
 */
export async function importTeacher(o: ImportTeacherOptions): Promise<ImportedTeacher> {
  // Cheap argument checks before the file is read and converted.
  const info = o.dataset ? getDatasetInfo(o.dataset) : null;
  const range = o.inputRange ?? { low: -1, high: 1 };
  if (!Number.isFinite(range.low) || !Number.isFinite(range.high) || !(range.high > range.low)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `the input range must be LOW,HIGH with HIGH > LOW, got ${range.low},${range.high}`);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(o.onnxPath);
  } catch (e) {
    throw new EdgekdError('EDGEKD_NOT_FOUND', `cannot read ${o.onnxPath}`, { cause: e });
  }
  const name = o.name ?? basename(o.onnxPath).replace(/\.onnx$/, '');
  const r = importOnnxModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { name: name.replace(/[^A-Za-z0-9_-]/g, '_') });
  if (info && info.numClasses !== r.numClasses) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `the model has ${r.numClasses} outputs, dataset ${info.name} has ${info.numClasses} classes`);
  if (info && info.inputShape.join('x') !== r.inputShape.join('x')) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `the model takes ${r.inputShape.join('x')}, dataset ${info.name} has ${info.inputShape.join('x')}`);
  const classes = o.classes ?? info?.classNames ?? Array.from({ length: r.numClasses }, (_, i) => `class-${i}`);
  if (classes.length !== r.numClasses) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${classes.length} class names given, the model has ${r.numClasses} classes`);
  const params = countParams(r.model);
  const card: ModelCard = {
    schemaVersion: 1,
    name,
    architecture: 'imported-onnx',
    output: 'logits',
    inputShape: r.inputShape,
    numClasses: r.numClasses,
    classNames: [...classes],
    normalization: info ? cardNormalization(info.normalization) : { kind: 'range', low: range.low, high: range.high, rawMax: 255 },
    dataset: info ? { name: info.name, split: info.split } : { name: 'unknown', split: 'unknown' },
    accuracy: null,
    params: { total: params.total, trainable: params.trainable },
    macs: countMacs(r.model),
    training: { command: o.command ?? `edgekd teacher import --onnx ${o.onnxPath}`, seed: 0 },
    createdAt: (o.now ?? (() => new Date()))().toISOString(),
    notes: `imported from ONNX (sha256 ${createHash('sha256').update(bytes).digest('hex')}, input ${r.onnxInputLayout}); BatchNorm layers: ${r.batchNormLayers.join(', ')}`,
  };
  try {
    await saveModel(r.model, o.outDir, card);
    return { outDir: o.outDir, card, layers: r.model.layers.length, batchNormLayers: r.batchNormLayers, onnxInputLayout: r.onnxInputLayout };
  } finally {
    r.model.dispose();
  }
}

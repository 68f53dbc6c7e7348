import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { getDatasetInfo } from '../data/dataset-info';
import { importOnnxModel } from '../import/onnx-to-tfjs';
import { cardNormalization } from '../zoo/model-card';
import { saveModel } from '../zoo/model-io';
import { countMacs, countParams } from '../zoo/model-stats';

const HELP = `usage: edgekd teacher import --onnx FILE --out DIR [--dataset NAME] [--name NAME]
                             [--classes a,b,c] [--input-range LOW,HIGH]

Imports an ONNX teacher (for example exported from PyTorch without folding BatchNorm, see
docs/byo-teacher.md) as a trainable TensorFlow.js layers model that keeps its BatchNorm layers, and
writes DIR/model.json, weights.bin and model-card.json, ready for \`edgekd distill --teacher DIR\`.
The imported model takes NHWC images; an NCHW (PyTorch) ONNX input is converted once at import.

  --dataset NAME          fashion-mnist | mnist: class names and normalisation from the dataset
  --classes a,b,c         class names (default class-0 …), when no --dataset
  --input-range LOW,HIGH  model-input values of the darkest and brightest pixel (default -1,1)
  --name NAME             model name in the card (default: the file name)`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    { onnx: { type: 'string' }, out: { type: 'string' }, dataset: { type: 'string' }, name: { type: 'string' }, classes: { type: 'string' }, 'input-range': { type: 'string' } },
    HELP,
  );
  if (help) return 0;
  const file = requireFlag(values.onnx, 'onnx');
  const out = requireFlag(values.out, 'out');
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new EdgekdError('EDGEKD_NOT_FOUND', `cannot read ${file}`, { cause: e });
  }
  const name = values.name ?? file.split('/').pop()!.replace(/\.onnx$/, '');
  const r = importOnnxModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { name: name.replace(/[^A-Za-z0-9_-]/g, '_') });
  const info = values.dataset ? getDatasetInfo(values.dataset) : null;
  if (info && info.numClasses !== r.numClasses) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `the model has ${r.numClasses} outputs, dataset ${info.name} has ${info.numClasses} classes`);
  if (info && info.inputShape.join('x') !== r.inputShape.join('x')) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `the model takes ${r.inputShape.join('x')}, dataset ${info.name} has ${info.inputShape.join('x')}`);
  const classes = values.classes ? values.classes.split(',') : (info?.classNames ?? Array.from({ length: r.numClasses }, (_, i) => `class-${i}`));
  if (classes.length !== r.numClasses) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--classes names ${classes.length} classes, the model has ${r.numClasses}`);
  let [low, high] = [-1, 1];
  if (values['input-range']) {
    [low, high] = values['input-range'].split(',').map(Number) as [number, number];
    if (!Number.isFinite(low) || !Number.isFinite(high) || !(high > low)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--input-range must be LOW,HIGH with HIGH > LOW`);
  }
  const params = countParams(r.model);
  await saveModel(r.model, out, {
    schemaVersion: 1,
    name,
    architecture: 'imported-onnx',
    output: 'logits',
    inputShape: r.inputShape,
    numClasses: r.numClasses,
    classNames: [...classes],
    normalization: info ? cardNormalization(info.normalization) : { kind: 'range', low, high, rawMax: 255 },
    dataset: info ? { name: info.name, split: info.split } : { name: 'unknown', split: 'unknown' },
    accuracy: null,
    params: { total: params.total, trainable: params.trainable },
    macs: countMacs(r.model),
    training: { command: `edgekd teacher import --onnx ${file}`, seed: 0 },
    createdAt: new Date().toISOString(),
    notes: `imported from ONNX (sha256 ${createHash('sha256').update(bytes).digest('hex')}, input ${r.onnxInputLayout}); BatchNorm layers: ${r.batchNormLayers.join(', ')}`,
  });
  console.log(`${out}: ${r.model.layers.length} layers, ${r.batchNormLayers.length} BatchNorm, input ${r.inputShape.join('x')} (ONNX ${r.onnxInputLayout}), ${r.numClasses} classes`);
  return 0;
}

import { parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { importTeacher } from '../import/import-teacher';

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
  const onnxPath = requireFlag(values.onnx, 'onnx');
  const range = values['input-range']?.split(',').map(Number);
  const r = await importTeacher({
    onnxPath,
    outDir: requireFlag(values.out, 'out'),
    ...(values.dataset ? { dataset: values.dataset } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(values.classes ? { classes: values.classes.split(',') } : {}),
    ...(range ? { inputRange: { low: range[0] ?? Number.NaN, high: range.length === 2 ? range[1]! : Number.NaN } } : {}),
    command: `edgekd teacher import --onnx ${onnxPath}`,
  });
  console.log(`${r.outDir}: ${r.layers} layers, ${r.batchNormLayers.length} BatchNorm, input ${r.card.inputShape.join('x')} (ONNX ${r.onnxInputLayout}), ${r.card.numClasses} classes`);
  return 0;
}

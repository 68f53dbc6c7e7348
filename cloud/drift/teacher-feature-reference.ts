import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import type { FeatureStatisticReference } from '../../shared/drift/reference';

export interface TeacherFeatureOptions {
  /** BatchNorm layer to use; default: the first BatchNormalization fed by a Conv2D. */
  bnLayer?: string;
  /** Names of the extra ONNX outputs when the exporter adds the probe to the package. */
  meanOutput?: string;
  meanSquareOutput?: string;
  /** Carry the convolution inline so the edge can compute the probe in JavaScript (default true). */
  inlineProbe?: boolean;
}

/**
 * The data-free feature reference: the teacher's BatchNorm running mean and variance of one early
 * layer (they summarise the teacher's real training data), plus how the edge measures the same
 * quantity: the convolution feeding that BN, either inline (a first-layer conv is a few hundred
 * kFLOPs) or as extra outputs `meanOutput` / `meanSquareOutput` that the exporter's probe option
 * adds (`cloud/export/tfjs-to-onnx.ts` `probes: [{ model: teacher, outputs: [{ name, layer:
 * '<conv>', stat: 'channel-mean' | 'channel-mean-square' }] }]`).
 */
export function teacherFeatureReference(teacher: tf.LayersModel, o: TeacherFeatureOptions = {}): FeatureStatisticReference {
  const layers = teacher.layers;
  const bnIndex = layers.findIndex((l) => (o.bnLayer ? l.name === o.bnLayer : l.getClassName() === 'BatchNormalization' && inboundClass(l) === 'Conv2D'));
  if (bnIndex < 0) {
    throw new EdgekdError('EDGEKD_TEACHER_NO_BATCHNORM', o.bnLayer ? `teacher has no layer '${o.bnLayer}'` : 'teacher has no BatchNormalization fed by a Conv2D');
  }
  const bn = layers[bnIndex]!;
  const conv = inboundLayer(bn);
  if (!conv || conv.getClassName() !== 'Conv2D') throw new EdgekdError('EDGEKD_TEACHER_NO_BATCHNORM', `${bn.name} is not fed by a Conv2D`);
  const weight = (suffix: string) => {
    const i = bn.weights.findIndex((w) => w.name.endsWith(suffix));
    if (i < 0) throw new EdgekdError('EDGEKD_TEACHER_NO_BATCHNORM', `${bn.name} has no ${suffix}`);
    return Array.from(bn.getWeights()[i]!.dataSync());
  };
  const runningMean = weight('moving_mean');
  const runningVariance = weight('moving_variance');
  const outShape = conv.outputShape as number[];
  const ref: FeatureStatisticReference = {
    layer: bn.name,
    source: 'teacher-batchnorm',
    runningMean,
    runningVariance,
    positions: (outShape[1] ?? 1) * (outShape[2] ?? 1),
  };
  if (o.meanOutput) ref.meanOutput = o.meanOutput;
  if (o.meanSquareOutput) ref.meanSquareOutput = o.meanSquareOutput;
  if (o.inlineProbe ?? true) {
    const cfg = conv.getConfig() as { strides?: number | number[]; padding?: string; useBias?: boolean; kernelSize?: number | number[]; filters?: number };
    const w = conv.getWeights();
    const kernel = w[0]!;
    const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
    const strides = Array.isArray(cfg.strides) ? cfg.strides[0]! : (cfg.strides ?? 1);
    ref.probe = {
      kind: 'conv2d',
      kernelShape: [kh, kw, cin, cout],
      kernel: Array.from(kernel.dataSync()),
      strides,
      padding: cfg.padding === 'valid' ? 'valid' : 'same',
    };
    if (cfg.useBias && w[1]) ref.probe.bias = Array.from(w[1].dataSync());
  }
  return ref;
}

function inboundLayer(l: tf.layers.Layer): tf.layers.Layer | undefined {
  const nodes = (l as unknown as { inboundNodes: Array<{ inboundLayers: tf.layers.Layer[] }> }).inboundNodes;
  return nodes[0]?.inboundLayers[0];
}

function inboundClass(l: tf.layers.Layer): string | undefined {
  return inboundLayer(l)?.getClassName();
}

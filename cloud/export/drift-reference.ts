import type * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { buildDriftReference } from '../../shared/drift/build-reference';
import type { DriftReference, FeatureStatisticReference } from '../../shared/drift/reference';
import { summarizeInference } from '../../shared/drift/summary';
import { EdgekdError } from '../../shared/errors';
import type { CalibrationSamples } from './calibrate';
import { assertCalibrationSamples } from './calibrate';
import type { ProbeSpec } from './tfjs-to-onnx';

/**
 * Drift reference data computed at export, without real data: the shipped model's outputs on
 * the synthetic calibration samples, and the teacher's BatchNorm running statistics for the
 * monitored layers (measured on the device through probe outputs of the same model).
 */

export interface TeacherProbe {
  probe: ProbeSpec;
  features: Array<Omit<FeatureStatisticReference, 'runningMean' | 'runningVariance'> & { runningMean: number[]; runningVariance: number[] }>;
}

/**
 * A probe over the teacher's first `count` BatchNorm layers that follow a convolution: outputs
 * `teacher_<conv>_mean` and `teacher_<conv>_meansq` (per-channel spatial means of the conv
 * output, i.e. of the BatchNorm input, whose running statistics the BN holds).
 */
export function teacherBatchNormProbe(teacher: tf.LayersModel, count = 1): TeacherProbe {
  const outputs: ProbeSpec['outputs'] = [];
  const features: TeacherProbe['features'] = [];
  for (const layer of teacher.layers) {
    if (features.length >= count) break;
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const inbound = (layer as unknown as { inboundNodes: Array<{ inboundLayers: tf.layers.Layer[] }> }).inboundNodes[0]?.inboundLayers[0];
    if (!inbound || !['Conv2D', 'DepthwiseConv2D'].includes(inbound.getClassName())) continue;
    const shape = (inbound.output as tf.SymbolicTensor).shape;
    const weights = new Map(layer.weights.map((w, i) => [(w.originalName ?? w.name).split('/').pop()!.replace(/_\d+$/, ''), layer.getWeights()[i]!]));
    const mean = weights.get('moving_mean');
    const variance = weights.get('moving_variance');
    if (!mean || !variance) continue;
    const base = `teacher_${inbound.name}`.replace(/[^A-Za-z0-9_]/g, '_');
    outputs.push({ name: `${base}_mean`, layer: inbound.name, stat: 'channel-mean' }, { name: `${base}_meansq`, layer: inbound.name, stat: 'channel-mean-square' });
    features.push({
      layer: layer.name,
      source: 'teacher-batchnorm',
      meanOutput: `${base}_mean`,
      meanSquareOutput: `${base}_meansq`,
      runningMean: [...(mean.dataSync() as Float32Array)],
      runningVariance: [...(variance.dataSync() as Float32Array)].map((v) => Math.max(0, v)),
      positions: (shape[1] ?? 1) * (shape[2] ?? 1),
    });
  }
  if (features.length === 0) throw new EdgekdError('EDGEKD_TEACHER_NO_BATCHNORM', `teacher ${teacher.name} has no BatchNorm after a convolution to monitor`);
  return { probe: { model: teacher, outputs }, features };
}

/** Runs the packaged model over the synthetic samples and summarises its outputs into a reference. */
export async function driftReferenceFromSynthetic(
  model: Uint8Array,
  samples: CalibrationSamples,
  o: { numClasses: number; inputRange: readonly [number, number]; probabilitiesOutput?: string; featureStatistics?: FeatureStatisticReference[]; now?: Date },
): Promise<DriftReference> {
  assertCalibrationSamples(samples);
  const [n, h, w, c] = samples.shape;
  const per = h * w * c;
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const out = o.probabilitiesOutput ?? 'probabilities';
  const summaries = [];
  try {
    for (let i = 0; i < n; i += 64) {
      const m = Math.min(64, n - i);
      const x = samples.data.subarray(i * per, (i + m) * per);
      const y = (await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, [m, h, w, c]) }, [out]))[out]!.data as Float32Array;
      const k = y.length / m;
      for (let j = 0; j < m; j++) {
        summaries.push(summarizeInference({ probabilities: y.subarray(j * k, (j + 1) * k), input: x.subarray(j * per, (j + 1) * per) }, { height: h, width: w, channels: c, range: o.inputRange }));
      }
    }
  } finally {
    await session.release();
  }
  return buildDriftReference(summaries, {
    numClasses: o.numClasses,
    source: 'synthetic',
    ...(o.featureStatistics ? { featureStatistics: o.featureStatistics } : {}),
    createdAt: (o.now ?? new Date()).toISOString(),
  });
}

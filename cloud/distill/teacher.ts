import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';

/**
 * The teacher in inference mode, seen the way inversion needs it: one functional model whose
 * outputs are the input of every BatchNormalization layer plus the logits. BatchNorm runs with
 * `training: false` (running statistics, as PyTorch's eval()); gradients flow to the input.
 *
 * The BN-matching targets are the layers' running mean and variance unless overridden (the drift
 * loop passes field feature statistics for the first layer(s)).
 */
export interface BnTarget {
  /** BatchNormalization layer name. */
  layer: string;
  mean: Float32Array;
  variance: Float32Array;
}

export interface TeacherView {
  readonly model: tf.LayersModel;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly bnLayers: ReadonlyArray<{ name: string; channels: number; mean: tf.Tensor1D; variance: tf.Tensor1D }>;
  /** BN inputs and logits, inference mode. Caller owns the tensors. */
  probe(x: tf.Tensor4D): { bnInputs: tf.Tensor[]; logits: tf.Tensor2D };
  logits(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

export function isBatchNorm(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

export function wrapTeacher(model: tf.LayersModel, bnTargets: readonly BnTarget[] = []): TeacherView {
  const bns = model.layers.filter(isBatchNorm);
  if (bns.length === 0) {
    throw new EdgekdError('EDGEKD_TEACHER_NO_BATCHNORM', `teacher '${model.name}' has no BatchNormalization layer: data-free inversion matches BN statistics, so it needs a teacher trained with BatchNorm`);
  }
  const inShape = model.inputs[0]!.shape;
  if (inShape.length !== 4) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `teacher input must be an image [h, w, c], got [${inShape.slice(1).join(', ')}]`);
  const outShape = model.outputs[0]!.shape;
  const numClasses = outShape[outShape.length - 1]!;
  for (const t of bnTargets) {
    if (!bns.some((l) => l.name === t.layer)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `BN target override names '${t.layer}', which is not a BatchNorm layer of the teacher (${bns.map((l) => l.name).join(', ')})`);
  }
  const probeModel = tf.model({ inputs: model.inputs, outputs: [...bns.map((l) => l.input as tf.SymbolicTensor), model.outputs[0]!] });
  const bnLayers = bns.map((l) => {
    const ws = l.weights;
    const pick = (suffix: string) => {
      const w = ws.find((v) => v.originalName.endsWith(suffix) || v.name.endsWith(suffix));
      if (!w) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `BatchNorm layer ${l.name} lacks ${suffix}`);
      return w.read() as tf.Tensor1D;
    };
    const override = bnTargets.find((t) => t.layer === l.name);
    const mean = override ? tf.tensor1d(override.mean) : tf.clone(pick('moving_mean'));
    const variance = override ? tf.tensor1d(override.variance) : tf.clone(pick('moving_variance'));
    if (mean.size !== variance.size) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `BN target for ${l.name}: mean and variance lengths differ`);
    const channels = (l.input as tf.SymbolicTensor).shape.at(-1)!;
    if (mean.size !== channels) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `BN target for ${l.name} has ${mean.size} channels, the layer has ${channels}`);
    return { name: l.name, channels, mean, variance };
  });
  return {
    model,
    inputShape: inShape.slice(1) as [number, number, number],
    numClasses,
    bnLayers,
    probe(x) {
      const outs = probeModel.apply(x, { training: false }) as tf.Tensor[];
      return { bnInputs: outs.slice(0, -1), logits: outs[outs.length - 1] as tf.Tensor2D };
    },
    logits(x) {
      return model.apply(x, { training: false }) as tf.Tensor2D;
    },
    dispose() {
      for (const b of bnLayers) {
        b.mean.dispose();
        b.variance.dispose();
      }
    },
  };
}

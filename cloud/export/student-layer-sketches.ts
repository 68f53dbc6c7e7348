import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { MAX_LAYER_SKETCHES, MAX_LAYER_SKETCH_CHANNELS, type LayerSketchSpec } from '../../shared/drift/reference';
import type { ExtraOutputSpec } from './tfjs-to-onnx';
import { studentBatchNormLayers } from '../zoo/batchnorm-layers';

/**
 * The package outputs a device needs to sketch the served student for statistics-only adaptation:
 * for each BatchNorm of the student (first `MAX_LAYER_SKETCHES`, graph order), the per-sample
 * spatial mean and mean square of the BatchNorm's input. The exporter folds the BatchNorm into its
 * convolution and undoes that affine on the statistic branch only (in float), so the numbers are on
 * the scale of the running statistics the cloud replaces. Cost on the device: one multiply and two
 * spatial means per channel of each sketched layer.
 */
export function studentLayerSketches(model: tf.LayersModel): { extraOutputs: ExtraOutputSpec[]; specs: LayerSketchSpec[] } {
  const layers = studentBatchNormLayers(model).slice(0, MAX_LAYER_SKETCHES);
  const extraOutputs: ExtraOutputSpec[] = [];
  const specs: LayerSketchSpec[] = [];
  for (const l of layers) {
    if (!l.input) continue;
    if (l.channels > MAX_LAYER_SKETCH_CHANNELS) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `layer ${l.layer} has ${l.channels} channels; a sketch holds at most ${MAX_LAYER_SKETCH_CHANNELS}`);
    const meanOutput = `student_${l.layer}_in_mean`;
    const meanSquareOutput = `student_${l.layer}_in_meansq`;
    extraOutputs.push({ name: meanOutput, layer: l.input, stat: 'channel-mean' }, { name: meanSquareOutput, layer: l.input, stat: 'channel-mean-square' });
    specs.push({ layer: l.layer, meanOutput, meanSquareOutput, channels: l.channels });
  }
  return { extraOutputs, specs };
}

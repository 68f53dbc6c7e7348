import type * as tf from '@tensorflow/tfjs';

/** A model's BatchNorm layers with their channel counts and the layer feeding each, in graph order. */
export function studentBatchNormLayers(model: tf.LayersModel): Array<{ layer: string; channels: number; input: string }> {
  const out: Array<{ layer: string; channels: number; input: string }> = [];
  for (const l of model.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const inbound = (l as unknown as { inboundNodes: Array<{ inboundLayers: tf.layers.Layer[] }> }).inboundNodes[0]?.inboundLayers[0];
    const w = l.getWeights();
    out.push({ layer: l.name, channels: w[w.length - 1]!.shape[0]!, input: inbound?.name ?? '' });
  }
  return out;
}


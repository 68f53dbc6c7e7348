import type * as tf from '@tensorflow/tfjs';

export interface ParamCount {
  /** Every weight, including BatchNorm moving statistics. */
  readonly total: number;
  /** Weights an optimiser updates. */
  readonly trainable: number;
}

const product = (shape: ReadonlyArray<number | null>): number => shape.reduce<number>((p, d) => p * (d ?? 1), 1);

/** Parameter counts from weight shapes (no tensor is read). */
export function countParams(model: tf.LayersModel): ParamCount {
  let total = 0;
  let trainable = 0;
  for (const w of model.weights) {
    const n = product(w.shape);
    total += n;
    if (w.trainable) trainable += n;
  }
  return { total, trainable };
}

function shapeOf(t: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.Shape {
  return (Array.isArray(t) ? t[0]! : t).shape;
}

/**
 * Multiply-accumulates for one image, from layer configs and static shapes: Conv2D
 * (oh·ow·oc·kh·kw·ic), DepthwiseConv2D (oh·ow·oc·kh·kw) and Dense (in·out). BatchNorm, pooling,
 * activations and Add are not counted: BatchNorm folds into the preceding conv at export, and the
 * rest are element-wise, far below the conv cost.
 */
export function countMacs(model: tf.LayersModel): number {
  let macs = 0;
  for (const m of layerMacs(model).values()) macs += m;
  return macs;
}

/** The same count per layer name (layers without MACs are absent). */
export function layerMacs(model: tf.LayersModel): Map<string, number> {
  const out = new Map<string, number>();
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Conv2D' && cls !== 'DepthwiseConv2D' && cls !== 'Dense') continue;
    const inShape = shapeOf(layer.input);
    const outShape = shapeOf(layer.output);
    const kernel = layer.getWeights(false)[0]?.shape ?? [];
    // Dense: in·out; Conv2D kernel [kh, kw, ic, oc] and depthwise [kh, kw, ic, multiplier] (oc = ic·multiplier): oh·ow·|kernel|.
    out.set(layer.name, cls === 'Dense' ? product([inShape[inShape.length - 1]!, outShape[outShape.length - 1]!]) : product([outShape[1]!, outShape[2]!]) * product(kernel));
  }
  return out;
}

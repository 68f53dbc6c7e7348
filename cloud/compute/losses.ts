import * as tf from '@tensorflow/tfjs';
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { EdgekdError } from '../../shared/errors';

/** logits (model output) and targets → scalar loss, a mean over the batch. */
export type LossFn = (logits: tf.Tensor, targets: tf.Tensor) => tf.Scalar;

/**
 * A loss that can cross a thread boundary: a built-in name, or a module (absolute path or
 * file URL) and the name of the LossFn it exports. A custom loss must be a mean over the batch
 * so that shard losses and gradients can be averaged by shard size.
 */
export type LossSpec = 'softmax-cross-entropy' | 'sparse-softmax-cross-entropy' | 'mse' | { module: string; exportName: string };

export const builtinLosses: Record<Exclude<LossSpec, object>, LossFn> = {
  /** targets: one-hot or soft probabilities, same shape as logits. */
  'softmax-cross-entropy': (logits, targets) => tf.losses.softmaxCrossEntropy(targets, logits) as tf.Scalar,
  /** targets: integer class ids, shape [batch]. */
  'sparse-softmax-cross-entropy': (logits, targets) =>
    tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(targets, 'int32') as tf.Tensor1D, logits.shape[logits.shape.length - 1]!), logits) as tf.Scalar),
  mse: (logits, targets) => tf.losses.meanSquaredError(targets, logits) as tf.Scalar,
};

export async function resolveLoss(spec: LossSpec): Promise<LossFn> {
  if (typeof spec === 'string') {
    const fn = builtinLosses[spec];
    if (!fn) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown loss '${String(spec)}'; use ${Object.keys(builtinLosses).join(', ')} or { module, exportName }`);
    return fn;
  }
  const url = spec.module.startsWith('file:') ? spec.module : isAbsolute(spec.module) ? pathToFileURL(spec.module).href : null;
  if (!url) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `loss module must be an absolute path or file URL, got '${spec.module}'`);
  const mod = (await import(url)) as Record<string, unknown>;
  const fn = mod[spec.exportName];
  if (typeof fn !== 'function') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `loss module ${spec.module} has no function export '${spec.exportName}'`);
  return fn as LossFn;
}

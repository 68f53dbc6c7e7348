import * as tf from '@tensorflow/tfjs';
import type { DistillRng } from './rng';

/**
 * Augmentation used while synthesising (gradients flow through it to the generator) and on buffer
 * samples before a KD step: random crop after padding with the darkest pixel value (Fast-DFKD:
 * RandomCrop with padding, zero fill in [0, 1] pixel space) and an optional horizontal flip.
 * The batch is cut into `groups` slices, each with its own offset and flip, which keeps the op
 * count small while still varying the transform across the batch.
 */
export interface AugmentConfig {
  /** Pixels of padding before the random crop (0 disables it). */
  pad: number;
  flip: boolean;
  groups: number;
}

export function augmentBatch(x: tf.Tensor4D, cfg: AugmentConfig, fill: number, rng: DistillRng): tf.Tensor4D {
  if (cfg.pad <= 0 && !cfg.flip) return x.clone();
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const p = cfg.pad;
    const padded = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], fill) : x;
    const groups = Math.max(1, Math.min(cfg.groups, n));
    const parts: tf.Tensor4D[] = [];
    for (let g = 0; g < groups; g++) {
      const start = Math.floor((g * n) / groups);
      const end = Math.floor(((g + 1) * n) / groups);
      if (end <= start) continue;
      const dy = p > 0 ? rng.int(2 * p + 1) : 0;
      const dx = p > 0 ? rng.int(2 * p + 1) : 0;
      let part = tf.slice(padded, [start, dy, dx, 0], [end - start, h, w, c]) as tf.Tensor4D;
      if (cfg.flip && rng.next() < 0.5) part = tf.reverse(part, 2);
      parts.push(part);
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
  });
}

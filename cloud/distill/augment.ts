import * as tf from '@tensorflow/tfjs';
import type { Random } from '../../shared/random/seeded-random';

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

/** One group of a batch and its transform: rows [start, end), crop offset (dy, dx) into the padded image, flip. */
export interface AugmentGroup {
  start: number;
  end: number;
  dy: number;
  dx: number;
  flip: boolean;
}

/**
 * The random transform of each group, drawn in a fixed order (dy, dx, then the flip coin when
 * flipping is on). Every implementation of the augmentation (tensor or host array) takes its draws
 * from here, so they agree value for value on the same random stream.
 */
export function augmentGroups(n: number, cfg: AugmentConfig, rng: Random): AugmentGroup[] {
  const p = cfg.pad;
  const groups = Math.max(1, Math.min(cfg.groups, n));
  const out: AugmentGroup[] = [];
  for (let g = 0; g < groups; g++) {
    const start = Math.floor((g * n) / groups);
    const end = Math.floor(((g + 1) * n) / groups);
    if (end <= start) continue;
    const dy = p > 0 ? rng.int(2 * p + 1) : 0;
    const dx = p > 0 ? rng.int(2 * p + 1) : 0;
    const flip = cfg.flip && rng.next() < 0.5;
    out.push({ start, end, dy, dx, flip });
  }
  return out;
}

export function augmentBatch(x: tf.Tensor4D, cfg: AugmentConfig, fill: number, rng: Random): tf.Tensor4D {
  if (cfg.pad <= 0 && !cfg.flip) return x.clone();
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const p = cfg.pad;
    const padded = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], fill) : x;
    const parts: tf.Tensor4D[] = [];
    for (const { start, end, dy, dx, flip } of augmentGroups(n, cfg, rng)) {
      let part = tf.slice(padded, [start, dy, dx, 0], [end - start, h, w, c]) as tf.Tensor4D;
      if (flip) part = tf.reverse(part, 2);
      parts.push(part);
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
  });
}

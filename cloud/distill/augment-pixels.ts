import * as tf from '@tensorflow/tfjs';
import { augmentGroups, type AugmentConfig, type AugmentGroup } from './augment';
import type { Random } from '../../shared/random/seeded-random';

/**
 * `augmentBatch` on a host array, before the batch becomes a tensor: the same padded random crop
 * and flip per group, drawing the same random numbers in the same order, so the result is
 * identical value for value. A KD step's buffer batch is already a Float32Array (the replay
 * buffer's gather), and on wasm the tensor version costs a Pad, eight strided Slices, Reverses and
 * a Concat over the batch (12 ms of a 114 ms LeNet student step in `bench:compute`'s profile);
 * this is one pass over the pixels.
 */
export function augmentPixels(src: Float32Array, shape: readonly [number, number, number, number], cfg: AugmentConfig, fill: number, rng: Random): Float32Array {
  if (cfg.pad <= 0 && !cfg.flip) return Float32Array.from(src);
  return applyAugmentGroups(src, shape, augmentGroups(shape[0], cfg, rng), cfg.pad, fill);
}

/**
 * Calls `visit(o, s)` for every output pixel offset o and the source pixel offset s it copies
 * (s = −1 where the crop reads the padding). Crop and flip are injective: each source pixel is
 * read by at most one output pixel.
 */
function forEachPixel(shape: readonly [number, number, number, number], groups: readonly AugmentGroup[], pad: number, visit: (o: number, s: number) => void): void {
  const [, h, w, c] = shape;
  const image = h * w * c;
  for (const { start, end, dy, dx, flip } of groups) {
    for (let i = start; i < end; i++) {
      const base = i * image;
      for (let y = 0; y < h; y++) {
        const sy = y + dy - pad;
        for (let x = 0; x < w; x++) {
          // Output column x reads the cropped column (w−1−x when flipped), i.e. padded column (…)+dx.
          const sx = (flip ? w - 1 - x : x) + dx - pad;
          visit(base + (y * w + x) * c, sy < 0 || sy >= h || sx < 0 || sx >= w ? -1 : base + (sy * w + sx) * c);
        }
      }
    }
  }
}

/** The augmentation of `src` given its groups' transforms. */
export function applyAugmentGroups(src: Float32Array, shape: readonly [number, number, number, number], groups: readonly AugmentGroup[], pad: number, fill: number): Float32Array {
  const c = shape[3];
  const out = new Float32Array(src.length);
  // Plain indexed copies: a subarray per pixel would allocate 100k views per batch.
  forEachPixel(shape, groups, pad, (o, s) => {
    if (s < 0) for (let k = 0; k < c; k++) out[o + k] = fill;
    else for (let k = 0; k < c; k++) out[o + k] = src[s + k]!;
  });
  return out;
}

/** The adjoint of `applyAugmentGroups` (its gradient): each output pixel's dy goes back to its source pixel; padding gets none. */
export function augmentAdjoint(dy: Float32Array, shape: readonly [number, number, number, number], groups: readonly AugmentGroup[], pad: number): Float32Array {
  const c = shape[3];
  const dx = new Float32Array(dy.length);
  forEachPixel(shape, groups, pad, (o, s) => {
    if (s >= 0) for (let k = 0; k < c; k++) dx[s + k] = dx[s + k]! + dy[o + k]!;
  });
  return dx;
}

/**
 * `augmentBatch` as one differentiable op for synthesis, where gradients flow through the
 * augmentation to the generator: the forward is `applyAugmentGroups` on the host, the gradient
 * its adjoint. On wasm the tensor version is a Pad, 8 strided Slices, Reverses and a Concat,
 * and as many Pads, Slices and Reverses again in the backward pass (a synthesis round spent
 * ~60 ms of ~400 ms of CPU in them, bench:compute). Same random draws, same values.
 */
export function augmentBatchHost(x: tf.Tensor4D, cfg: AugmentConfig, fill: number, rng: Random): tf.Tensor4D {
  if (cfg.pad <= 0 && !cfg.flip) return x.clone();
  const shape = x.shape;
  const groups = augmentGroups(shape[0], cfg, rng);
  const op = tf.customGrad(((t: tf.Tensor) => ({
    value: tf.tensor4d(applyAugmentGroups(t.dataSync() as Float32Array, shape, groups, cfg.pad, fill), shape),
    gradFunc: (dy: tf.Tensor) => tf.tensor4d(augmentAdjoint(dy.dataSync() as Float32Array, shape, groups, cfg.pad), shape),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Tensor4D;
}

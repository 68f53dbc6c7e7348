import { augmentGroups, type AugmentConfig } from './augment';
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
  const [n, h, w, c] = shape;
  const out = new Float32Array(src.length);
  if (cfg.pad <= 0 && !cfg.flip) {
    out.set(src);
    return out;
  }
  const p = cfg.pad;
  const image = h * w * c;
  for (const { start, end, dy, dx, flip } of augmentGroups(n, cfg, rng)) {
    for (let i = start; i < end; i++) {
      const base = i * image;
      for (let y = 0; y < h; y++) {
        const sy = y + dy - p;
        for (let x = 0; x < w; x++) {
          // Output column x reads the cropped column (w−1−x when flipped), i.e. padded column (…)+dx.
          const sx = (flip ? w - 1 - x : x) + dx - p;
          const o = base + (y * w + x) * c;
          // Plain indexed copies: a subarray per pixel would allocate 100k views per batch.
          if (sy < 0 || sy >= h || sx < 0 || sx >= w) for (let k = 0; k < c; k++) out[o + k] = fill;
          else for (let k = 0, s = base + (sy * w + sx) * c; k < c; k++) out[o + k] = src[s + k]!;
        }
      }
    }
  }
  return out;
}

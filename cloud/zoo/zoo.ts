import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { lenet5 } from './lenet5';
import { mobilenetTiny } from './mobilenet-tiny';
import { mobilenetCifar } from './mobilenet-cifar';
import { RESNET20, RESNET8_HALF, resnet, resnet8 } from './resnet8';
import { createSeededInit } from './seeded-init';

export const zooArchs = ['lenet5-bn', 'lenet5-half', 'resnet8', 'mobilenet-tiny', 'resnet20', 'resnet8-half', 'mobilenet-cifar'] as const;
export type ZooArch = (typeof zooArchs)[number];

export interface BuildOptions {
  /** [height, width, channels]; the zoo is tested on [28, 28, 1] and [32, 32, 3]. */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** Same seed, same initial weights. */
  readonly seed: number;
}

export function isZooArch(name: string): name is ZooArch {
  return (zooArchs as readonly string[]).includes(name);
}

export function assertZooArch(name: string): ZooArch {
  if (!isZooArch(name)) throw new EdgekdError('EDGEKD_UNKNOWN_ARCH', `unknown architecture '${name}'; the zoo has: ${zooArchs.join(', ')}`);
  return name;
}

/**
 * Builds an untrained zoo model. Output: logits (no softmax layer); apply softmax (with a
 * temperature for distillation) outside the model. Input: NHWC float32 in the dataset's
 * normalised range ([-1, 1] for every edgekd dataset).
 */
export function buildModel(arch: ZooArch | string, options: BuildOptions): tf.LayersModel {
  const a = assertZooArch(arch);
  const [h, w, c] = options.inputShape;
  if (!(Number.isInteger(h) && Number.isInteger(w) && Number.isInteger(c) && h > 0 && w > 0 && c > 0)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `input shape must be three positive integers, got [${options.inputShape.join(', ')}]`);
  }
  if (a.startsWith('lenet5') && (h < 28 || w < 28)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${a} needs inputs of at least 28x28, got ${h}x${w}`);
  }
  if (!(Number.isInteger(options.numClasses) && options.numClasses >= 2)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `numClasses must be an integer ≥ 2, got ${options.numClasses}`);
  }
  const init = createSeededInit(options.seed);
  switch (a) {
    case 'lenet5-bn':
      return lenet5(options.inputShape, options.numClasses, init, 1);
    case 'lenet5-half':
      return lenet5(options.inputShape, options.numClasses, init, 0.5);
    case 'resnet8':
      return resnet8(options.inputShape, options.numClasses, init);
    case 'mobilenet-tiny':
      return mobilenetTiny(options.inputShape, options.numClasses, init);
    case 'resnet20':
      return resnet(RESNET20, options.inputShape, options.numClasses, init);
    case 'resnet8-half':
      return resnet(RESNET8_HALF, options.inputShape, options.numClasses, init);
    case 'mobilenet-cifar':
      return mobilenetCifar(options.inputShape, options.numClasses, init);
  }
}

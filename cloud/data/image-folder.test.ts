import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { isEdgekdError } from '../../shared/errors';
import { CIFAR10_NORMALIZATION } from './dataset-info';
import { loadImageFolder } from './image-folder';

function writePng(path: string, w: number, h: number, rgba: (x: number, y: number) => [number, number, number, number]): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const [r, g, b, a] = rgba(x, y);
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = a;
    }
  writeFileSync(path, PNG.sync.write(png));
}

function makeFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-pngs-'));
  for (const cls of ['cat', 'ant']) {
    mkdirSync(join(dir, cls));
    for (let i = 0; i < 10; i++) {
      const v = cls === 'cat' ? 255 : 0;
      writePng(join(dir, cls, `img${i}.png`), 8, 8, () => [v, v, v, 255]);
    }
  }
  return dir;
}

describe('the PNG folder loader', () => {
  it('reads one class per folder (sorted names) and holds out the last files as test', () => {
    const ds = loadImageFolder(makeFolder(), { inputShape: [8, 8, 1] });
    expect(ds.info.classNames).toEqual(['ant', 'cat']);
    expect(ds.train.count).toBe(18);
    expect(ds.test.count).toBe(2);
    expect(ds.train.provenance).toBe('real');
    // 'ant' images are black → -1, 'cat' white → +1 after normalisation.
    for (let i = 0; i < ds.train.count; i++) expect(ds.train.images[i * 64]).toBe(ds.train.labels[i] === 0 ? -1 : 1);
  });

  it('resizes and converts colour to the requested shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-pngs-'));
    for (const cls of ['a', 'b']) {
      mkdirSync(join(dir, cls));
      writePng(join(dir, cls, 'x.png'), 16, 12, () => [255, 0, 0, 255]);
      writePng(join(dir, cls, 'y.png'), 16, 12, () => [255, 0, 0, 255]);
    }
    const gray = loadImageFolder(dir, { inputShape: [28, 28, 1] });
    expect(gray.train.images.length).toBe(gray.train.count * 784);
    expect(gray.train.images[100]).toBeCloseTo(-1 + 2 * 0.299, 4);
    const rgb = loadImageFolder(dir, { inputShape: [32, 32, 3] });
    expect(Array.from(rgb.train.images.slice(0, 3))).toEqual([1, -1, -1]);
    expect(() => loadImageFolder(dir, { inputShape: [28, 28, 1], resize: 'error' })).toThrow(expect.objectContaining({ code: 'EDGEKD_DATASET_INVALID' }));
  });

  it('normalises RGB per channel with the normalisation it is given (a CIFAR-10 teacher card)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-rgb-'));
    for (const cls of ['a', 'b']) {
      mkdirSync(join(dir, cls));
      for (let i = 0; i < 2; i++) writePng(join(dir, cls, `${i}.png`), 4, 4, () => [200, 100, 50, 255]);
    }
    const ds = loadImageFolder(dir, { inputShape: [4, 4, 3], normalization: CIFAR10_NORMALIZATION });
    const { mean, std } = CIFAR10_NORMALIZATION;
    [200, 100, 50].forEach((raw, c) => expect(ds.train.images[c]).toBeCloseTo((raw / 255 - mean[c]!) / std[c]!, 5));
    expect(ds.info.normalization).toBe(CIFAR10_NORMALIZATION);
    // Without one, [-1, 1] as before.
    expect(loadImageFolder(dir, { inputShape: [4, 4, 3] }).train.images[0]).toBeCloseTo(-1 + (2 * 200) / 255, 5);
  });

  it('uses train/ and test/ when the folder has them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-pngs-'));
    for (const part of ['train', 'test'])
      for (const cls of ['a', 'b']) {
        mkdirSync(join(dir, part, cls), { recursive: true });
        writePng(join(dir, part, cls, '1.png'), 4, 4, () => [9, 9, 9, 255]);
      }
    const ds = loadImageFolder(dir, { inputShape: [4, 4, 1] });
    expect([ds.train.count, ds.test.count]).toEqual([2, 2]);
  });

  it('names the bad file in a typed error', () => {
    const dir = makeFolder();
    writeFileSync(join(dir, 'cat', 'broken.png'), 'not a png');
    let err: unknown;
    try {
      loadImageFolder(dir, { inputShape: [8, 8, 1] });
    } catch (e) {
      err = e;
    }
    expect(isEdgekdError(err, 'EDGEKD_DATASET_INVALID')).toBe(true);
    expect((err as Error).message).toContain('broken.png');
  });

  it('reports a missing or empty folder as EDGEKD_DATASET_MISSING', () => {
    expect(() => loadImageFolder('/nonexistent/edgekd', { inputShape: [8, 8, 1] })).toThrow(expect.objectContaining({ code: 'EDGEKD_DATASET_MISSING' }));
    const empty = mkdtempSync(join(tmpdir(), 'edgekd-pngs-'));
    mkdirSync(join(empty, 'a'));
    mkdirSync(join(empty, 'b'));
    expect(() => loadImageFolder(empty, { inputShape: [8, 8, 1] })).toThrow(expect.objectContaining({ code: 'EDGEKD_DATASET_MISSING' }));
  });
});

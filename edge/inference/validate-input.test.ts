import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import type { ModelInput } from '../../shared/package';
import { toModelInput, zeroInput } from './validate-input';
import { topK } from './top-k';

const nhwc: ModelInput = { name: 'x', shape: ['N', 2, 2, 3], layout: 'NHWC', dtype: 'float32', normalisation: { rawRange: [0, 255], scale: [1 / 255], offset: [0] } };

describe('input validation against the manifest', () => {
  it('accepts any batch size for a symbolic batch dimension and normalises raw values', () => {
    const t = toModelInput({ dtype: 'float32', shape: [2, 2, 2, 3], data: new Array(24).fill(255) }, nhwc);
    expect(t.dims).toEqual([2, 2, 2, 3]);
    expect([...t.data].every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
  });

  it('applies per-channel scale and offset on the channel axis of the layout', () => {
    const spec: ModelInput = { ...nhwc, normalisation: { rawRange: [0, 1], scale: [1, 2, 3], offset: [0, 0, 1] } };
    const t = toModelInput({ dtype: 'float32', shape: [1, 2, 2, 3], data: new Array(12).fill(1) }, spec);
    expect([...t.data.slice(0, 3)]).toEqual([1, 2, 4]);
  });

  it('decodes little-endian base64 tensors', () => {
    const raw = new Float32Array(12).fill(0.5);
    const t = toModelInput({ dtype: 'float32', shape: [1, 2, 2, 3], dataBase64: Buffer.from(raw.buffer).toString('base64') }, { ...nhwc, normalisation: { rawRange: [0, 1], scale: [1], offset: [0] } });
    expect(t.data[11]).toBe(0.5);
  });

  it.each([
    ['wrong dtype', { dtype: 'uint8', shape: [1, 2, 2, 3], data: new Array(12).fill(0) }],
    ['wrong rank', { dtype: 'float32', shape: [1, 12], data: new Array(12).fill(0) }],
    ['wrong fixed dimension', { dtype: 'float32', shape: [1, 2, 2, 1], data: new Array(4).fill(0) }],
    ['too few values', { dtype: 'float32', shape: [1, 2, 2, 3], data: [1] }],
    ['wrong byte count', { dtype: 'float32', shape: [1, 2, 2, 3], dataBase64: 'AAAA' }],
    ['both data forms', { dtype: 'float32', shape: [1, 2, 2, 3], data: new Array(12).fill(0), dataBase64: 'AAAA' }],
    ['no data', { dtype: 'float32', shape: [1, 2, 2, 3] }],
    ['a NaN', { dtype: 'float32', shape: [1, 2, 2, 3], data: [...new Array(11).fill(0), Number.NaN] }],
  ] as const)('rejects %s with EDGEKD_INPUT_SHAPE', (_n, input) => {
    try {
      toModelInput(input as never, nhwc);
      throw new Error('accepted');
    } catch (e) {
      expect(isEdgekdError(e, 'EDGEKD_INPUT_SHAPE')).toBe(true);
    }
  });

  it('builds a zero warm-up input with symbolic dimensions set to 1', () => {
    expect(zeroInput(nhwc).dims).toEqual([1, 2, 2, 3]);
  });

  it('returns the top k classes per row, best first, with labels', () => {
    const rows = topK(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.25, 0.25]), 3, 2, ['a', 'b', 'c']);
    expect(rows).toEqual([
      [{ index: 1, probability: expect.closeTo(0.7), label: 'b' }, { index: 2, probability: expect.closeTo(0.2), label: 'c' }],
      [{ index: 0, probability: 0.5, label: 'a' }, { index: 1, probability: 0.25, label: 'b' }],
    ]);
  });
});

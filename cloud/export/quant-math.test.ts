import { describe, expect, it } from 'vitest';
import { asymmetricUint8, quantizeBias, quantizeValue, quantizeWeightsPerChannel, roundHalfEven, symmetricInt8 } from './quant-math';

describe('quantization arithmetic', () => {
  it('rounds half to even like QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map((v) => roundHalfEven(v) + 0)).toEqual([0, 2, 2, 0, -2, -2, 2, 3]);
  });
  it('uint8 asymmetric keeps zero exact and covers the range', () => {
    const p = asymmetricUint8(-1, 3);
    expect(p.scale).toBeCloseTo(4 / 255, 7);
    expect(p.zeroPoint).toBe(64);
    expect(quantizeValue(0, p)).toBe(64);
    expect(quantizeValue(3, p)).toBe(255);
    expect(quantizeValue(-5, p)).toBe(0);
    // A post-ReLU range starts at 0: zero point 0, so negative inputs saturate to 0 (a folded ReLU).
    expect(asymmetricUint8(0.2, 6).zeroPoint).toBe(0);
  });
  it('int8 symmetric has zero point 0', () => {
    const p = symmetricInt8(-0.5, 2.54);
    expect(p.zeroPoint).toBe(0);
    expect(p.scale).toBeCloseTo(0.02, 6);
  });
  it('quantizes weights per output channel into [-127, 127]', () => {
    const w = new Float32Array([1, -0.5, 0.25, 0.0101, -0.02, 0.005]);
    const { q, scales } = quantizeWeightsPerChannel(w, 2);
    expect(scales[0]).toBeCloseTo(1 / 127, 8);
    expect(scales[1]).toBeCloseTo(0.02 / 127, 8);
    expect([...q]).toEqual([127, -64, 32, 64, -127, 32]);
    const b = quantizeBias(new Float32Array([0.1, -0.2]), 0.05, scales);
    expect(b.q[0]).toBe(roundHalfEven(0.1 / Math.fround(0.05 * scales[0]!)));
  });
});

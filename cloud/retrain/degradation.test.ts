import { describe, expect, it } from 'vitest';
import { createRandom } from '../../shared/random/seeded-random';
import { applyImageShift } from '../../shared/drift/shifts';
import { checkDegradation, degradeBatch, degradeImage } from './degradation';

const G = { height: 8, width: 8, channels: 1, range: [-1, 1] as const };
const image = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 0.7) * 0.8);
const mean = (x: Float32Array) => x.reduce((a, v) => a + v, 0) / x.length;
const std = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + (v - mean(x)) ** 2, 0) / x.length);

describe('degradation family', () => {
  it('reproduces the benchmark shift of the same kind and amount exactly (contrast, brightness, blur)', () => {
    for (const [kind, amount] of [['contrast', 0.45], ['brightness', 0.2], ['blur', 1]] as const) {
      const ours = degradeImage(image, { kind, amount }, G, createRandom(1));
      const bench = applyImageShift(image, kind, 3, G, createRandom(1));
      expect(Array.from(ours)).toEqual(Array.from(bench));
    }
  });

  it('scales the spread by the contrast factor about the mean, and keeps every pixel in range', () => {
    const out = degradeImage(image, { kind: 'contrast', amount: 0.5 }, G, createRandom(1));
    expect(std(out) / std(image)).toBeCloseTo(0.5, 5);
    const bright = degradeImage(image, { kind: 'brightness', amount: 0.5 }, G, createRandom(1));
    expect(Math.max(...bright)).toBeLessThanOrEqual(1);
    expect(Math.min(...bright)).toBeGreaterThanOrEqual(-1);
  });

  it('adds noise of the requested σ, and occludes a mid-grey square of the requested side', () => {
    const flat = new Float32Array(4096).fill(0);
    const noisy = degradeImage(flat, { kind: 'noise', amount: 0.1 }, { ...G, height: 64, width: 64 }, createRandom(3));
    // σ 0.1 of the [0, 1] scale is 0.2 in [-1, 1] units.
    expect(std(noisy)).toBeGreaterThan(0.18);
    expect(std(noisy)).toBeLessThan(0.22);
    const occluded = degradeImage(new Float32Array(64).fill(-1), { kind: 'occlusion', amount: 0.5 }, G, createRandom(3));
    expect(occluded.filter((v) => v === 0).length).toBe(16);
  });

  it('degrades a batch image by image and leaves the input untouched', () => {
    const batch = new Float32Array([...image, ...image]);
    const copy = batch.slice();
    const out = degradeBatch(batch, 2, { kind: 'blur', amount: 0.8 }, G, createRandom(1));
    expect(Array.from(batch)).toEqual(Array.from(copy));
    expect(Array.from(out.subarray(0, 64))).toEqual(Array.from(out.subarray(64)));
    expect(() => degradeBatch(batch, 3, { kind: 'none', amount: 0 }, G, createRandom(1))).toThrow(/EDGEKD|values/);
  });

  it('rejects an amount outside its kind’s bounds with a typed error', () => {
    expect(() => checkDegradation({ kind: 'contrast', amount: 2 })).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    expect(() => checkDegradation({ kind: 'noise', amount: Number.NaN })).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    expect(() => checkDegradation({ kind: 'none', amount: 0 })).not.toThrow();
  });
});

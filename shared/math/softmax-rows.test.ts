import { describe, expect, it } from 'vitest';
import { softmaxRows } from './softmax-rows';

describe('softmaxRows', () => {
  it('normalises each row to probabilities that keep the logits order', () => {
    const p = softmaxRows(new Float32Array([0, Math.log(3), 2, 2]), 2);
    expect(p[0]).toBeCloseTo(0.25, 6);
    expect(p[1]).toBeCloseTo(0.75, 6);
    expect(p[2]).toBeCloseTo(0.5, 6);
    expect(p[3]).toBeCloseTo(0.5, 6);
  });
  it('does not overflow on large logits and leaves its input alone', () => {
    const logits = new Float32Array([1000, 999, -1000]);
    const p = softmaxRows(logits, 3);
    expect(Array.from(p).every(Number.isFinite)).toBe(true);
    expect(p[0]! + p[1]! + p[2]!).toBeCloseTo(1, 6);
    expect(p[0]! / p[1]!).toBeCloseTo(Math.E, 4);
    expect(logits[0]).toBe(1000);
  });
});

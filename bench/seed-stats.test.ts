import { describe, expect, it } from 'vitest';
import { pairedDifference, summarize, t975 } from './seed-stats';

describe('seed statistics', () => {
  it('gives the mean and the sample standard deviation', () => {
    const s = summarize([1, 2, 3, 4]);
    expect(s.mean).toBe(2.5);
    expect(s.sd).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(s.n).toBe(4);
  });

  it('builds a paired t-interval over the seeds both methods share', () => {
    const a = new Map([[1, 0.8], [2, 0.82], [3, 0.81], [4, 0.5]]);
    const b = new Map([[1, 0.78], [2, 0.79], [3, 0.8]]);
    const p = pairedDifference(a, b);
    // Differences 0.02, 0.03, 0.01: mean 0.02, sd 0.01, t(2) = 4.303.
    expect(p.n).toBe(3);
    expect(p.meanDiff).toBeCloseTo(0.02, 12);
    const half = (4.303 * 0.01) / Math.sqrt(3);
    expect(p.ci95![0]).toBeCloseTo(0.02 - half, 10);
    expect(p.ci95![1]).toBeCloseTo(0.02 + half, 10);
    expect(t975(2)).toBe(4.303);
  });

  it('gives no interval from a single pair', () => {
    const p = pairedDifference(new Map([[1, 0.8]]), new Map([[1, 0.7]]));
    expect(p.ci95).toBeNull();
    expect(p.meanDiff).toBeCloseTo(0.1, 12);
  });
});

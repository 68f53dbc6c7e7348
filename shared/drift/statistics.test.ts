import { describe, expect, it } from 'vitest';
import { chiSquareGoodnessOfFit, chiSquareTwoSample } from './chi-square';
import { jensenShannonDistance } from './jensen-shannon';
import { ksAgainstSketch, ksTwoSample } from './kolmogorov-smirnov';
import { populationStabilityIndex } from './psi';
import { twoProportionTest } from './proportion-test';
import { chiSquareSurvival, kolmogorovSurvival, normalSurvival } from './special-functions';
import { quantileSketch, sketchCdf } from './quantile-sketch';
import { benjaminiHochberg } from './fdr';
import { createRandom } from '../random/seeded-random';

// Reference values from scipy 1.x (stats.chi2.sf, chi2_contingency(correction=False), ks_2samp,
// spatial.distance.jensenshannon(base=2)) and from the closed forms noted beside each case.
describe('drift statistics against known values', () => {
  it('χ² survival matches scipy', () => {
    expect(chiSquareSurvival(10, 3)).toBeCloseTo(0.01856613546304325, 9);
    expect(chiSquareSurvival(3.2, 9)).toBeCloseTo(0.9558347256002608, 9);
  });

  it('two-sample χ² on a contingency table matches scipy', () => {
    const r = chiSquareTwoSample([10, 20, 30], [20, 20, 20]);
    expect(r.statistic).toBeCloseTo(5.333333333333334, 9);
    expect(r.df).toBe(2);
    expect(r.pValue).toBeCloseTo(0.0694834512228015, 8);
  });

  it('goodness of fit: observed equal to expected gives χ² = 0 and p = 1', () => {
    const r = chiSquareGoodnessOfFit([25, 25, 50], [0.25, 0.25, 0.5]);
    expect(r.statistic).toBe(0);
    expect(r.pValue).toBeCloseTo(1, 12);
  });

  it('Jensen–Shannon distance matches scipy and is 0 / 1 at the extremes', () => {
    expect(jensenShannonDistance([0.5, 0.5, 0], [0, 0.5, 0.5])).toBeCloseTo(0.7071067811865476, 12);
    expect(jensenShannonDistance([3, 1], [30, 10])).toBeCloseTo(0, 12);
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(1, 12);
  });

  it('two-sample KS statistic matches scipy', () => {
    const r = ksTwoSample([0.1, 0.4, 0.35, 0.8, 0.95, 0.2], [0.5, 0.6, 0.7, 0.9, 0.99]);
    expect(r.d).toBeCloseTo(2 / 3, 12);
  });

  it('Kolmogorov survival at the classic 5% critical value 1.358', () => {
    expect(kolmogorovSurvival(1.3581)).toBeCloseTo(0.05, 3);
    expect(kolmogorovSurvival(0.1)).toBe(1);
  });

  it('KS against a quantile sketch approximates KS against the raw reference', () => {
    const rnd = createRandom(7);
    const ref = Array.from({ length: 5000 }, () => rnd.normal());
    const win = Array.from({ length: 500 }, () => rnd.normal() + 0.3);
    const exact = ksTwoSample(win, ref).d;
    const sketched = ksAgainstSketch(win, quantileSketch(ref, 101)).d;
    expect(Math.abs(exact - sketched)).toBeLessThan(0.015);
    expect(exact).toBeGreaterThan(0.08);
  });

  it('sketch CDF handles a point mass (repeated quantiles)', () => {
    const q = [0, 1, 1, 1, 2];
    expect(sketchCdf(q, 1, true)).toBeCloseTo(0.25, 12);
    expect(sketchCdf(q, 1, false)).toBeCloseTo(0.75, 12);
    expect(sketchCdf(q, 1.5)).toBeCloseTo(0.875, 12);
  });

  it('PSI equals the closed form ½·ln 2 for a swapped pair of bins', () => {
    expect(populationStabilityIndex([0.25, 0.25, 0.5], [0.5, 0.25, 0.25])).toBeCloseTo(0.5 * Math.LN2, 12);
    expect(populationStabilityIndex([1, 2, 3], [10, 20, 30])).toBeCloseTo(0, 12);
  });

  it('two-proportion z-test and normal tail', () => {
    expect(normalSurvival(1.959964)).toBeCloseTo(0.025, 6);
    const t = twoProportionTest(60, 100, 40, 100); // pooled p 0.5, se sqrt(0.25·0.02)
    expect(t.z).toBeCloseTo(0.2 / Math.sqrt(0.005), 9);
    expect(t.pValue).toBeCloseTo(2 * normalSurvival(t.z), 9);
  });

  it('Benjamini–Hochberg rejects the step-up set and adjusts p-values monotonically', () => {
    // Sorted p: 0.001 0.008 0.01 0.039 …; m = 10, q = 0.05 → thresholds 0.005 0.01 0.015 0.02 …: the first three pass.
    const p = [0.01, 0.001, 0.05, 0.041, 0.042, 0.06, 0.074, 0.205, 0.008, 0.039];
    const r = benjaminiHochberg(p, 0.05);
    expect(r.rejected).toEqual([true, true, false, false, false, false, false, false, true, false]);
    expect(r.adjusted[1]).toBeCloseTo(0.01, 12);
    expect(r.adjusted[8]).toBeCloseTo(0.1 / 3, 12); // min(0.008·10/2, 0.01·10/3)
  });
});

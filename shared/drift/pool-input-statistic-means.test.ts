import { describe, expect, it } from 'vitest';
import { poolInputStatisticMeans } from './pool-input-statistics';
import type { DriftReport } from './reference';

function report(sampleCount: number, means: Record<string, number>): DriftReport {
  return {
    version: 1,
    modelId: 'm',
    modelVersion: '1',
    periodStart: 0,
    periodEnd: 1,
    sampleCount,
    windowSize: 512,
    windowsEvaluated: 1,
    referenceSource: 'field-baseline',
    classCounts: [sampleCount],
    detectors: [],
    alarm: { active: false, detectors: [], breachedWindows: 0 },
    inputStatistics: Object.entries(means).map(([name, mean]) => ({ name: name as 'mean', counts: [sampleCount], mean })),
  };
}

const FOUR = { mean: -0.4, std: 0.6, gradient: 0.15, saturation: 0.5 };

describe('pooling the input statistic means of drift reports', () => {
  it('pools flat, weighted by sample count, when every report used has it', () => {
    const p = poolInputStatisticMeans([report(1000, { ...FOUR, flat: 0.03 }), report(3000, { ...FOUR, std: 0.2, flat: 0.07 })]);
    expect(p).toMatchObject({ std: 0.3, sampleCount: 4000, reports: 2 });
    expect(p!.flat).toBeCloseTo(0.06, 12);
  });

  it('omits flat when one report used lacks it (an agent built before it), keeping the four', () => {
    const p = poolInputStatisticMeans([report(1000, { ...FOUR, flat: 0.03 }), report(1000, FOUR)]);
    expect(p).toMatchObject({ ...FOUR, sampleCount: 2000, reports: 2 });
    expect(p).not.toHaveProperty('flat');
  });

  it('does not let a skipped report (no samples, or missing one of the four) decide whether flat is pooled', () => {
    const p = poolInputStatisticMeans([report(1000, { ...FOUR, flat: 0.05 }), report(0, FOUR), report(500, { mean: 0, flat: 0.9 })]);
    expect(p).toMatchObject({ ...FOUR, flat: 0.05, sampleCount: 1000, reports: 1 });
  });
});

import { describe, expect, it } from 'vitest';
import { poolInputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import type { DriftReport } from '../../shared/drift/reference';
import { fakeDriftEnvelope } from './testing-reports';

const FOUR = { mean: -0.3, std: 0.6, gradient: 0.15, saturation: 0.4 };
const stats = (flat?: number) => fakeDriftEnvelope({ deviceId: 'a-1', key: 'k', p: 0.5, alarm: false, at: 1_800_000_000_000, inputMeans: { ...FOUR, ...(flat !== undefined ? { flat } : {}) } }).stats as unknown as DriftReport;

describe('test drift reports with the flat statistic', () => {
  it('carry flat only when given, and pool it only when every report has it', () => {
    expect(stats(0.04).inputStatistics!.map((s) => s.name)).toEqual(['mean', 'std', 'gradient', 'saturation', 'flat']);
    expect(stats().inputStatistics!.map((s) => s.name)).toEqual(['mean', 'std', 'gradient', 'saturation']);
    expect(poolInputStatisticMeans([stats(0.04), stats(0.08)])!.flat).toBeCloseTo(0.06, 12);
    expect(poolInputStatisticMeans([stats(0.04), stats()])).not.toHaveProperty('flat');
  });
});

import { describe, expect, it } from 'vitest';
import { aggregateCohort, poolFeatureStatistics } from './fleet-aggregation';
import { fakeDriftEnvelope } from './testing-reports';
import type { DriftReport } from '../../shared/drift/reference';

const latest = (rows: Array<[string, number, boolean]>) =>
  rows.map(([deviceId, p, alarm]) => ({ deviceId, reportId: `${deviceId}:k`, report: fakeDriftEnvelope({ deviceId, key: 'k', p, alarm, at: 0 }).stats as unknown as DriftReport }));

describe('fleet aggregation', () => {
  it('counts a device only when its own alarm is on and its p-value survives BH across the cohort', () => {
    // 20 devices: 3 strong (p 1e-6), one alarmed but weak (p 0.2), the rest clean.
    const rows: Array<[string, number, boolean]> = [['a', 1e-6, true], ['b', 1e-6, true], ['c', 1e-6, true], ['d', 0.2, true]];
    for (let i = 0; i < 16; i++) rows.push([`clean${i}`, 0.3 + i * 0.04, false]);
    const v = aggregateCohort('site-1', { name: 'fm', version: '3' }, latest(rows), { fdrQ: 0.05, quorumFraction: 0.1, quorumMin: 1 });
    expect(v.discoveries.sort()).toEqual(['a', 'b', 'c']);
    expect(v.devicesInAlarm).toBe(4);
    expect(v.quorum).toBe(2);
    expect(v.alarm).toBe(true);
    expect(v.evidence).toContain('a:k');
  });

  it('a single drifted device out of 50 does not reach a 10% quorum', () => {
    const rows: Array<[string, number, boolean]> = [['x', 1e-9, true]];
    for (let i = 0; i < 49; i++) rows.push([`d${i}`, 0.5, false]);
    const v = aggregateCohort('c', { name: 'fm', version: '3' }, latest(rows));
    expect(v.discoveries).toEqual(['x']);
    expect(v.quorum).toBe(5);
    expect(v.alarm).toBe(false);
  });

  it('pools field feature statistics by the law of total variance', () => {
    const mk = (mean: number, variance: number, n: number) => ({ featureStatistics: [{ layer: 'conv1_bn', mean: [mean], variance: [variance], sampleCount: n }] }) as unknown as DriftReport;
    const [t] = poolFeatureStatistics([mk(0, 1, 100), mk(2, 1, 100)]);
    expect(t!.mean[0]).toBeCloseTo(1, 12);
    expect(t!.variance[0]).toBeCloseTo(2, 12); // within 1 + between 1
    expect(t!.sampleCount).toBe(200);
  });
});

import { describe, expect, it } from 'vitest';
import { evaluateGates, type HealthSample } from './gates';
import { withDefaults } from './rollout-spec';
import { driftRepairScore, poolShadowClassCounts } from './drift-repair-gate';

const uniform = new Array<number>(4).fill(0.25);
const spec = (minImprovement = 0) =>
  withDefaults({ packageId: 'p', target: { groups: ['g'] }, gates: { minShadowAgreement: 0.25, maxConfidenceShift: 0.3, maxErrorRate: 0, requireMetrics: true, driftRepair: { classPrior: uniform, minImprovement } } }).gates;
const sample = (active: number[], candidate: number[], over: Partial<HealthSample> = {}): HealthSample => ({
  inferences: 100, errors: 0, shadowAgreement: 0.4, confidenceShift: 0.05, shadowClassCounts: { active, candidate }, ...over,
});
const counts = { size: 1, committed: 1, failed: 0 };
const gate = (v: ReturnType<typeof evaluateGates>, name: string) => v.results.find((r) => r.gate === name)!;

describe('drift-repair gate', () => {
  it('passes a candidate whose answers move back toward the class prior although it disagrees with the serving model', () => {
    // The serving model piles the shifted inputs onto class 0; the candidate spreads them as the prior does.
    const v = evaluateGates(spec(), counts, [sample([70, 10, 10, 10], [28, 24, 25, 23])]);
    expect(gate(v, 'driftRepair').outcome).toBe('pass');
    expect(gate(v, 'driftRepair').value).toBeGreaterThan(0.2);
    expect(v.passed).toBe(true);
  });
  it('fails a candidate that collapses further away from the prior', () => {
    const v = evaluateGates(spec(), counts, [sample([40, 20, 20, 20], [90, 4, 3, 3])]);
    expect(gate(v, 'driftRepair').outcome).toBe('fail');
    expect(v.passed).toBe(false);
  });
  it('fails an unchanged candidate: no movement is no repair', () => {
    const v = evaluateGates(spec(), counts, [sample([40, 20, 20, 20], [40, 20, 20, 20])]);
    expect(gate(v, 'driftRepair').value).toBe(0);
    expect(v.passed).toBe(false);
  });
  it('still fails on the sanity floors: agreement near chance, a collapsing confidence, inference errors', () => {
    const good = (over: Partial<HealthSample>) => evaluateGates(spec(), counts, [sample([70, 10, 10, 10], [25, 25, 25, 25], over)]);
    expect(gate(good({ shadowAgreement: 0.1 }), 'shadowAgreement').outcome).toBe('fail');
    expect(gate(good({ confidenceShift: -0.5 }), 'confidenceShift').outcome).toBe('fail');
    expect(gate(good({ errors: 1 }), 'errorRate').outcome).toBe('fail');
    expect(good({}).passed).toBe(true);
  });
  it('fails without class counts when metrics are required (an agent that did not report them proves nothing)', () => {
    const v = evaluateGates(spec(), counts, [{ inferences: 100, errors: 0, shadowAgreement: 0.9, confidenceShift: 0 }]);
    expect(gate(v, 'driftRepair').outcome).toBe('no-data');
    expect(v.passed).toBe(false);
  });
  it('pools the wave devices and skips counts of another width', () => {
    const pooled = poolShadowClassCounts([{ active: [1, 2, 3, 4], candidate: [4, 3, 2, 1] }, { active: [1, 1], candidate: [1, 1] }, undefined, { active: [1, 0, 0, 0], candidate: [0, 0, 0, 1] }], 4);
    expect(pooled).toEqual({ active: [2, 2, 3, 4], candidate: [4, 3, 2, 2] });
    expect(poolShadowClassCounts([undefined], 4)).toBeNull();
    const s = driftRepairScore(uniform, pooled!);
    expect(s.inferences).toBe(11);
    expect(s.improvement).toBeCloseTo(s.activeDistance - s.candidateDistance, 12);
  });
  it('a minimum improvement above the measured one fails the wave', () => {
    const v = evaluateGates(spec(0.5), counts, [sample([70, 10, 10, 10], [28, 24, 25, 23])]);
    expect(gate(v, 'driftRepair').outcome).toBe('fail');
  });
});

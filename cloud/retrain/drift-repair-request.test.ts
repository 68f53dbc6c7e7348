import { describe, expect, it } from 'vitest';
import { classPriorOf, DRIFT_REPAIR_MIN_AGREEMENT, driftRepairRequest } from './drift-repair-request';

const shadowed = { bakeMs: 1000, gates: { minShadowAgreement: 0.5, maxConfidenceShift: 0.2 }, activation: { shadow: { inferences: 128 } } };

describe('drift-repair rollout request', () => {
  it('replaces the regression agreement gate by the repair gate and sanity floors', () => {
    const r = driftRepairRequest(shadowed, [0.5, 0.5]);
    expect(r.gates).toEqual({ minShadowAgreement: DRIFT_REPAIR_MIN_AGREEMENT, maxConfidenceShift: 0.2, maxErrorRate: 0, requireMetrics: true, driftRepair: { classPrior: [0.5, 0.5], minImprovement: 0 } });
    expect(r.bakeMs).toBe(1000);
  });
  it('leaves a request without shadow evaluation, or a line without a class prior, as it is', () => {
    expect(driftRepairRequest({ bakeMs: 5 }, [0.5, 0.5])).toEqual({ bakeMs: 5 });
    expect(driftRepairRequest(shadowed, null)).toBe(shadowed);
  });
  it('reads a class prior only from a well-formed drift reference', () => {
    expect(classPriorOf({ driftReference: { classPrior: [0.2, 0.8] } })).toEqual([0.2, 0.8]);
    expect(classPriorOf({ driftReference: { classPrior: [0.2, 'x'] } })).toBeNull();
    expect(classPriorOf({ driftReference: { classPrior: [1] } })).toBeNull();
    expect(classPriorOf({})).toBeNull();
    expect(classPriorOf(null)).toBeNull();
  });
});

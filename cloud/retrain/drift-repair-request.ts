import type { RolloutRequest } from '../fleet/rollout/rollout-spec';

type Request = Omit<RolloutRequest, 'packageId' | 'target'>;

/**
 * The agreement floor of a drift-repair rollout: far above chance for a 10-class head (0.1), far
 * below what a repair of a shifted field reaches (v1 is wrong on most shifted inputs, so a model
 * that fixes them agrees with v1 on about half). It stops a broken candidate, not a corrected one.
 */
export const DRIFT_REPAIR_MIN_AGREEMENT = 0.25;
/** Mean top-1 confidence may move this much either way in shadow (a collapsing or exploding head fails). */
export const DRIFT_REPAIR_MAX_CONFIDENCE_SHIFT = 0.3;

/** The class prior of a package manifest's drift reference, or null when it has none. */
export function classPriorOf(manifest: unknown): number[] | null {
  const prior = (manifest as { driftReference?: { classPrior?: unknown } } | null)?.driftReference?.classPrior;
  return Array.isArray(prior) && prior.length >= 2 && prior.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0 && p <= 1) ? (prior as number[]) : null;
}

/**
 * The rollout request of a retrain-triggered (drift-repair) rollout. A model that repairs drift
 * must disagree with the serving model wherever that one is wrong on the shifted field, so the
 * regression gate (high shadow agreement) is replaced by: the candidate's shadow class histogram
 * is closer to the line's clean class prior than the serving model's (`driftRepair`), agreement
 * above a floor, confidence not collapsing, no inference errors, and every gate must have data.
 * Without shadow evaluation in the request, or without a class prior, the request is returned as
 * it is (there is nothing label-free to judge a repair by, so no repair-specific gate is claimed).
 */
export function driftRepairRequest(request: Request, classPrior: readonly number[] | null): Request {
  if (!request.activation?.shadow || !classPrior) return request;
  return {
    ...request,
    gates: {
      ...request.gates,
      minShadowAgreement: DRIFT_REPAIR_MIN_AGREEMENT,
      maxConfidenceShift: request.gates?.maxConfidenceShift ?? DRIFT_REPAIR_MAX_CONFIDENCE_SHIFT,
      maxErrorRate: 0,
      requireMetrics: true,
      driftRepair: { classPrior: [...classPrior], minImprovement: 0 },
    },
  };
}

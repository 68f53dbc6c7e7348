import { parseErrorCode } from '../../shared/errors';
import type { StatusReport } from '../../shared/protocol/messages/status';
import type { HealthSample } from './rollout/gates';
import type { EngineEvent } from './rollout/rollout-engine';

/**
 * Turns a device status report into a rollout-engine event. Health for the gates comes from the
 * report's `shadow` (agreement with the running model, confidence shift, both models' class histograms) and `bake` (inferences,
 * errors, p95 latency while the new model served) sections.
 */
export function statusToEvent(deviceId: string, r: StatusReport): EngineEvent {
  const health: Partial<HealthSample> = {};
  if (r.shadow) {
    if (r.shadow.agreement !== null) health.shadowAgreement = r.shadow.agreement;
    if (r.shadow.confidenceShift !== null) health.confidenceShift = r.shadow.confidenceShift;
    if (r.shadow.classCounts) health.shadowClassCounts = { active: r.shadow.classCounts.active, candidate: r.shadow.classCounts.candidate };
  }
  if (r.bake) {
    health.inferences = r.bake.inferences;
    health.errors = r.bake.errors;
    if (r.bake.p95LatencyMs !== null) health.p95LatencyMs = r.bake.p95LatencyMs;
  }
  const has = Object.keys(health).length > 0;
  switch (r.state) {
    case 'committed':
    case 'failed':
    case 'rejected':
    case 'rolled_back': {
      const e: EngineEvent = { type: 'outcome', deviceId, outcome: r.state };
      // A code this cloud does not know (a newer or foreign agent) counts as an internal failure.
      if (r.error) e.errorCode = parseErrorCode(r.error.code, 'EDGEKD_INTERNAL');
      if (has) e.health = { inferences: 0, errors: 0, ...health };
      return e;
    }
    default: {
      const e: EngineEvent = { type: 'progress', deviceId, step: r.state };
      if (has) e.health = health;
      return e;
    }
  }
}

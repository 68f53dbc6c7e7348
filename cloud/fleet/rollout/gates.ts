import { percentile } from '../../../shared/math/percentile';
import type { GateSpec } from './rollout-spec';
import { driftRepairScore, poolShadowClassCounts } from './drift-repair-gate';

/** Health a device reported while the new model ran (bake) or in shadow evaluation before it. */
export interface HealthSample {
  inferences: number;
  errors: number;
  p95LatencyMs?: number;
  /** Top-1 agreement with the model it replaces, 0..1 (shadow evaluation). */
  shadowAgreement?: number;
  /** Mean top-1 confidence of the new model minus that of the old one. */
  confidenceShift?: number;
  /** Top-1 class histograms of the serving model and of the candidate over the shadow inferences. */
  shadowClassCounts?: { active: number[]; candidate: number[] };
}

export type GateName = 'installSuccess' | 'failurePercent' | 'errorRate' | 'p95Latency' | 'shadowAgreement' | 'confidenceShift' | 'driftRepair';

export interface GateResult {
  gate: GateName;
  /** `no-data`: configured but no device reported the metric (passes unless `requireMetrics`). */
  outcome: 'pass' | 'fail' | 'no-data';
  value: number | null;
  threshold: number;
}

export interface GateVerdict {
  passed: boolean;
  results: GateResult[];
}

export interface WaveOutcomeCounts {
  size: number;
  committed: number;
  failed: number;
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * Evaluates one wave's gates. Install and failure gates use the wave's device outcomes; the
 * health and ML gates use the samples of the devices that committed (a failed device's model is
 * not running, so its metrics say nothing about the new model).
 */
export function evaluateGates(spec: GateSpec, counts: WaveOutcomeCounts, health: readonly HealthSample[]): GateVerdict {
  const results: GateResult[] = [];
  const add = (gate: GateName, value: number | null, threshold: number, ok: (v: number) => boolean): void => {
    const outcome = value === null ? 'no-data' : ok(value) ? 'pass' : 'fail';
    results.push({ gate, outcome, value, threshold });
  };
  const size = Math.max(1, counts.size);
  add('installSuccess', (100 * counts.committed) / size, spec.minInstallSuccessPercent, (v) => v >= spec.minInstallSuccessPercent);
  add('failurePercent', (100 * counts.failed) / size, spec.abortFailurePercent, (v) => v <= spec.abortFailurePercent);

  if (spec.maxErrorRate !== undefined) {
    const inferences = health.reduce((a, h) => a + h.inferences, 0);
    const errors = health.reduce((a, h) => a + h.errors, 0);
    add('errorRate', inferences > 0 ? errors / inferences : null, spec.maxErrorRate, (v) => v <= spec.maxErrorRate!);
  }
  if (spec.maxP95LatencyMs !== undefined) {
    const p95s = health.flatMap((h) => (h.p95LatencyMs === undefined ? [] : [h.p95LatencyMs]));
    add('p95Latency', percentile(p95s, 95), spec.maxP95LatencyMs, (v) => v <= spec.maxP95LatencyMs!);
  }
  if (spec.minShadowAgreement !== undefined) {
    const a = health.flatMap((h) => (h.shadowAgreement === undefined ? [] : [h.shadowAgreement]));
    add('shadowAgreement', mean(a), spec.minShadowAgreement, (v) => v >= spec.minShadowAgreement!);
  }
  if (spec.maxConfidenceShift !== undefined) {
    const s = health.flatMap((h) => (h.confidenceShift === undefined ? [] : [Math.abs(h.confidenceShift)]));
    add('confidenceShift', mean(s), spec.maxConfidenceShift, (v) => v <= spec.maxConfidenceShift!);
  }
  if (spec.driftRepair !== undefined) {
    // Value: how much closer to the class prior the candidate's answers are than the serving model's.
    const { classPrior, minImprovement } = spec.driftRepair;
    const pooled = poolShadowClassCounts(health.map((h) => h.shadowClassCounts), classPrior.length);
    add('driftRepair', pooled ? driftRepairScore(classPrior, pooled).improvement : null, minImprovement, (v) => v > minImprovement);
  }
  const passed = results.every((r) => r.outcome === 'pass' || (r.outcome === 'no-data' && !spec.requireMetrics));
  return { passed, results };
}

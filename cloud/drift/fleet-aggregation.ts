import { benjaminiHochberg } from '../../shared/drift/fdr';
import type { DriftReport } from '../../shared/drift/reference';

/**
 * Fleet-level false-alarm control. A device counts as drifted for a cohort verdict only when
 * (1) its own detector has a confirmed alarm (persistence on the device), and (2) its latest
 * window's p-value survives Benjamini–Hochberg at `fdrQ` across all devices of the cohort (so
 * with hundreds of devices the expected share of false discoveries stays at q). A cohort is in
 * alarm when the discoveries reach the quorum: at least `quorumMin` devices and `quorumFraction`
 * of the cohort's reporting devices.
 */
export interface FleetAggregationConfig {
  fdrQ: number;
  quorumFraction: number;
  quorumMin: number;
}

export const DEFAULT_FLEET_AGGREGATION: FleetAggregationConfig = { fdrQ: 0.05, quorumFraction: 0.1, quorumMin: 1 };

export interface DeviceLatest {
  deviceId: string;
  reportId: string;
  report: DriftReport;
}

export interface CohortVerdict {
  cohort: string;
  modelName: string;
  modelVersion: string;
  devices: number;
  devicesInAlarm: number;
  discoveries: string[];
  /** Report ids of the discoveries (lineage: what triggered a retrain). */
  evidence: string[];
  quorum: number;
  alarm: boolean;
  /** Per device: the window p-value used and its BH-adjusted value. */
  pValues: Record<string, { p: number; adjusted: number; deviceAlarm: boolean }>;
}

/** The p-value of a device's latest window: Bonferroni over its detectors (valid per window). */
export function devicePValue(r: DriftReport): number {
  const ps = r.detectors.map((d) => d.pValue).filter((p): p is number => p !== undefined);
  if (ps.length === 0) return r.alarm.active ? 0 : 1; // detectors without a p-value (bands only): the alarm decides
  return Math.min(1, Math.min(...ps) * ps.length);
}

export function aggregateCohort(cohort: string, model: { name: string; version: string }, latest: readonly DeviceLatest[], cfg: FleetAggregationConfig = DEFAULT_FLEET_AGGREGATION): CohortVerdict {
  const p = latest.map((d) => devicePValue(d.report));
  const bh = benjaminiHochberg(p, cfg.fdrQ);
  const discoveries: string[] = [];
  const evidence: string[] = [];
  const pValues: CohortVerdict['pValues'] = {};
  latest.forEach((d, i) => {
    pValues[d.deviceId] = { p: p[i]!, adjusted: bh.adjusted[i]!, deviceAlarm: d.report.alarm.active };
    if (d.report.alarm.active && bh.rejected[i]) {
      discoveries.push(d.deviceId);
      evidence.push(d.reportId);
    }
  });
  const quorum = Math.max(cfg.quorumMin, Math.ceil(cfg.quorumFraction * latest.length));
  return {
    cohort,
    modelName: model.name,
    modelVersion: model.version,
    devices: latest.length,
    devicesInAlarm: latest.filter((d) => d.report.alarm.active).length,
    discoveries,
    evidence,
    quorum,
    alarm: latest.length > 0 && discoveries.length >= quorum,
    pValues,
  };
}

/**
 * Field feature statistics pooled over reports (sample-count weighted, variance by the law of
 * total variance): the BatchNorm-matching targets for re-distillation.
 */
export function poolFeatureStatistics(reports: readonly DriftReport[]): Array<{ layer: string; mean: number[]; variance: number[]; sampleCount: number }> {
  const byLayer = new Map<string, { n: number; sum: number[]; sumSq: number[] }>();
  for (const r of reports) {
    for (const f of r.featureStatistics ?? []) {
      if (f.sampleCount === 0 || f.variance.length !== f.mean.length) continue;
      let acc = byLayer.get(f.layer);
      if (!acc) byLayer.set(f.layer, (acc = { n: 0, sum: new Array(f.mean.length).fill(0), sumSq: new Array(f.mean.length).fill(0) }));
      if (acc.sum.length !== f.mean.length) continue;
      acc.n += f.sampleCount;
      for (let i = 0; i < f.mean.length; i++) {
        acc.sum[i] += f.sampleCount * f.mean[i]!;
        acc.sumSq[i] += f.sampleCount * (f.variance[i]! + f.mean[i]! ** 2);
      }
    }
  }
  return [...byLayer].map(([layer, a]) => {
    const mean = a.sum.map((s) => s / a.n);
    return { layer, mean, variance: a.sumSq.map((s, i) => Math.max(0, s / a.n - mean[i]! ** 2)), sampleCount: a.n };
  });
}

import { Type, type Static } from 'typebox';
import type { DriftReport } from './reference';

/**
 * Period means of the four scalar input statistics every drift report carries
 * (`DriftReport.inputStatistics[].mean`), plus `flat` where the reports have it (agents built
 * before it existed do not report it); a schema because a retrain's `distill` job carries them.
 */
export const InputStatisticMeans = Type.Object(
  { mean: Type.Number(), std: Type.Number(), gradient: Type.Number(), saturation: Type.Number(), flat: Type.Optional(Type.Number()) },
  { additionalProperties: true },
);
export type InputStatisticMeans = Static<typeof InputStatisticMeans>;

const NAMES = ['mean', 'std', 'gradient', 'saturation'] as const;

/**
 * Pools the reports' period means of the input statistics, weighted by each report's sample
 * count (the mean of the per-input statistic over every inference of the reports). A report
 * without all four statistics, or with no samples, is skipped; null when none is left. `flat` is
 * pooled only when every report used has it: a mean over part of the fleet would compare one set
 * of devices against another.
 */
export function poolInputStatisticMeans(reports: readonly DriftReport[]): (InputStatisticMeans & { sampleCount: number; reports: number }) | null {
  const acc = { mean: 0, std: 0, gradient: 0, saturation: 0 };
  let flat = 0;
  let allFlat = true;
  let n = 0;
  let used = 0;
  for (const r of reports) {
    const byName = new Map((r.inputStatistics ?? []).map((s) => [s.name, s.mean]));
    if (r.sampleCount <= 0 || !NAMES.every((k) => Number.isFinite(byName.get(k)))) continue;
    for (const k of NAMES) acc[k] += byName.get(k)! * r.sampleCount;
    const f = byName.get('flat');
    if (f !== undefined && Number.isFinite(f)) flat += f * r.sampleCount;
    else allFlat = false;
    n += r.sampleCount;
    used++;
  }
  if (n === 0) return null;
  return { mean: acc.mean / n, std: acc.std / n, gradient: acc.gradient / n, saturation: acc.saturation / n, ...(allFlat ? { flat: flat / n } : {}), sampleCount: n, reports: used };
}

import { EdgekdError } from '../../shared/errors';
import type { ImageGeometry } from '../../shared/drift/shifts';
import type { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import { DEGRADATION_GRID, signature, type DegradationFit } from './fit-degradation';

/**
 * One unit of the flat-rise distances: 0.003 of the fraction of flat values, about the largest
 * difference of `flat` between two disjoint clean windows of 2,000 Fashion-MNIST training images
 * (15 pairs: at most 0.0036, 30 windows spanning 0.0043; docs/drift.md "Field imitation").
 */
export const FLAT_RISE_UNIT = 0.003;

/**
 * The field's `flat` must rise by more than this over its baseline for the occlusion stage to fit
 * anything: 2.5 units, the same number of units as MIN_FIELD_CHANGE of the primary fit, about twice
 * the largest clean-to-clean difference. Occluding Fashion-MNIST at severities 1-5
 * (shared/drift/shifts.ts) raised it by 0.011, 0.030, 0.059, 0.120 and 0.203.
 */
export const MIN_FLAT_RISE = 2.5 * FLAT_RISE_UNIT;

/**
 * The second stage of the degradation fit, for when the four primary statistics see nothing
 * (`fitDegradation`'s "none" within clean-to-clean noise, or "none" the best): an occluder leaves
 * mean, std, gradient and saturation almost where they were but adds a uniform unsaturated square,
 * which `flat` counts. When both the baseline and the field carry `flat` and it rose by more than
 * MIN_FLAT_RISE, the occlusion amount is the one of DEGRADATION_GRID.occlusion whose square raises
 * `flat` of the synthetic samples by the most similar amount (additive difference of fractions: a
 * square adds about (side - 1)² flat values whatever the picture, so the synthetic samples' own,
 * different, flat fraction does not matter). `flat` stays out of the primary distance because the
 * synthetic samples answer the other operators differently from camera images (brightness lifts
 * a black background off saturation and turns half of a real image flat, noise removes real
 * flatness the samples never had).
 *
 * The fit's distances are in FLAT_RISE_UNITs of flat fraction: `noneDistance` is the field's rise
 * (above 2.5 whenever a fit is returned, so it reads like the primary's), `distance` the gap
 * between that rise and the chosen amount's rise on the samples; `fieldChange` is the rise alone.
 * Null when a side lacks `flat`, it did not rise enough, or no grid amount reproduces the rise
 * better than none.
 */
export function fitOcclusionFromFlat(o: { samples: Float32Array; count: number; geometry: ImageGeometry; baseline: InputStatisticMeans; field: InputStatisticMeans; seed?: number }): DegradationFit | null {
  const { baseline, field } = o;
  if (baseline.flat === undefined || field.flat === undefined) return null;
  if (!Number.isFinite(baseline.flat) || !Number.isFinite(field.flat)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'fitOcclusionFromFlat: statistic flat is not finite');
  const rise = field.flat - baseline.flat;
  if (!(rise > MIN_FLAT_RISE)) return null;
  const seed = o.seed ?? 1;
  const clean = signature(o.samples, o.count, o.geometry, { kind: 'none', amount: 0 }, seed).flat;
  const noneDistance = rise / FLAT_RISE_UNIT;
  let best = { kind: 'occlusion' as const, amount: 0, distance: Infinity };
  for (const amount of DEGRADATION_GRID.occlusion) {
    const synthetic = signature(o.samples, o.count, o.geometry, { kind: 'occlusion', amount }, seed).flat - clean;
    const d = Math.abs(rise - synthetic) / FLAT_RISE_UNIT;
    if (d < best.distance) best = { kind: 'occlusion', amount, distance: d };
  }
  // A rise no grid square comes closer to than doing nothing is not an occluder's.
  if (!(best.distance < noneDistance)) return null;
  return {
    degradation: { kind: 'occlusion', amount: best.amount },
    distance: best.distance,
    noneDistance,
    fieldChange: [noneDistance],
    ranking: [best, { kind: 'none', amount: 0, distance: noneDistance }],
    stage: 'flat-rise',
  };
}

import type { ReplayBuffer } from '../distill/replay-buffer';
import type { ImageGeometry } from '../../shared/drift/shifts';
import type { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import { fitDegradation, type DegradationFit } from './fit-degradation';
import { fitOcclusionFromFlat } from './fit-occlusion-from-flat';
import { fieldImitationInputs } from './field-imitation';
import { DEFAULT_FIELD_IMITATION } from './adaptation-settings';

/** Synthetic buffer samples the degradation is fitted on (a few hundred are enough; ~1 s). */
export const FIELD_IMITATION_FIT_SAMPLES = 300;

/**
 * Below this distance of "no degradation" from the field's change of input statistics, the change
 * is within what two clean periods differ by (the clean validation stream measured 0.7; the
 * mildest benchmark shift, brightness 1, 4.7), and nothing is fitted.
 */
export const MIN_FIELD_CHANGE = 2.5;

export type FieldImitationPlan =
  | { use: true; fit: DegradationFit; kdInputs: ReturnType<typeof fieldImitationInputs> }
  | { use: false; reason: string; fit?: DegradationFit };

/**
 * Decides whether a retrain can imitate the teacher under the field's degradation: the reports
 * must carry input statistics for the drifted window and a clean baseline, the change must be
 * larger than clean-to-clean noise, and the best fit of the family must be a degradation. When the
 * four statistics find nothing, a rise of `flat` beyond clean-to-clean noise is fitted as an
 * occlusion (fit-occlusion-from-flat.ts). Else the caller falls back (BatchNorm re-estimation from
 * sketches, or the warm-start re-distillation).
 */
export function planFieldImitation(o: {
  buffer: ReplayBuffer;
  geometry: ImageGeometry;
  inputShift?: { field: InputStatisticMeans; baseline: InputStatisticMeans } | undefined;
  fraction?: number;
  teacherOn?: 'clean' | 'degraded';
}): FieldImitationPlan {
  if (!o.inputShift) return { use: false, reason: 'the reports carry no input statistics for both the drifted window and a clean baseline' };
  const count = Math.min(FIELD_IMITATION_FIT_SAMPLES, o.buffer.size);
  if (count === 0) return { use: false, reason: 'the synthetic buffer is empty' };
  const samples = o.buffer.gather(Array.from({ length: count }, (_, i) => i));
  const inputs = { samples, count, geometry: o.geometry, baseline: o.inputShift.baseline, field: o.inputShift.field };
  const primary = fitDegradation(inputs);
  // Only where the four statistics see nothing: their fit of every other kind stays as it was.
  const fit = primary.noneDistance < MIN_FIELD_CHANGE || primary.degradation.kind === 'none' ? (fitOcclusionFromFlat(inputs) ?? primary) : primary;
  if (fit.noneDistance < MIN_FIELD_CHANGE) return { use: false, reason: `the input statistics changed by ${fit.noneDistance.toFixed(2)} < ${MIN_FIELD_CHANGE}: no degradation to fit`, fit };
  if (fit.degradation.kind === 'none') return { use: false, reason: 'no degradation of the family reproduces the change better than none', fit };
  return {
    use: true,
    fit,
    kdInputs: fieldImitationInputs({
      degradations: [fit.degradation],
      fraction: o.fraction ?? DEFAULT_FIELD_IMITATION.fraction,
      teacherOn: o.teacherOn ?? DEFAULT_FIELD_IMITATION.teacherOn,
      geometry: o.geometry,
    }),
  };
}

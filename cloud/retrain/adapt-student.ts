import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import type { LayerSketch } from '../../shared/drift/reference';
import type { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import type { DistillResult, WarmStart } from '../distill/distill';
import type { DistillConfigInput } from '../distill/config';
import type { ReplayBuffer } from '../distill/replay-buffer';
import type { BnTarget } from '../distill/teacher';
import { planFieldImitation } from './field-imitation-step';
import { applyFieldBatchNormStatistics, studentBatchNormLayers } from './field-batchnorm';
import { effectiveAdaptation, type AdaptationSettings } from './adaptation-settings';

/**
 * How a retrain adapts the student. `field-imitation`: fit the degradation of the family
 * (fit-degradation.ts) that reproduces the field's change of input statistics on the synthetic
 * buffer, then re-distil the deployed student from the teacher with that degradation applied to
 * part of every KD batch (field-imitation.ts; the schedule's student steps, no new synthesis).
 * `field-batchnorm`: re-estimate the deployed student's BatchNorm statistics from the trigger
 * reports' layer sketches (no re-distillation; the sketches describe the deployed weights, so
 * training first would invalidate them). `redistill`: the data-free re-distillation with field BN
 * targets. `auto` (default): `field-imitation` when a degradation is fitted from the reports'
 * input statistics, else `field-batchnorm` when the reports carry sketches, else `redistill`.
 * The settings and their defaults are `adaptation-settings.ts` (in `edgekd cloud`, the retrain
 * policy's `adaptation`). `useFieldTargets: false` uses no field information at all (`redistill`
 * with no BN targets: a warm-start continuation on the student's own buffer, the benchmark's
 * control); it is no operator setting.
 */
export type AdaptationOptions = AdaptationSettings & { useFieldTargets?: boolean };

/** What the drift service measured in the field, as a retrain receives it (RetrainContext or a distill job's payload). */
export interface FieldEvidence {
  featureTargets: readonly { layer: string; mean: readonly number[]; variance: readonly number[] }[];
  layerSketches?: readonly LayerSketch[] | undefined;
  inputShift?: { field: InputStatisticMeans; baseline: InputStatisticMeans } | null | undefined;
}

export interface StudentAdaptation {
  kind: 'field-imitation' | 'field-batchnorm' | 'redistill' | 'control';
  /** The distillation that ran (null for `field-batchnorm`, which trains nothing). */
  result: DistillResult | null;
  /** The buffer the adapted student carries forward (its int8 calibration and the line's next warm start). */
  buffer: ReplayBuffer | null;
  /** One line for the model card: what was done. */
  note: string;
  /** For the run record: which adaptation ran and why (a skipped imitation says why it was skipped). */
  summary: Record<string, unknown>;
}

/**
 * Adapts a warm-started student to the field: the one decision and the one implementation of
 * every retrain, used by the in-process engines (engine-steps.ts) and by the `distill` job of
 * `edgekd cloud` (cloud/jobs/handlers/distill-job.ts). The student is changed in place; `distill`
 * runs the caller's distillation (its events, checkpoints, cancellation) with a warm start and
 * an optional config override.
 */
export async function adaptStudent(o: {
  teacher: tf.LayersModel;
  student: tf.LayersModel;
  /** The deployed student's synthetic buffer. */
  buffer: ReplayBuffer;
  inputRange: { low: number; high: number };
  field: FieldEvidence;
  adaptation?: AdaptationOptions | undefined;
  distill: (warmStart: WarmStart, override?: DistillConfigInput) => Promise<DistillResult>;
}): Promise<StudentAdaptation> {
  const { teacher, student, buffer, field } = o;
  const settings = effectiveAdaptation(o.adaptation);
  const method = o.adaptation?.useFieldTargets === false ? 'redistill' : settings.method;
  let imitationSkipped: string | undefined;
  if (method === 'field-imitation' || method === 'auto') {
    const [h, w, c] = student.inputs[0]!.shape.slice(1) as number[];
    const plan = planFieldImitation({
      buffer,
      geometry: { height: h!, width: w!, channels: c!, range: [o.inputRange.low, o.inputRange.high] },
      inputShift: field.inputShift ?? undefined,
      fraction: settings.imitation.fraction,
      teacherOn: settings.imitation.teacherOn,
    });
    if (plan.use) {
      // The line's schedule of student steps on the deployed student's own buffer, without new
      // synthesis: the buffer is full, and the fit and the imitation both work on it.
      const result = await o.distill({ buffer, bnTargets: [], kdInputs: plan.kdInputs }, { synthesis: { kind: 'none' } });
      const d = plan.fit.degradation;
      return {
        kind: 'field-imitation',
        result,
        buffer: result.buffer,
        note: `imitating the teacher under the fitted field degradation ${d.kind} ${d.amount}`,
        summary: { adaptation: 'field-imitation', degradation: d, fitDistance: plan.fit.distance, changeDistance: plan.fit.noneDistance, ...(plan.fit.stage ? { fitStage: plan.fit.stage } : {}), runnerUp: plan.fit.ranking[1] ?? null, epochs: result.epochsCompleted, studentSteps: result.studentSteps, totalSeconds: result.totalSeconds },
      };
    }
    if (method === 'field-imitation') throw new EdgekdError('EDGEKD_JOB_FAILED', `field imitation not possible: ${plan.reason}`);
    imitationSkipped = plan.reason;
  }
  if (method === 'field-batchnorm' || (method === 'auto' && (field.layerSketches?.length ?? 0) > 0)) {
    const sketches = field.layerSketches ?? [];
    const order = studentBatchNormLayers(student).map((b) => b.layer);
    const picked = settings.layers === 'all' ? sketches : sketches.filter((k) => k.layer === order[0]);
    const r = applyFieldBatchNormStatistics(student, picked, { fieldWeight: settings.fieldWeight });
    if (r.adapted.length === 0) {
      throw new EdgekdError('EDGEKD_JOB_FAILED', `no BatchNorm of the student could be re-estimated from the field (${r.skipped.map((x) => `${x.layer}: ${x.reason}`).join('; ') || 'the reports carry no layer sketches'})`);
    }
    // The synthetic buffer goes along unchanged: it calibrates the int8 ranges of the adapted
    // graph and is the next warm start of this line.
    return {
      kind: 'field-batchnorm',
      result: null,
      buffer,
      note: `BatchNorm statistics re-estimated from field sketches (${r.adapted.map((a) => `${a.layer} n ${a.sampleCount} w ${a.weight}`).join(', ')})`,
      summary: { adaptation: 'field-batchnorm', adapted: r.adapted, skipped: r.skipped, ...(imitationSkipped ? { imitationSkipped } : {}) },
    };
  }
  const control = o.adaptation?.useFieldTargets === false;
  const teacherBn = new Set(teacher.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name));
  const bnTargets: BnTarget[] = (control ? [] : field.featureTargets)
    .filter((t) => teacherBn.has(t.layer) && t.mean.length === t.variance.length)
    .map((t) => ({ layer: t.layer, mean: Float32Array.from(t.mean), variance: Float32Array.from(t.variance) }));
  const result = await o.distill({ buffer, bnTargets });
  return {
    kind: control ? 'control' : 'redistill',
    result,
    buffer: result.buffer,
    note: `with field BatchNorm targets (${bnTargets.map((t) => t.layer).join(', ') || 'none'})`,
    summary: { ...(control ? { adaptation: 'control' } : { adaptation: 'redistill', ...(imitationSkipped ? { imitationSkipped } : {}) }), epochs: result.epochsCompleted, samplesGenerated: result.samplesGenerated, bnTargets: bnTargets.map((t) => t.layer), totalSeconds: result.totalSeconds },
  };
}

import { Type, type Static } from 'typebox';
import type { FieldImitationOptions } from './field-imitation';

/**
 * The settings of a retrain's adaptation an operator chooses (the retrain policy's `adaptation`,
 * `PUT /api/retrain/policy`) and a `distill` job carries: which adaptation, and the knobs of the
 * two field adaptations. Every field is optional; what is left out takes the defaults below, so a
 * stored choice follows a later change of default for what the operator did not set. This module
 * is the one place those defaults live; it loads no TensorFlow, so the API and the controller can
 * read it. `adapt-student.ts` applies the settings.
 */
export const AdaptationSettings = Type.Object(
  {
    /** `auto`: field imitation when a degradation is fitted, else BatchNorm re-estimation from sketches, else re-distillation. */
    method: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('field-imitation'), Type.Literal('field-batchnorm'), Type.Literal('redistill')])),
    /** BatchNorm re-estimation: the first sketched BatchNorm of the student, or every sketched one. */
    layers: Type.Optional(Type.Union([Type.Literal('first'), Type.Literal('all')])),
    /** BatchNorm re-estimation: weight of the field's statistics against the student's own (1 replaces them). */
    fieldWeight: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** Field imitation: fraction of each KD batch degraded, and which sample the teacher labels. */
    imitation: Type.Optional(
      Type.Object(
        {
          fraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
          teacherOn: Type.Optional(Type.Union([Type.Literal('clean'), Type.Literal('degraded')])),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AdaptationSettings = Static<typeof AdaptationSettings>;

/**
 * The statistics-only adaptation when the caller names none: every sketched BatchNorm, field
 * statistics mixed half and half with the student's own. Chosen on the validation stream of
 * `bench/adapt-candidates.ts` (cut from the training split): best mean gap closed over the five
 * shifts for both students among the candidates the devices' sketches support; full replacement
 * (weight 1) cost up to 38–47 clean-accuracy points on every layer. See docs/drift.md.
 */
export const DEFAULT_FIELD_ADAPTATION = { layers: 'all', fieldWeight: 0.5 } as const;

/**
 * The imitation settings when the caller names none: half of each KD batch degraded, the teacher
 * labelling the clean sample. Chosen on the validation stream of `bench/adapt-candidates.ts
 * --retrain` (training split; docs/drift.md).
 */
export const DEFAULT_FIELD_IMITATION = { fraction: 0.5, teacherOn: 'clean' } as const satisfies Partial<FieldImitationOptions>;

export type EffectiveAdaptation = {
  method: NonNullable<AdaptationSettings['method']>;
  layers: NonNullable<AdaptationSettings['layers']>;
  fieldWeight: number;
  imitation: { fraction: number; teacherOn: 'clean' | 'degraded' };
};

/** The settings in force: every field the caller left out at its default (what the policy API shows and a run uses). */
export function effectiveAdaptation(s: AdaptationSettings | undefined): EffectiveAdaptation {
  return {
    method: s?.method ?? 'auto',
    layers: s?.layers ?? DEFAULT_FIELD_ADAPTATION.layers,
    fieldWeight: s?.fieldWeight ?? DEFAULT_FIELD_ADAPTATION.fieldWeight,
    imitation: {
      fraction: s?.imitation?.fraction ?? DEFAULT_FIELD_IMITATION.fraction,
      teacherOn: s?.imitation?.teacherOn ?? DEFAULT_FIELD_IMITATION.teacherOn,
    },
  };
}

import { Type, type Static } from 'typebox';
import { createParser } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { AdaptationSettings } from './adaptation-settings';

const Ms = (description: string) => Type.Optional(Type.Number({ minimum: 0, description }));

/**
 * What an operator may change in the retrain policy (`PUT /api/retrain/policy`, the controller's
 * `setPolicy`): every field optional, the fields left out keep their value. `adaptation` is one
 * field: a change replaces the whole object, and its sub-fields left out take their defaults
 * (`{}` puts every one back to its default).
 */
export const RetrainPolicyChanges = Type.Object(
  {
    minAlarmDurationMs: Ms('a cohort alarm must have been open this long before a retrain'),
    cooldownMs: Ms('minimum time between the starts of two runs for the same cohort and model'),
    computeBudgetMsPerDay: Ms('pipeline wall-clock time allowed per rolling 24 h, all cohorts together'),
    estimatedRunMs: Ms('estimated cost of one run, checked against what is left of the budget'),
    maxConcurrentRuns: Type.Optional(Type.Integer({ minimum: 1, description: 'runs at the same time, all cohorts' })),
    adaptation: Type.Optional(Type.Object(AdaptationSettings.properties, { additionalProperties: false, description: 'how the next runs adapt the student (method auto | field-imitation | field-batchnorm | redistill; layers and fieldWeight for field-batchnorm; imitation.fraction and imitation.teacherOn for field-imitation); left-out fields take their defaults' })),
  },
  { additionalProperties: false },
);
export type RetrainPolicyChanges = Static<typeof RetrainPolicyChanges>;

const parser = createParser(RetrainPolicyChanges, 'retrain policy', 'EDGEKD_INVALID_ARGUMENT');

/** The changes, checked against the schema; throws EDGEKD_INVALID_ARGUMENT naming what is wrong (nothing is applied). */
export function parseRetrainPolicyChanges(input: unknown): RetrainPolicyChanges {
  // An unknown field gets its own message: a misspelt name would otherwise read as a bare schema violation.
  if (input && typeof input === 'object') {
    const known = Object.keys(RetrainPolicyChanges.properties);
    const unknown = Object.keys(input).find((k) => !known.includes(k));
    if (unknown !== undefined) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown retrain policy field '${unknown}'; known: ${known.join(', ')}`);
  }
  const changes = parser.parse(input);
  for (const [k, v] of Object.entries(changes)) {
    // JSON cannot carry them, a caller in this process can.
    if (typeof v === 'number' && !Number.isFinite(v)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `retrain policy '${k}' must be a finite number, got ${v}`);
  }
  return changes;
}

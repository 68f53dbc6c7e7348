import { Type, type Static } from 'typebox';
import { Id, ModelRef, NonNegativeInt, ReportHeader, WireError } from './common';

/**
 * The states a deployment passes through on a device. Forward order:
 *
 *   offered → downloading → verifying → staging → warming → [shadow] → activating → baking → committed
 *
 * Terminal states: `committed` (the new model serves and passed its bake), `rolled_back` (the new
 * model was active or about to be and the previous one serves again), `failed` (nothing changed on
 * the serving side; the previous model still serves), `rejected` (refused before any download:
 * incompatible, downgrade, untrusted key, bad manifest).
 */
export const DeploymentState = Type.Union([
  Type.Literal('offered'),
  Type.Literal('downloading'),
  Type.Literal('verifying'),
  Type.Literal('staging'),
  Type.Literal('warming'),
  Type.Literal('shadow'),
  Type.Literal('activating'),
  Type.Literal('baking'),
  Type.Literal('committed'),
  Type.Literal('rolled_back'),
  Type.Literal('failed'),
  Type.Literal('rejected'),
]);
export type DeploymentState = Static<typeof DeploymentState>;

export const TERMINAL_STATES: readonly DeploymentState[] = ['committed', 'rolled_back', 'failed', 'rejected'];

export function isTerminalState(s: DeploymentState): boolean {
  return TERMINAL_STATES.includes(s);
}

/** Most classes a shadow report counts per model (a larger head reports no `classCounts`). */
export const MAX_SHADOW_CLASSES = 1000;

/** Per-class counts of each model's top-1 answer over the shadow inferences (same inputs, same order of classes). */
export const ShadowClassCounts = Type.Object(
  {
    active: Type.Array(NonNegativeInt, { minItems: 2, maxItems: MAX_SHADOW_CLASSES }),
    candidate: Type.Array(NonNegativeInt, { minItems: 2, maxItems: MAX_SHADOW_CLASSES }),
  },
  { additionalProperties: false },
);
export type ShadowClassCounts = Static<typeof ShadowClassCounts>;

/** What the shadow step measured: the candidate ran beside the active model on the same live inputs. */
export const ShadowMetrics = Type.Object({
  inferences: NonNegativeInt,
  /** Fraction of inputs where both models chose the same top-1 class (0..1); null with no inferences. */
  agreement: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()]),
  /** Mean max-probability of the candidate minus that of the active model (−1..1); null with no inferences. */
  confidenceShift: Type.Union([Type.Number({ minimum: -1, maximum: 1 }), Type.Null()]),
  candidateP95LatencyMs: Type.Optional(Type.Number({ minimum: 0 })),
  activeP95LatencyMs: Type.Optional(Type.Number({ minimum: 0 })),
  /**
   * Each model's predicted-class histogram over the shadow inferences (aggregate counts, never an
   * input or a single answer): the cloud's drift-repair gate compares both with the line's class
   * prior. Absent from older agents and for heads of more than MAX_SHADOW_CLASSES classes.
   */
  classCounts: Type.Optional(ShadowClassCounts),
});
export type ShadowMetrics = Static<typeof ShadowMetrics>;

/** What the bake step observed on live traffic served by the new model. */
export const BakeMetrics = Type.Object({
  inferences: NonNegativeInt,
  errors: NonNegativeInt,
  p95LatencyMs: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  bakedMs: NonNegativeInt,
});
export type BakeMetrics = Static<typeof BakeMetrics>;

export const WarmupMetrics = Type.Object({
  sessionCreateMs: Type.Number({ minimum: 0 }),
  runs: NonNegativeInt,
  p50LatencyMs: Type.Number({ minimum: 0 }),
  executionProvider: Type.String({ maxLength: 64 }),
});
export type WarmupMetrics = Static<typeof WarmupMetrics>;

/**
 * A deployment status report: sent once per state the deployment enters, through the device's
 * persisted outbox (delivered at least once, de-duplicated by the cloud on `idempotencyKey`).
 */
export const StatusReport = Type.Object({
  schema: Type.Literal('edgekd.status/1'),
  ...ReportHeader,
  deploymentId: Id,
  rolloutId: Type.Optional(Id),
  state: DeploymentState,
  /** The state that failed or timed out, on `failed`/`rolled_back`/`rejected`. */
  failedStep: Type.Optional(DeploymentState),
  error: Type.Optional(WireError),
  /** The model this deployment installs. */
  model: Type.Optional(ModelRef),
  /** The model serving when the report was written (null: none). */
  activeModel: Type.Optional(Type.Union([ModelRef, Type.Null()])),
  /** Download progress (on `downloading` after a resume it says where it resumed). */
  bytesDone: Type.Optional(NonNegativeInt),
  bytesTotal: Type.Optional(NonNegativeInt),
  /** `http` or `mqtt` on `downloading`. */
  transport: Type.Optional(Type.Union([Type.Literal('mqtt'), Type.Literal('http')])),
  warmup: Type.Optional(WarmupMetrics),
  shadow: Type.Optional(ShadowMetrics),
  bake: Type.Optional(BakeMetrics),
  /** The id of the command that caused this report (a rollback), if any. */
  commandId: Type.Optional(Id),
  /** True when the agent resumed this deployment after a restart. */
  resumed: Type.Optional(Type.Boolean()),
});
export type StatusReport = Static<typeof StatusReport>;

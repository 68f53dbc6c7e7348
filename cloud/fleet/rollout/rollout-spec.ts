import { Type, type Static } from 'typebox';
import { SignedDowngrade } from '../../../shared/protocol/messages/downgrade';
import { createParser } from '../../../shared/contracts/parse';
import { Activation, StepTimeoutsMs } from '../../../shared/protocol/messages/offer';
import { MAX_SHADOW_CLASSES } from '../../../shared/protocol/messages/status';

/**
 * What an operator asks for when creating a rollout. Everything except the target and the
 * package has a default (see `withDefaults`), so `{ packageId, target: { group: 'eu' } }` is a
 * valid spec. Times are milliseconds; percentages are 0..100; rates are 0..1.
 */
export const RolloutTarget = Type.Object(
  {
    groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 64 })),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 64 })),
    devices: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 100_000 })),
  },
  { additionalProperties: false },
);
export type RolloutTarget = Static<typeof RolloutTarget>;

export const WavePlanSpec = Type.Object(
  {
    /** Devices in the canary wave: an absolute count (at least 1 when the target is non-empty). */
    canaryDevices: Type.Integer({ minimum: 0, maximum: 100_000 }),
    /** Size of the first wave after the canary. */
    firstWaveDevices: Type.Integer({ minimum: 1, maximum: 100_000 }),
    /** Each next wave is this many times larger than the previous one (AWS IoT Jobs' incrementFactor). */
    growthFactor: Type.Number({ minimum: 1, maximum: 10 }),
  },
  { additionalProperties: false },
);
export type WavePlanSpec = Static<typeof WavePlanSpec>;

export const GateSpec = Type.Object(
  {
    /** A wave passes only if at least this share of its devices committed. */
    minInstallSuccessPercent: Type.Number({ minimum: 0, maximum: 100 }),
    /** Abort (and roll back) as soon as failed/executed exceeds this, once `minExecutedForAbort` devices finished. */
    abortFailurePercent: Type.Number({ minimum: 0, maximum: 100 }),
    minExecutedForAbort: Type.Integer({ minimum: 1 }),
    /** Inference errors / inferences over the wave's committed devices during bake. */
    maxErrorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** The 95th percentile over devices of each device's p95 inference latency. */
    maxP95LatencyMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Mean top-1 agreement of the new model with the running one in shadow evaluation. */
    minShadowAgreement: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** Mean absolute shift of mean top-1 confidence, new minus old. */
    maxConfidenceShift: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /**
     * Drift-repair gate (a retrain's rollout): the candidate's shadow class histogram must be closer
     * to `classPrior` (Jensen–Shannon distance) than the serving model's, by more than
     * `minImprovement`. Used with a low agreement floor instead of a regression-level agreement.
     */
    driftRepair: Type.Optional(
      Type.Object(
        {
          classPrior: Type.Array(Type.Number({ minimum: 0, maximum: 1 }), { minItems: 2, maxItems: MAX_SHADOW_CLASSES }),
          minImprovement: Type.Number({ minimum: 0, maximum: 1 }),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * When true a configured health or ML gate with no samples fails the wave ("no evidence is not
     * good evidence"); when false it is reported as `no-data` and does not block.
     */
    requireMetrics: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type GateSpec = Static<typeof GateSpec>;

export const TimeoutSpec = Type.Object(
  {
    /** Offered but no progress report yet (device offline or wedged before starting). */
    offeredMs: Type.Integer({ minimum: 1 }),
    /** Between two progress reports of one device (every agent step must report within this). */
    stepMs: Type.Integer({ minimum: 1 }),
    /** Rollback requested and not confirmed. */
    rollbackMs: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type TimeoutSpec = Static<typeof TimeoutSpec>;

export const RolloutSpec = Type.Object(
  {
    packageId: Type.String({ minLength: 1 }),
    target: RolloutTarget,
    waves: WavePlanSpec,
    gates: GateSpec,
    /** After a wave's devices all finished, keep collecting health for this long before the gates. */
    bakeMs: Type.Integer({ minimum: 0 }),
    timeouts: TimeoutSpec,
    /** `wave`: roll back only the failed wave's devices; `rollout`: every device this rollout changed. */
    rollbackScope: Type.Union([Type.Literal('wave'), Type.Literal('rollout')]),
    /** Delivery: `mqtt` chunks requested by the device, or an HTTP(S) URL with a short-lived token. */
    delivery: Type.Union([Type.Literal('mqtt'), Type.Literal('http')]),
    /** Bytes per second shared by all devices of this rollout (token bucket); 0 = unlimited. */
    bandwidthBytesPerSecond: Type.Integer({ minimum: 0 }),
    /** Passed to each device in the offer: warm-up, shadow evaluation, device-side bake and its gates. */
    activation: Type.Optional(Activation),
    /** Per-step deadlines the device applies (the cloud's `timeouts` watch from outside). */
    deviceTimeoutsMs: Type.Optional(StepTimeoutsMs),
    /**
     * A deliberate return to an older version. Devices accept it only with `downgrade`, a statement
     * signed by a trusted key (`edgekd downgrade sign`); the flag alone is refused on the device.
     */
    allowDowngrade: Type.Optional(Type.Boolean()),
    downgrade: Type.Optional(SignedDowngrade),
  },
  { additionalProperties: false },
);
export type RolloutSpec = Static<typeof RolloutSpec>;

/** The input form: all but `packageId` and `target` optional, nested objects partial. */
export const RolloutRequest = Type.Object(
  {
    packageId: Type.String({ minLength: 1 }),
    target: RolloutTarget,
    waves: Type.Optional(Type.Partial(WavePlanSpec)),
    gates: Type.Optional(Type.Partial(GateSpec)),
    bakeMs: Type.Optional(Type.Integer({ minimum: 0 })),
    timeouts: Type.Optional(Type.Partial(TimeoutSpec)),
    rollbackScope: Type.Optional(Type.Union([Type.Literal('wave'), Type.Literal('rollout')])),
    delivery: Type.Optional(Type.Union([Type.Literal('mqtt'), Type.Literal('http')])),
    bandwidthBytesPerSecond: Type.Optional(Type.Integer({ minimum: 0 })),
    activation: Type.Optional(Activation),
    deviceTimeoutsMs: Type.Optional(StepTimeoutsMs),
    allowDowngrade: Type.Optional(Type.Boolean()),
    downgrade: Type.Optional(SignedDowngrade),
  },
  { additionalProperties: false },
);
export type RolloutRequest = Static<typeof RolloutRequest>;

export const rolloutRequestParser = createParser(RolloutRequest, 'rollout request', 'EDGEKD_INVALID_ARGUMENT');

export const DEFAULT_ROLLOUT: Omit<RolloutSpec, 'packageId' | 'target'> = {
  waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 },
  gates: { minInstallSuccessPercent: 95, abortFailurePercent: 10, minExecutedForAbort: 3, requireMetrics: false },
  bakeMs: 5_000,
  timeouts: { offeredMs: 60_000, stepMs: 60_000, rollbackMs: 60_000 },
  rollbackScope: 'rollout',
  delivery: 'mqtt',
  bandwidthBytesPerSecond: 0,
};

export function withDefaults(request: RolloutRequest): RolloutSpec {
  const r = rolloutRequestParser.parse(request);
  return {
    packageId: r.packageId,
    target: r.target,
    waves: { ...DEFAULT_ROLLOUT.waves, ...r.waves },
    gates: { ...DEFAULT_ROLLOUT.gates, ...r.gates },
    bakeMs: r.bakeMs ?? DEFAULT_ROLLOUT.bakeMs,
    timeouts: { ...DEFAULT_ROLLOUT.timeouts, ...r.timeouts },
    rollbackScope: r.rollbackScope ?? DEFAULT_ROLLOUT.rollbackScope,
    delivery: r.delivery ?? DEFAULT_ROLLOUT.delivery,
    bandwidthBytesPerSecond: r.bandwidthBytesPerSecond ?? DEFAULT_ROLLOUT.bandwidthBytesPerSecond,
    ...(r.activation ? { activation: r.activation } : {}),
    ...(r.deviceTimeoutsMs ? { deviceTimeoutsMs: r.deviceTimeoutsMs } : {}),
    ...(r.allowDowngrade !== undefined ? { allowDowngrade: r.allowDowngrade } : {}),
    ...(r.downgrade ? { downgrade: r.downgrade, allowDowngrade: true } : {}),
  };
}

import { Type, type Static } from 'typebox';
import { SignedDowngrade } from './downgrade';
import { Id, ModelRef, NonNegativeInt, PositiveInt, Sha256Hex, Timestamp } from './common';

/**
 * The rollout offer (job document): the cloud's desired deployment for one device, published
 * RETAINED on `edgekd/v1/devices/{id}/offer` so a device that is offline when the wave starts gets
 * it when it connects. An empty retained payload clears it. The device acts on each
 * `deploymentId` once: it remembers the ids that reached a terminal state and ignores them when the
 * retained offer is delivered again after a reconnect.
 *
 * Everything the device needs to decide BEFORE downloading is in here: the signed manifest (so the
 * signature, key trust, version ordering and compatibility with this agent and runtime are checked
 * first; a refusal is reported as `rejected` without fetching a byte) and the delivery plan.
 */

/**
 * How the bytes come. Over MQTT the file is cut into `chunkBytes`-sized chunks (the last one
 * shorter); chunk i covers bytes [i*chunkBytes, min((i+1)*chunkBytes, sizeBytes)). `chunkSha256[i]`
 * is the sha256 of chunk i, so each chunk is checked on arrival and a resumed download trusts the
 * chunks already on disk only if they hash right. `http`, when present, is the alternative:
 * `GET url` with `Authorization: Bearer token` and `Range: bytes=N-` to resume.
 */
export const Delivery = Type.Object({
  sizeBytes: PositiveInt,
  sha256: Sha256Hex,
  chunkBytes: Type.Integer({ minimum: 1024, maximum: 1_048_576 }),
  chunkSha256: Type.Array(Sha256Hex, { minItems: 1, maxItems: 16_384 }),
  http: Type.Optional(
    Type.Object({
      url: Type.String({ minLength: 1, maxLength: 2048 }),
      token: Type.String({ minLength: 1, maxLength: 4096 }),
      expiresAt: Type.Optional(Timestamp),
    }),
  ),
  /** `mqtt` (default) or `http` when both are offered. */
  prefer: Type.Optional(Type.Union([Type.Literal('mqtt'), Type.Literal('http')])),
});
export type Delivery = Static<typeof Delivery>;

/** Per-step deadlines in milliseconds; a step that runs past its deadline fails with EDGEKD_STEP_TIMEOUT. */
export const StepTimeoutsMs = Type.Object({
  downloading: Type.Optional(PositiveInt),
  verifying: Type.Optional(PositiveInt),
  staging: Type.Optional(PositiveInt),
  warming: Type.Optional(PositiveInt),
  shadow: Type.Optional(PositiveInt),
  activating: Type.Optional(PositiveInt),
  baking: Type.Optional(PositiveInt),
});
export type StepTimeoutsMs = Static<typeof StepTimeoutsMs>;

export const Activation = Type.Object({
  /** Warm-up inferences on a zero input after the session is created (0: none). */
  warmupRuns: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  /**
   * Optional shadow evaluation: the candidate runs beside the active model on the next
   * `inferences` live inputs (or until `maxWaitMs`, whichever first). If `minAgreement` is set and
   * the measured top-1 agreement is lower, the deployment fails with EDGEKD_GATE_FAILED before
   * activation. Skipped when no model is active yet.
   */
  shadow: Type.Optional(
    Type.Object({
      inferences: PositiveInt,
      maxWaitMs: Type.Optional(PositiveInt),
      minAgreement: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    }),
  ),
  /** How long the new model must serve before `committed` (0: commit right after activation). */
  bakeMs: Type.Optional(NonNegativeInt),
  /** Local gates during the bake; a breach rolls back on the device and reports `rolled_back`. */
  bakeGate: Type.Optional(
    Type.Object({
      maxErrorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      maxP95LatencyMs: Type.Optional(Type.Number({ minimum: 0 })),
      minInferences: Type.Optional(NonNegativeInt),
    }),
  ),
});
export type Activation = Static<typeof Activation>;

export const ManifestSignatureDoc = Type.Object({
  algorithm: Type.Literal('Ed25519'),
  keyId: Type.String({ minLength: 1, maxLength: 128 }),
  /** 64-byte signature, base64. */
  signature: Type.String({ minLength: 1, maxLength: 256 }),
});
export type ManifestSignatureDoc = Static<typeof ManifestSignatureDoc>;

export const Offer = Type.Object({
  schema: Type.Literal('edgekd.offer/1'),
  deploymentId: Id,
  rolloutId: Id,
  wave: Type.Optional(Type.String({ maxLength: 64 })),
  issuedAt: Type.String({ maxLength: 40 }),
  /** Summary of the model; must equal what the signed manifest says (checked by the device). */
  model: ModelRef,
  /**
   * The package manifest, verbatim as signed (the `ModelManifest` document of `shared/package/`).
   * The device verifies it against its trusted keys before anything else.
   */
  manifest: Type.Record(Type.String(), Type.Unknown()),
  /**
   * The package's detached signature document (`manifest.sig` of `shared/package/`):
   * Ed25519 over "edgekd-manifest-v1\n" + canonical JSON of `manifest`.
   */
  signature: ManifestSignatureDoc,
  delivery: Delivery,
  activation: Type.Optional(Activation),
  timeoutsMs: Type.Optional(StepTimeoutsMs),
  /**
   * Set by the cloud for a deliberate return to an older build. On its own it authorises nothing:
   * an offer whose version is not newer than the active one is rejected with
   * EDGEKD_DOWNGRADE_REJECTED, or EDGEKD_DOWNGRADE_UNAUTHORIZED when this flag comes without a
   * valid `downgrade` statement.
   */
  allowDowngrade: Type.Optional(Type.Boolean()),
  /** Signed intent for this downgrade (messages/downgrade.ts); checked by the device before downloading. */
  downgrade: Type.Optional(SignedDowngrade),
});
export type Offer = Static<typeof Offer>;


import { Type, type Static } from 'typebox';

/**
 * Building blocks shared by the v1 message schemas.
 *
 * Compatibility rule for v1: receivers ignore fields they do not know (schemas allow additional
 * properties), so new optional fields can be added without a version bump; removing a field or
 * changing its meaning needs `edgekd/v2/…` topics and `…/2` schema tags.
 */

/** Device ids appear inside topic names, so they may not contain MQTT wildcards or separators. */
export const DeviceId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
export type DeviceId = Static<typeof DeviceId>;

/** Generic opaque identifier (deployment, rollout, request, command, idempotency key). */
export const Id = Type.String({ minLength: 1, maxLength: 200 });
export type Id = Static<typeof Id>;

/** Lower-case hex sha256. */
export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' });
export type Sha256Hex = Static<typeof Sha256Hex>;

/** RFC 3339 timestamp in UTC, e.g. 2026-11-28T15:20:00.000Z (what Date#toISOString writes). */
export const Timestamp = Type.String({ minLength: 20, maxLength: 40, pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' });
export type Timestamp = Static<typeof Timestamp>;

export const NonNegativeInt = Type.Integer({ minimum: 0 });
export const PositiveInt = Type.Integer({ minimum: 1 });

/**
 * A model version as the package manifest states it: an integer ≥ 1, monotonic per model name
 * (`shared/package/manifest.ts`). A device refuses a version not greater than the active one.
 */
export const ModelVersion = Type.Integer({ minimum: 1 });
export type ModelVersion = Static<typeof ModelVersion>;

/** Identity of one model build: which version and which bytes. */
export const ModelRef = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
  version: ModelVersion,
  sha256: Sha256Hex,
});
export type ModelRef = Static<typeof ModelRef>;

/** An error as it crosses the wire: only the stable code is contractual; the message is for people. */
export const WireError = Type.Object({
  code: Type.String({ pattern: '^EDGEKD_[A-Z0-9_]+$' }),
  message: Type.String({ maxLength: 2000 }),
  retryable: Type.Optional(Type.Boolean()),
});
export type WireError = Static<typeof WireError>;

/**
 * Fields every device→cloud report carries so the cloud can order and de-duplicate it.
 * - `seq`: per-device, strictly increasing across restarts (persisted with the outbox); gaps are
 *   allowed (a report may be dropped on purpose, e.g. superseded heartbeats never use it).
 * - `idempotencyKey`: fixed when the report is first written to the device's outbox and reused on
 *   every redelivery; the cloud applies a report at most once per key.
 * - `bootId`: random per agent process start; `ts`: device clock when the report was created.
 */
export const ReportHeader = {
  deviceId: DeviceId,
  bootId: Id,
  seq: NonNegativeInt,
  idempotencyKey: Id,
  ts: Timestamp,
};

/** ISO string for a millisecond clock value. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

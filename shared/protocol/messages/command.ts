import { Type, type Static } from 'typebox';
import { Id, Timestamp } from './common';

/**
 * Commands from the cloud to one device (QoS 1, not retained, MQTT 5 message expiry 300 s where
 * the broker supports it). `commandId` makes them idempotent: the device executes each id once
 * and answers through a status report carrying the same `commandId`.
 *
 * - `rollback`: undo `deploymentId` on this device. If it is still in progress (not yet active) it
 *   is aborted; if its model is active (baking or committed) the previous slot is activated again.
 *   Either way the device reports `rolled_back` for that deployment. A rollback for a deployment
 *   the device never saw, or that already ended `failed`/`rejected`/`rolled_back`, is answered
 *   with a report of the state it is in (so the cloud's view converges).
 * - `rebirth`: republish presence (birth) and a heartbeat now, e.g. after a cloud restart.
 */
export const RollbackCommand = Type.Object({
  schema: Type.Literal('edgekd.command/1'),
  type: Type.Literal('rollback'),
  commandId: Id,
  issuedAt: Timestamp,
  deploymentId: Id,
  reason: Type.Optional(Type.String({ maxLength: 500 })),
});
export type RollbackCommand = Static<typeof RollbackCommand>;

export const RebirthCommand = Type.Object({
  schema: Type.Literal('edgekd.command/1'),
  type: Type.Literal('rebirth'),
  commandId: Id,
  issuedAt: Timestamp,
});
export type RebirthCommand = Static<typeof RebirthCommand>;

export const Command = Type.Union([RollbackCommand, RebirthCommand]);
export type Command = Static<typeof Command>;

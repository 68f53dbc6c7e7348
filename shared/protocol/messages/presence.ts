import { Type, type Static } from 'typebox';
import { DeviceId, Id, ModelRef, NonNegativeInt, Timestamp } from './common';

/**
 * Presence: the retained document on `edgekd/v1/devices/{id}/presence`.
 *
 * The agent publishes `online` (the birth) right after every CONNACK and registers an `offline`
 * document with `reason: "lost"` as its last will for that same connection; on a clean stop it
 * publishes `offline` with `reason: "shutdown"` itself before disconnecting.
 *
 * Ordering (Sparkplug's bdSeq idea): MQTT orders messages per topic only per publisher, and a will
 * is published by the broker, so a will from a dropped connection can arrive after the birth of
 * the next one. Every document carries `(bootSeq, sessionSeq)`: `bootSeq` grows by one on each
 * agent start (persisted), `sessionSeq` by one on each connection within a boot. A consumer keeps
 * the largest pair it has seen and ignores any presence document with a smaller pair; an `offline`
 * with the same pair as the current `online` ends that session.
 */
export const PresenceState = Type.Union([Type.Literal('online'), Type.Literal('offline')]);
export type PresenceState = Static<typeof PresenceState>;

export const RuntimeInfo = Type.Object({
  /** onnxruntime package version, e.g. "1.30.0". */
  onnxruntime: Type.String({ maxLength: 64 }),
  /** Execution providers this agent will try, in preference order (from its configuration). */
  executionProviders: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 8 }),
  platform: Type.String({ maxLength: 32 }),
  arch: Type.String({ maxLength: 32 }),
  /** Node.js version of a Node agent; agents in other languages leave it out. */
  node: Type.Optional(Type.String({ maxLength: 32 })),
});
export type RuntimeInfo = Static<typeof RuntimeInfo>;

export const Presence = Type.Object({
  schema: Type.Literal('edgekd.presence/1'),
  deviceId: DeviceId,
  state: PresenceState,
  /** Only on `offline`: `lost` (the will, sent by the broker) or `shutdown` (sent by the agent). */
  reason: Type.Optional(Type.Union([Type.Literal('lost'), Type.Literal('shutdown')])),
  bootId: Id,
  bootSeq: NonNegativeInt,
  sessionSeq: NonNegativeInt,
  /** When the document was composed. For a will that is connect time, not the time of the loss. */
  ts: Timestamp,
  agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
  runtime: Type.Optional(RuntimeInfo),
  /** The model being served at birth (null: none yet). */
  activeModel: Type.Optional(Type.Union([ModelRef, Type.Null()])),
  /** Ids of the signing keys the device trusts, so the cloud can tell before offering. */
  trustedKeyIds: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 })),
});
export type Presence = Static<typeof Presence>;

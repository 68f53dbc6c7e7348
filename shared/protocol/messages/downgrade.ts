import { Type, type Static } from 'typebox';
import { DeviceId, Sha256Hex, Timestamp } from './common';

/**
 * Signed intent for a downgrade: the only thing that lets a device install a version that is not
 * newer than the one it serves. It names one exact build (name, version, sha256), who may install
 * it (devices by id and/or groups; at least one), and a validity window. An offer carries it in
 * `downgrade`; the device checks it before downloading (edge/deploy/preflight.ts). Signed like a
 * manifest: Ed25519 by a trusted key over "edgekd-downgrade-v1\n" + canonical JSON of `statement`.
 */
export const GroupName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:=-]*$' });

export const DowngradeStatement = Type.Object({
  schema: Type.Literal('edgekd.downgrade/1'),
  model: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), version: Type.Integer({ minimum: 0 }), sha256: Sha256Hex }),
  devices: Type.Optional(Type.Array(DeviceId, { maxItems: 10_000, uniqueItems: true })),
  groups: Type.Optional(Type.Array(GroupName, { maxItems: 100, uniqueItems: true })),
  issuedAt: Timestamp,
  /** Not valid at or after this instant. */
  notAfter: Timestamp,
  reason: Type.Optional(Type.String({ maxLength: 500 })),
});
export type DowngradeStatement = Static<typeof DowngradeStatement>;

export const SignedDowngrade = Type.Object({
  statement: DowngradeStatement,
  signature: Type.Object({
    algorithm: Type.Literal('Ed25519'),
    keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    /** 64-byte signature, base64. */
    signature: Type.String({ minLength: 1, maxLength: 256 }),
  }),
});
export type SignedDowngrade = Static<typeof SignedDowngrade>;

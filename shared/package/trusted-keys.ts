import { Type, type Static } from 'typebox';
import { createParser } from '../contracts/parse';
import { EdgekdError } from '../errors';
import { KeyId, keyIdOf } from './keys';

/**
 * The trusted-keys list an agent (or `edgekd package verify`) checks signatures against.
 * Rotation: add the new key, give the old one a `validUntil` at the switch-over time; packages
 * signed before it keep verifying, anything the old key signs later does not. A compromised key
 * gets `revoked: true`, which rejects everything it ever signed.
 */
export const TrustedKey = Type.Object({
  keyId: KeyId,
  algorithm: Type.Literal('Ed25519'),
  /** Raw 32-byte public key, base64. */
  publicKey: Type.String({ minLength: 1 }),
  /** The key may sign manifests whose createdAt is ≥ validFrom … */
  validFrom: Type.Optional(Type.String({ format: 'date-time' })),
  /** … and ≤ validUntil. */
  validUntil: Type.Optional(Type.String({ format: 'date-time' })),
  revoked: Type.Optional(Type.Boolean()),
  comment: Type.Optional(Type.String()),
});
export type TrustedKey = Static<typeof TrustedKey>;

export const TrustedKeys = Type.Object({
  schemaVersion: Type.Literal(1),
  keys: Type.Array(TrustedKey),
});
export type TrustedKeys = Static<typeof TrustedKeys>;

const parser = createParser(TrustedKeys, 'trusted-keys list', 'EDGEKD_CONFIG_INVALID');

/** Parses a trusted-keys document and checks each key id against its public key. */
export function parseTrustedKeys(input: unknown): TrustedKeys {
  const list = parser.parse(input);
  for (const k of list.keys) {
    const raw = Buffer.from(k.publicKey, 'base64');
    if (raw.length !== 32) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `trusted key ${k.keyId}: public key must be 32 bytes base64, got ${raw.length} bytes`);
    const id = keyIdOf(raw);
    if (id !== k.keyId) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `trusted key ${k.keyId}: the public key's id is ${id}`);
  }
  return list;
}

/** Clock skew allowed between the signer and the verifier when a manifest is dated in the future. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

export type KeyTrust = { trusted: true; key: TrustedKey } | { trusted: false; reason: string };

/**
 * Whether `keyId` may sign a manifest created at `signedAt`, judged at `now`. A manifest dated
 * more than MAX_FUTURE_SKEW_MS after `now` is refused so a key cannot pre-sign past its rotation.
 */
export function keyTrust(list: TrustedKeys, keyId: string, signedAt: Date, now: Date): KeyTrust {
  const key = list.keys.find((k) => k.keyId === keyId);
  if (!key) return { trusted: false, reason: `key ${keyId} is not in the trusted-keys list` };
  if (key.revoked) return { trusted: false, reason: `key ${keyId} is revoked` };
  const t = signedAt.getTime();
  if (Number.isNaN(t)) return { trusted: false, reason: 'the manifest has no valid signing time' };
  if (key.validFrom && t < Date.parse(key.validFrom)) return { trusted: false, reason: `key ${keyId} is valid from ${key.validFrom}, the manifest is dated ${signedAt.toISOString()}` };
  if (key.validUntil && t > Date.parse(key.validUntil)) return { trusted: false, reason: `key ${keyId} expired at ${key.validUntil}, the manifest is dated ${signedAt.toISOString()}` };
  if (t > now.getTime() + MAX_FUTURE_SKEW_MS) return { trusted: false, reason: `the manifest is dated ${signedAt.toISOString()}, in the future` };
  return { trusted: true, key };
}

/** A trusted-keys entry for a public key (what `edgekd keys generate` writes next to the key). */
export function trustedKeyEntry(publicKeyRaw: Uint8Array, extra: Partial<Omit<TrustedKey, 'keyId' | 'publicKey' | 'algorithm'>> = {}): TrustedKey {
  return { keyId: keyIdOf(publicKeyRaw), algorithm: 'Ed25519', publicKey: Buffer.from(publicKeyRaw).toString('base64'), ...extra };
}

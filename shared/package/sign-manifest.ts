import { createHash, sign, verify } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { createParser } from '../contracts/parse';
import { canonicalJson } from './canonical-json';
import { KeyId, publicKeyFromRaw, type SigningKey } from './keys';
import type { ModelManifest } from './manifest';

/**
 * The bytes an Ed25519 signature covers: a context line that pins purpose and format version,
 * then the canonical encoding of the manifest (which holds the model's sha256 and size).
 *   "edgekd-manifest-v1\n" + canonicalJson(manifest), UTF-8.
 * The prefix stops a signature over a manifest being replayed as a signature over anything else.
 */
export const SIGNATURE_CONTEXT = 'edgekd-manifest-v1\n';

export const ManifestSignature = Type.Object({
  algorithm: Type.Literal('Ed25519'),
  keyId: KeyId,
  /** 64-byte Ed25519 signature, base64. */
  signature: Type.String({ minLength: 1 }),
  /** sha256 of the signed bytes, for diagnostics ("did we sign the same manifest?"). */
  signedSha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
});
export type ManifestSignature = Static<typeof ManifestSignature>;
export const parseManifestSignature = createParser(ManifestSignature, 'manifest signature', 'EDGEKD_PACKAGE_INVALID');

export function signedBytes(manifest: ModelManifest | unknown): Buffer {
  return Buffer.from(SIGNATURE_CONTEXT + canonicalJson(manifest), 'utf8');
}

export function signManifest(manifest: ModelManifest, key: SigningKey): ManifestSignature {
  const bytes = signedBytes(manifest);
  return {
    algorithm: 'Ed25519',
    keyId: key.keyId,
    signature: sign(null, bytes, key.privateKey).toString('base64'),
    signedSha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** True iff `sig` is a valid Ed25519 signature by `publicKeyRaw` over the manifest's signed bytes. */
export function manifestSignatureValid(manifest: unknown, sig: ManifestSignature, publicKeyRaw: Uint8Array): boolean {
  const s = Buffer.from(sig.signature, 'base64');
  if (s.length !== 64) return false;
  try {
    return verify(null, signedBytes(manifest), publicKeyFromRaw(publicKeyRaw), s);
  } catch {
    return false;
  }
}

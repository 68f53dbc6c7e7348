import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { createParser } from '../contracts/parse';
import { EdgekdError } from '../errors';

/**
 * Ed25519 keys. A key id is the first 16 hex characters of sha256 over the raw 32-byte public
 * key (RFC 8032 encoding), so anyone holding the public key can recompute it.
 */

export const KeyId = Type.String({ pattern: '^[0-9a-f]{16}$' });
export type KeyId = Static<typeof KeyId>;

/** Private key file written by `edgekd keys generate` (mode 0600). */
export const SigningKeyFile = Type.Object({
  algorithm: Type.Literal('Ed25519'),
  keyId: KeyId,
  /** PKCS#8 PEM. */
  privateKeyPem: Type.String({ minLength: 1 }),
  /** Raw 32-byte public key, base64. */
  publicKey: Type.String({ minLength: 1 }),
  createdAt: Type.String({ format: 'date-time' }),
});
export type SigningKeyFile = Static<typeof SigningKeyFile>;
export const parseSigningKeyFile = createParser(SigningKeyFile, 'signing key file', 'EDGEKD_INVALID_ARGUMENT');

export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'not an Ed25519 key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

export function keyIdOf(rawPublic: Uint8Array): KeyId {
  return createHash('sha256').update(rawPublic).digest('hex').slice(0, 16);
}

/** A KeyObject from a raw 32-byte Ed25519 public key. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `Ed25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export interface SigningKey {
  keyId: KeyId;
  privateKey: KeyObject;
  publicKeyRaw: Uint8Array;
}

export function generateSigningKey(now: Date = new Date()): { key: SigningKey; file: SigningKeyFile } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(privateKey);
  const keyId = keyIdOf(raw);
  return {
    key: { keyId, privateKey, publicKeyRaw: raw },
    file: {
      algorithm: 'Ed25519',
      keyId,
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      publicKey: Buffer.from(raw).toString('base64'),
      createdAt: now.toISOString(),
    },
  };
}

/** Loads a parsed key file, checking that its stated key id matches the key. */
export function signingKeyFromFile(file: SigningKeyFile): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(file.privateKeyPem);
  } catch (e) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'signing key file holds no readable PKCS#8 private key', { cause: e });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `signing key is ${privateKey.asymmetricKeyType}, not Ed25519`);
  const raw = rawPublicKey(privateKey);
  const keyId = keyIdOf(raw);
  if (keyId !== file.keyId) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `signing key file says key id ${file.keyId} but the key's id is ${keyId}`);
  return { keyId, privateKey, publicKeyRaw: raw };
}

import { createHash } from 'node:crypto';
import { EdgekdError, type ErrorCode } from '../errors';
import { parseModelManifest, type ModelManifest } from './manifest';
import { manifestSignatureValid, parseManifestSignature } from './sign-manifest';
import { keyTrust, type TrustedKeys } from './trusted-keys';

export type PackageCheckName = 'manifest-schema' | 'signature-schema' | 'key-trust' | 'signature' | 'model-size' | 'model-sha256';

export interface PackageCheck {
  check: PackageCheckName;
  /** false when an earlier failure made this check impossible to run. */
  ran: boolean;
  ok: boolean;
  code?: ErrorCode;
  message: string;
}

export interface PackageContents {
  /** The manifest as parsed JSON (unvalidated). */
  manifest: unknown;
  /** The signature document as parsed JSON (unvalidated). */
  signature: unknown;
  model: Uint8Array;
}

export type PackageVerification =
  | { ok: true; manifest: ModelManifest; keyId: string; checks: PackageCheck[] }
  | { ok: false; code: ErrorCode; message: string; failed: PackageCheckName; checks: PackageCheck[]; error: EdgekdError };

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Checks a package in this order, running every check that can still run so the report is
 * complete; the first failure decides the result's code:
 * 1. manifest-schema, signature-schema → EDGEKD_PACKAGE_INVALID
 * 2. key-trust (known, not revoked, manifest dated inside the key's window) → EDGEKD_KEY_UNTRUSTED
 * 3. signature (Ed25519 over the canonical manifest) → EDGEKD_SIGNATURE_INVALID
 * 4. model-size, model-sha256 against the manifest → EDGEKD_HASH_MISMATCH
 * Only a package passing all of them is `ok`; its manifest is then safe to act on.
 */
export function verifyPackage(pkg: PackageContents, trusted: TrustedKeys, options: { now?: Date } = {}): PackageVerification {
  const now = options.now ?? new Date();
  const checks: PackageCheck[] = [];
  const add = (check: PackageCheckName, ok: boolean, message: string, code?: ErrorCode): void => {
    checks.push({ check, ran: true, ok, message, ...(ok ? {} : { code }) });
  };
  const skip = (check: PackageCheckName, why: string): void => {
    checks.push({ check, ran: false, ok: false, message: `not checked: ${why}` });
  };

  const m = parseModelManifest.tryParse(pkg.manifest);
  add('manifest-schema', m.ok, m.ok ? 'manifest matches the schema' : m.error.message, 'EDGEKD_PACKAGE_INVALID');
  const s = parseManifestSignature.tryParse(pkg.signature);
  add('signature-schema', s.ok, s.ok ? `signature document names key ${s.value.keyId}` : s.error.message, 'EDGEKD_PACKAGE_INVALID');

  if (m.ok && s.ok) {
    const trust = keyTrust(trusted, s.value.keyId, new Date(m.value.createdAt), now);
    add('key-trust', trust.trusted, trust.trusted ? `key ${s.value.keyId} is trusted` : trust.reason, 'EDGEKD_KEY_UNTRUSTED');
    // The signature is checked even for an untrusted key that is in the list (revoked or out of
    // its window), which tells an operator whether the bytes are at least intact.
    const listed = trusted.keys.find((k) => k.keyId === s.value.keyId);
    if (listed) {
      const valid = manifestSignatureValid(pkg.manifest, s.value, new Uint8Array(Buffer.from(listed.publicKey, 'base64')));
      add('signature', valid, valid ? 'Ed25519 signature over the canonical manifest verifies' : `signature by key ${s.value.keyId} does not verify over this manifest (manifest or signature altered)`, 'EDGEKD_SIGNATURE_INVALID');
    } else skip('signature', 'no public key for the signing key id');
  } else {
    skip('key-trust', 'manifest or signature document invalid');
    skip('signature', 'manifest or signature document invalid');
  }

  if (m.ok) {
    const size = pkg.model.byteLength;
    add('model-size', size === m.value.model.size, `model.onnx is ${size} bytes, manifest says ${m.value.model.size}`, 'EDGEKD_HASH_MISMATCH');
    const h = sha256Hex(pkg.model);
    add('model-sha256', h === m.value.model.sha256, h === m.value.model.sha256 ? `sha256 ${h} matches` : `model.onnx sha256 is ${h}, manifest says ${m.value.model.sha256}`, 'EDGEKD_HASH_MISMATCH');
  } else {
    skip('model-size', 'manifest invalid');
    skip('model-sha256', 'manifest invalid');
  }

  const failed = checks.find((c) => c.ran && !c.ok);
  if (!failed) return { ok: true, manifest: (m as { value: ModelManifest }).value, keyId: (s as { value: { keyId: string } }).value.keyId, checks };
  const code = failed.code ?? 'EDGEKD_PACKAGE_INVALID';
  const message = `${failed.check}: ${failed.message}`;
  return { ok: false, code, message, failed: failed.check, checks, error: new EdgekdError(code, message, { details: { checks } }) };
}

/** verifyPackage that throws the first failure as an EdgekdError and returns the trusted manifest. */
export function assertPackageValid(pkg: PackageContents, trusted: TrustedKeys, options: { now?: Date } = {}): ModelManifest {
  const r = verifyPackage(pkg, trusted, options);
  if (!r.ok) throw r.error;
  return r.manifest;
}

import { EdgekdError } from '../../shared/errors';
import { checkDowngrade, keyTrust, manifestSignatureValid, parseManifestSignature, parseModelManifest, type ModelManifest, type TrustedKeys } from '../../shared/package';
import type { ModelRef, Offer } from '../../shared/protocol';

/**
 * Everything decided BEFORE a byte is downloaded (the version-skew guard). Pure: the caller
 * passes what it knows about this device. The first failing check throws its own code, and the
 * deployment ends `rejected`.
 */
export interface PreflightEnv {
  readonly trustedKeys: TrustedKeys;
  readonly activeModel: ModelRef | null;
  /** onnxruntime version of this agent, "major.minor.patch". */
  readonly runtimeVersion: string;
  /** Highest ai.onnx opset the runtime loads. */
  readonly maxOpset: number;
  readonly maxModelBytes: number;
  /** Free bytes on the state volume (null: unknown, not checked). */
  readonly diskFreeBytes: number | null;
  readonly now: Date;
  /** Who this device is, for signed downgrade statements. */
  readonly deviceId: string;
  readonly groups: readonly string[];
}

/** Compares "a.b.c" versions numerically. */
export function compareSemver(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0) ? -1 : 1;
  return 0;
}

export function preflightCheck(offer: Offer, env: PreflightEnv): ModelManifest {
  const manifest = parseModelManifest.parse(offer.manifest);
  const signature = parseManifestSignature.parse(offer.signature);
  const mismatch = (what: string): never => {
    throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `the offer's ${what} does not match the signed manifest`);
  };
  if (offer.model.name !== manifest.name || offer.model.version !== manifest.version) mismatch('model name/version');
  if (offer.model.sha256 !== manifest.model.sha256 || offer.delivery.sha256 !== manifest.model.sha256) mismatch('sha256');
  if (offer.delivery.sizeBytes !== manifest.model.size) mismatch('size');
  if (offer.delivery.chunkSha256.length !== Math.ceil(offer.delivery.sizeBytes / offer.delivery.chunkBytes)) {
    throw new EdgekdError('EDGEKD_PACKAGE_INVALID', 'the delivery plan lists the wrong number of chunk hashes');
  }

  const trust = keyTrust(env.trustedKeys, signature.keyId, new Date(manifest.createdAt), env.now);
  if (!trust.trusted) throw new EdgekdError('EDGEKD_KEY_UNTRUSTED', trust.reason);
  if (!manifestSignatureValid(offer.manifest, signature, new Uint8Array(Buffer.from(trust.key.publicKey, 'base64')))) {
    throw new EdgekdError('EDGEKD_SIGNATURE_INVALID', `the manifest signature by key ${signature.keyId} does not verify (manifest or signature altered)`);
  }

  const active = env.activeModel;
  // Not newer than what serves: only a signed statement for this build and device lets it through;
  // the offer's allowDowngrade flag alone is anyone-who-can-publish-an-offer's word, so it is refused.
  if (active && active.name === manifest.name && manifest.version <= active.version) {
    if (!offer.allowDowngrade && !offer.downgrade) {
      throw new EdgekdError('EDGEKD_DOWNGRADE_REJECTED', `${manifest.name} version ${manifest.version} is not newer than the active version ${active.version}`, {
        details: { active: active.version, offered: manifest.version },
      });
    }
    checkDowngrade(offer.downgrade, {
      deviceId: env.deviceId, groups: env.groups, trustedKeys: env.trustedKeys, now: env.now,
      model: { name: manifest.name, version: manifest.version, sha256: manifest.model.sha256 },
    });
  }

  if (compareSemver(env.runtimeVersion, manifest.runtime.minOnnxruntime) < 0) {
    throw new EdgekdError('EDGEKD_INCOMPATIBLE_MODEL', `the model needs onnxruntime ≥ ${manifest.runtime.minOnnxruntime}, this agent has ${env.runtimeVersion}`);
  }
  if (manifest.runtime.opset > env.maxOpset) {
    throw new EdgekdError('EDGEKD_INCOMPATIBLE_MODEL', `the model uses opset ${manifest.runtime.opset}, this runtime loads up to ${env.maxOpset}`);
  }
  if (manifest.model.size > env.maxModelBytes) {
    throw new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', `the model is ${manifest.model.size} bytes, this device accepts at most ${env.maxModelBytes}`);
  }
  // Room for the partial download and the staged copy.
  if (env.diskFreeBytes !== null && env.diskFreeBytes < manifest.model.size * 2) {
    throw new EdgekdError('EDGEKD_DISK_FULL', `staging needs ${manifest.model.size * 2} bytes, ${env.diskFreeBytes} are free`);
  }
  return manifest;
}

import { sha256Hex } from './verify-package';
import { MANIFEST_SCHEMA_VERSION, parseModelManifest, type ModelManifest } from './manifest';
import { signManifest, type ManifestSignature } from './sign-manifest';
import type { SigningKey } from './keys';

/** A package in memory: what the directory and the single-file forms hold. */
export interface ModelPackage {
  manifest: ModelManifest;
  signature: ManifestSignature;
  model: Uint8Array;
}

export type ManifestDraft = Omit<ModelManifest, 'schemaVersion' | 'model' | 'createdAt'>;

/**
 * Fills in the model's sha256 and size and the signing time, checks the result against the
 * schema (a producer bug surfaces here, not on a device) and signs it.
 */
export function buildSignedPackage(draft: ManifestDraft, model: Uint8Array, key: SigningKey, now: Date = new Date()): ModelPackage {
  const manifest = parseModelManifest.parse({
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    ...draft,
    createdAt: now.toISOString(),
    model: { file: 'model.onnx', sha256: sha256Hex(model), size: model.byteLength },
  });
  return { manifest, signature: signManifest(manifest, key), model };
}

import { createHash } from 'node:crypto';
import { buildSignedPackage, signManifest, type ManifestDraft, type ModelPackage, type SigningKey } from '../../shared/package';
import { tinyMlpOnnx } from '../../shared/package/testing/tiny-models';
import type { Activation, Offer } from '../../shared/protocol';

/**
 * The packages and offers the conformance runner plays, and the test vectors are made of. Every
 * manifest carries the numbers and characters serializers disagree on (`3.2e-7`, `1e+20`, `1e+21`,
 * U+007F, a character outside the BMP), so a device that passes has shown that its canonical JSON
 * is RFC 8785 and not its language's default serializer.
 */
export const AWKWARD_NUMBERS = { small: 3.2e-7, big: 1e20, bigger: 1e21, third: 1 / 3, negativeZero: -0, integer: 9007199254740991, tiny: 5e-324 };
export const AWKWARD_TEXT = 'tab\there, DEL\u007f, e\u0301, \u20ac, \u{1F600}, "quoted" \\ slash/';

export interface ModelBytes {
  readonly bytes: Uint8Array;
  readonly inputName: string;
  readonly inputShape: Array<number | string>;
  readonly classes: number;
}

/** A small real ONNX classifier (16 features → 4 classes), different bytes per seed. */
export function conformanceModel(seed: number): ModelBytes {
  const m = tinyMlpOnnx({ features: 16, hidden: 96, classes: 4, seed });
  return { bytes: m.bytes, inputName: m.inputName, inputShape: m.inputShape, classes: m.classes };
}

export function conformanceDraft(name: string, version: number, model: ModelBytes): ManifestDraft {
  return {
    name,
    version,
    input: { name: model.inputName, shape: model.inputShape, layout: 'NC', dtype: 'float32', normalisation: { rawRange: [0, 255], scale: [1 / 255], offset: [-0] } },
    outputs: [{ name: 'probabilities', kind: 'probabilities', description: AWKWARD_TEXT }],
    labels: Array.from({ length: model.classes }, (_, i) => (i === 0 ? AWKWARD_TEXT : `class-${i}`)),
    runtime: { opset: 13, irVersion: 7, minOnnxruntime: '1.17.0', executionProviders: ['cpu'] },
    quantization: { precision: 'fp32' },
    lineage: { exporter: 'edgekd-conformance' },
    metrics: { fp32Accuracy: 3.2e-7, latency: [{ batch: 1, p50Ms: 1e-7, p99Ms: 1e20, runtime: 'conformance' }] },
    // An unknown member: signed like the rest, ignored by the schema.
    ...({ awkward: AWKWARD_NUMBERS } as object),
  } as ManifestDraft;
}

export function conformancePackage(key: SigningKey, name: string, version: number, model: ModelBytes, now: Date): ModelPackage {
  return buildSignedPackage(conformanceDraft(name, version, model), model.bytes, key, now);
}

export function chunkHashes(bytes: Uint8Array, chunkBytes: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += chunkBytes) out.push(createHash('sha256').update(bytes.subarray(i, i + chunkBytes)).digest('hex'));
  return out;
}

export function offerFor(pkg: ModelPackage, o: { deploymentId: string; rolloutId: string; chunkBytes: number; issuedAt: string; activation?: Activation }): Offer {
  const offer: Offer = {
    schema: 'edgekd.offer/1',
    deploymentId: o.deploymentId,
    rolloutId: o.rolloutId,
    issuedAt: o.issuedAt,
    model: { name: pkg.manifest.name, version: pkg.manifest.version, sha256: pkg.manifest.model.sha256 },
    manifest: structuredClone(pkg.manifest) as unknown as Record<string, unknown>,
    signature: { algorithm: 'Ed25519', keyId: pkg.signature.keyId, signature: pkg.signature.signature },
    delivery: { sizeBytes: pkg.model.length, sha256: pkg.manifest.model.sha256, chunkBytes: o.chunkBytes, chunkSha256: chunkHashes(pkg.model, o.chunkBytes) },
  };
  if (o.activation) offer.activation = o.activation;
  return offer;
}

/** The manifest changed after signing (a label): the signature no longer verifies. */
export function tamperManifest(offer: Offer): Offer {
  const t = structuredClone(offer);
  const labels = t.manifest.labels as string[];
  labels[labels.length - 1] = `${labels[labels.length - 1]}-tampered`;
  return t;
}

/** A correct signature by a key the device does not trust. */
export function signWithOtherKey(offer: Offer, other: SigningKey): Offer {
  const t = structuredClone(offer);
  const sig = signManifest(t.manifest as never, other);
  t.signature = { algorithm: 'Ed25519', keyId: sig.keyId, signature: sig.signature };
  return t;
}

/** The offer's summary names other bytes than the signed manifest. */
export function mismatchModel(offer: Offer): Offer {
  const t = structuredClone(offer);
  const other = createHash('sha256').update(t.model.sha256).digest('hex');
  t.model.sha256 = other;
  return t;
}

/**
 * Model bytes altered in transit with a delivery plan that matches the altered bytes: every chunk
 * passes its own hash and only the whole-file check against the signed manifest can catch it.
 */
export function tamperFile(offer: Offer, model: Uint8Array): { offer: Offer; served: Uint8Array } {
  const served = new Uint8Array(model);
  served[served.length >> 1] = served[served.length >> 1]! ^ 0xff;
  const t = structuredClone(offer);
  t.delivery.chunkSha256 = chunkHashes(served, t.delivery.chunkBytes);
  return { offer: t, served };
}

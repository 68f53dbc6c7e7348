import { tinyMlpOnnx } from '../../../shared/package/testing/tiny-models';
import { buildSignedPackage, type ModelPackage } from '../../../shared/package/build-package';
import { generateSigningKey, type SigningKey } from '../../../shared/package/keys';
import { trustedKeyEntry, type TrustedKeys } from '../../../shared/package/trusted-keys';

/**
 * A signed package whose model is a real, runnable MLP of about `targetBytes` (the hidden layer is
 * sized to get there: 4 bytes per weight, `features` inputs). Used where delivery size matters
 * (chunking, bandwidth caps, the fleet benchmark's 200 KB package).
 */
export function sizedPackage(opts: { targetBytes: number; version?: number; name?: string; key?: SigningKey; features?: number; classes?: number; seed?: number }): {
  pkg: ModelPackage;
  key: SigningKey;
  trustedKeys: TrustedKeys;
  features: number;
} {
  const features = opts.features ?? 16;
  const classes = opts.classes ?? 4;
  const hidden = Math.max(1, Math.round(opts.targetBytes / 4 / (features + classes + 1)));
  const model = tinyMlpOnnx({ features, hidden, classes, seed: opts.seed ?? opts.version ?? 1 });
  const key = opts.key ?? generateSigningKey().key;
  const pkg = buildSignedPackage(
    {
      name: opts.name ?? 'fleet-model',
      version: opts.version ?? 1,
      input: { name: model.inputName, shape: model.inputShape, layout: 'NC', dtype: 'float32', normalisation: { rawRange: [0, 1], scale: [1], offset: [0] } },
      outputs: [{ name: 'probabilities', kind: 'probabilities' }],
      labels: Array.from({ length: classes }, (_, i) => `class-${i}`),
      runtime: { opset: 13, irVersion: 7, minOnnxruntime: '1.17.0', executionProviders: ['cpu'] },
      quantization: { precision: 'fp32' },
      lineage: { exporter: 'edgekd-fleet-fixture' },
      metrics: {},
    },
    model.bytes,
    key,
  );
  return { pkg, key, trustedKeys: { schemaVersion: 1, keys: [trustedKeyEntry(key.publicKeyRaw)] }, features };
}

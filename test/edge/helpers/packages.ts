import { buildSignedPackage, generateSigningKey, trustedKeyEntry, type ModelPackage, type SigningKey, type TrustedKeys } from '../../../shared/package';
import { tinyMlpOnnx } from '../../../shared/package/testing/tiny-models';

/**
 * A signed package around a real 784→hidden→10 MLP (Gemm, Relu, Gemm, Softmax) built with
 * onnx-proto: about 200 KB with hidden=64, so deliveries span many chunks.
 */
export function mlpPackage(o: { version: number; key: SigningKey; seed?: number; hidden?: number; name?: string }): ModelPackage {
  const m = tinyMlpOnnx({ features: 784, hidden: o.hidden ?? 64, classes: 10, seed: o.seed ?? o.version });
  return buildSignedPackage(
    {
      name: o.name ?? 'mlp',
      version: o.version,
      input: { name: m.inputName, shape: m.inputShape, layout: 'NC', dtype: 'float32', normalisation: { rawRange: [0, 1], scale: [1], offset: [0] } },
      outputs: [{ name: 'probabilities', kind: 'probabilities' }],
      labels: Array.from({ length: 10 }, (_, i) => `digit-${i}`),
      runtime: { opset: 13, irVersion: 7, minOnnxruntime: '1.17.0', executionProviders: ['cpu'] },
      quantization: { precision: 'fp32' },
      lineage: { exporter: 'edgekd-test' },
      metrics: {},
    },
    m.bytes,
    o.key,
  );
}

export function testKey(): { key: SigningKey; trustedKeys: TrustedKeys } {
  const { key } = generateSigningKey();
  return { key, trustedKeys: { schemaVersion: 1, keys: [trustedKeyEntry(key.publicKeyRaw)] } };
}

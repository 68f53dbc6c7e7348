import { OnnxGraphBuilder } from '../onnx/graph-builder';
import { OnnxDataType, attr } from '../onnx/onnx-protos';
import { buildSignedPackage, type ManifestDraft, type ModelPackage } from '../build-package';
import { generateSigningKey, type SigningKey } from '../keys';
import { trustedKeyEntry, type TrustedKeys } from '../trusted-keys';
import { createRandom, type Random } from '../../random/seeded-random';

/**
 * Small, real ONNX models and signed packages for tests of code that consumes packages (the
 * edge agent, the fleet) before a distilled student exists. They load and run in
 * onnxruntime-node; the weights are seeded pseudo-random, so outputs are deterministic but
 * meaningless.
 */

function randomWeights(n: number, scale: number, rand: Random): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = (rand.next() * 2 - 1) * scale;
  return w;
}

export interface TinyModel {
  bytes: Uint8Array;
  inputName: string;
  /** Batch-first input shape, batch symbolic ("N"). */
  inputShape: Array<number | string>;
  layout: 'NC' | 'NHWC';
  outputNames: string[];
  classes: number;
}

/** input [N, features] → Gemm → Relu → Gemm → Softmax → "probabilities". */
export function tinyMlpOnnx(opts: { features?: number; hidden?: number; classes?: number; seed?: number } = {}): TinyModel {
  const { features = 4, hidden = 8, classes = 3, seed = 1 } = opts;
  const rand = createRandom(seed);
  const g = new OnnxGraphBuilder('tiny_mlp');
  const x = g.input('input', OnnxDataType.FLOAT, ['N', features]);
  const w1 = g.initializer('w1', randomWeights(hidden * features, 1, rand), [hidden, features]);
  const b1 = g.initializer('b1', randomWeights(hidden, 0.1, rand), [hidden]);
  const [h] = g.node('Gemm', [x, w1, b1], ['h'], { transB: attr.int(1) });
  const [r] = g.node('Relu', [h!], ['h_relu']);
  const w2 = g.initializer('w2', randomWeights(classes * hidden, 1, rand), [classes, hidden]);
  const b2 = g.initializer('b2', randomWeights(classes, 0.1, rand), [classes]);
  const [logits] = g.node('Gemm', [r!, w2, b2], ['logits'], { transB: attr.int(1) });
  g.nodeNamed('Softmax', [logits!], 'probabilities', { axis: attr.int(-1) });
  g.output('probabilities', OnnxDataType.FLOAT, ['N', classes]);
  return { bytes: g.encode('edgekd-fixture'), inputName: 'input', inputShape: ['N', features], layout: 'NC', outputNames: ['probabilities'], classes };
}

/**
 * input [N, H, W, C] (NHWC, like the exporter's students) → Transpose → Conv 3×3 same → Relu →
 * GlobalAveragePool → Flatten → Gemm → Softmax → "probabilities", plus "feature_mean"
 * ([N, filters], the per-channel mean of the conv activations) when `featureOutput` is set.
 */
export function tinyConvOnnx(
  opts: { height?: number; width?: number; channels?: number; filters?: number; classes?: number; seed?: number; featureOutput?: boolean } = {},
): TinyModel {
  const { height = 8, width = 8, channels = 1, filters = 4, classes = 3, seed = 2, featureOutput = false } = opts;
  const rand = createRandom(seed);
  const g = new OnnxGraphBuilder('tiny_conv');
  const x = g.input('input', OnnxDataType.FLOAT, ['N', height, width, channels]);
  const [nchw] = g.node('Transpose', [x], ['input_nchw'], { perm: attr.ints([0, 3, 1, 2]) });
  const w = g.initializer('conv_w', randomWeights(filters * channels * 9, 0.5, rand), [filters, channels, 3, 3]);
  const b = g.initializer('conv_b', randomWeights(filters, 0.1, rand), [filters]);
  const [c] = g.node('Conv', [nchw!, w, b], ['conv'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
  const [r] = g.node('Relu', [c!], ['conv_relu']);
  const [gap] = g.node('GlobalAveragePool', [r!], ['gap']);
  const flatName = featureOutput ? 'feature_mean' : 'gap_flat';
  const flat = featureOutput ? g.nodeNamed('Flatten', [gap!], flatName, { axis: attr.int(1) }) : g.node('Flatten', [gap!], [flatName], { axis: attr.int(1) })[0]!;
  const w2 = g.initializer('fc_w', randomWeights(classes * filters, 1, rand), [classes, filters]);
  const b2 = g.initializer('fc_b', randomWeights(classes, 0.1, rand), [classes]);
  const [logits] = g.node('Gemm', [flat, w2, b2], ['logits'], { transB: attr.int(1) });
  g.nodeNamed('Softmax', [logits!], 'probabilities', { axis: attr.int(-1) });
  g.output('probabilities', OnnxDataType.FLOAT, ['N', classes]);
  const outputNames = ['probabilities'];
  if (featureOutput) {
    g.output('feature_mean', OnnxDataType.FLOAT, ['N', filters]);
    outputNames.push('feature_mean');
  }
  return { bytes: g.encode('edgekd-fixture'), inputName: 'input', inputShape: ['N', height, width, channels], layout: 'NHWC', outputNames, classes };
}

export interface FixturePackage {
  pkg: ModelPackage;
  key: SigningKey;
  trustedKeys: TrustedKeys;
  model: TinyModel;
}

/**
 * A signed package around a tiny model. Pass the same `key` to sign several versions with one
 * key (and one trusted-keys list); by default a fresh key is generated.
 */
export function buildFixturePackage(
  opts: { name?: string; version?: number; kind?: 'mlp' | 'conv'; seed?: number; key?: SigningKey; now?: Date; featureOutput?: boolean; overrides?: Partial<ManifestDraft> } = {},
): FixturePackage {
  const { name = 'fixture-model', version = 1, kind = 'conv', seed = version, now = new Date(), featureOutput = false } = opts;
  const model = kind === 'mlp' ? tinyMlpOnnx({ seed }) : tinyConvOnnx({ seed, featureOutput });
  const key = opts.key ?? generateSigningKey(now).key;
  const labels = Array.from({ length: model.classes }, (_, i) => `class-${i}`);
  const draft: ManifestDraft = {
    name,
    version,
    input: {
      name: model.inputName,
      shape: model.inputShape,
      layout: model.layout,
      dtype: 'float32',
      normalisation: { rawRange: [0, 1], scale: [1], offset: [0] },
    },
    outputs: model.outputNames.map((n) => (n === 'probabilities' ? { name: n, kind: 'probabilities' as const } : { name: n, kind: 'feature' as const, description: 'per-channel mean of the first conv block' })),
    labels,
    runtime: { opset: 13, irVersion: 7, minOnnxruntime: '1.17.0', executionProviders: ['cpu'] },
    quantization: { precision: 'fp32' },
    lineage: { exporter: 'edgekd-fixture' },
    metrics: {},
    ...opts.overrides,
  };
  const pkg = buildSignedPackage(draft, model.bytes, key, now);
  return { pkg, key, trustedKeys: { schemaVersion: 1, keys: [trustedKeyEntry(key.publicKeyRaw)] }, model };
}

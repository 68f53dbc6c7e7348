import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, zooArchs } from '../zoo/zoo';
import { evenSubset, loadMnist } from '../data';
import { exportToOnnx } from './tfjs-to-onnx';
import { allOpsModel, randomImages, randomizeBatchNorm } from './testing/models';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function runOnnx(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return await s.run({ input: new ort.Tensor('float32', x, shape) });
  } finally {
    await s.release();
  }
}

function runTfjs(model: tf.LayersModel, x: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync() as Float32Array);
}

let realImages: Float32Array;

beforeAll(async () => {
  await tf.setBackend('cpu');
  // Eight real test digits (parity only; no calibration happens here).
  realImages = evenSubset(loadMnist().test, 8).images;
});

describe('exportToOnnx parity with TensorFlow.js', () => {
  for (const arch of zooArchs) {
    it(`${arch}: onnxruntime output equals tfjs within 1e-4 of the logit scale on random and real inputs`, async () => {
      const model = buildModel(arch, { inputShape: [28, 28, 1], numClasses: 10, seed: 11 });
      randomizeBatchNorm(model, 5);
      const r = exportToOnnx(model);
      expect(r.foldedBatchNorms.length).toBe(model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length);
      for (const x of [randomImages(4, [28, 28, 1], 9), realImages]) {
        const shape = [x.length / 784, 28, 28, 1];
        const got = (await runOnnx(r.bytes, x, shape)).logits!.data as Float32Array;
        const ref = runTfjs(model, x, shape);
        // float32 rounding grows with depth and output scale: 1e-4 of the largest logit (at least 1e-4).
        expect(maxAbsDiff(ref, got)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(ref, Math.abs)));
      }
      model.dispose();
    });
  }

  for (const arch of ['resnet20', 'resnet8-half', 'mobilenet-cifar'] as const) {
    it(`${arch} on 32x32x3: onnxruntime output equals tfjs within 1e-4 of the logit scale`, async () => {
      const model = buildModel(arch, { inputShape: [32, 32, 3], numClasses: 10, seed: 11 });
      randomizeBatchNorm(model, 5);
      const r = exportToOnnx(model);
      const x = randomImages(2, [32, 32, 3], 9, [-2, 2.1]);
      const got = (await runOnnx(r.bytes, x, [2, 32, 32, 3])).logits!.data as Float32Array;
      const ref = runTfjs(model, x, [2, 32, 32, 3]);
      expect(maxAbsDiff(ref, got)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(ref, Math.abs)));
      model.dispose();
    });
  }

  it('maps every supported layer type (depthwise, ReLU6, Add, pools, Flatten order, Dense+BN, Dropout)', async () => {
    const model = allOpsModel();
    const r = exportToOnnx(model, { appendSoftmax: true });
    expect(r.foldedBatchNorms).toEqual(['c1_bn', 'dw_bn', 'fc1_bn']);
    const x = randomImages(3, [12, 12, 3], 4);
    const out = await runOnnx(r.bytes, x, [3, 12, 12, 3]);
    const ref = tf.tidy(() => tf.softmax(tf.tensor(runTfjs(model, x, [3, 12, 12, 3]), [3, 5])).dataSync());
    expect(maxAbsDiff(ref, out.probabilities!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('adds named extra outputs: per-channel mean and mean square of a layer before its folded BatchNorm', async () => {
    const model = allOpsModel();
    const r = exportToOnnx(model, {
      extraOutputs: [
        { name: 'c1_mean', layer: 'c1', stat: 'channel-mean' },
        { name: 'c1_sq', layer: 'c1', stat: 'channel-mean-square' },
      ],
    });
    expect(r.outputs.map((o) => [o.name, o.kind])).toEqual([['logits', 'logits'], ['c1_mean', 'feature'], ['c1_sq', 'feature']]);
    const x = randomImages(2, [12, 12, 3], 8);
    const out = await runOnnx(r.bytes, x, [2, 12, 12, 3]);
    const c1 = tf.model({ inputs: model.inputs, outputs: model.getLayer('c1').output as tf.SymbolicTensor });
    const [mean, sq] = tf.tidy(() => {
      const a = c1.predict(tf.tensor(x, [2, 12, 12, 3])) as tf.Tensor;
      return [a.mean([1, 2]).dataSync(), a.square().mean([1, 2]).dataSync()];
    });
    expect(maxAbsDiff(mean!, out.c1_mean!.data as Float32Array)).toBeLessThan(1e-5);
    expect(maxAbsDiff(sq!, out.c1_sq!.data as Float32Array)).toBeLessThan(1e-4);
  });

  it('adds a float probe branch from another model on the same input', async () => {
    const student = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
    randomizeBatchNorm(teacher, 3);
    const r = exportToOnnx(student, { probes: [{ model: teacher, outputs: [{ name: 'teacher_conv1_mean', layer: 'conv1_conv', stat: 'channel-mean' }] }] });
    const probeNodes = r.graph.nodes.filter((n) => n.floatOnly);
    expect(probeNodes.length).toBeGreaterThan(0);
    // Only the teacher's layers up to conv1 are kept.
    expect(probeNodes.some((n) => n.layer === 'conv2_conv')).toBe(false);
    const x = randomImages(2, [28, 28, 1], 6);
    const out = await runOnnx(r.bytes, x, [2, 28, 28, 1]);
    const ref = tf.tidy(() => (tf.model({ inputs: teacher.inputs, outputs: teacher.getLayer('conv1_conv').output as tf.SymbolicTensor }).predict(tf.tensor(x, [2, 28, 28, 1])) as tf.Tensor).mean([1, 2]).dataSync());
    expect(maxAbsDiff(ref, out.teacher_conv1_mean!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('refuses a layer it cannot map with EDGEKD_EXPORT_UNSUPPORTED_OP naming the layer', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const up = tf.layers.upSampling2d({ name: 'my_upsample', size: [2, 2] }).apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(up) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    expect(() => exportToOnnx(model)).toThrow(expect.objectContaining({ code: 'EDGEKD_EXPORT_UNSUPPORTED_OP', message: expect.stringContaining("'my_upsample'") }));
  });

  it('declares opset 13 with IR 7 and an NHWC input', () => {
    const r = exportToOnnx(allOpsModel());
    expect(r.opset).toBe(13);
    expect(r.inputShape).toEqual(['N', 12, 12, 3]);
    expect(r.graph.nodes[0]!.opType).toBe('Transpose');
    expect(r.graph.nodes.filter((n) => n.opType === 'Transpose').length).toBe(2); // input + the one before Flatten
  });
});

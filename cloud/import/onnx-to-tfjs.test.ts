import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../shared/package/onnx/graph-builder';
import { OnnxDataType, attr } from '../../shared/package/onnx/onnx-protos';
import { exportToOnnx } from '../export/tfjs-to-onnx';
import { createRandom } from '../../shared/random/seeded-random';
import { randomImages, randomizeBatchNorm } from '../export/testing/models';
import { buildModel } from '../zoo/zoo';
import { importOnnxModel } from './onnx-to-tfjs';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('importOnnxModel (bring your own teacher)', () => {
  for (const arch of ['lenet5-bn', 'resnet8', 'mobilenet-tiny']) {
    it(`${arch}: export without folding, import back: same outputs and BatchNorm statistics`, () => {
      const teacher = buildModel(arch, { inputShape: [28, 28, 1], numClasses: 10, seed: 21 });
      randomizeBatchNorm(teacher, 9);
      const onnxBytes = exportToOnnx(teacher, { foldBatchNorm: false }).bytes;
      const r = importOnnxModel(onnxBytes, { name: `${arch}-imported` });
      const bns = teacher.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      expect(r.batchNormLayers).toHaveLength(bns.length);
      expect(r.onnxInputLayout).toBe('NHWC');
      // BN statistics survive: compare every BN layer's weights in order.
      const imported = r.model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      bns.forEach((bn, i) => {
        const a = bn.getWeights();
        const b = imported[i]!.getWeights();
        a.forEach((t, j) => expect(maxAbsDiff(t.dataSync(), b[j]!.dataSync())).toBe(0));
      });
      const x = tf.tensor4d(randomImages(3, [28, 28, 1], 4), [3, 28, 28, 1]);
      const ya = (teacher.predict(x) as tf.Tensor).dataSync();
      const yb = (r.model.predict(x) as tf.Tensor).dataSync();
      expect(maxAbsDiff(ya, yb)).toBeLessThan(1e-4);
      expect(r.model.layers.find((l) => l.getClassName() === 'Conv2D')!.trainable).toBe(true);
    });
  }

  it('imports a PyTorch-style NCHW graph (Conv, BatchNormalization, Relu, MaxPool, Flatten, Gemm)', async () => {
    const rand = createRandom(5);
    const w = (n: number, s = 0.5) => Float32Array.from({ length: n }, () => (rand.next() * 2 - 1) * s);
    const g = new OnnxGraphBuilder('torch_like');
    const x = g.input('x', OnnxDataType.FLOAT, ['batch', 2, 8, 8]);
    const [c] = g.node('Conv', [x, g.initializer('conv.weight', w(4 * 2 * 9), [4, 2, 3, 3]), g.initializer('conv.bias', w(4), [4])], ['c'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
    const bnArgs = [g.initializer('bn.weight', Float32Array.from(w(4), (v) => 1 + v), [4]), g.initializer('bn.bias', w(4), [4]), g.initializer('bn.running_mean', w(4, 0.2), [4]), g.initializer('bn.running_var', Float32Array.from(w(4), (v) => 1 + Math.abs(v)), [4])];
    const [b] = g.node('BatchNormalization', [c!, ...bnArgs], ['b'], { epsilon: attr.float(1e-5) });
    const [r] = g.node('Relu', [b!], ['r']);
    const [p] = g.node('MaxPool', [r!], ['p'], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
    const [f] = g.node('Flatten', [p!], ['f'], { axis: attr.int(1) });
    g.nodeNamed('Gemm', [f!, g.initializer('fc.weight', w(3 * 64), [3, 64]), g.initializer('fc.bias', w(3), [3])], 'logits', { transB: attr.int(1) });
    g.output('logits', OnnxDataType.FLOAT, ['batch', 3]);
    const bytes = g.encode('pytorch-like');
    const imp = importOnnxModel(bytes);
    expect(imp.onnxInputLayout).toBe('NCHW');
    expect(imp.inputShape).toEqual([8, 8, 2]);
    const nchw = randomImages(2, [2, 8, 8], 3);
    const s = await ort.InferenceSession.create(bytes);
    const ref = (await s.run({ x: new ort.Tensor('float32', nchw, [2, 2, 8, 8]) })).logits!.data as Float32Array;
    const nhwc = tf.tensor4d(nchw, [2, 2, 8, 8]).transpose([0, 2, 3, 1]);
    expect(maxAbsDiff(ref, (imp.model.predict(nhwc) as tf.Tensor).dataSync())).toBeLessThan(1e-4);
    // Trainable: gradients of the output reach the input through the BatchNorm layer.
    const grad = tf.grad((inp: tf.Tensor) => (imp.model.apply(inp, { training: false }) as tf.Tensor).sum())(nhwc);
    expect(grad.abs().sum().dataSync()[0]).toBeGreaterThan(0);
  });

  it('refuses a model whose BatchNorm was folded away (EDGEKD_BATCHNORM_FOLDED)', () => {
    const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    expect(() => importOnnxModel(exportToOnnx(teacher).bytes)).toThrow(expect.objectContaining({ code: 'EDGEKD_BATCHNORM_FOLDED', message: expect.stringContaining('do_constant_folding=False') }));
  });

  it('names an unsupported op', () => {
    const g = new OnnxGraphBuilder('bad');
    const x = g.input('x', OnnxDataType.FLOAT, [1, 1, 4, 4]);
    g.nodeNamed('LRN', [x], 'y', { size: attr.int(3) });
    g.output('y', OnnxDataType.FLOAT);
    expect(() => importOnnxModel(g.encode())).toThrow(expect.objectContaining({ code: 'EDGEKD_EXPORT_UNSUPPORTED_OP', message: expect.stringContaining('LRN') }));
  });
});

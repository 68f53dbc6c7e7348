import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../zoo/zoo';
import { evenSubset, loadMnist } from '../data';
import { exportToOnnx } from './tfjs-to-onnx';
import { calibrate } from './calibrate';
import { quantizeQdq } from './qdq-quantize';
import { encodeGraph } from './onnx-ir';
import { optimizedGraphSummary } from './optimized-graph';
import { randomImages, randomizeBatchNorm } from './testing/models';
import { DEFAULT_FLOAT_LAYER_RULE, floatLayersByRule } from './layer-precision';

const synthetic = (n: number, seed: number) => ({ provenance: 'synthetic' as const, data: randomImages(n, [28, 28, 1], seed), shape: [n, 28, 28, 1] as [number, number, number, number] });

async function logits(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return (await s.run({ input: new ort.Tensor('float32', x, [n, 28, 28, 1]) })).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('QDQ int8 quantization', () => {
  for (const arch of ['lenet5-half', 'resnet8', 'mobilenet-tiny']) {
    it(`${arch}: the CPU artifact fuses every conv into QLinearConv and stays close to fp32`, async () => {
      const model = buildModel(arch, { inputShape: [28, 28, 1], numClasses: 10, seed: 4 });
      randomizeBatchNorm(model, 2);
      const fp32 = exportToOnnx(model);
      const convs = fp32.graph.nodes.filter((n) => n.opType === 'Conv').length;
      const cal = await calibrate(fp32.graph, synthetic(64, 1), { method: 'minmax' });
      const q = quantizeQdq(fp32.graph, { target: 'cpu', ranges: cal.ranges });
      expect(q.report.quantizedConvs).toBe(convs);
      const bytes = encodeGraph(q.graph);
      const opt = await optimizedGraphSummary(bytes);
      expect(opt.quantizedConvs).toBe(convs);
      expect(opt.floatConvs).toBe(0);
      // Outputs track fp32: mean absolute error well below the logits' spread.
      const x = randomImages(16, [28, 28, 1], 99);
      const a = await logits(fp32.bytes, x, 16);
      const b = await logits(bytes, x, 16);
      let err = 0;
      let spread = 0;
      const mean = a.reduce((s, v) => s + v, 0) / a.length;
      for (let i = 0; i < a.length; i++) {
        err += Math.abs(a[i]! - b[i]!);
        spread += Math.abs(a[i]! - mean);
      }
      expect(err / spread).toBeLessThan(0.15);
      expect(bytes.length).toBeLessThan(fp32.bytes.length * 0.6);
      model.dispose();
    });
  }

  it('opted-out convolutions stay float Conv in onnxruntime (their ReLU and pooling with them), the rest fuse to QLinearConv', async () => {
    const model = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 4 });
    randomizeBatchNorm(model, 2);
    const fp32 = exportToOnnx(model);
    const keep = floatLayersByRule(fp32.graph, DEFAULT_FLOAT_LAYER_RULE).map((l) => l.node);
    expect(keep).toEqual(['conv1_conv/Conv', 'conv2_conv/Conv']);
    const cal = await calibrate(fp32.graph, synthetic(64, 1), { method: 'minmax' });
    const q = quantizeQdq(fp32.graph, { target: 'cpu', ranges: cal.ranges, reduceRange: false, keepFloat: new Set(keep) });
    expect(q.report.weightBits).toBe(8);
    expect(q.report.quantizedConvs).toBe(1);
    expect(q.report.keptFloat).toEqual(expect.arrayContaining([...keep, 'Transpose/Transpose', 'conv1_relu/Relu', 'pool1/MaxPool', 'pool2/MaxPool']));
    // No Q/DQ next to a kept-float node, so onnxruntime cannot re-quantize it.
    const dq = new Set(q.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').flatMap((n) => n.outputs));
    for (const n of q.graph.nodes.filter((n) => keep.includes(n.name))) expect(n.inputs.some((i) => dq.has(i))).toBe(false);
    const bytes = encodeGraph(q.graph);
    const opt = await optimizedGraphSummary(bytes);
    expect(opt.quantizedConvs).toBe(1);
    expect(opt.floatConvs).toBe(2);
    const x = randomImages(16, [28, 28, 1], 99);
    const a = await logits(fp32.bytes, x, 16);
    const b = await logits(bytes, x, 16);
    let err = 0;
    let spread = 0;
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    for (let i = 0; i < a.length; i++) {
      err += Math.abs(a[i]! - b[i]!);
      spread += Math.abs(a[i]! - mean);
    }
    expect(err / spread).toBeLessThan(0.1);
    model.dispose();
  });

  it('the TensorRT artifact uses int8 activations with zero points 0 and per-channel weights on axis 0', async () => {
    const model = buildModel('mobilenet-tiny', { inputShape: [28, 28, 1], numClasses: 10, seed: 4 });
    const fp32 = exportToOnnx(model);
    const cal = await calibrate(fp32.graph, synthetic(32, 2), { method: 'entropy', target: 'tensorrt' });
    const q = quantizeQdq(fp32.graph, { target: 'tensorrt', ranges: cal.ranges });
    expect(q.report.foldedActivations).toEqual([]);
    for (const n of q.graph.nodes.filter((x) => x.opType === 'QuantizeLinear' || x.opType === 'DequantizeLinear')) {
      const zp = q.graph.initializers.get(n.inputs[2]!)!;
      expect(zp.data instanceof Int8Array || zp.data instanceof Int32Array).toBe(true);
      expect([...(zp.data as Int8Array)].every((v) => v === 0)).toBe(true);
      if (zp.dims.length === 1 && n.opType === 'DequantizeLinear') expect(n.attrs.axis).toEqual({ i: 0 });
    }
    // It still loads and runs in onnxruntime.
    expect((await logits(encodeGraph(q.graph), randomImages(2, [28, 28, 1], 1), 2)).length).toBe(20);
  });

  it('refuses real images for calibration', async () => {
    const fp32 = exportToOnnx(buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 4 }));
    const real = evenSubset(loadMnist().test, 4);
    await expect(calibrate(fp32.graph, { provenance: 'synthetic', data: real.images, shape: [4, 28, 28, 1] }, { method: 'minmax' })).rejects.toMatchObject({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' });
    await expect(calibrate(fp32.graph, real as never, { method: 'minmax' })).rejects.toMatchObject({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' });
    await expect(calibrate(fp32.graph, { provenance: 'real', data: new Float32Array(784), shape: [1, 28, 28, 1] } as never, { method: 'minmax' })).rejects.toMatchObject({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' });
  });
});

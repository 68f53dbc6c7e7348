import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../zoo/zoo';
import { layerMacs } from '../zoo/model-stats';
import { classifyCpu, weightBitsFor } from './cpu-class';
import { DEFAULT_FLOAT_LAYER_RULE, QUANTIZE_ALL, floatLayersByRule, planInt8 } from './layer-precision';
import { exportToOnnx } from './tfjs-to-onnx';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const exported = (arch: string) => {
  const model = buildModel(arch, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  return { model, fp32: exportToOnnx(model) };
};

describe('per-layer int8 opt-out', () => {
  it('keeps dense convolutions with fewer than 8 input channels in fp32, never a depthwise one', () => {
    const lenet = exported('lenet5-half');
    expect(floatLayersByRule(lenet.fp32.graph, DEFAULT_FLOAT_LAYER_RULE).map((l) => l.node)).toEqual(['conv1_conv/Conv', 'conv2_conv/Conv']);
    const mobilenet = exported('mobilenet-tiny');
    const kept = floatLayersByRule(mobilenet.fp32.graph, DEFAULT_FLOAT_LAYER_RULE);
    expect(kept.map((l) => l.node)).toEqual(['stem_conv/Conv']);
    expect(kept[0]!.reason).toMatch(/1 input channel \(< 8\)/);
    expect(floatLayersByRule(mobilenet.fp32.graph, QUANTIZE_ALL)).toEqual([]);
    lenet.model.dispose();
    mobilenet.model.dispose();
  });

  it('declines int8 for a model whose int8 layers would carry too few of its MACs, and not for resnet8', () => {
    const lenet = exported('lenet5-half');
    const p = planInt8(lenet.fp32.graph, DEFAULT_FLOAT_LAYER_RULE, layerMacs(lenet.model));
    expect(p.int8MacShare).toBeLessThan(0.5);
    expect(p.declined).toMatch(/% of the MACs would run in int8/);
    const resnet = exported('resnet8');
    const r = planInt8(resnet.fp32.graph, DEFAULT_FLOAT_LAYER_RULE, layerMacs(resnet.model));
    expect(r.int8MacShare).toBeGreaterThan(0.9);
    expect(r.declined).toBeNull();
    expect(planInt8(lenet.fp32.graph, QUANTIZE_ALL, layerMacs(lenet.model))).toMatchObject({ int8MacShare: 1, declined: null });
    lenet.model.dispose();
    resnet.model.dispose();
  });
});

describe('weight bits per target and CPU', () => {
  it('uses 7-bit weights only on x86 without VNNI', () => {
    expect(classifyCpu('flags\t\t: fpu sse avx2 fma avx512f avx512_vnni\n', 'x64')).toBe('x86-vnni');
    expect(classifyCpu('flags\t\t: fpu sse avx2 fma avx_vnni\n', 'x64')).toBe('x86-vnni');
    expect(classifyCpu('flags\t\t: fpu sse avx2 fma avx512f\n', 'x64')).toBe('x86-avx2');
    expect(classifyCpu('', 'x64')).toBe('x86-avx2');
    expect(classifyCpu('Features: fp asimd asimddp', 'arm64')).toBe('arm64');
    expect(weightBitsFor('cpu', 'x86-avx2')).toBe(7);
    expect(weightBitsFor('cpu', 'x86-vnni')).toBe(8);
    expect(weightBitsFor('cpu', 'arm64')).toBe(8);
    expect(weightBitsFor('tensorrt', 'x86-avx2')).toBe(8);
  });
});

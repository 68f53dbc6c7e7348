import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { isEdgekdError } from '../../shared/errors';
import { buildModel, zooArchs } from './zoo';
import { countMacs, countParams } from './model-stats';

const ALLOWED_LAYERS = new Set([
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'ReLU',
  'Add',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Dense',
  'Dropout',
]);

describe('the model zoo', () => {
  for (const shape of [
    [28, 28, 1],
    [32, 32, 3],
  ] as const) {
    for (const arch of zooArchs) {
      it(`builds ${arch} for ${shape.join('x')} with BatchNorm, logits out, exporter-safe layers`, () => {
        const m = buildModel(arch, { inputShape: shape, numClasses: 10, seed: 1 });
        const y = m.predict(tf.zeros([2, ...shape])) as tf.Tensor;
        expect(y.shape).toEqual([2, 10]);
        expect(m.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(true);
        for (const l of m.layers) expect(ALLOWED_LAYERS.has(l.getClassName()), l.getClassName()).toBe(true);
        expect(countParams(m).total).toBe(m.countParams());
        tf.dispose([y]);
        m.dispose();
      });
    }
  }

  it('counts parameters and MACs analytically (LeNet-5 by hand)', () => {
    const m = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    // conv 5x5: 1→6, 6→16, 16→120 (no bias, BN 4 per channel), fc 120→84→10 with bias.
    const convW = 25 * 6 + 25 * 6 * 16 + 25 * 16 * 120;
    const bn = 4 * (6 + 16 + 120);
    const fc = 120 * 84 + 84 + 84 * 10 + 10;
    expect(countParams(m)).toEqual({ total: convW + bn + fc, trainable: convW + bn / 2 + fc });
    const macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 120 * 400 + 120 * 84 + 84 * 10;
    expect(countMacs(m)).toBe(macs);
    const half = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    expect(countParams(half).total).toBeLessThan(countParams(m).total / 3);
  });

  it('gives the CIFAR-10 teacher and students the parameters and MACs their model cards state (32x32x3)', () => {
    // The table in cloud/zoo/README.md; ResNet-20 by hand: 19 3x3 convs + 2 1x1 projections.
    const card = (arch: string) => {
      const m = buildModel(arch, { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
      const r = { params: countParams(m).total, macs: countMacs(m) };
      m.dispose();
      return r;
    };
    expect(card('resnet20')).toEqual({ params: 274_042, macs: 40_813_184 });
    expect(card('resnet8')).toEqual({ params: 78_714, macs: 12_501_632 });
    expect(card('resnet8-half')).toEqual({ params: 20_290, macs: 3_236_160 });
    expect(card('mobilenet-cifar')).toEqual({ params: 69_834, macs: 12_184_064 });
    // The stem by hand: 32x32 positions x 16 filters x 3x3x3 taps.
    const stem = 32 * 32 * 16 * 27;
    const stage1 = 3 * 2 * 32 * 32 * 16 * 16 * 9;
    const stage2 = 16 * 16 * 32 * (16 * 9) + 5 * 16 * 16 * 32 * 32 * 9 + 16 * 16 * 32 * 16;
    const stage3 = 8 * 8 * 64 * (32 * 9) + 5 * 8 * 8 * 64 * 64 * 9 + 8 * 8 * 64 * 32;
    expect(card('resnet20').macs).toBe(stem + stage1 + stage2 + stage3 + 64 * 10);
  });

  it('initialises the same weights from the same seed, different from another seed', () => {
    const a = buildModel('resnet8', { inputShape: [28, 28, 1], numClasses: 10, seed: 7 }).getWeights();
    const b = buildModel('resnet8', { inputShape: [28, 28, 1], numClasses: 10, seed: 7 }).getWeights();
    const c = buildModel('resnet8', { inputShape: [28, 28, 1], numClasses: 10, seed: 8 }).getWeights();
    expect(a.length).toBe(b.length);
    a.forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(b[i]!.dataSync())));
    expect(Array.from(a[0]!.dataSync())).not.toEqual(Array.from(c[0]!.dataSync()));
  });

  it('rejects an unknown architecture with EDGEKD_UNKNOWN_ARCH', () => {
    let err: unknown;
    try {
      buildModel('vgg16', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    } catch (e) {
      err = e;
    }
    expect(isEdgekdError(err, 'EDGEKD_UNKNOWN_ARCH')).toBe(true);
  });
});

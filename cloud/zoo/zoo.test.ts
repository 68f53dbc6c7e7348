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

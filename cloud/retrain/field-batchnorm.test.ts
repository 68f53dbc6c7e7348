import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyTeacher, probeImages } from '../distill/tiny-models.test-helper';
import { applyFieldBatchNormStatistics, studentBatchNormLayers, type FieldLayerStatistics } from './field-batchnorm';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Per-channel mean and variance over samples and positions of a model's layer output. */
function channelStats(model: tf.LayersModel, layer: string, x: tf.Tensor4D): { mean: number[]; variance: number[] } {
  return tf.tidy(() => {
    const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
    const y = sub.predict(x) as tf.Tensor4D;
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    return { mean: Array.from(mean.dataSync()), variance: Array.from(variance.dataSync()) };
  });
}

describe('field BatchNorm re-estimation', () => {
  it('makes each re-estimated BatchNorm normalise the field to its own affine (mean β, variance γ²), which the source statistics do not', () => {
    const model = tinyTeacher(3);
    const [bn] = studentBatchNormLayers(model);
    expect(bn).toMatchObject({ channels: 4 });
    // A low-contrast field: the inputs shrunk about their mean.
    const field = tf.tidy(() => probeImages(64, 9).mul(0.3).add(0.1)) as tf.Tensor4D;
    const input = channelStats(model, bn!.input, field);
    const stats: FieldLayerStatistics[] = [{ layer: bn!.layer, ...input, sampleCount: 64 * 64 }];
    const [gamma, beta] = model.getLayer(bn!.layer).getWeights().map((w) => Array.from(w.dataSync()));
    const before = channelStats(model, bn!.layer, field);
    const r = applyFieldBatchNormStatistics(model, stats);
    expect(r.adapted).toEqual([{ layer: bn!.layer, weight: 1, sampleCount: 4096 }]);
    const after = channelStats(model, bn!.layer, field);
    for (let c = 0; c < 4; c++) {
      expect(after.mean[c]).toBeCloseTo(beta![c]!, 2);
      // BN adds ε = 1e-3 to the variance.
      expect(after.variance[c]).toBeCloseTo((gamma![c]! ** 2 * input.variance[c]!) / (input.variance[c]! + 1e-3), 2);
    }
    const offBefore = before.mean.reduce((a, m, c) => a + Math.abs(m - beta![c]!), 0);
    const offAfter = after.mean.reduce((a, m, c) => a + Math.abs(m - beta![c]!), 0);
    expect(offAfter).toBeLessThan(offBefore / 10);
    field.dispose();
  });

  it('mixes field and source statistics by weight, by sample count against a prior, and leaves mismatched layers untouched with a reason', () => {
    const model = tinyTeacher(4);
    const [bn] = studentBatchNormLayers(model);
    const moving = () => model.getLayer(bn!.layer).getWeights().slice(-2).map((w) => Array.from(w.dataSync()));
    const [m0, v0] = moving();
    const field: FieldLayerStatistics = { layer: bn!.layer, mean: [1, 1, 1, 1], variance: [4, 4, 4, 4], sampleCount: 300 };
    applyFieldBatchNormStatistics(model, [field], { fieldWeight: 0.5 });
    const [m1, v1] = moving();
    m1!.forEach((m, c) => expect(m).toBeCloseTo((m0![c]! + 1) / 2, 5));
    v1!.forEach((v, c) => expect(v).toBeCloseTo((v0![c]! + 4) / 2, 5));

    const r = applyFieldBatchNormStatistics(model, [field], { priorSamples: 100 });
    expect(r.adapted[0]!.weight).toBeCloseTo(0.75, 6);

    const skipped = applyFieldBatchNormStatistics(model, [
      { ...field, layer: 'no_such_layer' },
      { ...field, sampleCount: 10 },
      { ...field, mean: [1, 2] },
      { ...field, variance: [1, -1, 1, 1] },
    ]);
    expect(skipped.adapted).toEqual([]);
    expect(skipped.skipped.map((s) => s.reason)).toEqual([
      'not a BatchNorm layer of the student',
      '10 field samples < 256',
      '2/4 field channels, the layer has 4',
      'non-finite or negative statistics',
    ]);
    const [m2] = moving();
    expect(m2).toEqual(moving()[0]);
    expect(() => applyFieldBatchNormStatistics(model, [field], { fieldWeight: 2 })).toThrow(/fieldWeight/);
  });
});

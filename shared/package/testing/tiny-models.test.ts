import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { tinyConvOnnx, tinyMlpOnnx } from './tiny-models';

describe('tiny ONNX fixtures', () => {
  it('run in onnxruntime-node and give probabilities', async () => {
    const mlp = tinyMlpOnnx();
    const s1 = await ort.InferenceSession.create(mlp.bytes);
    const o1 = await s1.run({ input: new ort.Tensor('float32', new Float32Array(8).fill(0.5), [2, 4]) });
    const p = o1.probabilities!.data as Float32Array;
    expect(p.length).toBe(6);
    expect(p[0]! + p[1]! + p[2]!).toBeCloseTo(1, 5);

    const conv = tinyConvOnnx({ featureOutput: true });
    const s2 = await ort.InferenceSession.create(conv.bytes);
    const o2 = await s2.run({ input: new ort.Tensor('float32', new Float32Array(64).fill(0.3), [1, 8, 8, 1]) });
    expect(o2.probabilities!.dims).toEqual([1, 3]);
    expect(o2.feature_mean!.dims).toEqual([1, 4]);
    expect([...(o2.feature_mean!.data as Float32Array)].every((v) => v >= 0)).toBe(true);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(Buffer.from(tinyConvOnnx({ seed: 3 }).bytes).equals(Buffer.from(tinyConvOnnx({ seed: 3 }).bytes))).toBe(true);
    expect(Buffer.from(tinyConvOnnx({ seed: 3 }).bytes).equals(Buffer.from(tinyConvOnnx({ seed: 4 }).bytes))).toBe(false);
  });
});

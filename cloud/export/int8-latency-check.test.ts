import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../shared/package/keys';
import { buildModel } from '../zoo/zoo';
import { decideInt8, ortInt8Timer, type Int8Timer, type LatencyPair } from './int8-latency-check';
import { QUANTIZE_ALL } from './layer-precision';
import { buildStudentPackage } from './student-package';
import { randomImages } from './testing/models';
import { exportToOnnx } from './tfjs-to-onnx';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const pair = (batch: number, fp32P50Ms: number, int8P50Ms: number): LatencyPair => ({ batch, fp32P50Ms, int8P50Ms });

describe('int8 decision from measured latencies', () => {
  it('ships int8 when it is faster, or slower only within the tolerance, at every batch size', () => {
    expect(decideInt8([pair(1, 1, 0.5), pair(64, 10, 10)])).toMatchObject({ ship: true, reason: null, speedups: [{ batch: 1, speedup: 2 }, { batch: 64, speedup: 1 }] });
    expect(decideInt8([pair(1, 1, 1.04), pair(64, 10, 10.5)], 0.05).ship).toBe(true);
  });

  it('declines int8 when it is slower beyond the tolerance at any one batch size, naming the ratio', () => {
    const v = decideInt8([pair(1, 1, 0.8), pair(64, 10, 14.7)], 0.05);
    expect(v.ship).toBe(false);
    expect(v.reason).toMatch(/batch 64: int8 14\.700 ms vs fp32 10\.000 ms \(0\.68×\)/);
    expect(v.reason).not.toMatch(/batch 1:/);
    expect(decideInt8([pair(1, 1, 1.06)], 0.05).ship).toBe(false);
    expect(decideInt8([pair(1, 1, 1.06)], 0.1).ship).toBe(true);
    expect(decideInt8([pair(1, 1, 1.01)]).ship).toBe(false);
    expect(() => decideInt8([])).toThrow(RangeError);
  });
});

describe('student package with the latency check', () => {
  const key = generateSigningKey(new Date('2026-01-01T00:00:00Z')).key;
  const info = { name: 'int8-check', version: 1, labels: Array.from({ length: 10 }, (_, i) => `c${i}`), normalisation: { rawRange: [0, 1] as [number, number], scale: [1], offset: [0] } };
  const calibration = { method: 'minmax' as const, samples: { provenance: 'synthetic' as const, data: randomImages(16, [28, 28, 1], 3), shape: [16, 28, 28, 1] as [number, number, number, number] } };
  const build = (model: tf.LayersModel, extra: Partial<Parameters<typeof buildStudentPackage>[0]>) =>
    buildStudentPackage({ model, info, key, precision: 'int8', floatLayerRule: QUANTIZE_ALL, calibration, ...extra });

  it('ships fp32 with the measured ratios when the injected timer says int8 is slower, int8 when not', async () => {
    const model = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const seen: { batches: readonly number[]; fp32: number; int8: number }[] = [];
    const fake =
      (int8Ms: number[]): Int8Timer =>
      async (m, batches) => {
        seen.push({ batches, fp32: m.fp32.length, int8: m.int8.length });
        return batches.map((b, i) => pair(b, 1, int8Ms[i]!));
      };
    const slow = await build(model, { int8Timer: fake([0.9, 1.5]) });
    const q = slow.pkg.manifest.quantization;
    expect(q.precision).toBe('fp32');
    expect(q.int8Declined?.reason).toMatch(/batch 64: int8 1\.500 ms vs fp32 1\.000 ms \(0\.67×\)/);
    expect(q.latencyCheck).toEqual({ method: 'measure', tolerance: 0, batches: [pair(1, 1, 0.9), pair(64, 1, 1.5)] });
    expect(slow.quantize).toBeUndefined();
    expect(seen[0]!.batches).toEqual([1, 64]);
    // The timer saw two different models: the fp32 export and the int8 QDQ candidate.
    expect(seen[0]!.int8).not.toBe(seen[0]!.fp32);

    const fast = await build(model, { int8Timer: fake([0.5, 0.9]) });
    expect(fast.pkg.manifest.quantization).toMatchObject({ precision: 'int8', latencyCheck: { batches: [pair(1, 1, 0.5), pair(64, 1, 0.9)] } });
    expect(fast.pkg.manifest.quantization.int8Declined).toBeUndefined();

    // `rules` and `off` never call the timer; the tensorrt target defaults to `rules`.
    const calls = seen.length;
    const rules = await build(model, { int8Check: 'rules', int8Timer: fake([9, 9]) });
    const trt = await build(model, { target: 'tensorrt', int8Timer: fake([9, 9]) });
    expect(seen.length).toBe(calls);
    expect(rules.pkg.manifest.quantization).toMatchObject({ precision: 'int8' });
    expect(rules.pkg.manifest.quantization.latencyCheck).toBeUndefined();
    expect(trt.pkg.manifest.quantization).toMatchObject({ precision: 'int8', target: 'tensorrt' });
    model.dispose();
  });

  it('`off` ships int8 even where the MAC-share rule would decline it', async () => {
    const model = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const ruled = await build(model, { floatLayerRule: undefined, int8Check: 'rules' });
    expect(ruled.pkg.manifest.quantization).toMatchObject({ precision: 'fp32', int8Declined: { rule: 'few-input-channels' } });
    const off = await build(model, { floatLayerRule: undefined, int8Check: 'off' });
    expect(off.pkg.manifest.quantization).toMatchObject({ precision: 'int8', floatLayers: { rule: 'few-input-channels' } });
    model.dispose();
  });

  it('times a real fp32 and int8 model in onnxruntime-node within its budget and decides on those numbers', async () => {
    const model = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
    const fp32 = exportToOnnx(model, { appendSoftmax: true });
    const built = await build(model, { int8Check: 'rules' });
    const t0 = performance.now();
    const pairs = await ortInt8Timer({ budgetMs: 500 })({ fp32: fp32.bytes, int8: built.pkg.model, inputShape: fp32.inputShape }, [1, 64]);
    const elapsed = performance.now() - t0;
    expect(pairs.map((p) => p.batch)).toEqual([1, 64]);
    for (const p of pairs) {
      expect(p.fp32P50Ms).toBeGreaterThan(0);
      expect(p.int8P50Ms).toBeGreaterThan(0);
    }
    // Batch 64 is more work than batch 1 for both models.
    expect(pairs[1]!.fp32P50Ms).toBeGreaterThan(pairs[0]!.fp32P50Ms);
    // Budget plus session creation and warm-up; generous for a loaded 2-core machine.
    expect(elapsed).toBeLessThan(15_000);
    // And the default path records what it measured and decides on exactly those numbers.
    const measured = await build(model, { int8Timer: ortInt8Timer({ budgetMs: 500 }) });
    const q = measured.pkg.manifest.quantization;
    expect(q.latencyCheck?.batches.map((b) => b.batch)).toEqual([1, 64]);
    expect(q.precision).toBe(decideInt8(q.latencyCheck!.batches).ship ? 'int8' : 'fp32');
    model.dispose();
  });
});

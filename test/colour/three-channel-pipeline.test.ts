/**
 * The whole data-free pipeline on 3-channel (colour) inputs, on a tiny 8x8x3 teacher with
 * BatchNorm and CIFAR-10's per-channel normalisation: distillation (the generator makes HxWx3
 * images in the normalised range), ONNX export, int8 calibration on the synthetic samples only, the
 * signed package, the agent's onnxruntime inference on raw RGB values, and the drift detectors
 * (per-channel input statistics, the teacher's first-layer BatchNorm reference). The real-image
 * loaders a colour run could reach (CIFAR-10, PNG folders, the built-in dispatcher) throw here, as
 * in test/data-free: no real image is read on the way.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const { calls, forbid } = vi.hoisted(() => {
  const calls: string[] = [];
  const forbid = (name: string) => () => {
    calls.push(name);
    throw new Error(`real dataset loader ${name} was called on the data-free path`);
  };
  return { calls, forbid };
});
vi.mock('../../cloud/data/cifar10-dataset', async (orig) => ({ ...(await orig<object>()), loadCifar10: forbid('loadCifar10'), loadCifar10Raw: forbid('loadCifar10Raw') }));
vi.mock('../../cloud/data/image-folder', async (orig) => ({ ...(await orig<object>()), loadImageFolder: forbid('loadImageFolder') }));
vi.mock('../../cloud/data/builtin-datasets', async (orig) => ({ ...(await orig<object>()), loadBuiltinDataset: forbid('loadBuiltinDataset') }));
import { CIFAR10_NORMALIZATION, channelAffine, channelRanges, inputRange } from '../../cloud/data/dataset-info';
import { distillDataFree } from '../../cloud/distill/distill';
import { tinyStudent, tinyTeacher } from '../../cloud/distill/tiny-models.test-helper';
import { driftReferenceFromSynthetic, teacherBatchNormProbe } from '../../cloud/export/drift-reference';
import { QUANTIZE_ALL } from '../../cloud/export/layer-precision';
import { buildStudentPackage } from '../../cloud/export/student-package';
import { TINY_DISTILL } from '../../cloud/retrain/student-card.test-helper';
import { geometryOf } from '../../edge/drift/drift-monitor';
import { createModelRuntime } from '../../edge/inference/model-runtime';
import { createOrtEngine } from '../../edge/inference/ort-engine';
import { buildDriftReference } from '../../shared/drift/build-reference';
import { runConvProbe } from '../../shared/drift/conv-probe';
import { inputStatistics } from '../../shared/drift/input-statistics';
import { summarizeInference } from '../../shared/drift/summary';
import { scoreWindow } from '../../shared/drift/window-detectors';
import { assertPackageValid, generateSigningKey, trustedKeyEntry } from '../../shared/package';

const root = mkdtempSync(join(tmpdir(), 'edgekd-colour-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

const H = 8;
const C = 3;
const norm = CIFAR10_NORMALIZATION;
const range = inputRange(norm, C);

/** Raw 8-bit RGB images, HWC: smooth random colours, `cast` added to the red channel. */
function rawImages(n: number, seed: number, cast = 0): number[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const base = [rand(), rand(), rand()].map((v) => 60 + 140 * v);
    for (let p = 0; p < H * H; p++) for (let c = 0; c < C; c++) out.push(Math.max(0, Math.min(255, Math.round(base[c]! + 20 * (rand() - 0.5) + (c === 0 ? cast : -cast / 2)))));
  }
  return out;
}

describe('the pipeline on 3-channel inputs', () => {
  it('has the colour loaders disabled', async () => {
    const data = await import('../../cloud/data');
    expect(() => data.loadCifar10()).toThrow(/data-free path/);
    expect(() => data.loadBuiltinDataset('cifar10')).toThrow(/data-free path/);
    calls.length = 0;
  });

  it('distils, calibrates on synthetic samples, packages, infers on raw RGB and monitors drift per channel', async () => {
    const teacher = tinyTeacher(1, { channels: C });
    // 1. Data-free distillation in CIFAR-10's normalised domain.
    const student = tinyStudent(2, { channels: C });
    const run = await distillDataFree({ teacher, student, method: 'ssdkd', seed: 1, input: { range, flipInvariant: true }, config: TINY_DISTILL });
    const buffer = run.buffer!;
    expect(buffer.size).toBeGreaterThan(0);
    const calibration = buffer.exportCalibrationSet(32);
    expect(calibration.shape.slice(1)).toEqual([H, H, C]);
    expect(calibration.provenance).toBe('synthetic');
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of calibration.data) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    expect(lo).toBeGreaterThanOrEqual(range.low - 1e-4);
    expect(hi).toBeLessThanOrEqual(range.high + 1e-4);
    expect(hi - lo).toBeGreaterThan(0.1); // not a constant image

    // 2-3. ONNX export, int8 calibrated on those samples only, teacher BN probe, signed package.
    const probe = teacherBatchNormProbe(teacher);
    expect(probe.features[0]!.runningMean).toHaveLength(4); // the teacher's first conv has 4 filters over 3 input channels
    const { key } = generateSigningKey(new Date('2026-01-01T00:00:00Z'));
    const normalisation = { rawRange: [0, 255] as [number, number], ...channelAffine(norm, C) };
    const built = await buildStudentPackage({
      model: student,
      info: { name: 'colour-tiny', version: 1, labels: ['a', 'b', 'c'], normalisation },
      key,
      precision: 'int8',
      int8Check: 'off',
      floatLayerRule: QUANTIZE_ALL,
      calibration: { method: 'minmax', samples: calibration },
      export: { probes: [probe.probe] },
      driftReference: async (bytes) => driftReferenceFromSynthetic(bytes, calibration, { numClasses: 3, inputRange: [range.low, range.high], featureStatistics: probe.features }),
      now: new Date('2026-01-02T00:00:00Z'),
    });
    const trusted = { schemaVersion: 1 as const, keys: [trustedKeyEntry(key.publicKeyRaw, { validFrom: new Date(0).toISOString() })] };
    const m = assertPackageValid(built.pkg, trusted);
    expect(m.quantization.precision).toBe('int8');
    expect(m.quantization).toMatchObject({ calibration: { source: 'synthetic' } });
    expect(m.input.shape.slice(1)).toEqual([H, H, C]);
    expect(m.input.normalisation.scale).toHaveLength(3);
    const refNames = m.driftReference!.inputStatistics!.map((r) => r.name);
    expect(refNames).toEqual(expect.arrayContaining(['mean', 'mean_c0', 'mean_c1', 'mean_c2']));
    expect(refNames).not.toContain('mean_c3');
    expect(m.driftReference!.featureStatistics![0]!.runningMean).toHaveLength(4);

    // 4. The agent's runtime: onnxruntime on raw 0-255 RGB, normalised per channel from the manifest.
    const modelPath = join(root, 'model.onnx');
    writeFileSync(modelPath, built.pkg.model);
    const runtime = createModelRuntime({ engine: createOrtEngine(), sessionOptions: { executionProviders: ['cpu'], intraOpThreads: 1 } });
    const loaded = await runtime.load(modelPath, m);
    runtime.setActive(loaded);
    const seen: Array<{ input: Float32Array }> = [];
    runtime.observers.push((e) => seen.push({ input: Float32Array.from(e.input.data as Float32Array) }));
    const raw = rawImages(1, 5);
    const res = await runtime.infer({ dtype: 'float32', shape: [1, H, H, C], data: raw }, { includeProbabilities: true });
    expect(res.probabilities!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    // The model saw (raw / 255 - mean[c]) / std[c], channel by channel.
    for (let i = 0; i < 6; i++) expect(seen[0]!.input[i]).toBeCloseTo((raw[i]! / 255 - norm.mean[i % 3]!) / norm.std[i % 3]!, 4);
    // int8 and the fp32 student agree on this input's class (a tiny model, so only the argmax).
    const fp32 = tf.tidy(() => (student.predict(tf.tensor4d(seen[0]!.input, [1, H, H, C])) as tf.Tensor).argMax(-1).dataSync()[0]);
    expect(res.topK[0]![0]!.index).toBe(fp32);
    await runtime.release(loaded);

    // 5. Drift: the edge's geometry spans every channel's range; a red colour cast leaves the
    // pooled mean almost where it was but moves the red channel's mean, and input-psi sees it.
    const geometry = geometryOf(m)!;
    expect(geometry.channels).toBe(3);
    const r = channelRanges(norm, C);
    expect(geometry.range[0]).toBeCloseTo(Math.min(...r.low), 4);
    expect(geometry.range[1]).toBeCloseTo(Math.max(...r.high), 4);
    const toModel = (px: number[]) => Float32Array.from(px, (v, i) => (v / 255 - norm.mean[i % 3]!) / norm.std[i % 3]!);
    const summaries = (cast: number) => {
      const px = rawImages(200, cast === 0 ? 11 : 12, cast);
      const per = H * H * C;
      return Array.from({ length: 200 }, (_, i) => {
        const x = toModel(px.slice(i * per, (i + 1) * per));
        return summarizeInference({ probabilities: [0.6, 0.3, 0.1], input: x }, geometry);
      });
    };
    const clean = summaries(0);
    const cast = summaries(60);
    const clean2 = Array.from({ length: 200 }, (_, i) => {
      const px = rawImages(1, 1000 + i);
      return summarizeInference({ probabilities: [0.6, 0.3, 0.1], input: toModel(px) }, geometry);
    });
    // Reference from clean field inputs (the packaged one describes synthetic samples).
    const ref = { ...m.driftReference!, inputStatistics: buildDriftReference(clean, { numClasses: 3, source: 'synthetic' }).inputStatistics! };
    const psi = (w: typeof clean) => scoreWindow(w, ref, ['input-psi'])[0]!.statistic;
    expect(psi(cast)).toBeGreaterThan(1);
    expect(psi(clean2)).toBeLessThan(psi(cast) / 5);
    const one = inputStatistics(toModel(rawImages(1, 3, 60)), geometry);
    expect(one.mean_c0).toBeGreaterThan(one.mean_c2!);

    // The teacher BN probe in plain JS runs on 3-channel inputs too (the edge's light path).
    const convLayer = teacher.layers.find((l) => l.getClassName() === 'Conv2D')!;
    const kernel = convLayer.getWeights()[0]!;
    const f = runConvProbe(toModel(raw), H, H, { kind: 'conv2d', kernelShape: kernel.shape as [number, number, number, number], kernel: kernel.dataSync(), strides: 1, padding: 'same' });
    expect(f.mean).toHaveLength(4);
    const tfMeans = tf.tidy(() => (convLayer.apply(tf.tensor4d(toModel(raw), [1, H, H, C])) as tf.Tensor).mean([0, 1, 2]).dataSync());
    for (let k = 0; k < 4; k++) expect(f.mean[k]).toBeCloseTo(tfMeans[k]!, 4);

    expect(calls).toEqual([]);
  }, 180_000);
});

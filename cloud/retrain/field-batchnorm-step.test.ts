import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import { loadModel, saveModel } from '../zoo/model-io';
import { distillDataFree } from '../distill/distill';
import { saveBuffer } from '../distill/buffer-file';
import type { DistillConfigInput } from '../distill/config';
import { probeImages, tinyTeacher } from '../distill/tiny-models.test-helper';
import { generateSigningKey, type ModelPackage } from '../../shared/package';
import { LayerSketchAccumulator } from '../../shared/drift/layer-sketch';
import { createEngineSteps, DEFAULT_FIELD_ADAPTATION } from './engine-steps';
import type { RetrainContext } from './steps';
import { studentCard, tinyCurrentModel } from './student-card.test-helper';

const tiny: DistillConfigInput = { epochs: 1, warmupEpochs: 0, kdStepsPerEpoch: 1, batchSize: 16, budget: 0.5, trainSetSize: 64, synthesis: { batchSize: 16, gSteps: 1 }, generator: { nz: 8, ngf: 4 } };
const root = mkdtempSync(join(tmpdir(), 'edgekd-field-bn-step-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

describe('field-batchnorm retrain step', () => {
  it('re-estimates the deployed student from the reports’ layer sketches without re-distilling, and ships a package whose sketch outputs measure what the cloud corrected', async () => {
    const teacherDir = join(root, 'teacher');
    const teacher = tinyTeacher(1);
    await saveModel(teacher, teacherDir);
    // A student with BatchNorm (the tiny BN model) and its synthetic buffer.
    const studentDir = join(root, 'student');
    const student = tinyTeacher(5);
    const first = await distillDataFree({ teacher, student: tinyTeacher(5), method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: tiny });
    await saveModel(student, studentDir, studentCard(3));
    saveBuffer(studentDir, first.buffer!);
    const bnLayer = student.layers.find((l) => l.getClassName() === 'BatchNormalization')!.name;

    const { key } = generateSigningKey(new Date(Date.now() - 60_000));
    const shipped: ModelPackage[] = [];
    const steps = createEngineSteps({
      teacherDir,
      workDir: join(root, 'runs'),
      signingKey: key,
      current: async () => tinyCurrentModel(studentDir, 3),
      calibrationCount: 16,
      // Full replacement here, so the package's sketch outputs can be compared with the field's own values.
      adaptation: { fieldWeight: 1 },
      distillImpl: async () => {
        throw new Error('a field-batchnorm run must not re-distil');
      },
      rollout: async (pkg) => {
        shipped.push(pkg);
        return { outcome: 'promoted', rolloutId: 'direct', summary: {} };
      },
    });
    const field = { layer: bnLayer, mean: [0.5, 0.1, -0.4, 0.2], variance: [0.3, 0.6, 0.9, 1.2], sampleCount: 4096 };
    const ctx: RetrainContext = { runId: 'run-1', cohort: 'site', model: { name: 'fm-student', version: '3' }, triggerReports: [], featureTargets: [], layerSketches: [field], signal: new AbortController().signal };
    const d = await steps.distill(ctx);
    expect(d.summary).toMatchObject({ adaptation: 'field-batchnorm', adapted: [{ layer: bnLayer, weight: 1, sampleCount: 4096 }] });
    const adapted = await loadModel(d.student as string);
    const [mean, variance] = adapted.getLayer(bnLayer).getWeights().slice(-2).map((w) => Array.from(w.dataSync()));
    mean!.forEach((m, c) => expect(m).toBeCloseTo(field.mean[c]!, 5));
    variance!.forEach((v, c) => expect(v).toBeCloseTo(field.variance[c]!, 5));

    const p = await steps.package(ctx, d);
    await steps.rollout(ctx, p);
    const pkg = shipped[0]!;
    // int8 when the quantizer keeps it, fp32 when it declines a model this small: the sketch branch is float either way.
    expect(['int8', 'fp32']).toContain(pkg.manifest.quantization.precision);
    const specs = pkg.manifest.driftReference!.layerSketches!;
    expect(specs).toEqual([{ layer: bnLayer, meanOutput: `student_${bnLayer}_in_mean`, meanSquareOutput: `student_${bnLayer}_in_meansq`, channels: 4 }]);

    // On the device: the package's sketch outputs (float branch) pooled by the accumulator
    // equal the statistics of the BatchNorm's input computed in tfjs on the same images.
    const images = probeImages(300, 7);
    const x = images.dataSync() as Float32Array;
    const session = await ort.InferenceSession.create(pkg.model);
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(x), [300, 8, 8, 1]) });
    const acc = new LayerSketchAccumulator(specs);
    for (let b = 0; b < 300; b++) acc.add((name) => (out[name] ? (out[name]!.data as Float32Array).subarray(b * 4, (b + 1) * 4) : undefined));
    const sketch = acc.build()![0]!;
    const expected = tf.tidy(() => {
      const conv = tf.model({ inputs: adapted.inputs, outputs: adapted.getLayer(bnLayer).input as tf.SymbolicTensor }).predict(images) as tf.Tensor;
      const m = tf.moments(conv, [0, 1, 2]);
      return { mean: Array.from(m.mean.dataSync()), variance: Array.from(m.variance.dataSync()) };
    });
    sketch.mean.forEach((m, c) => expect(m).toBeCloseTo(expected.mean[c]!, 3));
    sketch.variance.forEach((v, c) => expect(v).toBeCloseTo(expected.variance[c]!, 3));
    await session.release();
    images.dispose();
  });

  it('by default re-estimates every sketched BatchNorm at field weight 0.5 (the choice made on validation)', async () => {
    const teacherDir = join(root, 'teacher-2');
    const teacher = tinyTeacher(1);
    await saveModel(teacher, teacherDir);
    // A student with two BatchNorm layers; fresh moving statistics (mean 0, variance 1).
    const input = tf.input({ shape: [8, 8, 1] });
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 's_conv_a' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 's_bn_a' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 's_conv_b' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 's_bn_b' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, name: 's_logits' }).apply(x) as tf.SymbolicTensor;
    const student = tf.model({ inputs: input, outputs: out });
    const studentDir = join(root, 'student-2');
    const first = await distillDataFree({ teacher, student: tinyTeacher(5), method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: tiny });
    await saveModel(student, studentDir, studentCard(3));
    saveBuffer(studentDir, first.buffer!);
    const { key } = generateSigningKey(new Date(Date.now() - 60_000));
    const steps = createEngineSteps({
      teacherDir,
      workDir: join(root, 'runs-2'),
      signingKey: key,
      current: async () => tinyCurrentModel(studentDir, 3),
      calibrationCount: 16,
      rollout: async () => ({ outcome: 'promoted', rolloutId: 'direct', summary: {} }),
    });
    const sketches = ['s_bn_a', 's_bn_b'].map((layer, i) => ({ layer, mean: [0.4 + i, -0.2, 0.6, 1], variance: [3, 5, 7, 9], sampleCount: 1024 }));
    const ctx: RetrainContext = { runId: 'run-2', cohort: 'site', model: { name: 'fm-student', version: '3' }, triggerReports: [], featureTargets: [], layerSketches: sketches, signal: new AbortController().signal };
    const d = await steps.distill(ctx);
    expect(DEFAULT_FIELD_ADAPTATION).toEqual({ layers: 'all', fieldWeight: 0.5 });
    expect(d.summary).toMatchObject({ adaptation: 'field-batchnorm', adapted: sketches.map((k) => ({ layer: k.layer, weight: 0.5, sampleCount: 1024 })) });
    const adapted = await loadModel(d.student as string);
    for (const k of sketches) {
      const [mean, variance] = adapted.getLayer(k.layer).getWeights().slice(-2).map((w) => Array.from(w.dataSync()));
      mean!.forEach((m, c) => expect(m).toBeCloseTo(0.5 * k.mean[c]!, 5));
      variance!.forEach((v, c) => expect(v).toBeCloseTo(0.5 + 0.5 * k.variance[c]!, 5));
    }
  });
});

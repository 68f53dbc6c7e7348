import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import { DEBIAN_FASHION_MNIST_DIR } from '../data';
import { loadBuffer } from '../distill/buffer-file';
import { tinyStudent, tinyTeacher } from '../distill/tiny-models.test-helper';
import type { ModelCard } from '../zoo/model-card';
import { saveModel } from '../zoo/model-io';
import { buildModel } from '../zoo/zoo';
import { run } from './distill';

const root = mkdtempSync(join(tmpdir(), 'edgekd-distill-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

function card(model: tf.LayersModel, name: string, dataset = 'synthetic-test'): ModelCard {
  const [h, w, c] = model.inputs[0]!.shape.slice(1) as number[];
  const k = model.outputs[0]!.shape.at(-1)!;
  return {
    schemaVersion: 1,
    name,
    architecture: name,
    output: 'logits',
    inputShape: [h!, w!, c!],
    numClasses: k,
    classNames: Array.from({ length: k }, (_, i) => String(i)),
    normalization: { kind: 'range', low: -1, high: 1, rawMax: 255 },
    dataset: { name: dataset, split: 'none' },
    accuracy: null,
    params: { total: 0, trainable: 0 },
    macs: 0,
    training: { command: 'test', seed: 1 },
    createdAt: new Date(0).toISOString(),
  };
}

async function saved(model: tf.LayersModel, name: string, dataset?: string): Promise<string> {
  const dir = join(root, name);
  await saveModel(model, dir, card(model, name, dataset));
  return dir;
}

describe('edgekd distill', () => {
  it('rejects a budget outside (0, 1] before loading anything', async () => {
    for (const b of ['0', '1.5', '-0.1', 'lots']) {
      await expect(run(['--teacher', join(root, 'none'), '--student', 'lenet5-half', '--out', join(root, 'o'), `--budget=${b}`])).rejects.toMatchObject({ code: 'EDGEKD_BUDGET_OUT_OF_RANGE' });
    }
  });

  it('rejects a teacher without BatchNorm', async () => {
    const t = await saved(tinyTeacher(1, { batchNorm: false }), 'nobn');
    const s = await saved(tinyStudent(2), 'nobn-student');
    await expect(run(['--teacher', t, '--student', 'lenet5-half', '--init-student', s, '--out', join(root, 'o1'), '--no-eval', '--no-progress'])).rejects.toMatchObject({ code: 'EDGEKD_TEACHER_NO_BATCHNORM' });
  });

  it('rejects a student whose input or class count differs from the teacher', async () => {
    const t = await saved(tinyTeacher(1), 'bn3');
    const s = await saved(tinyStudent(2, { classes: 4 }), 'student4');
    await expect(run(['--teacher', t, '--student', 'lenet5-half', '--init-student', s, '--out', join(root, 'o2'), '--no-eval', '--no-progress'])).rejects.toMatchObject({ code: 'EDGEKD_SHAPE_MISMATCH' });
    const s16 = await saved(tinyStudent(2, { size: 16 }), 'student16');
    await expect(run(['--teacher', t, '--student', 'lenet5-half', '--init-student', s16, '--out', join(root, 'o3'), '--no-eval', '--no-progress'])).rejects.toMatchObject({ code: 'EDGEKD_SHAPE_MISMATCH' });
  });

  it('writes student, model card, replay buffer and run record for a short ssdkd run', async () => {
    const t = await saved(buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 }), 'lenet-teacher');
    const cfg = join(root, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ warmupEpochs: 0, batchSize: 16, synthesis: { batchSize: 16, gSteps: 1 } }));
    const out = join(root, 'out');
    const code = await run(['--teacher', t, '--student', 'lenet5-half', '--method', 'ssdkd', '--budget', '0.5', '--train-set-size', '64', '--epochs', '2', '--kd-steps', '2', '--seed', '3', '--config', cfg, '--out', out, '--no-eval', '--no-progress']);
    expect(code).toBe(0);
    for (const f of ['model.json', 'weights.bin', 'model-card.json', 'buffer.bin', 'buffer.json', 'run-record.json']) expect(existsSync(join(out, f))).toBe(true);
    expect(existsSync(join(out, '.checkpoint'))).toBe(false);
    const rec = JSON.parse(readFileSync(join(out, 'run-record.json'), 'utf8'));
    expect(rec.method).toBe('ssdkd');
    expect(rec.teacher.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.metrics.samplesGenerated).toBe(64); // 2 × the budget (0.5 × 64)
    expect(rec.metrics.bufferCapacity).toBe(32);
    const buf = loadBuffer(out);
    expect(buf.size).toBe(32);
    expect(buf.exportCalibrationSet(8).provenance).toBe('synthetic');
  }, 60_000);

  it('refuses an --eval-split other than test or validation', async () => {
    const t = await saved(buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 }), 'lenet-teacher-split');
    await expect(run(['--teacher', t, '--student', 'lenet5-half', '--out', join(root, 'o4'), '--eval-split', 'train', '--no-progress'])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
  });

  it.skipIf(!existsSync(process.env.EDGEKD_FASHION_MNIST_DIR ?? DEBIAN_FASHION_MNIST_DIR))('--eval-split validation scores every epoch on validation and the final student once on the whole test split', async () => {
    const t = await saved(buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 }), 'official-teacher', 'fashion-mnist');
    const cfg = join(root, 'cfg-val.json');
    writeFileSync(cfg, JSON.stringify({ warmupEpochs: 0, batchSize: 16, synthesis: { batchSize: 16, gSteps: 1 } }));
    const out = join(root, 'out-val');
    const code = await run(['--teacher', t, '--student', 'lenet5-half', '--budget', '0.5', '--train-set-size', '32', '--epochs', '1', '--kd-steps', '1', '--config', cfg, '--out', out, '--eval-split', 'validation', '--eval-limit', '100', '--no-progress']);
    expect(code).toBe(0);
    const rec = JSON.parse(readFileSync(join(out, 'run-record.json'), 'utf8'));
    expect(rec.metrics.evalSplit).toBe('validation');
    expect(rec.metrics.testAccuracy.samples).toBe(10_000);
    // 100 validation images: every per-epoch score is a multiple of 1/100.
    expect(Math.abs(rec.metrics.finalAccuracy * 100 - Math.round(rec.metrics.finalAccuracy * 100))).toBeLessThan(1e-9);
    const studentCard = JSON.parse(readFileSync(join(out, 'model-card.json'), 'utf8'));
    expect(studentCard.accuracy).toEqual({ test: rec.metrics.testAccuracy.accuracy, samples: 10_000 });
  }, 120_000);
});

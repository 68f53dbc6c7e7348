import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportToOnnx } from '../export/tfjs-to-onnx';
import { loadTeacher } from '../zoo/model-io';
import { buildModel } from '../zoo/zoo';
import { importTeacher } from './import-teacher';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'edgekd-import-teacher-'));
  const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 5 });
  await writeFile(join(dir, 'own.onnx'), exportToOnnx(teacher, { foldBatchNorm: false }).bytes);
  teacher.dispose();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('importTeacher', () => {
  it('without a dataset, writes the given class names and input range into the card, dated by the injected clock', async () => {
    const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const r = await importTeacher({ onnxPath: join(dir, 'own.onnx'), outDir: join(dir, 'own'), classes, inputRange: { low: 0, high: 1 }, now: () => new Date('2026-01-02T03:04:05Z') });
    expect(r.batchNormLayers.length).toBe(3);
    expect(r.card).toMatchObject({ name: 'own', classNames: classes, normalization: { kind: 'range', low: 0, high: 1, rawMax: 255 }, dataset: { name: 'unknown' }, createdAt: '2026-01-02T03:04:05.000Z' });
    const loaded = await loadTeacher(join(dir, 'own'));
    expect(loaded.card).toEqual(r.card);
    loaded.model.dispose();
  });

  it('refuses a class list of the wrong length and an empty input range, as typed errors', async () => {
    await expect(importTeacher({ onnxPath: join(dir, 'own.onnx'), outDir: join(dir, 'x'), classes: ['a', 'b'] })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(importTeacher({ onnxPath: join(dir, 'own.onnx'), outDir: join(dir, 'x'), inputRange: { low: 1, high: 1 } })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(importTeacher({ onnxPath: join(dir, 'own.onnx'), outDir: join(dir, 'x'), dataset: 'no-such-dataset' })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
  });
});

